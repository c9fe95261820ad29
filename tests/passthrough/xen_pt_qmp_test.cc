// xen-pci-passthrough as libxl drives it, against hvmd under qtest with pciback functions from a
// fake sysfs tree: -device at start, QMP device_del (guest eject) and device_add with libxl's
// exact arguments, query-pci's qdev_id/slot/function, and a guest's config and BAR accesses
// reaching the host function (every BAR trapped: qtest has no hypervisor to map them).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>

#include "passthrough/fixtures.h"
#include "tests/passthrough/fake_sysfs.h"
#include "tests/qtest/qtest_client.h"

namespace hvmd::test {
namespace {

constexpr uint16_t kEject = 0xae08;
constexpr uint8_t kColdSlot = 6, kHotSlot = 7;

class XenPciPassthrough : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/hvmd-pt-XXXXXX";
    ASSERT_TRUE(mkdtemp(tmpl));
    root = tmpl;
    auto nic = passthrough::make_synthetic_fixture("nic-pcie");
    nic_dir = make_fake_sysfs(root, *nic);
    auto gpu = passthrough::make_synthetic_fixture("gpu-64bit");
    make_fake_sysfs(root, *gpu);
  }
  void TearDown() override { std::filesystem::remove_all(root); }
  std::vector<std::string> args() {
    return {"-device",
            "xen-pci-passthrough,id=pci-pt-03_00.0,hostaddr=0000:03:00.0,x-sysfs-root=" + root +
                ",addr=06.0",
            "-device",
            "xen-pci-passthrough,id=pci-pt-01_00.0,hostaddr=0000:01:00.0,x-sysfs-root=" + root +
                ",permissive=on"};
  }
  uint32_t file_dword(const std::string& file, off_t offset) {
    int fd = open((nic_dir + "/" + file).c_str(), O_RDONLY);
    uint32_t v = 0;
    EXPECT_EQ(pread(fd, &v, 4, offset), 4);
    close(fd);
    return v;
  }
  std::string root, nic_dir;
};

// The entry libxl looks for: the qdev_id it chose, then slot and function.
const Json* find_entry(const Json& reply, const std::string& id) {
  for (const Json& device : reply["return"][0]["devices"])
    if (device.value("qdev_id", "") == id) return &device;
  return nullptr;
}

TEST_F(XenPciPassthrough, GuestSeesTheFunctionAndReachesItsBar) {
  QtestClient qt(args());
  constexpr uint8_t devfn = kColdSlot << 3;
  EXPECT_EQ(qt.pci_config_read(devfn, 0, 4), 0x10d38086u);
  EXPECT_EQ(qt.pci_config_read(devfn, 0x0b, 1), 0x02u);  // network controller
  // BAR sizing as firmware does it: the host's size, never its address.
  qt.pci_config_write(devfn, 0x10, 4, 0xffffffff);
  EXPECT_EQ(qt.pci_config_read(devfn, 0x10, 4), 0xfffe0000u);
  qt.pci_config_write(devfn, 0x10, 4, 0xe0000000);
  qt.pci_config_write(devfn, 0x04, 2, 0x0006);  // memory + bus master
  qt.writel(0xe0000010, 0x600dcafe);
  EXPECT_EQ(file_dword("resource0", 0x10), 0x600dcafeu);  // reached the host's BAR
  EXPECT_EQ(qt.readl(0xe0000010), 0x600dcafeu);
  // The guest's BAR address never reached the host's config space.
  EXPECT_EQ(file_dword("config", 0x10), 0xfebc0000u);
  // Bus mastering did, with INTx disabled (qtest binds no interrupt).
  EXPECT_EQ(file_dword("config", 0x04) & 0x0407, 0x0407u);
  // The second function: 64-bit BARs, AGP and PCI-X hidden from its chain.
  Json pci = qt.qmp("query-pci");
  const Json* gpu = find_entry(pci, "pci-pt-01_00.0");
  ASSERT_TRUE(gpu) << pci.dump();
  uint8_t gpu_devfn = static_cast<uint8_t>((*gpu)["slot"].get<int>() << 3);
  std::vector<uint32_t> caps;
  for (uint32_t at = qt.pci_config_read(gpu_devfn, 0x34, 1); at && caps.size() < 16;
       at = qt.pci_config_read(gpu_devfn, at + 1, 1))
    caps.push_back(qt.pci_config_read(gpu_devfn, at, 1));
  EXPECT_EQ(caps, (std::vector<uint32_t>{0x01, 0x05, 0x09, 0x10}));
  bool bar1_64 = false;
  for (const Json& region : (*gpu)["regions"])
    if (region["bar"] == 1) bar1_64 = region.value("mem_type_64", false);
  EXPECT_TRUE(bar1_64);
}

TEST_F(XenPciPassthrough, LibxlDetachAndAttach) {
  QtestClient qt(args());
  Json pci = qt.qmp("query-pci");
  const Json* entry = find_entry(pci, "pci-pt-03_00.0");
  ASSERT_TRUE(entry) << pci.dump();
  EXPECT_EQ((*entry)["slot"], kColdSlot);
  EXPECT_EQ((*entry)["function"], 0);

  // xl pci-detach: device_del, the guest ejects the slot, DEVICE_DELETED.
  Json del = qt.qmp("device_del", {{"id", "pci-pt-03_00.0"}});
  ASSERT_TRUE(del.contains("return")) << del.dump();
  qt.outl(kEject, 1u << kColdSlot);
  EXPECT_FALSE(find_entry(qt.qmp("query-pci"), "pci-pt-03_00.0"));
  bool deleted = false;
  for (const Json& e : qt.events())
    deleted |= e["event"] == "DEVICE_DELETED" && e["data"].value("device", "") == "pci-pt-03_00.0";
  EXPECT_TRUE(deleted);
  EXPECT_EQ(qt.pci_config_read(kColdSlot << 3, 0, 4), 0xffffffffu);

  // xl pci-attach: libxl's arguments exactly, then query-pci for the slot.
  Json add = qt.qmp("device_add", {{"driver", "xen-pci-passthrough"},
                                   {"id", "pci-pt-03_00.0"},
                                   {"hostaddr", "0000:03:00.0"},
                                   {"addr", "07.0"},
                                   {"permissive", true}});
  ASSERT_TRUE(add.contains("return")) << add.dump();
  entry = find_entry(pci = qt.qmp("query-pci"), "pci-pt-03_00.0");
  ASSERT_TRUE(entry) << pci.dump();
  EXPECT_EQ((*entry)["slot"], kHotSlot);
  EXPECT_EQ((*entry)["function"], 0);
  EXPECT_EQ(qt.pci_config_read(kHotSlot << 3, 0, 4), 0x10d38086u);

  // A function hvmd did not open before dropping its privileges: refused with the reason.
  Json other = qt.qmp(
      "device_add",
      {{"driver", "xen-pci-passthrough"}, {"id", "pci-pt-09_00.0"}, {"hostaddr", "0000:09:00.0"}});
  ASSERT_TRUE(other.contains("error")) << other.dump();
  EXPECT_NE(other["error"]["desc"].get<std::string>().find("0000:09:00.0"), std::string::npos);
  Json bad =
      qt.qmp("device_add",
             {{"driver", "xen-pci-passthrough"}, {"id", "pci-pt-x"}, {"hostaddr", "0000:03:00"}});
  ASSERT_TRUE(bad.contains("error")) << bad.dump();
  EXPECT_NE(bad["error"]["desc"].get<std::string>().find("'0000:03:00'"), std::string::npos);
  EXPECT_EQ(qt.pci_config_read(kHotSlot << 3, 0, 4), 0x10d38086u);  // still serving
}

TEST_F(XenPciPassthrough, CommandLineErrorsNameTheValue) {
  RunResult r = run_hvmd({"-accel", "qtest", "-qtest", "stdio", "-device",
                          "xen-pci-passthrough,hostaddr=0000:0a:00.0,x-sysfs-root=" + root});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.stderr_text.find("0000:0a:00.0"), std::string::npos) << r.stderr_text;
  r = run_hvmd({"-accel", "qtest", "-qtest", "stdio", "-device", "xen-pci-passthrough"});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.stderr_text.find("hostaddr"), std::string::npos) << r.stderr_text;
}

}  // namespace
}  // namespace hvmd::test
