// A small client for black-box tests: spawns hvmd the way QEMU's libqtest spawns QEMU (two
// listening Unix sockets, hvmd connects to both), then speaks qtest and QMP to it like a driver.
// Every wait is bounded, so a broken hvmd fails a test instead of hanging it.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace hvmd::test {

using Json = nlohmann::json;

// Path of the hvmd binary under test (HVMD_BINARY env, else the build's).
std::string hvmd_binary();

// Runs hvmd with args to completion; returns exit status and what it wrote to stderr.
struct RunResult {
  int status = -1;
  std::string stderr_text;
};
RunResult run_hvmd(const std::vector<std::string>& args, int timeout_ms = 10000);

class QtestClient {
 public:
  static constexpr int kTimeoutMs = 10000;

  // extra_args go before "-accel qtest", as libqtest places them.
  explicit QtestClient(const std::vector<std::string>& extra_args = {}, bool handshake = true);
  ~QtestClient();
  QtestClient(const QtestClient&) = delete;
  QtestClient& operator=(const QtestClient&) = delete;

  // qtest: one request line, its reply line ("OK ..." / "FAIL ..."). IRQ lines seen on the way
  // update irq_level().
  std::string command(const std::string& line);
  void outb(uint16_t port, uint8_t v) { out("outb", port, v); }
  void outw(uint16_t port, uint16_t v) { out("outw", port, v); }
  void outl(uint16_t port, uint32_t v) { out("outl", port, v); }
  uint8_t inb(uint16_t port) { return static_cast<uint8_t>(in("inb", port)); }
  uint16_t inw(uint16_t port) { return static_cast<uint16_t>(in("inw", port)); }
  uint32_t inl(uint16_t port) { return static_cast<uint32_t>(in("inl", port)); }
  void writel(uint64_t addr, uint32_t v);
  uint32_t readl(uint64_t addr);
  void memwrite(uint64_t addr, const std::vector<uint8_t>& data);
  std::vector<uint8_t> memread(uint64_t addr, size_t length);
  int64_t clock_step(int64_t ns = -1);
  bool irq_level(unsigned pin) const { return pin < irq_.size() && irq_[pin]; }
  // How many times the line has gone up (an edge-triggered pin's interrupts).
  unsigned irq_raises(unsigned pin) const { return pin < raises_.size() ? raises_[pin] : 0; }

  // PCI config through mechanism #1, as firmware does it.
  uint32_t pci_config_read(uint8_t devfn, uint8_t reg, unsigned size);
  void pci_config_write(uint8_t devfn, uint8_t reg, unsigned size, uint32_t value);

  // QMP: sends a command, returns its reply; events arriving before it are kept in events().
  Json qmp_command(const Json& command);
  Json qmp(const std::string& execute, const Json& arguments = Json::object());
  // Sends a command with a file descriptor attached (SCM_RIGHTS), as libxl does for add-fd.
  Json qmp_with_fd(const std::string& execute, const Json& arguments, int fd);
  // Sends raw bytes on the QMP socket and returns the next non-event message.
  Json qmp_raw(const std::string& text);
  Json read_qmp_message();
  std::vector<Json>& events() { return events_; }
  const Json& greeting() const { return greeting_; }

  pid_t pid() const { return pid_; }
  // Sends SIGTERM and returns the exit status (or -1 on timeout).
  int terminate();
  // Waits for hvmd to exit on its own; exit status, or -1 on timeout.
  int wait_exit(int timeout_ms = kTimeoutMs);

 private:
  void out(const char* cmd, uint16_t port, uint32_t value);
  uint64_t in(const char* cmd, uint16_t port);
  std::string read_line(int fd, std::string& buffer);
  void send_all(int fd, const std::string& text);

  pid_t pid_ = -1;
  int qtest_fd_ = -1;
  int qmp_fd_ = -1;
  std::string dir_;
  std::string qtest_buffer_;
  std::string qmp_buffer_;
  std::vector<bool> irq_ = std::vector<bool>(24);
  std::vector<unsigned> raises_ = std::vector<unsigned>(24);
  std::vector<Json> events_;
  Json greeting_;
};

}  // namespace hvmd::test
