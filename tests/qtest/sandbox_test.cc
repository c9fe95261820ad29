// Black-box: hvmd serves from inside its sandbox by default (seccomp filter, no new privileges,
// no core files), and -sandbox off leaves it out for debugging.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "tests/qtest/qtest_client.h"

namespace hvmd::test {
namespace {

std::string proc_file(pid_t pid, const char* name) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/" + name);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// "Seccomp:\t2" is filter mode.
std::string status_field(pid_t pid, const std::string& field) {
  std::istringstream status(proc_file(pid, "status"));
  for (std::string line; std::getline(status, line);)
    if (line.starts_with(field + ":"))
      return line.substr(line.find_first_not_of(" \t", field.size() + 1));
  return "";
}

TEST(Sandbox, OnByDefault) {
#ifdef HVMD_SANITIZER_BUILD
  GTEST_SKIP() << "the sandbox is off in sanitizer builds";
#endif
  QtestClient qt;
  EXPECT_EQ(status_field(qt.pid(), "Seccomp"), "2");
  EXPECT_EQ(status_field(qt.pid(), "NoNewPrivs"), "1");
  EXPECT_NE(proc_file(qt.pid(), "limits").find("Max core file size        0"), std::string::npos);
  // The sandboxed daemon still serves everything a test exercises: QMP, config space, save.
  EXPECT_EQ(qt.pci_config_read(0, 0, 4), 0x12378086u);
  EXPECT_TRUE(qt.qmp("query-pci").contains("return"));
  EXPECT_TRUE(qt.qmp("xen-save-devices-state", {{"filename", "/dev/null"}}).contains("return"));
  EXPECT_EQ(qt.terminate(), 0);
}

// Each call the sandbox forbids, attempted from inside the running daemon (x-sandbox-probe, in
// test builds): refused with EPERM where the exit path may try it harmlessly, otherwise the
// process ends with the SIGSYS report. With -sandbox off the same attempts reach the kernel and
// fail there (they are built to be harmless), which shows the probe does what it says.
TEST(Sandbox, ForbiddenCallsAreRefused) {
#ifdef HVMD_SANITIZER_BUILD
  GTEST_SKIP() << "the sandbox is off in sanitizer builds";
#endif
  const char* kTrapped[] = {"openat-read-write",
                            "socket",
                            "connect",
                            "ioctl-kvm-run",
                            "ioctl-privcmd-hypercall",
                            "ioctl-tiocsti",
                            "tgkill-other",
                            "kill-other",
                            "io-uring-setup",
                            "fork",
                            "execve",
                            "ptrace",
                            "mmap-exec",
                            "setuid"};
  for (const char* call : kTrapped) {
    QtestClient qt;
    EXPECT_ANY_THROW(qt.qmp("x-sandbox-probe", {{"call", call}})) << call << " was allowed";
    EXPECT_EQ(qt.wait_exit(), 1) << call;
  }
  QtestClient qt;
  EXPECT_EQ(qt.qmp("x-sandbox-probe", {{"call", "unlink"}})["return"]["errno"], EPERM);
  // Allowed: a terminal query (the kernel's EBADF, not the filter's).
  EXPECT_EQ(qt.qmp("x-sandbox-probe", {{"call", "ioctl-tcgets"}})["return"]["errno"], EBADF);
  EXPECT_TRUE(qt.qmp("query-status").contains("return"));
}

TEST(Sandbox, ProbesAreHarmlessWithoutTheSandbox) {
  QtestClient qt({"-sandbox", "off"});
  for (const char* call : {"openat-read-write", "unlink", "socket", "connect", "ioctl-kvm-run",
                           "fork", "execve", "mmap-exec", "setuid"}) {
    Json reply = qt.qmp("x-sandbox-probe", {{"call", call}});
    EXPECT_NE(reply["return"]["errno"], 0) << call << ": " << reply.dump();
  }
}

TEST(Sandbox, OffOnRequest) {
  QtestClient qt({"-sandbox", "off"});
  EXPECT_EQ(status_field(qt.pid(), "Seccomp"), "0");
}

TEST(Sandbox, BadValueIsAnError) {
  RunResult r = run_hvmd({"-sandbox", "maybe", "-accel", "qtest"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.stderr_text.find("-sandbox maybe"), std::string::npos) << r.stderr_text;
}

}  // namespace
}  // namespace hvmd::test
