// The host's /sys and /proc as hvmd-pci sees them: every path is relative to one root ("/" on a
// real host, a temporary folder in tests), so a test builds a fake tree and checks every write.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace hvmd::pcicli {

// One write hvmd-pci made, in the order made (tests compare these with the expected sequence).
struct SysfsWrite {
  std::string path;  // relative to the root, e.g. "sys/bus/pci/drivers_probe"
  std::string value;
};

class SysfsTree {
 public:
  // Called after each successful write; tests use it to play the kernel (move a driver link).
  using WriteHook = std::function<void(const SysfsWrite&)>;

  explicit SysfsTree(std::string root = "/");

  const std::string& root() const { return root_; }
  std::string full(const std::string& rel) const;

  // A whole small file (sysfs attributes, /proc/cmdline); nullopt when missing or unreadable.
  // Reads stop at max_bytes, so a hostile or endless file cannot exhaust memory.
  std::optional<std::string> read_text(const std::string& rel, size_t max_bytes = 64 * 1024) const;
  // The first line without its newline and surrounding blanks.
  std::optional<std::string> read_line(const std::string& rel) const;
  std::optional<std::vector<uint8_t>> read_bytes(const std::string& rel, size_t max_bytes) const;
  // The last component of a symlink's target ("driver" -> "vfio-pci"); nullopt when no link.
  std::optional<std::string> link_name(const std::string& rel) const;
  bool exists(const std::string& rel) const;
  bool is_dir(const std::string& rel) const;
  // Entries of a folder, sorted, without "." and ".."; at most max_entries of them.
  std::vector<std::string> list(const std::string& rel, size_t max_entries = 4096) const;

  // Writes value to an existing file (never creates one: sysfs attributes exist or the kernel
  // lacks the feature). Returns an error sentence naming the path, or "" on success.
  std::string write(const std::string& rel, const std::string& value);

  const std::vector<SysfsWrite>& writes() const { return writes_; }
  void set_write_hook(WriteHook hook) { hook_ = std::move(hook); }

 private:
  std::string root_;
  std::vector<SysfsWrite> writes_;
  WriteHook hook_;
};

}  // namespace hvmd::pcicli
