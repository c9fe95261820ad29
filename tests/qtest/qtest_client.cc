#include "tests/qtest/qtest_client.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <thread>

namespace hvmd::test {
namespace {

[[noreturn]] void die(const std::string& what) {
  throw std::runtime_error(what);
}

int listen_unix(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0 || listen(fd, 1) < 0)
    die("cannot listen on " + path + ": " + strerror(errno));
  return fd;
}

int accept_with_timeout(int listen_fd, pid_t child, int timeout_ms) {
  pollfd p{listen_fd, POLLIN, 0};
  for (int waited = 0; waited < timeout_ms; waited += 10) {
    if (poll(&p, 1, 10) == 1) return accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    int status;
    if (waitpid(child, &status, WNOHANG) == child) die("hvmd exited before connecting");
  }
  die("hvmd did not connect");
}

pid_t spawn(const std::vector<std::string>& args, int stderr_fd) {
  std::vector<char*> argv;
  std::string binary = hvmd_binary();
  argv.push_back(binary.data());
  std::vector<std::string> copy = args;
  for (auto& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    if (stderr_fd >= 0) dup2(stderr_fd, STDERR_FILENO);
    execv(binary.c_str(), argv.data());
    _exit(127);
  }
  return pid;
}

int wait_child(pid_t pid, int timeout_ms) {
  for (int waited = 0; waited <= timeout_ms; waited += 5) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid)
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  return -1;
}

}  // namespace

std::string hvmd_binary() {
  if (const char* env = getenv("HVMD_BINARY")) return env;
  return HVMD_BINARY_PATH;
}

RunResult run_hvmd(const std::vector<std::string>& args, int timeout_ms) {
  char path[] = "/tmp/hvmd-stderr-XXXXXX";
  int fd = mkstemp(path);
  unlink(path);
  pid_t pid = spawn(args, fd);
  RunResult result;
  result.status = wait_child(pid, timeout_ms);
  lseek(fd, 0, SEEK_SET);
  char buffer[4096];
  ssize_t n;
  while ((n = read(fd, buffer, sizeof(buffer))) > 0) result.stderr_text.append(buffer, size_t(n));
  close(fd);
  return result;
}

QtestClient::QtestClient(const std::vector<std::string>& extra_args, bool handshake) {
  char dir[] = "/tmp/hvmd-test-XXXXXX";
  if (!mkdtemp(dir)) die("mkdtemp failed");
  dir_ = dir;
  std::string qtest_path = dir_ + "/qtest.sock";
  std::string qmp_path = dir_ + "/qmp.sock";
  int qtest_listen = listen_unix(qtest_path);
  int qmp_listen = listen_unix(qmp_path);
  std::vector<std::string> args = {"-qtest",     "unix:" + qtest_path,
                                   "-qtest-log", "/dev/null",
                                   "-chardev",   "socket,path=" + qmp_path + ",id=char0",
                                   "-mon",       "chardev=char0,mode=control",
                                   "-display",   "none"};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  args.insert(args.end(), {"-accel", "qtest"});
  pid_ = spawn(args, -1);
  qtest_fd_ = accept_with_timeout(qtest_listen, pid_, kTimeoutMs);
  qmp_fd_ = accept_with_timeout(qmp_listen, pid_, kTimeoutMs);
  close(qtest_listen);
  close(qmp_listen);
  if (handshake) {
    greeting_ = read_qmp_message();
    Json reply = qmp("qmp_capabilities");
    if (!reply.contains("return")) die("qmp_capabilities failed: " + reply.dump());
  }
}

QtestClient::~QtestClient() {
  if (pid_ > 0) terminate();
  if (qtest_fd_ >= 0) close(qtest_fd_);
  if (qmp_fd_ >= 0) close(qmp_fd_);
  unlink((dir_ + "/qtest.sock").c_str());
  unlink((dir_ + "/qmp.sock").c_str());
  rmdir(dir_.c_str());
}

int QtestClient::terminate() {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  return wait_exit();
}

int QtestClient::wait_exit(int timeout_ms) {
  int status = wait_child(pid_, timeout_ms);
  pid_ = -1;
  return status;
}

void QtestClient::send_all(int fd, const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = send(fd, text.data() + done, text.size() - done, MSG_NOSIGNAL);
    if (n <= 0) die("send failed: " + std::string(strerror(errno)));
    done += size_t(n);
  }
}

std::string QtestClient::read_line(int fd, std::string& buffer) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kTimeoutMs);
  while (true) {
    auto nl = buffer.find('\n');
    if (nl != std::string::npos) {
      std::string line = buffer.substr(0, nl);
      buffer.erase(0, nl + 1);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      return line;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) die("timed out waiting for hvmd");
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) != 1) continue;
    char chunk[65536];
    ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
    if (n <= 0) die("hvmd closed the connection");
    buffer.append(chunk, size_t(n));
  }
}

std::string QtestClient::command(const std::string& line) {
  send_all(qtest_fd_, line + "\n");
  while (true) {
    std::string reply = read_line(qtest_fd_, qtest_buffer_);
    if (reply.starts_with("IRQ ")) {
      bool raise = reply.compare(4, 5, "raise") == 0;
      unsigned pin =
          static_cast<unsigned>(std::stoul(reply.substr(10)));  // "IRQ raise " or "IRQ lower "
      if (pin < irq_.size()) {
        if (raise && !irq_[pin]) ++raises_[pin];
        irq_[pin] = raise;
      }
      continue;
    }
    return reply;
  }
}

static uint64_t ok_value(const std::string& reply) {
  if (!reply.starts_with("OK ")) die("unexpected qtest reply: " + reply);
  return std::stoull(reply.substr(3), nullptr, 0);
}

void QtestClient::out(const char* cmd, uint16_t port, uint32_t value) {
  std::string reply =
      command(std::string(cmd) + " " + std::to_string(port) + " " + std::to_string(value));
  if (reply != "OK") die("unexpected qtest reply: " + reply);
}

uint64_t QtestClient::in(const char* cmd, uint16_t port) {
  return ok_value(command(std::string(cmd) + " " + std::to_string(port)));
}

void QtestClient::writel(uint64_t addr, uint32_t v) {
  std::string reply = command("writel " + std::to_string(addr) + " " + std::to_string(v));
  if (reply != "OK") die("unexpected qtest reply: " + reply);
}

uint32_t QtestClient::readl(uint64_t addr) {
  return static_cast<uint32_t>(ok_value(command("readl " + std::to_string(addr))));
}

void QtestClient::memwrite(uint64_t addr, const std::vector<uint8_t>& data) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex = "0x";
  for (uint8_t b : data) {
    hex += kHex[b >> 4];
    hex += kHex[b & 15];
  }
  std::string reply =
      command("write " + std::to_string(addr) + " " + std::to_string(data.size()) + " " + hex);
  if (reply != "OK") die("unexpected qtest reply: " + reply);
}

std::vector<uint8_t> QtestClient::memread(uint64_t addr, size_t length) {
  std::string reply = command("read " + std::to_string(addr) + " " + std::to_string(length));
  if (!reply.starts_with("OK 0x") || reply.size() != 5 + 2 * length)
    die("bad read reply: " + reply);
  std::vector<uint8_t> out(length);
  for (size_t i = 0; i < length; ++i)
    out[i] = static_cast<uint8_t>(std::stoul(reply.substr(5 + 2 * i, 2), nullptr, 16));
  return out;
}

int64_t QtestClient::clock_step(int64_t ns) {
  std::string reply = command(ns < 0 ? "clock_step" : "clock_step " + std::to_string(ns));
  if (!reply.starts_with("OK ")) die("unexpected qtest reply: " + reply);
  return std::stoll(reply.substr(3));
}

uint32_t QtestClient::pci_config_read(uint8_t devfn, uint8_t reg, unsigned size) {
  outl(0xcf8, 0x80000000u | uint32_t{devfn} << 8 | (reg & 0xfc));
  uint16_t port = static_cast<uint16_t>(0xcfc + (reg & 3));
  return size == 1 ? inb(port) : size == 2 ? inw(port) : inl(port);
}

void QtestClient::pci_config_write(uint8_t devfn, uint8_t reg, unsigned size, uint32_t value) {
  outl(0xcf8, 0x80000000u | uint32_t{devfn} << 8 | (reg & 0xfc));
  uint16_t port = static_cast<uint16_t>(0xcfc + (reg & 3));
  if (size == 1)
    outb(port, static_cast<uint8_t>(value));
  else if (size == 2)
    outw(port, static_cast<uint16_t>(value));
  else
    outl(port, value);
}

Json QtestClient::read_qmp_message() {
  while (true) {
    std::string line = read_line(qmp_fd_, qmp_buffer_);
    if (line.empty()) continue;
    return Json::parse(line);
  }
}

Json QtestClient::qmp_raw(const std::string& text) {
  send_all(qmp_fd_, text);
  while (true) {
    Json message = read_qmp_message();
    if (message.contains("event")) {
      events_.push_back(message);
      continue;
    }
    return message;
  }
}

Json QtestClient::qmp_command(const Json& command) {
  return qmp_raw(command.dump() + "\n");
}

Json QtestClient::qmp(const std::string& execute, const Json& arguments) {
  Json command = {{"execute", execute}};
  if (!arguments.empty()) command["arguments"] = arguments;
  return qmp_command(command);
}

Json QtestClient::qmp_with_fd(const std::string& execute, const Json& arguments, int fd) {
  Json command = {{"execute", execute}, {"arguments", arguments}};
  std::string text = command.dump() + "\n";
  iovec iov{text.data(), text.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
  if (sendmsg(qmp_fd_, &msg, MSG_NOSIGNAL) != static_cast<ssize_t>(text.size()))
    die("sendmsg failed: " + std::string(strerror(errno)));
  return qmp_raw("");
}

}  // namespace hvmd::test
