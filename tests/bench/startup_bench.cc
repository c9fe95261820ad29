// Start-up time and idle memory of a device model, measured from outside: wall time from fork to
// the QMP greeting on its monitor socket, and the resident set once it has served
// qmp_capabilities and a query. Each configuration runs RUNS times with hvmd and, given a QEMU
// binary, with QEMU (Debian's QEMU has no qtest accelerator: it runs with -accel tcg -S, which
// keeps the guest idle), then one more hvmd run whose memory is broken down from
// /proc/PID/smaps: text, data, heap, stacks, malloc arenas and buffers, and the largest mappings.
//   hvmd_startup_bench HVMD [RUNS] [QEMU]
// Configurations: the bare board; -machine pc with an IDE disk and an e1000 under qtest, and
// under kvm (-S) where /dev/kvm opens; and the guest libxl starts by default (IDE disk, e1000,
// serial, Cirrus VGA with a VNC server and no client), run under qtest as a stand-in for Xen.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "tests/bench/bench_table.h"

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

// Where the resident set of pid goes, from its smaps: each mapping's Rss put in one class.
// Thread stacks are the mappings holding a thread's stack pointer (/proc/PID/task/*/syscall);
// glibc's per-thread malloc arenas sit at 64 MiB-aligned addresses.
struct Mapping {
  uint64_t start, end;
  std::string perms, path;
  long rss_kib = 0;
};

std::vector<Mapping> read_smaps(pid_t pid) {
  std::ifstream smaps("/proc/" + std::to_string(pid) + "/smaps");
  std::vector<Mapping> out;
  std::string line;
  while (std::getline(smaps, line)) {
    unsigned long long start, end;
    char perms[8];
    int consumed = 0;
    if (sscanf(line.c_str(), "%llx-%llx %7s %*s %*s %*s%n", &start, &end, perms, &consumed) >= 3 &&
        line.find('-') < line.find(' ')) {
      Mapping m{start, end, perms, ""};
      std::string rest = line.substr(static_cast<size_t>(consumed));
      size_t first = rest.find_first_not_of(' ');
      if (first != std::string::npos) m.path = rest.substr(first);
      out.push_back(m);
    } else if (line.rfind("Rss:", 0) == 0 && !out.empty()) {
      out.back().rss_kib = std::stol(line.substr(4));
    }
  }
  return out;
}

std::vector<uint64_t> thread_stack_pointers(pid_t pid) {
  std::vector<uint64_t> sps;
  std::error_code ec;
  for (const auto& task :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    std::ifstream syscall(task.path() / "syscall");
    std::string word;
    std::vector<std::string> words;
    while (syscall >> word) words.push_back(word);
    // "NR a1 a2 a3 a4 a5 a6 SP PC" (or "-1 SP PC" outside a call, "running" while running)
    if (words.size() >= 3) sps.push_back(strtoull(words[words.size() - 2].c_str(), nullptr, 0));
  }
  return sps;
}

std::string classify(const Mapping& m, const std::string& binary,
                     const std::vector<uint64_t>& stack_pointers) {
  bool exec = m.perms.find('x') != std::string::npos;
  if (m.path == binary) return exec ? "hvmd text" : "hvmd data+bss";
  if (m.path == "[heap]") return "heap (brk)";
  if (m.path == "[stack]") return "main stack";
  if (m.path == "[vdso]" || m.path == "[vvar]" || m.path == "[vsyscall]") return "vdso";
  if (m.path.find(".so") != std::string::npos) return exec ? "library text" : "library data";
  if (!m.path.empty() && m.path[0] == '/') return "other files (" + m.path + ")";
  for (uint64_t sp : stack_pointers)
    if (sp >= m.start && sp < m.end) return "thread stacks";
  if (m.start % (64ull << 20) == 0 && m.perms.rfind("rw", 0) == 0) return "malloc arenas";
  return "anonymous (buffers, device memory)";
}

void print_breakdown(const char* config, pid_t pid, const std::string& binary) {
  auto maps = read_smaps(pid);
  auto sps = thread_stack_pointers(pid);
  std::map<std::string, long> by_class;
  long total = 0;
  for (const auto& m : maps) {
    by_class[classify(m, binary, sps)] += m.rss_kib;
    total += m.rss_kib;
  }
  printf("  %s: where the %.2f MiB go (%zu threads)\n", config, total / 1024.0, sps.size());
  std::vector<std::pair<long, std::string>> sorted;
  for (auto& [name, kib] : by_class) sorted.push_back({kib, name});
  std::sort(sorted.rbegin(), sorted.rend());
  for (auto& [kib, name] : sorted)
    if (kib > 0) printf("    %7.2f MiB  %s\n", kib / 1024.0, name.c_str());
  std::sort(maps.begin(), maps.end(),
            [](const Mapping& a, const Mapping& b) { return a.rss_kib > b.rss_kib; });
  printf("    largest mappings:");
  for (size_t i = 0; i < std::min<size_t>(6, maps.size()); ++i)
    printf(" %s %s %ld KiB%s", maps[i].path.empty() ? "[anon]" : maps[i].path.c_str(),
           maps[i].perms.c_str(), maps[i].rss_kib, i + 1 < 6 ? ";" : "\n");
}

enum class Accel { kQtest, kKvm };

struct Config {
  const char* name;
  const char* figure;  // the table's name for its RSS, or nullptr
  double rss_target_mib;
  Accel accel;
  bool devices;      // IDE disk and e1000
  bool xen_default;  // serial, Cirrus VGA and VNC besides
};

struct Sample {
  double ms;
  long rss;
};

struct Env {
  std::string dir, disk;
};

Sample run_once(bool is_hvmd, const std::string& binary, const Config& config, const Env& env,
                bool breakdown) {
  std::string qmp_path = env.dir + "/qmp.sock", qtest_path = env.dir + "/qtest.sock";
  int qmp_listen = listen_unix(qmp_path);
  bool qtest = is_hvmd && config.accel == Accel::kQtest;
  int qtest_listen = qtest ? listen_unix(qtest_path) : -1;
  std::vector<std::string> args = {binary,     "-machine",
                                   "pc",       "-nodefaults",
                                   "-display", "none",
                                   "-chardev", "socket,path=" + qmp_path + ",id=c",
                                   "-mon",     "chardev=c,mode=control"};
  if (config.accel == Accel::kKvm)
    args.insert(args.end(), {"-accel", "kvm", "-S"});
  else if (qtest)
    args.insert(args.end(), {"-qtest", "unix:" + qtest_path, "-accel", "qtest"});
  else
    args.insert(args.end(), {"-accel", "tcg", "-S"});
  if (config.devices)
    args.insert(args.end(), {"-drive", "file=" + env.disk + ",if=ide,index=0,media=disk,format=raw",
                             "-netdev", "socket,id=n0,udp=127.0.0.1:9,localaddr=127.0.0.1:0",
                             "-device", "e1000,netdev=n0"});
  if (config.xen_default)
    args.insert(args.end(), {"-serial", "file:" + env.dir + "/serial.log", "-device",
                             "cirrus-vga,vgamem_mb=8", "-vnc", "unix:" + env.dir + "/vnc.sock"});
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  auto start = std::chrono::steady_clock::now();
  pid_t pid = fork();
  if (pid == 0) {
    int null = open("/dev/null", O_WRONLY);
    dup2(null, 2);  // QEMU's warnings (no -m, a NIC's checks) are not the benchmark's
    execv(binary.c_str(), argv.data());
    _exit(127);
  }
  int qtest_fd = qtest ? accept_within(qtest_listen, 10000) : -1;
  int qmp = accept_within(qmp_listen, 10000);
  read_line(qmp);  // the greeting: QMP is ready
  double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  const char* hello = "{\"execute\":\"qmp_capabilities\"}\n{\"execute\":\"query-status\"}\n";
  if (write(qmp, hello, strlen(hello)) < 0) exit(1);
  read_line(qmp);
  read_line(qmp);
  long rss = rss_kib(pid);
  if (breakdown) {
    char real[PATH_MAX];
    print_breakdown(config.name, pid, realpath(binary.c_str(), real) ? real : binary);
  }
  kill(pid, SIGTERM);
  waitpid(pid, nullptr, 0);
  for (int fd : {qtest_fd, qmp, qtest_listen, qmp_listen})
    if (fd >= 0) close(fd);
  return {ms, rss};
}

struct Summary {
  double ms = 0;
  double rss_mib = 0;
};

Summary measure(bool is_hvmd, const std::string& binary, const Config& config, const Env& env,
                int runs) {
  std::vector<double> ms;
  std::vector<long> rss;
  for (int i = 0; i < runs; ++i) {
    Sample s = run_once(is_hvmd, binary, config, env, false);
    ms.push_back(s.ms);
    rss.push_back(s.rss);
  }
  std::sort(ms.begin(), ms.end());
  std::sort(rss.begin(), rss.end());
  printf(
      "%-5s %-40s start to QMP ready: median %6.2f ms (min %.2f, max %.2f, %d runs); idle RSS: "
      "median %.2f MiB\n",
      is_hvmd ? "hvmd" : "qemu", config.name, ms[ms.size() / 2], ms.front(), ms.back(), runs,
      rss[rss.size() / 2] / 1024.0);
  return {ms[ms.size() / 2], rss[rss.size() / 2] / 1024.0};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 4) {
    fprintf(stderr, "usage: hvmd_startup_bench HVMD [RUNS] [QEMU]\n");
    return 1;
  }
  std::string hvmd = argv[1];
  int runs = argc > 2 ? atoi(argv[2]) : 20;
  if (runs < 1 || runs > 10000) {
    fprintf(stderr, "hvmd_startup_bench: RUNS '%s' is not 1..10000\n", argv[2]);
    return 1;
  }
  std::string qemu = argc > 3 ? argv[3] : "";
  char dir[] = "/tmp/hvmd-startup-XXXXXX";
  if (!mkdtemp(dir)) return 1;
  Env env{dir, std::string(dir) + "/disk.img"};
  {
    std::ofstream disk(env.disk, std::ios::binary);
    std::string sector(512, '\0');
    for (int i = 0; i < 2048; ++i) disk.write(sector.data(), sector.size());  // 1 MiB
  }
  int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (kvm >= 0) close(kvm);

  const Config configs[] = {
      {"pc, bare board (qtest)", nullptr, 0, Accel::kQtest, false, false},
      {"pc, IDE disk + e1000 (qtest)", "idle RSS, pc + IDE + e1000, qtest (MiB)", 4, Accel::kQtest,
       true, false},
      {"pc, IDE disk + e1000 (kvm, -S)", "idle RSS, pc + IDE + e1000, kvm (MiB)", 4, Accel::kKvm,
       true, false},
      {"libxl default: + serial, cirrus, VNC (qtest)",
       "idle RSS, libxl's default guest (qtest stand-in) (MiB)", 3, Accel::kQtest, true, true},
  };
  for (const Config& config : configs) {
    if (config.accel == Accel::kKvm && kvm < 0) {
      printf("%s: skipped, /dev/kvm does not open\n", config.name);
      continue;
    }
    Summary ours = measure(true, hvmd, config, env, runs);
    Summary theirs;
    if (!qemu.empty()) theirs = measure(false, qemu, config, env, std::max(1, runs / 2));
    run_once(true, hvmd, config, env, true);
    if (config.figure == nullptr) {
      hvmd::bench::table_line("start to QMP ready, pc (ms)", ours.ms, "QEMU -S", theirs.ms, "<=5");
    } else {
      hvmd::bench::table_line(config.figure, ours.rss_mib, "QEMU -S", theirs.rss_mib,
                              "<=" + std::to_string(static_cast<int>(config.rss_target_mib)));
    }
  }
  std::filesystem::remove_all(dir);
  return 0;
}
