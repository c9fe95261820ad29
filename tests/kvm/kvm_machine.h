// KvmMachine: hvmd on the kvm runner as the firmware tests start it: COM1 and the debug console
// (port 0x402, SeaBIOS's log) going to files, QMP on a socket, in a temporary folder removed
// with the object.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace hvmd::test {

inline constexpr const char* kSeabios = "/usr/share/seabios/bios-256k.bin";

std::string read_file(const std::string& path);

// Whether /dev/kvm opens and SeaBIOS is installed; if not, why (for GTEST_SKIP).
bool kvm_usable(std::string* why);

class KvmMachine {
 public:
  // hvmd -accel kvm ... followed by extra.
  explicit KvmMachine(const std::vector<std::string>& extra);
  ~KvmMachine();
  KvmMachine(const KvmMachine&) = delete;
  KvmMachine& operator=(const KvmMachine&) = delete;

  // Waits until the serial (or debug) output holds text `count` times; false when hvmd exits
  // first or time runs out.
  bool wait_for(const std::string& text, bool debug = false, int count = 1,
                std::chrono::seconds timeout = std::chrono::seconds(60));
  bool alive();
  std::string serial_log() const { return read_file(serial_); }
  std::string debug_log() const { return read_file(debug_); }
  std::string dir() const { return dir_; }
  // One QMP command (with its arguments as a JSON object) on a fresh connection; returns what
  // the server sent.
  std::string qmp(const std::string& command, const std::string& arguments = "{}");

 private:
  std::string dir_, serial_, debug_, qmp_;
  pid_t pid_ = -1;
};

#define REQUIRE_KVM()                           \
  do {                                          \
    std::string why;                            \
    if (!kvm_usable(&why)) GTEST_SKIP() << why; \
  } while (0)

}  // namespace hvmd::test
