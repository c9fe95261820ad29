// QEMU-style sub-options: "e1000,netdev=n0,mac=52:54:00:12:34:56". Items are separated by ',';
// ",," stands for a literal comma inside a value. The first item may omit its key (the implied
// key, e.g. "driver" for -device); a bare "flag" means "flag=on".
#pragma once

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dm/result.h"

namespace hvmd {

class SubOptions {
 public:
  // implied_key may be empty: then every item needs "key=value" (or is a bare flag).
  static Result<SubOptions> parse(std::string_view text, std::string_view implied_key = {});

  std::optional<std::string> get(std::string_view key) const;  // last occurrence wins
  bool has(std::string_view key) const { return get(key).has_value(); }
  const std::vector<std::pair<std::string, std::string>>& items() const { return items_; }
  void set(std::string key, std::string value);
  // Back to text, escaping commas (for messages and QMP replies).
  std::string to_string() const;

 private:
  std::vector<std::pair<std::string, std::string>> items_;
};

// Told every key an OptionReader is asked about (read or ignored), with the reader's `what`
// ("-drive file=d.img", "chardev 'c0'"): how the test of query-command-line-options learns the
// keys each parser takes. One observer at a time, set_option_key_observer(nullptr) to stop.
class OptionKeyObserver {
 public:
  virtual ~OptionKeyObserver() = default;
  virtual void key_read(std::string_view what, std::string_view key) = 0;
};
void set_option_key_observer(OptionKeyObserver* observer);

// Typed, checked access to sub-options for one consumer (a device, a backend). Every key it reads
// is remembered; finish() rejects the ones nobody read, so a typo is an error, not a silent no-op.
class OptionReader {
 public:
  OptionReader(const SubOptions& options, std::string what)
      : options_(options), what_(std::move(what)) {}

  std::optional<std::string> string(std::string_view key);
  Result<std::optional<uint64_t>> number(std::string_view key, uint64_t max);
  Result<std::optional<bool>> boolean(std::string_view key);
  // Size with an optional K/M/G/T suffix (powers of 1024); default_unit applies to bare numbers.
  Result<std::optional<uint64_t>> size(std::string_view key, uint64_t default_unit);
  void ignore(std::string_view key) { note(key); }
  // Whether the consumer asked for key (read or ignored it), whether or not it was given.
  bool was_read(std::string_view key) const { return used_.find(key) != used_.end(); }
  Result<void> finish() const;
  const std::string& what() const { return what_; }

 private:
  void note(std::string_view key);
  // Reads key and converts it with parse (text -> Result<T>), naming the key in errors.
  template <typename T, typename Parse>
  Result<std::optional<T>> parsed(std::string_view key, Parse&& parse);

  const SubOptions& options_;
  std::string what_;
  std::set<std::string, std::less<>> used_;
};

Result<uint64_t> parse_size(std::string_view text, uint64_t default_unit);
Result<bool> parse_bool(std::string_view text);
Result<uint64_t> parse_number(std::string_view text, uint64_t max);

}  // namespace hvmd
