#include "dm/sub_options.h"

#include <cerrno>
#include <cstdlib>

namespace hvmd {

Result<SubOptions> SubOptions::parse(std::string_view text, std::string_view implied_key) {
  SubOptions out;
  std::vector<std::string> items(1);
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != ',') {
      items.back() += text[i];
    } else if (i + 1 < text.size() && text[i + 1] == ',') {
      items.back() += ',';
      ++i;
    } else {
      items.emplace_back();
    }
  }
  if (items.size() > 1 && items.back().empty()) items.pop_back();  // "a=1," as QEMU accepts it
  for (size_t i = 0; i < items.size(); ++i) {
    const std::string& item = items[i];
    auto eq = item.find('=');
    if (i == 0 && !implied_key.empty() && eq == std::string::npos) {
      if (item.empty())
        return make_error("missing %.*s in '%.*s'", int(implied_key.size()), implied_key.data(),
                          int(text.size()), text.data());
      out.items_.emplace_back(implied_key, item);
      continue;
    }
    if (item.empty() || eq == 0)
      return make_error("empty parameter name in '%.*s'", int(text.size()), text.data());
    if (eq == std::string::npos)
      out.items_.emplace_back(item, "on");
    else
      out.items_.emplace_back(item.substr(0, eq), item.substr(eq + 1));
  }
  return out;
}

std::optional<std::string> SubOptions::get(std::string_view key) const {
  for (auto it = items_.rbegin(); it != items_.rend(); ++it)
    if (it->first == key) return it->second;
  return std::nullopt;
}

void SubOptions::set(std::string key, std::string value) {
  items_.emplace_back(std::move(key), std::move(value));
}

std::string SubOptions::to_string() const {
  std::string out;
  for (const auto& [key, value] : items_) {
    if (!out.empty()) out += ',';
    out += key + '=';
    for (char c : value) out += c == ',' ? std::string(",,") : std::string(1, c);
  }
  return out;
}

Result<uint64_t> parse_number(std::string_view text, uint64_t max) {
  std::string s(text);
  if (s.empty() || s[0] == '-' || s[0] == '+' || s[0] == ' ')
    return make_error("'%s' is not a number", s.c_str());
  errno = 0;
  char* end = nullptr;
  unsigned long long v = strtoull(s.c_str(), &end, 0);
  if (*end != '\0' || errno == ERANGE) return make_error("'%s' is not a number", s.c_str());
  if (v > max)
    return make_error("%s is out of range (at most %llu)", s.c_str(),
                      static_cast<unsigned long long>(max));
  return static_cast<uint64_t>(v);
}

Result<bool> parse_bool(std::string_view text) {
  if (text == "on" || text == "yes" || text == "true") return true;
  if (text == "off" || text == "no" || text == "false") return false;
  return make_error("'%.*s' is not on or off", int(text.size()), text.data());
}

Result<uint64_t> parse_size(std::string_view text, uint64_t default_unit) {
  std::string s(text);
  if (s.empty() || !isdigit(static_cast<unsigned char>(s[0])))
    return make_error("'%s' is not a size", s.c_str());
  char* end = nullptr;
  errno = 0;
  unsigned long long v = strtoull(s.c_str(), &end, 10);
  std::string suffix(end);
  uint64_t unit = default_unit;
  if (suffix.size() == 1 || (suffix.size() == 2 && (suffix[1] == 'B' || suffix[1] == 'b'))) {
    switch (suffix[0]) {
      case 'B':
      case 'b':
        unit = 1;
        break;
      case 'K':
      case 'k':
        unit = 1ull << 10;
        break;
      case 'M':
      case 'm':
        unit = 1ull << 20;
        break;
      case 'G':
      case 'g':
        unit = 1ull << 30;
        break;
      case 'T':
      case 't':
        unit = 1ull << 40;
        break;
      default:
        return make_error("'%s' has an unknown size suffix", s.c_str());
    }
  } else if (!suffix.empty()) {
    return make_error("'%s' is not a size", s.c_str());
  }
  if (errno == ERANGE || (v && unit > UINT64_MAX / v))
    return make_error("size '%s' is too large", s.c_str());
  return v * unit;
}

namespace {
OptionKeyObserver* key_observer = nullptr;
}  // namespace

void set_option_key_observer(OptionKeyObserver* observer) {
  key_observer = observer;
}

void OptionReader::note(std::string_view key) {
  used_.insert(std::string(key));
  if (key_observer) key_observer->key_read(what_, key);
}

std::optional<std::string> OptionReader::string(std::string_view key) {
  note(key);
  return options_.get(key);
}

template <typename T, typename Parse>
Result<std::optional<T>> OptionReader::parsed(std::string_view key, Parse&& parse) {
  auto text = string(key);
  if (!text) return std::optional<T>{};
  Result<T> value = parse(*text);
  if (!value)
    return make_error("%s: %.*s: %s", what_.c_str(), int(key.size()), key.data(),
                      value.error().message.c_str());
  return std::optional<T>{*value};
}

Result<std::optional<uint64_t>> OptionReader::number(std::string_view key, uint64_t max) {
  return parsed<uint64_t>(key, [max](const std::string& t) { return parse_number(t, max); });
}

Result<std::optional<bool>> OptionReader::boolean(std::string_view key) {
  return parsed<bool>(key, [](const std::string& t) { return parse_bool(t); });
}

Result<std::optional<uint64_t>> OptionReader::size(std::string_view key, uint64_t default_unit) {
  return parsed<uint64_t>(
      key, [default_unit](const std::string& t) { return parse_size(t, default_unit); });
}

Result<void> OptionReader::finish() const {
  for (const auto& [key, value] : options_.items())
    if (!used_.count(key))
      return make_error("%s: unknown parameter '%s'", what_.c_str(), key.c_str());
  return ok();
}

}  // namespace hvmd
