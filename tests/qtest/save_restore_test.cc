// Black-box: device state saved and restored through QMP the way libxl does it (a descriptor
// passed with add-fd, then xen-save-devices-state / xen-load-devices-state on /dev/fdset/N).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>

#include "tests/qtest/qtest_client.h"

namespace hvmd::test {
namespace {

constexpr uint8_t kHostBridge = 0x00;  // 00:00.0
constexpr uint8_t kPam1 = 0x59;        // i440FX PAM register: firmware shadowing state

// A temporary file, removed with the object.
struct TempFile {
  std::string path;
  TempFile() {
    char name[] = "/tmp/hvmd-state-XXXXXX";
    int fd = mkstemp(name);
    if (fd >= 0) close(fd);
    path = name;
  }
  ~TempFile() { unlink(path.c_str()); }
  int open_fd(int flags) const { return ::open(path.c_str(), flags | O_CLOEXEC); }
};

TEST(SaveRestore, ThroughFdsetsAsLibxlDoes) {
  QtestClient qt;
  qt.pci_config_write(kHostBridge, kPam1, 1, 0x33);
  TempFile file;

  int out = file.open_fd(O_WRONLY);
  ASSERT_GE(out, 0);
  Json added = qt.qmp_with_fd("add-fd", Json::object(), out);
  close(out);
  ASSERT_TRUE(added.contains("return")) << added;
  int64_t set = added["return"]["fdset-id"];
  EXPECT_EQ(qt.qmp("query-fdsets")["return"][0]["fdset-id"], set);

  EXPECT_TRUE(qt.qmp("stop").contains("return"));
  Json saved = qt.qmp("xen-save-devices-state",
                      {{"filename", "/dev/fdset/" + std::to_string(set)}, {"live", false}});
  EXPECT_TRUE(saved.contains("return")) << saved;
  EXPECT_TRUE(qt.qmp("remove-fd", {{"fdset-id", set}}).contains("return"));
  EXPECT_EQ(qt.qmp("query-fdsets")["return"], Json::array());

  // A reset returns the PAM register to its power-on value; loading the file brings it back.
  EXPECT_TRUE(qt.qmp("system_reset").contains("return"));
  EXPECT_EQ(qt.pci_config_read(kHostBridge, kPam1, 1), 0x00u);
  Json loaded = qt.qmp("xen-load-devices-state", {{"filename", file.path}});
  EXPECT_TRUE(loaded.contains("return")) << loaded;
  EXPECT_EQ(qt.pci_config_read(kHostBridge, kPam1, 1), 0x33u);
}

TEST(SaveRestore, BadInputIsAnErrorAndTheDaemonCarriesOn) {
  QtestClient qt;
  // add-fd without a descriptor.
  EXPECT_TRUE(qt.qmp("add-fd").contains("error"));
  // An fdset nobody created.
  EXPECT_TRUE(qt.qmp("xen-save-devices-state", {{"filename", "/dev/fdset/7"}}).contains("error"));
  EXPECT_TRUE(qt.qmp("xen-save-devices-state", {{"filename", "/dev/fdset/x"}}).contains("error"));
  EXPECT_TRUE(qt.qmp("xen-load-devices-state", {}).contains("error"));

  // A corrupt state file (a truncated valid one, then garbage) is refused and changes nothing.
  TempFile file;
  qt.pci_config_write(kHostBridge, kPam1, 1, 0x11);
  ASSERT_TRUE(qt.qmp("xen-save-devices-state", {{"filename", file.path}}).contains("return"));
  qt.pci_config_write(kHostBridge, kPam1, 1, 0x22);
  ASSERT_EQ(truncate(file.path.c_str(), 10), 0);
  EXPECT_TRUE(qt.qmp("xen-load-devices-state", {{"filename", file.path}}).contains("error"));
  FILE* f = fopen(file.path.c_str(), "w");
  ASSERT_TRUE(f);
  fputs("not a device state file at all, just text\n", f);
  fclose(f);
  EXPECT_TRUE(qt.qmp("xen-load-devices-state", {{"filename", file.path}}).contains("error"));
  EXPECT_EQ(qt.pci_config_read(kHostBridge, kPam1, 1), 0x22u);
  EXPECT_EQ(qt.qmp("query-status")["return"]["status"], "running");
}

}  // namespace
}  // namespace hvmd::test
