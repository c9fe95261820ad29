#include "dm/vnc/vnc_options.h"

#include "dm/sub_options.h"

namespace hvmd::vnc {

Result<VncOptions> VncOptions::parse(const std::string& text) {
  VncOptions options;
  if (text == "none") return options;
  auto fail = [&](const std::string& why) {
    return make_error("-vnc %s: %s", text.c_str(), why.c_str());
  };
  auto parsed = SubOptions::parse(text, "vnc");
  if (!parsed) return fail(parsed.error().message);
  OptionReader reader(*parsed, "-vnc");
  std::string address = reader.string("vnc").value_or("");
  auto password = reader.boolean("password");
  if (!password) return fail(password.error().message);
  options.password = password->value_or(false);
  auto to = reader.number("to", kMaxDisplay);
  if (!to) return fail(to.error().message);
  if (auto finished = reader.finish(); !finished) return fail(finished.error().message);
  options.enabled = true;

  if (address.starts_with("unix:")) {
    options.unix_path = address.substr(5);
    if (options.unix_path.empty()) return fail("unix: needs a socket path");
    if (*to) return fail("to= applies to TCP displays only");
    return options;
  }
  size_t colon = address.rfind(':');
  if (colon == std::string::npos) return fail("expected HOST:DISPLAY, unix:PATH or none");
  std::string host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  else if (host.find(':') != std::string::npos)
    return fail("an IPv6 address goes in brackets ([::1]:0)");
  auto display = parse_number(address.substr(colon + 1), kMaxDisplay);
  if (!display)
    return fail("display '" + address.substr(colon + 1) + "' is not a number from 0 to " +
                std::to_string(kMaxDisplay));
  options.host = host;
  options.display = static_cast<uint32_t>(*display);
  options.last_display = options.display;
  if (*to) {
    if (**to < options.display)
      return fail("to=" + std::to_string(**to) + " is below display " +
                  std::to_string(options.display));
    options.last_display = static_cast<uint32_t>(**to);
  }
  return options;
}

}  // namespace hvmd::vnc
