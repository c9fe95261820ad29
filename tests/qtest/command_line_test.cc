// Black-box: hvmd's command line, as libxl and test programs pass it, and its errors.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <fstream>

#include "tests/qtest/qtest_client.h"

namespace hvmd::test {
namespace {

// Every bad invocation exits 1 with exactly one line naming the offending option or value.
void expect_one_line_error(const std::vector<std::string>& args, const std::string& needle) {
  RunResult r = run_hvmd(args);
  EXPECT_EQ(r.status, 1) << r.stderr_text;
  EXPECT_EQ(std::count(r.stderr_text.begin(), r.stderr_text.end(), '\n'), 1) << r.stderr_text;
  EXPECT_NE(r.stderr_text.find(needle), std::string::npos) << r.stderr_text;
}

TEST(CommandLine, RejectsWhatItDoesNotKnow) {
  expect_one_line_error({"-frobnicate"}, "unknown option '-frobnicate'");
  expect_one_line_error({"disk.img"}, "unexpected argument 'disk.img'");
  expect_one_line_error({"-m"}, "'-m' needs a value");
  expect_one_line_error({"-m", "lots"}, "lots");
  expect_one_line_error({"-m", "1"}, "-m 1");
  expect_one_line_error({"-smp", "0"}, "-smp 0");
  expect_one_line_error({"-smp", "4,maxcpus=2"}, "maxcpus");
  expect_one_line_error({"-machine", "q35"}, "'q35'");
  expect_one_line_error({"-machine", "pc,frob=1"}, "frob");
  expect_one_line_error({"-accel", "tcg"}, "'tcg'");
  expect_one_line_error({"-uuid", "not-a-uuid"}, "not-a-uuid");
  expect_one_line_error({"-chardev", "socket,id=c"}, "path=");
  expect_one_line_error({"-chardev", "spice,id=c"}, "'spice'");
  expect_one_line_error({"-chardev", "null,id=c", "-chardev", "null,id=c"}, "duplicate");
  expect_one_line_error({"-mon", "chardev=nope,mode=control"}, "'nope'");
  expect_one_line_error({"-chardev", "null,id=c", "-mon", "chardev=c"}, "mode");
  expect_one_line_error({"-display", "gtk"}, "gtk");
  expect_one_line_error({"-qtest", "tcp:1234"}, "tcp:1234");
  expect_one_line_error({"-device", "e1000,,x"}, "");
  expect_one_line_error({"-accel", "qtest", "-qtest", "unix:/nonexistent/qtest.sock"},
                        "/nonexistent/qtest.sock");
  expect_one_line_error({"-accel", "qtest", "-qtest", "stdio", "-device", "nic9000"}, "nic9000");
  expect_one_line_error({"-accel", "qtest", "-qtest", "stdio", "-device", "i440FX-pcihost"},
                        "part of the board");
  expect_one_line_error({"-accel", "qtest", "-qtest", "stdio", "-drive", "file=x.img,if=ide"},
                        "if=ide");
}

TEST(CommandLine, HelpListsTheOptions) {
  RunResult r = run_hvmd({"--help"});
  EXPECT_EQ(r.status, 0);
  RunResult v = run_hvmd({"-version"});
  EXPECT_EQ(v.status, 0);
}

TEST(CommandLine, StartsTheWayLibqtestStartsQemu) {
  // QtestClient passes exactly libqtest's arguments; extra options of libxl's kind too.
  QtestClient qt({"-machine", "pc,suppress-vmdesc=on", "-m", "128", "-smp", "2,maxcpus=4", "-name",
                  "guest,debug-threads=on", "-uuid", "12345678-1234-1234-1234-123456789abc",
                  "-nodefaults", "-no-user-config", "-vnc", "none", "-no-shutdown", "-drive",
                  "if=none,id=cd0,readonly=on"});
  EXPECT_EQ(qt.qmp("query-name")["return"]["name"], "guest");
}

// Connects to a Unix socket and returns the first line it sends.
int connect_unix(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0) return -1;
  return fd;
}

std::string read_line(int fd) {
  std::string line;
  char c;
  pollfd p{fd, POLLIN, 0};
  while (poll(&p, 1, 5000) == 1 && read(fd, &c, 1) == 1 && c != '\n') line += c;
  return line;
}

std::string temp_dir() {
  char dir[] = "/tmp/hvmd-cl-XXXXXX";
  return mkdtemp(dir) ? dir : "";
}

int read_pidfile(const std::string& path) {
  int pid = 0;
  if (FILE* f = fopen(path.c_str(), "r")) {
    if (fscanf(f, "%d", &pid) != 1) pid = 0;
    fclose(f);
  }
  return pid;
}

TEST(CommandLine, QmpServerSocketAsLibxlPassesIt) {
  std::string dir = temp_dir();
  std::string qmp = dir + "/qmp-libxl-1", pidfile = dir + "/pid";
  QtestClient qt({"-chardev", "socket,id=libxl-cmd,path=" + qmp + ",server=on,wait=off", "-mon",
                  "chardev=libxl-cmd,mode=control", "-pidfile", pidfile});
  EXPECT_EQ(read_pidfile(pidfile), qt.pid());
  // Two clients at once, as libxl and xentop may be.
  for (int i = 0; i < 2; ++i) {
    int fd = connect_unix(qmp);
    ASSERT_GE(fd, 0);
    EXPECT_NE(read_line(fd).find("\"QMP\""), std::string::npos);
    const char* request =
        "{\"execute\":\"qmp_capabilities\",\"id\":1}{\"execute\":\"query-status\",\"id\":2}";
    ASSERT_GT(write(fd, request, strlen(request)), 0);
    EXPECT_EQ(Json::parse(read_line(fd))["id"], 1);
    EXPECT_EQ(Json::parse(read_line(fd))["return"]["status"], "running");
    close(fd);
  }
  EXPECT_EQ(qt.terminate(), 0);
  EXPECT_NE(access(pidfile.c_str(), F_OK), 0);  // removed on exit
  EXPECT_NE(access(qmp.c_str(), F_OK), 0);      // the socket too
  rmdir(dir.c_str());
}

// True while pid exists and has not exited (a detached daemon's zombie may wait for a reaper).
bool process_running(int pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return false;
  auto paren = line.rfind(')');
  return paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] != 'Z';
}

TEST(CommandLine, DaemonizeDetachesOnceServing) {
  std::string dir = temp_dir();
  std::string pidfile = dir + "/pid";
  QtestClient qt({"-daemonize", "-pidfile", pidfile});
  // The process we started returns at once with status 0; the daemon goes on serving.
  EXPECT_EQ(qt.wait_exit(), 0);
  int daemon = read_pidfile(pidfile);
  ASSERT_GT(daemon, 0);
  EXPECT_EQ(qt.qmp("query-status")["return"]["status"], "running");
  EXPECT_EQ(qt.pci_config_read(0, 0, 2), 0x8086u);
  kill(daemon, SIGTERM);
  for (int i = 0; i < 500 && process_running(daemon); ++i) usleep(10000);
  EXPECT_FALSE(process_running(daemon));
  rmdir(dir.c_str());
}

TEST(CommandLine, LogAndQtestLogFiles) {
  std::string dir = temp_dir();
  std::string log = dir + "/hvmd.log", qtest_log = dir + "/qtest.log";
  {
    // -qtest-log given last wins over the client's /dev/null.
    QtestClient qt({"-D", log, "-qtest-log", qtest_log, "-name", "logged"});
    EXPECT_EQ(qt.inb(0x80), 0xffu);
    EXPECT_EQ(qt.terminate(), 0);
  }
  std::ifstream qlog(qtest_log);
  std::string all((std::istreambuf_iterator<char>(qlog)), std::istreambuf_iterator<char>());
  EXPECT_NE(all.find("] inb 128"), std::string::npos) << all;
  EXPECT_NE(all.find("] OK 0x00ff"), std::string::npos) << all;
  std::ifstream dlog(log);
  std::string diagnostics((std::istreambuf_iterator<char>(dlog)), std::istreambuf_iterator<char>());
  EXPECT_NE(diagnostics.find("serving guest logged"), std::string::npos) << diagnostics;
  unlink(log.c_str());
  unlink(qtest_log.c_str());
  rmdir(dir.c_str());
}

// The command line libxl 4.17 built for the lab's baseline HVM guest (xl create, qemu-xen),
// recorded from its "Spawning device-model" log. Without a hypervisor hvmd parses all of it, then
// stops with one line naming what is missing.
TEST(CommandLine, LibxlQemuXenCommandLine) {
  std::ifstream file(HVMD_SOURCE_DIR "/tests/xen/libxl-4.17-hvm-ide-cirrus.argv");
  std::vector<std::string> args;
  for (std::string line; std::getline(file, line);) args.push_back(line);
  ASSERT_GT(args.size(), 20u);
  ASSERT_EQ(args[0], "-xen-domid");
  RunResult r = run_hvmd(args);
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.stderr_text,
            "hvmd: Xen is not running: cannot open /dev/xen/privcmd: No such file or directory\n");
}

}  // namespace
}  // namespace hvmd::test
