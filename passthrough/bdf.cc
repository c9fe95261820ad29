#include "passthrough/bdf.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <string>

namespace hvmd::passthrough {
namespace {

// One hex field of at most max_digits digits, followed by stop (or the end when stop is 0).
bool take_hex(std::string_view& text, size_t max_digits, char stop, unsigned& value) {
  size_t n = 0;
  value = 0;
  while (n < text.size() && n < max_digits + 1 &&
         std::isxdigit(static_cast<unsigned char>(text[n]))) {
    char c = text[n];
    value = value * 16 + static_cast<unsigned>(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    ++n;
  }
  if (n == 0 || n > max_digits) return false;
  text.remove_prefix(n);
  if (stop == 0) return text.empty();
  if (text.empty() || text.front() != stop) return false;
  text.remove_prefix(1);
  return true;
}

}  // namespace

Result<PciAddress> parse_host_address(std::string_view text) {
  std::string_view rest = text;
  unsigned segment = 0, bus = 0, device = 0, function = 0;
  // Two colons: the segment is given.
  bool has_segment = std::count(text.begin(), text.end(), ':') == 2;
  bool ok = (!has_segment || take_hex(rest, 4, ':', segment)) && take_hex(rest, 2, ':', bus) &&
            take_hex(rest, 2, '.', device) && take_hex(rest, 1, 0, function) && device < 0x20 &&
            function < 8;
  if (!ok)
    return make_error("'%.*s' is not a PCI address (SSSS:BB:DD.F or BB:DD.F)",
                      static_cast<int>(text.size()), text.data());
  PciAddress address = PciAddress::make(static_cast<uint8_t>(bus), static_cast<uint8_t>(device),
                                        static_cast<uint8_t>(function));
  address.segment = static_cast<uint16_t>(segment);
  return address;
}

std::string format_host_address(PciAddress a) {
  char text[16];
  snprintf(text, sizeof(text), "%04x:%02x:%02x.%x", a.segment, a.bus, a.device(), a.function());
  return text;
}

}  // namespace hvmd::passthrough
