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

// Xen's emulated-device unplug, as Linux's xen-platform-pci performs it before its PV drivers take
// over: the magic at port 0x10, then the mask of what goes.
constexpr uint16_t kPlatformPort = 0x10;
constexpr uint16_t kPlatformMagic = 0x49d2;
constexpr uint16_t kUnplugDisksAndNics = 0x0003;
constexpr uint16_t kPrimaryStatus = 0x1f7;
constexpr uint16_t kSecondaryStatus = 0x177;
constexpr uint8_t kNicDevfn = 0x20;  // 00:04.0, given on the command line

// One board started twice with the same command line, as `xl restore` starts the device model.
struct UnplugBoard {
  TempFile disk;
  std::vector<std::string> args() const {
    return {"-machine", "xenfv",
            "-drive",   "file=" + disk.path + ",if=ide,index=0,format=raw",
            "-drive",   "if=ide,index=2,media=cdrom",
            "-device",  "e1000,id=nic0,addr=0x4"};
  }
  UnplugBoard() { EXPECT_EQ(truncate(disk.path.c_str(), 1 << 20), 0); }
};

bool lists_nic(QtestClient& qt) {
  Json reply = qt.qmp("query-pci");
  for (const Json& device : reply["return"][0]["devices"])
    if (device.value("qdev_id", "") == "nic0") return true;
  return false;
}

TEST(SaveRestore, AGuestThatUnpluggedItsDisksAndNicRestoresIntoAFreshDaemon) {
  UnplugBoard board;
  TempFile state;
  {
    QtestClient qt(board.args());
    ASSERT_EQ(qt.pci_config_read(kNicDevfn, 0, 4), 0x100e8086u);
    ASSERT_EQ(qt.inw(kPlatformPort), kPlatformMagic);
    qt.outw(kPlatformPort, kUnplugDisksAndNics);
    qt.pci_config_write(kHostBridge, kPam1, 1, 0x33);
    EXPECT_EQ(qt.pci_config_read(kNicDevfn, 0, 4), 0xffffffffu) << "the NIC is gone";
    EXPECT_EQ(qt.inb(kPrimaryStatus), 0u) << "no disk left on the primary channel (a disk: 0x50)";
    EXPECT_FALSE(lists_nic(qt));
    Json saved = qt.qmp("xen-save-devices-state", {{"filename", state.path}});
    ASSERT_TRUE(saved.contains("return")) << saved;
  }
  QtestClient restored(board.args());
  ASSERT_EQ(restored.pci_config_read(kNicDevfn, 0, 4), 0x100e8086u);
  Json loaded = restored.qmp("xen-load-devices-state", {{"filename", state.path}});
  ASSERT_TRUE(loaded.contains("return")) << loaded;
  EXPECT_EQ(restored.pci_config_read(kHostBridge, kPam1, 1), 0x33u);
  EXPECT_EQ(restored.pci_config_read(kNicDevfn, 0, 4), 0xffffffffu) << "unplugged again";
  EXPECT_FALSE(lists_nic(restored));
  EXPECT_EQ(restored.inb(kPrimaryStatus), 0u);
  // An empty channel reads 0 everywhere; the CD-ROM shows its signature in LBA mid (0x174).
  EXPECT_EQ(restored.inb(kSecondaryStatus - 3), 0x14u) << "the CD-ROM stays, as the protocol says";
  // The restored machine saves and restores again (a second migration).
  TempFile again;
  ASSERT_TRUE(
      restored.qmp("xen-save-devices-state", {{"filename", again.path}}).contains("return"));
  QtestClient third(board.args());
  EXPECT_TRUE(third.qmp("xen-load-devices-state", {{"filename", again.path}}).contains("return"));
  EXPECT_FALSE(lists_nic(third));
}

TEST(SaveRestore, AStateFromBeforeAnUnplugIsRefusedAndChangesNothing) {
  UnplugBoard board;
  TempFile state;
  QtestClient qt(board.args());
  ASSERT_TRUE(qt.qmp("xen-save-devices-state", {{"filename", state.path}}).contains("return"));
  qt.outw(kPlatformPort, kUnplugDisksAndNics);
  qt.pci_config_write(kHostBridge, kPam1, 1, 0x22);
  Json loaded = qt.qmp("xen-load-devices-state", {{"filename", state.path}});
  ASSERT_TRUE(loaded.contains("error")) << loaded;
  EXPECT_EQ(qt.pci_config_read(kHostBridge, kPam1, 1), 0x22u);
  EXPECT_FALSE(lists_nic(qt));
  EXPECT_EQ(qt.qmp("query-status")["return"]["status"], "running");
}

}  // namespace
}  // namespace hvmd::test
