// Black-box: hvmd's command line, as libxl and test programs pass it, and its errors.
#include <gtest/gtest.h>

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
  QtestClient qt({"-machine", "pc,suppress-vmdesc=on", "-m", "128", "-smp", "2,maxcpus=4",
                  "-name", "guest,debug-threads=on", "-uuid",
                  "12345678-1234-1234-1234-123456789abc", "-nodefaults", "-no-user-config",
                  "-vnc", "none", "-no-shutdown", "-drive", "if=none,id=cd0,readonly=on"});
  EXPECT_EQ(qt.qmp("query-name")["return"]["name"], "guest");
}

TEST(CommandLine, QmpServerSocketAndPidfile) {
  char dir[] = "/tmp/hvmd-cl-XXXXXX";
  ASSERT_TRUE(mkdtemp(dir));
  std::string qmp = std::string(dir) + "/qmp", pidfile = std::string(dir) + "/pid";
  QtestClient qt({"-qmp", "unix:" + qmp + ",server=on,wait=off", "-pidfile", pidfile});
  FILE* f = fopen(pidfile.c_str(), "r");
  ASSERT_NE(f, nullptr);
  int pid = 0;
  EXPECT_EQ(fscanf(f, "%d", &pid), 1);
  fclose(f);
  EXPECT_EQ(pid, qt.pid());
  EXPECT_EQ(qt.terminate(), 0);
  EXPECT_NE(access(pidfile.c_str(), F_OK), 0);  // removed on exit
  rmdir(dir);
}

}  // namespace
}  // namespace hvmd::test
