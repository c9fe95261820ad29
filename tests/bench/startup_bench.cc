// Start-up time and idle memory of a device model, measured from outside: wall time from fork to
// the QMP greeting on its monitor socket, and the resident set once it has served
// qmp_capabilities and a query.
//   hvmd_startup_bench hvmd BINARY [RUNS]   hvmd -machine pc -accel qtest, as test programs start
//   it hvmd_startup_bench qemu BINARY [RUNS]   qemu -machine pc -accel tcg -S (Debian's QEMU has no
//                                           qtest accelerator; -S keeps the guest idle)
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

namespace {

int listen_unix(const std::string& path) {
  unlink(path.c_str());
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0 || listen(fd, 1) < 0) {
    perror(path.c_str());
    exit(1);
  }
  return fd;
}

int accept_within(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  if (poll(&p, 1, timeout_ms) != 1) {
    fprintf(stderr, "the device model did not connect\n");
    exit(1);
  }
  return accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
}

// Reads until a full line has arrived.
std::string read_line(int fd) {
  std::string line;
  char c;
  pollfd p{fd, POLLIN, 0};
  while (poll(&p, 1, 10000) == 1 && read(fd, &c, 1) == 1) {
    if (c == '\n') return line;
    line += c;
  }
  fprintf(stderr, "no reply on QMP\n");
  exit(1);
}

long rss_kib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

struct Sample {
  double ms;
  long rss;
};

Sample run_once(bool is_hvmd, const std::string& binary, const std::string& dir) {
  std::string qmp_path = dir + "/qmp.sock", qtest_path = dir + "/qtest.sock";
  int qmp_listen = listen_unix(qmp_path);
  int qtest_listen = is_hvmd ? listen_unix(qtest_path) : -1;
  std::vector<std::string> args = {binary,     "-machine",
                                   "pc",       "-nodefaults",
                                   "-display", "none",
                                   "-chardev", "socket,path=" + qmp_path + ",id=c",
                                   "-mon",     "chardev=c,mode=control"};
  if (is_hvmd)
    args.insert(args.end(), {"-qtest", "unix:" + qtest_path, "-accel", "qtest"});
  else
    args.insert(args.end(), {"-accel", "tcg", "-S"});
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  auto start = std::chrono::steady_clock::now();
  pid_t pid = fork();
  if (pid == 0) {
    execv(binary.c_str(), argv.data());
    _exit(127);
  }
  int qtest = is_hvmd ? accept_within(qtest_listen, 10000) : -1;
  int qmp = accept_within(qmp_listen, 10000);
  read_line(qmp);  // the greeting: QMP is ready
  double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  const char* hello = "{\"execute\":\"qmp_capabilities\"}\n{\"execute\":\"query-status\"}\n";
  if (write(qmp, hello, strlen(hello)) < 0) exit(1);
  read_line(qmp);
  read_line(qmp);
  long rss = rss_kib(pid);
  kill(pid, SIGTERM);
  waitpid(pid, nullptr, 0);
  for (int fd : {qtest, qmp, qtest_listen, qmp_listen})
    if (fd >= 0) close(fd);
  return {ms, rss};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3 || (strcmp(argv[1], "hvmd") != 0 && strcmp(argv[1], "qemu") != 0)) {
    fprintf(stderr, "usage: hvmd_startup_bench hvmd|qemu BINARY [RUNS]\n");
    return 1;
  }
  bool is_hvmd = strcmp(argv[1], "hvmd") == 0;
  int runs = argc > 3 ? atoi(argv[3]) : 20;
  char dir[] = "/tmp/hvmd-startup-XXXXXX";
  if (!mkdtemp(dir)) return 1;
  std::vector<double> ms;
  std::vector<long> rss;
  for (int i = 0; i < runs; ++i) {
    Sample s = run_once(is_hvmd, argv[2], dir);
    ms.push_back(s.ms);
    rss.push_back(s.rss);
  }
  rmdir(dir);
  std::sort(ms.begin(), ms.end());
  std::sort(rss.begin(), rss.end());
  printf(
      "%-5s start to QMP ready: median %6.2f ms (min %.2f, max %.2f, %d runs); idle RSS: median "
      "%.2f MiB\n",
      argv[1], ms[ms.size() / 2], ms.front(), ms.back(), runs, rss[rss.size() / 2] / 1024.0);
  return 0;
}
