#include "tests/kvm/kvm_machine.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

namespace hvmd::test {
std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

bool kvm_usable(std::string* why) {
  int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    *why = "/dev/kvm: " + std::string(strerror(errno));
    return false;
  }
  close(fd);
  if (access(kSeabios, R_OK) != 0) {
    *why = kSeabios;  // built by appending: GCC 12 warns falsely on string(literal) + literal
    *why += " missing (Debian package seabios)";
    return false;
  }
  return true;
}

KvmMachine::KvmMachine(const std::vector<std::string>& extra) {
  char dir[] = "/tmp/hvmd-kvm-XXXXXX";
  dir_ = mkdtemp(dir);
  serial_ = dir_ + "/serial.log";
  debug_ = dir_ + "/debug.log";
  qmp_ = dir_ + "/qmp.sock";
  std::vector<std::string> args = {HVMD_BINARY_PATH,
                                   "-accel",
                                   "kvm",
                                   "-display",
                                   "none",
                                   "-serial",
                                   "file:" + serial_,
                                   "-chardev",
                                   "file,id=dbg,path=" + debug_,
                                   "-device",
                                   "isa-debugcon,iobase=0x402,chardev=dbg",
                                   "-qmp",
                                   "unix:" + qmp_ + ",server=on,wait=off"};
  args.insert(args.end(), extra.begin(), extra.end());
  pid_ = fork();
  if (pid_ == 0) {
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    int null = open("/dev/null", O_RDWR);
    dup2(null, 0);
    execv(argv[0], argv.data());
    _exit(127);
  }
}

KvmMachine::~KvmMachine() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
  }
  for (const auto& f : {serial_, debug_, qmp_}) unlink(f.c_str());
  rmdir(dir_.c_str());
}

bool KvmMachine::wait_for(const std::string& text, bool debug, int count,
                          std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    std::string out = read_file(debug ? debug_ : serial_);
    int seen = 0;
    for (size_t at = out.find(text); at != std::string::npos; at = out.find(text, at + 1)) ++seen;
    if (seen >= count) return true;
    if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

bool KvmMachine::alive() {
  if (pid_ > 0 && waitpid(pid_, nullptr, WNOHANG) == pid_) pid_ = -1;
  return pid_ > 0;
}

std::string KvmMachine::qmp(const std::string& command, const std::string& arguments) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, qmp_.c_str(), sizeof(addr.sun_path) - 1);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return "";
  }
  std::string request = "{\"execute\":\"qmp_capabilities\"}\n{\"execute\":\"" + command +
                        "\",\"arguments\":" + arguments + "}\n";
  (void)!write(fd, request.data(), request.size());
  std::string in;
  char buffer[4096];
  while (std::count(in.begin(), in.end(), '\n') < 3) {
    ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n <= 0) break;
    in.append(buffer, size_t(n));
  }
  close(fd);
  return in;
}

}  // namespace hvmd::test
