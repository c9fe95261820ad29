// SysfsHost (the pciback path) against a fake sysfs tree, and the host registry's sealing.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>

#include "passthrough/bdf.h"
#include "passthrough/fixtures.h"
#include "passthrough/passthrough_device.h"
#include "passthrough/passthrough_devices.h"
#include "passthrough/sysfs_host.h"
#include "tests/passthrough/fake_sysfs.h"

namespace hvmd::test {
namespace {

using namespace pci;
using namespace passthrough;

class PassthroughSysfs : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/hvmd-sysfs-XXXXXX";
    ASSERT_TRUE(mkdtemp(tmpl));
    root = tmpl;
    soft = make_synthetic_fixture("nic-pcie");
    dir = make_fake_sysfs(root, *soft);
  }
  void TearDown() override { std::filesystem::remove_all(root); }
  uint8_t file_byte(const std::string& file, off_t offset) {
    int fd = open((dir + "/" + file).c_str(), O_RDONLY);
    uint8_t b = 0;
    EXPECT_EQ(pread(fd, &b, 1, offset), 1);
    close(fd);
    return b;
  }
  std::string root, dir;
  std::unique_ptr<SoftFunction> soft;
};

TEST_F(PassthroughSysfs, ConfigRegionsIrqAndRomFromTheTree) {
  auto host = SysfsHost::open(root, *parse_host_address("0000:03:00.0"));
  ASSERT_TRUE(host) << host.error().message;
  SysfsHost& h = **host;
  EXPECT_EQ(h.name(), "0000:03:00.0");
  EXPECT_EQ(h.config_size(), 4096u);
  EXPECT_EQ(h.read(kVendorId, 4), 0x10d38086u);
  EXPECT_EQ(h.extended_read(0x100, 2), 0x0001u);
  h.write(kLatencyTimer, 1, 0x40);
  EXPECT_EQ(file_byte("config", kLatencyTimer), 0x40);
  EXPECT_EQ(h.read(0x1000, 4), ~0u);  // past the end
  EXPECT_EQ(h.region(0).kind, RegionKind::kMemory32);
  EXPECT_EQ(h.region(0).host_address, 0xfebc0000u);
  EXPECT_EQ(h.region(2).kind, RegionKind::kIo);
  EXPECT_EQ(h.region(3).size, 0x4000u);
  EXPECT_EQ(h.intx().machine_irq, 11u);
  // Trapped BAR accesses: through the mmap of resource3, through pread/pwrite of the I/O BAR.
  h.region_write(3, 0x804, 4, 0xdeadbeef);
  EXPECT_EQ(file_byte("resource3", 0x804), 0xef);
  EXPECT_EQ(h.region_read(3, 0x804, 4), 0xdeadbeefu);
  h.region_write(2, 2, 2, 0x1234);
  EXPECT_EQ(h.region_read(2, 2, 2), 0x1234u);
  EXPECT_EQ(h.region_read(3, 0x4000, 4), ~0ull);
  auto rom = h.read_rom();
  ASSERT_TRUE(rom);
  ASSERT_EQ(rom->size(), 0x800u);
  EXPECT_EQ((*rom)[1], 0xaa);
  // MSI-X on the host: the enable bit in its config space (Xen binds the pirqs).
  ASSERT_TRUE(h.set_msi(true, 5));
  EXPECT_EQ(file_byte("config", 0x9c + kMsixControl + 1) & 0xc0, 0x80);
  ASSERT_TRUE(h.set_msi(false, 4));
  EXPECT_EQ(file_byte("config", 0x48 + kMsiControl),
            0x80 | 0x20 | 0x04 | 1);  // 64-bit, 4 of 4 vectors, enabled
  EXPECT_FALSE(h.reset());
}

TEST_F(PassthroughSysfs, MissingFunctionIsAnErrorNamingIt) {
  auto host = SysfsHost::open(root, *parse_host_address("0000:09:00.0"));
  ASSERT_FALSE(host);
  EXPECT_NE(host.error().message.find("0000:09:00.0"), std::string::npos);
  std::filesystem::remove(dir + "/resource");
  auto no_resource = SysfsHost::open(root, *parse_host_address("0000:03:00.0"));
  ASSERT_FALSE(no_resource);
  EXPECT_NE(no_resource.error().message.find("resource"), std::string::npos);
}

TEST_F(PassthroughSysfs, SealedHostsHandOutOnlyWhatWasOpened) {
  PassthroughHosts hosts(root, nullptr);
  PciAddress a = *parse_host_address("0000:03:00.0");
  auto opened = hosts.open_sysfs(a, root);
  ASSERT_TRUE(opened);
  hosts.provide(std::move(*opened));
  hosts.seal();
  auto again = hosts.open_sysfs(a, root);
  ASSERT_TRUE(again);  // the one opened before
  auto twice = hosts.open_sysfs(a, root);
  ASSERT_FALSE(twice);  // handed out already, and no new opens once sealed
  EXPECT_NE(twice.error().message.find("dropped its privileges"), std::string::npos);
}

// libxl's pci = [...]: the device_add comes after the privilege drop, for a function bound to
// pciback before the guest started; those are opened at start and handed out after sealing.
TEST_F(PassthroughSysfs, PcibackFunctionsAreOpenedBeforeTheSeal) {
  PassthroughHosts none(root, nullptr);
  EXPECT_EQ(none.open_pciback_functions(), 0u);  // pciback not loaded
  std::string driver = root + "/bus/pci/drivers/pciback";
  std::filesystem::create_directories(driver);
  write_whole(driver + "/new_slot", "", 0);  // the driver's control files are not functions
  write_whole(driver + "/slots", "", 0);
  std::filesystem::create_directory_symlink(dir, driver + "/0000:03:00.0");
  std::filesystem::create_directory_symlink(root + "/bus/pci/devices/0000:07:00.0",
                                            driver + "/0000:07:00.0");  // gone: skipped
  PassthroughHosts hosts(root, nullptr);
  EXPECT_EQ(hosts.open_pciback_functions(), 1u);
  hosts.seal();
  auto opened = hosts.open_sysfs(*parse_host_address("0000:03:00.0"), root);
  ASSERT_TRUE(opened) << opened.error().message;
  EXPECT_EQ((*opened)->read(kVendorId, 4), 0x10d38086u);
  auto other = hosts.open_sysfs(*parse_host_address("0000:07:00.0"), root);
  ASSERT_FALSE(other);
  EXPECT_NE(other.error().message.find("xl pci-assignable-add 0000:07:00.0"), std::string::npos);
}

TEST_F(PassthroughSysfs, ADeviceOnTheTree) {
  auto host = SysfsHost::open(root, *parse_host_address("0000:03:00.0"));
  ASSERT_TRUE(host);
  auto device = PassthroughDevice::create(std::move(*host), {});
  ASSERT_TRUE(device) << device.error().message;
  EXPECT_EQ((*device)->config_read(kVendorId, 4), 0x10d38086u);
  EXPECT_EQ((*device)->rom_bar().size, 0x1000u);  // the host's ROM image
  PassthroughOptions no_rom{.rom = false};
  auto host2 = SysfsHost::open(root, *parse_host_address("0000:03:00.0"));
  auto without = PassthroughDevice::create(std::move(*host2), no_rom);
  ASSERT_TRUE(without);
  EXPECT_EQ((*without)->rom_bar().size, 0u);
}

}  // namespace
}  // namespace hvmd::test
