// Config-space virtualisation of a passthrough function: the register table against software
// functions built from the spec and recorded from a real machine.
#include <gtest/gtest.h>

#include "passthrough/cap_regs.h"
#include "tests/unit/passthrough_test_support.h"

namespace hvmd::test {
namespace {

using namespace pci;
using namespace passthrough;

const std::string kRecorded = HVMD_SOURCE_DIR "/tests/passthrough/fixtures";

TEST(PassthroughConfig, HeaderIdentityAndBarsAreTheGuestsNotTheHosts) {
  PassthroughRig rig(make_synthetic_fixture("nic-pcie"));
  ASSERT_EQ(rig.error, "");
  EXPECT_EQ(rig.read(kVendorId), 0x10d38086u);
  EXPECT_EQ(rig.read(kClassProgIf - 1), 0x02000001u);
  // The host's BAR addresses never show: BARs start at 0 with the host's type bits.
  EXPECT_EQ(rig.read(kBar0), 0u);
  EXPECT_EQ(rig.read(kBar0 + 8), kBarIoSpace);
  rig.write(kBar0, ~0u);
  EXPECT_EQ(rig.read(kBar0), ~(0x20000u - 1));  // 128 KiB, as on the host
  rig.write(kBar0 + 12, ~0u);
  EXPECT_EQ(rig.read(kBar0 + 12), ~(0x4000u - 1));
  rig.write(kRomAddress, ~0u);
  // The host's 2 KiB image in a 4 KiB ROM BAR.
  EXPECT_EQ(rig.read(kRomAddress), (~(0x1000u - 1) & kRomAddressMask) | kRomEnable);
  EXPECT_FALSE(rig.host_written(kBar0, kBar0 + 24));
  EXPECT_FALSE(rig.host_written(kRomAddress, kRomAddress + 4));
  // One function in its slot; no self-test; reserved header bytes read 0 and stay 0.
  EXPECT_EQ(rig.read(kHeaderType, 1), 0u);
  rig.write(0x38, ~0u);
  EXPECT_EQ(rig.read(0x38), 0u);
  EXPECT_FALSE(rig.host_written(0x38, 0x3c));
  rig.write(kInterruptLine, 0x0b, 1);
  EXPECT_EQ(rig.read(kInterruptLine, 1), 0x0bu);
  EXPECT_EQ(rig.read(kInterruptPin, 1), 1u);
}

TEST(PassthroughConfig, CommandDecodingIsEmulatedBusMasterReachesTheHost) {
  PassthroughRig rig(make_synthetic_fixture("nic-pcie"), /*with_transport=*/true);
  // At start the host decodes its BARs and has INTx disabled (nothing bound yet).
  EXPECT_EQ(rig.soft->get16(kCommand), kCommandIo | kCommandMemory | kCommandIntxDisable);
  rig.soft->writes.clear();
  rig.write(kCommand, 0xffff, 2);
  uint16_t guest = static_cast<uint16_t>(rig.read(kCommand, 2));
  EXPECT_EQ(guest, kCommandIo | kCommandMemory | kCommandBusMaster | kCommandParity | kCommandSerr |
                       kCommandIntxDisable);
  EXPECT_TRUE(rig.soft->get16(kCommand) & kCommandBusMaster);
  rig.write(kCommand, 0, 2);
  EXPECT_EQ(rig.read(kCommand, 2), 0u);
  // The guest turned decoding off: the host keeps decoding (its BARs are reached directly), and
  // bus mastering follows the guest.
  EXPECT_EQ(rig.soft->get16(kCommand) & (kCommandMemory | kCommandBusMaster), kCommandMemory);
  // INTx is bound (the first config access did it), and the guest's INTx-disable reaches the host.
  EXPECT_TRUE(rig.device->intx_bound());
  EXPECT_FALSE(rig.soft->get16(kCommand) & kCommandIntxDisable);
  rig.write(kCommand, kCommandIntxDisable, 2);
  EXPECT_TRUE(rig.soft->get16(kCommand) & kCommandIntxDisable);
}

TEST(PassthroughConfig, IntxDisableIsForcedWhenNothingIsBound) {
  auto f = make_synthetic_fixture("nic-pcie");
  PassthroughRig rig(std::move(f), /*with_transport=*/false);
  rig.write(kCommand, kCommandMemory | kCommandBusMaster, 2);
  EXPECT_FALSE(rig.device->intx_bound());
  EXPECT_EQ(rig.read(kCommand, 2), uint32_t{kCommandMemory | kCommandBusMaster});
  EXPECT_TRUE(rig.soft->get16(kCommand) & kCommandIntxDisable);
  PassthroughRig refused(make_synthetic_fixture("nic-pcie"));
  refused.transport.refuse_intx = true;
  refused.write(kCommand, 0, 2);
  EXPECT_FALSE(refused.device->intx_bound());
  EXPECT_TRUE(refused.soft->get16(kCommand) & kCommandIntxDisable);
}

TEST(PassthroughConfig, StatusErrorBitsAreTheHostsAndClearByWritingOne) {
  PassthroughRig rig(make_synthetic_fixture("nic-pcie"));
  rig.soft->set16(kStatus, 0x8110);  // parity error, master data parity error, cap list
  EXPECT_EQ(rig.read(kStatus, 2), 0x8110u);
  rig.write(kStatus, 0x8000, 2);
  EXPECT_EQ(rig.soft->get16(kStatus), 0x0110);
  EXPECT_EQ(rig.read(kStatus, 2), 0x0110u);
}

TEST(PassthroughConfig, CapabilityChainIsFilteredAndHiddenOnesReadZero) {
  PassthroughRig nic(make_synthetic_fixture("nic-pcie"));
  EXPECT_EQ(nic.guest_caps(), (std::vector<uint8_t>{kCapPm, kCapMsi, kCapPcie, kCapMsix}));
  PassthroughRig gpu(make_synthetic_fixture("gpu-64bit"));
  EXPECT_EQ(gpu.guest_caps(), (std::vector<uint8_t>{kCapPm, kCapMsi, kCapVendor, kCapPcie}));
  ASSERT_EQ(gpu.device->plan().hidden.size(), 2u);
  // AGP at 0x48 and PCI-X at 0x60 are unlinked and hardwired to 0, writes dropped.
  EXPECT_EQ(gpu.read(0x48), 0u);
  EXPECT_EQ(gpu.read(0x60), 0u);
  gpu.soft->writes.clear();
  gpu.write(0x4c, ~0u);
  EXPECT_EQ(gpu.read(0x4c), 0u);
  EXPECT_TRUE(gpu.soft->writes.empty());
  // The vendor capability's registers are the driver's: they reach the host.
  uint8_t vendor = gpu.guest_cap(kCapVendor);
  gpu.write(vendor + 4, 0xa5a5a5a5);
  EXPECT_EQ(gpu.soft->get32(vendor + 4), 0xa5a5a5a5u);
  EXPECT_EQ(gpu.read(vendor + 4), 0xa5a5a5a5u);
  EXPECT_EQ(gpu.device->dropped_writes(), 0u);
  // No capability left: the status bit goes too.
  PassthroughRig none(make_synthetic_fixture("sub-page-msix"));
  EXPECT_EQ(none.guest_caps(), (std::vector<uint8_t>{kCapMsix}));
}

TEST(PassthroughConfig, BrokenChainsEndCleanly) {
  PassthroughRig cyclic(make_synthetic_fixture("cyclic-caps"));
  ASSERT_EQ(cyclic.error, "");
  EXPECT_EQ(cyclic.guest_caps(), (std::vector<uint8_t>{kCapPm, kCapMsi}));
  EXPECT_STREQ(cyclic.device->plan().broken_chain, "cycle");
  PassthroughRig broken(make_synthetic_fixture("broken-caps"));
  ASSERT_EQ(broken.error, "");
  EXPECT_EQ(broken.guest_caps(), (std::vector<uint8_t>{kCapVendor}));
  EXPECT_EQ(broken.read(0xf1, 1), 0u);  // the bad pointer is not the guest's to follow
}

TEST(PassthroughConfig, PowerManagementKeepsTheDeviceInD0) {
  auto f = make_synthetic_fixture("nic-pcie");
  f->set16(0x40 + kPmControl, 3);  // the host left it in D3hot
  PassthroughRig rig(std::move(f));
  EXPECT_EQ(rig.soft->get16(0x40 + kPmControl) & kPmControlStateMask, 0);  // woken at start
  uint8_t pm = rig.guest_cap(kCapPm);
  ASSERT_EQ(pm, 0x40);
  EXPECT_EQ(rig.read(pm + kPmControl, 2) & kPmControlStateMask, 0u);
  rig.soft->writes.clear();
  rig.write(pm + kPmControl, 3 | kPmControlPmeEnable, 2);
  EXPECT_EQ(rig.read(pm + kPmControl, 2), 3u | kPmControlPmeEnable);     // the guest's view
  EXPECT_EQ(rig.soft->get16(pm + kPmControl) & kPmControlStateMask, 0);  // the device's
  EXPECT_FALSE(rig.host_written(pm, pm + kPmCapLength));
}

TEST(PassthroughConfig, PcieFlrIsHiddenAndControlRegistersEmulated) {
  PassthroughRig rig(make_synthetic_fixture("nic-pcie"));
  uint8_t pcie = rig.guest_cap(kCapPcie);
  ASSERT_NE(pcie, 0);
  EXPECT_TRUE(rig.soft->get32(pcie + kPcieDevCap) & kPcieDevCapFlr);
  EXPECT_FALSE(rig.read(pcie + kPcieDevCap) & kPcieDevCapFlr);
  rig.soft->writes.clear();
  rig.write(pcie + kPcieDevCtl, 0xffff, 2);
  EXPECT_EQ(rig.read(pcie + kPcieDevCtl, 2), 0x7fffu);     // initiate-FLR reads 0
  EXPECT_EQ(rig.soft->get16(pcie + kPcieDevCtl), 0x2810);  // the host's settings stay
  rig.soft->set16(pcie + kPcieDevSta, 0x0025);  // correctable + unsupported request, AUX power
  rig.write(pcie + kPcieDevSta, 0x0001, 2);
  EXPECT_EQ(rig.soft->get16(pcie + kPcieDevSta), 0x0024);
  EXPECT_EQ(rig.read(pcie + kPcieDevSta, 2), 0x0024u);
  rig.write(pcie + kPcieLnkCtl, 0x0003, 2);
  EXPECT_EQ(rig.read(pcie + kPcieLnkCtl, 2), 0x0003u);
  EXPECT_EQ(rig.soft->writes.size(), 1u);  // only the status clear reached the host
}

TEST(PassthroughConfig, UnknownWritesAreDroppedOnceLoggedUnlessPermissive) {
  PassthroughRig rig(make_synthetic_fixture("nic-pcie"));
  rig.soft->set_write_mask(0xb0, 4, ~0u);  // a register no table knows, after the capabilities
  rig.read(kVendorId);                     // binds INTx (a host command write)
  rig.soft->writes.clear();
  rig.write(0xb0, 0x12345678);
  rig.write(0xb1, 0x9a, 1);
  EXPECT_EQ(rig.soft->get32(0xb0), 0u);
  EXPECT_TRUE(rig.soft->writes.empty());
  EXPECT_EQ(rig.device->dropped_writes(), 5u);
  // Reads still come from the host.
  rig.soft->set32(0xb0, 0xcafe);
  EXPECT_EQ(rig.read(0xb0), 0xcafeu);

  auto f = make_synthetic_fixture("nic-pcie");
  f->set_write_mask(0xb0, 4, ~0u);
  PassthroughRig permissive(std::move(f), true, /*permissive=*/true);
  permissive.write(0xb0, 0x12345678);
  EXPECT_EQ(permissive.soft->get32(0xb0), 0x12345678u);
  EXPECT_EQ(permissive.device->dropped_writes(), 0u);
  // Reserved command bits are the host's under permissive (the host itself drops them here).
  permissive.soft->set_write_mask(kCommand, 2, 0xffff);
  permissive.write(kCommand, 0x8000 | kCommandBusMaster, 2);
  EXPECT_TRUE(permissive.soft->get16(kCommand) & 0x8000);
  rig.soft->set_write_mask(kCommand, 2, 0xffff);
  rig.write(kCommand, 0x8000 | kCommandBusMaster, 2);
  EXPECT_FALSE(rig.soft->get16(kCommand) & 0x8000);
}

TEST(PassthroughConfig, RecordedFunctionsBecomeDevices) {
  for (const auto& stem : recorded_fixture_stems(kRecorded)) {
    auto f = load_recorded_fixture(kRecorded, stem);
    ASSERT_TRUE(f) << f.error().message;
    auto host_caps = walk_capabilities([&](uint32_t r) { return (*f)->get8(r); });
    PassthroughRig rig(std::move(*f));
    ASSERT_EQ(rig.error, "") << stem;
    EXPECT_EQ(rig.read(kVendorId, 2), rig.soft->get16(kVendorId)) << stem;
    // Every capability of these functions is one hvmd keeps (virtio's vendor caps, MSI-X).
    std::vector<uint8_t> ids;
    for (const auto& c : host_caps.caps) ids.push_back(c.id);
    EXPECT_EQ(rig.guest_caps(), ids) << stem;
  }
  // virtio-net at 00:03.0: MSI-X in its 64-bit BAR0 at 0x8000, its PBA at 0x48000.
  auto net = load_recorded_fixture(kRecorded, "0000_00_03.0");
  PassthroughRig rig(std::move(*net));
  ASSERT_TRUE(rig.device->plan().msix);
  EXPECT_EQ(rig.device->plan().msix->bar, 0);
  EXPECT_EQ(rig.device->plan().msix->table, 0x8000u);
  EXPECT_EQ(rig.device->plan().msix->pba, 0x48000u);
  EXPECT_EQ(rig.device->plan().msix->vectors, 3u);
  // The host had MSI-X enabled (its own driver); the guest starts with it off.
  EXPECT_EQ(rig.read(0x98 + kMsixControl, 2), 2u);
}

TEST(PassthroughConfig, NotAFunctionOrABridgeIsRefused) {
  auto empty = std::make_unique<SoftFunction>("0000:07:00.0");
  empty->set32(kVendorId, ~0u);
  auto r = PassthroughDevice::create(std::move(empty), {});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("0000:07:00.0"), std::string::npos);
  auto bridge = make_synthetic_fixture("nic-pcie");
  bridge->set8(kHeaderType, 1);
  EXPECT_FALSE(PassthroughDevice::create(std::move(bridge), {}));
}

}  // namespace
}  // namespace hvmd::test
