#include "dm/pci/pci_device.h"

#include <gtest/gtest.h>

#include "dm/pci/pci_bus.h"
#include "tests/unit/test_devices.h"

namespace hvmd::test {
namespace {

using namespace pci;

// A device with every kind of BAR, a ROM, MSI and MSI-X, the way a NIC lays itself out.
class TestPciDevice final : public PciDevice {
 public:
  TestPciDevice()
      : PciDevice({.vendor = 0x1af4,
                   .device = 0x1234,
                   .class_code = 0x020000,
                   .revision = 3,
                   .subsystem_vendor = 0x1af4,
                   .subsystem = 1,
                   .interrupt_pin = 1}) {
    add_bar(0, BarType::kMemory32, 0x1000, &regs);
    add_bar(1, BarType::kIo, 0x20, &io);
    add_bar(2, BarType::kMemory64, 0x4000, &msix_bar_handler, /*prefetchable=*/true);
    auto rom_memory =
        std::make_unique<DeviceMemory>("rom", 0x1800, DeviceMemory::Access::kReadOnly);
    rom_memory->host_data()[0] = 0x55;
    rom_memory->host_data()[1] = 0xaa;
    set_rom(std::move(rom_memory));
    add_msi(4, /*is_64bit=*/true, /*maskable=*/true);
    add_msix(8, 2, 0x0000, 0x2000);
  }
  std::string_view type() const override { return "test-pci"; }
  void raise_intx(bool level) { set_intx(level); }
  void msi(unsigned v) { notify_msi(v); }
  void msix_vector(unsigned v) { notify_msix(v); }

  RecordingDevice regs;
  RecordingDevice io;

 private:
  MsixBarHandler msix_bar_handler{*this};
};

class PciDeviceTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(bus.plug(device, 0x18).ok()); }  // 03.0
  uint32_t read(uint32_t reg, unsigned size = 4) {
    return dispatcher.pci_read(device.address(), reg, size);
  }
  void write(uint32_t reg, uint32_t value, unsigned size = 4) {
    dispatcher.pci_write(device.address(), reg, size, value);
  }
  // The firmware's BAR sizing protocol: save, write all-ones, read the mask, restore.
  uint32_t size_mask(uint32_t reg) {
    uint32_t saved = read(reg);
    write(reg, 0xffffffff);
    uint32_t mask = read(reg);
    write(reg, saved);
    return mask;
  }

  HostRam ram{RamLayout::pc(16 << 20)};
  Dispatcher dispatcher{&ram};
  FakeInterrupts irq;
  PciBus bus{dispatcher, &irq};
  TestPciDevice device;
};

TEST_F(PciDeviceTest, IdentityIsReadOnly) {
  EXPECT_EQ(read(kVendorId), 0x12341af4u);
  EXPECT_EQ(read(kRevisionId), 0x02000003u);
  EXPECT_EQ(read(kSubsystemVendorId), 0x00011af4u);
  EXPECT_EQ(read(kInterruptPin, 1), 1u);
  write(kVendorId, 0);
  write(kRevisionId, 0);
  write(kInterruptPin, 4, 1);
  EXPECT_EQ(read(kVendorId), 0x12341af4u);
  EXPECT_EQ(read(kRevisionId), 0x02000003u);
  EXPECT_EQ(read(kInterruptPin, 1), 1u);
  write(kInterruptLine, 11, 1);
  EXPECT_EQ(read(kInterruptLine, 1), 11u);
}

TEST_F(PciDeviceTest, BarSizingProtocol) {
  EXPECT_EQ(size_mask(kBar0), 0xfffff000u);        // 4 KiB, 32-bit, non-prefetchable
  EXPECT_EQ(size_mask(kBar0 + 4), 0xffffffe1u);    // 32 ports, I/O space bit
  EXPECT_EQ(size_mask(kBar0 + 8), 0xffffc00cu);    // 16 KiB, 64-bit, prefetchable
  EXPECT_EQ(size_mask(kBar0 + 12), 0xffffffffu);   // upper half of the 64-bit BAR
  EXPECT_EQ(size_mask(kBar0 + 16), 0u);            // not implemented
  EXPECT_EQ(size_mask(kRomAddress), 0xffffe001u);  // 8 KiB (0x1800 rounded up) + enable
}

TEST_F(PciDeviceTest, BarsDecodeOnlyWhenEnabled) {
  write(kBar0, 0xfebf0000);
  write(kBar0 + 4, 0xc001);
  EXPECT_EQ(dispatcher.mmio_read(0xfebf0010, 4), 0xffffffffu);
  EXPECT_EQ(dispatcher.port_read(0xc004, 1), 0xffu);
  write(kCommand, kCommandMemory, 2);
  EXPECT_EQ(dispatcher.mmio_read(0xfebf0010, 4), 0x1010u);
  EXPECT_EQ(dispatcher.port_read(0xc004, 1), 0xffu);
  write(kCommand, kCommandMemory | kCommandIo, 2);
  EXPECT_EQ(dispatcher.port_read(0xc004, 1), 0x04u);
  EXPECT_EQ(device.bar(0).address, 0xfebf0000u);
  EXPECT_EQ(device.bar(1).address, 0xc000u);
  write(kCommand, 0, 2);
  EXPECT_EQ(device.bar(0).address, BarInfo::kUnmapped);
  EXPECT_EQ(dispatcher.mmio_read(0xfebf0010, 4), 0xffffffffu);
}

TEST_F(PciDeviceTest, BarRelocationMovesTheMapping) {
  write(kBar0, 0xfebf0000);
  write(kCommand, kCommandMemory, 2);
  write(kBar0, 0xfeb00000);
  EXPECT_EQ(dispatcher.mmio_read(0xfebf0000, 4), 0xffffffffu);
  EXPECT_EQ(dispatcher.mmio_read(0xfeb00020, 4), 0x1020u);
  // Sizing with decoding on must not leave the BAR at the all-ones address.
  write(kBar0, 0xffffffff);
  EXPECT_EQ(device.bar(0).address, BarInfo::kUnmapped);
  EXPECT_EQ(dispatcher.mmio_read(0xfffff000, 4), 0xffffffffu);
}

TEST_F(PciDeviceTest, SixtyFourBitBarAboveFourGiB) {
  write(kBar0 + 8, 0x00000000);
  write(kBar0 + 12, 0x8);  // 0x8_0000_0000
  write(kCommand, kCommandMemory, 2);
  EXPECT_EQ(device.bar(2).address, 0x800000000u);
  // Vector 0's control word through the BAR: masked at reset.
  EXPECT_EQ(dispatcher.mmio_read(0x800000000 + kMsixEntryControl, 4), kMsixEntryMasked);
}

TEST_F(PciDeviceTest, RomBarNeedsItsEnableBit) {
  write(kRomAddress, 0xfeb80000);
  write(kCommand, kCommandMemory, 2);
  EXPECT_EQ(dispatcher.mmio_read(0xfeb80000, 2), 0xffffu);
  write(kRomAddress, 0xfeb80000 | kRomEnable);
  EXPECT_EQ(dispatcher.mmio_read(0xfeb80000, 2), 0xaa55u);
  dispatcher.mmio_write(0xfeb80000, 2, 0);  // ROM ignores writes
  EXPECT_EQ(dispatcher.mmio_read(0xfeb80000, 2), 0xaa55u);
}

TEST_F(PciDeviceTest, StatusErrorBitsAreWriteOneToClear) {
  auto& config = const_cast<ConfigSpace&>(device.config());
  config.set16(kStatus, config.get16(kStatus) | 0x2000 | 0x1000);  // master + target abort
  write(kStatus, 0x1000, 2);
  EXPECT_EQ(read(kStatus, 2) & 0x3000, 0x2000u);
  // Capabilities bit is read-only.
  write(kStatus, 0, 2);
  EXPECT_TRUE(read(kStatus, 2) & kStatusCapabilities);
}

TEST_F(PciDeviceTest, CapabilityListWalk) {
  std::vector<uint8_t> ids;
  uint8_t next = static_cast<uint8_t>(read(kCapabilitiesPointer, 1));
  for (int guard = 0; next && guard < 48; ++guard) {
    EXPECT_EQ(next % 4, 0);
    EXPECT_GE(next, kFirstCapability);
    ids.push_back(static_cast<uint8_t>(read(next, 1)));
    next = static_cast<uint8_t>(read(next + 1u, 1));
  }
  EXPECT_EQ(ids, (std::vector<uint8_t>{kCapMsi, kCapMsix}));
}

TEST_F(PciDeviceTest, IntxFollowsCommandDisableAndStatus) {
  device.raise_intx(true);
  EXPECT_TRUE(irq.intx_level(0x18, 0));
  EXPECT_TRUE(read(kStatus, 2) & kStatusInterrupt);
  write(kCommand, kCommandIntxDisable, 2);
  EXPECT_FALSE(irq.intx_level(0x18, 0));
  EXPECT_TRUE(read(kStatus, 2) & kStatusInterrupt);  // still pending in the device
  write(kCommand, 0, 2);
  EXPECT_TRUE(irq.intx_level(0x18, 0));
  device.raise_intx(false);
  EXPECT_FALSE(irq.intx_level(0x18, 0));
  EXPECT_FALSE(read(kStatus, 2) & kStatusInterrupt);
}

TEST_F(PciDeviceTest, MsiDeliveryMaskingAndPending) {
  uint8_t cap = static_cast<uint8_t>(read(kCapabilitiesPointer, 1));
  EXPECT_EQ(read(cap + kMsiControl, 2) & 0x18e, 0x184u);  // 4 vectors, 64-bit, maskable
  device.msi(0);
  EXPECT_TRUE(irq.msis.empty());  // not enabled
  write(cap + kMsiAddressLow, 0xfee01000);
  write(cap + kMsiAddressHigh, 0);
  write(cap + 0x0c, 0x4440, 2);                                               // data
  write(cap + kMsiControl, kMsiControlEnable | 2 << kMsiControlMmeShift, 2);  // 4 vectors
  device.msi(3);
  ASSERT_EQ(irq.msis.size(), 1u);
  EXPECT_EQ(irq.msis[0], (MsiMessage{0xfee01000, 0x4443}));
  write(cap + 0x10, 1u << 1);  // mask vector 1
  device.msi(1);
  EXPECT_EQ(irq.msis.size(), 1u);
  EXPECT_EQ(read(cap + 0x14), 1u << 1);  // pending
  write(cap + 0x10, 0);                  // unmask: the pending message goes out
  ASSERT_EQ(irq.msis.size(), 2u);
  EXPECT_EQ(irq.msis[1], (MsiMessage{0xfee01000, 0x4441}));
  EXPECT_EQ(read(cap + 0x14), 0u);
  device.msi(7);  // beyond the enabled vectors: nothing
  EXPECT_EQ(irq.msis.size(), 2u);
}

TEST_F(PciDeviceTest, MsixTableVectorAndFunctionMask) {
  write(kBar0 + 8, 0xfe000000);
  write(kBar0 + 12, 0);
  write(kCommand, kCommandMemory, 2);
  uint8_t cap = static_cast<uint8_t>(read(read(kCapabilitiesPointer, 1) + 1, 1));
  ASSERT_EQ(read(cap, 1), kCapMsix);
  EXPECT_EQ(read(cap + kMsixControl, 2) & kMsixControlTableSizeMask, 7u);
  EXPECT_EQ(read(cap + kMsixTable), 2u);  // offset 0, BIR 2
  EXPECT_EQ(read(cap + kMsixPba), 0x2000u | 2u);
  uint64_t entry = 0xfe000000 + 5 * kMsixEntrySize;
  dispatcher.mmio_write(entry + kMsixEntryAddressLow, 4, 0xfee00000);
  dispatcher.mmio_write(entry + kMsixEntryAddressHigh, 4, 0);
  dispatcher.mmio_write(entry + kMsixEntryData, 4, 0x4025);
  write(cap + kMsixControl, kMsixControlEnable, 2);
  device.msix_vector(5);  // still masked per vector: pending
  EXPECT_TRUE(irq.msis.empty());
  EXPECT_EQ(dispatcher.mmio_read(0xfe002000, 8), 1u << 5);
  dispatcher.mmio_write(entry + kMsixEntryControl, 4, 0);  // unmask: delivered now
  ASSERT_EQ(irq.msis.size(), 1u);
  EXPECT_EQ(irq.msis[0], (MsiMessage{0xfee00000, 0x4025}));
  EXPECT_EQ(dispatcher.mmio_read(0xfe002000, 8), 0u);
  write(cap + kMsixControl, kMsixControlEnable | kMsixControlFunctionMask, 2);
  device.msix_vector(5);
  EXPECT_EQ(irq.msis.size(), 1u);
  write(cap + kMsixControl, kMsixControlEnable, 2);  // function unmask delivers
  EXPECT_EQ(irq.msis.size(), 2u);
  // The PBA is read-only; the vector control's reserved bits read as zero.
  dispatcher.mmio_write(0xfe002000, 8, ~0ull);
  EXPECT_EQ(dispatcher.mmio_read(0xfe002000, 8), 0u);
  dispatcher.mmio_write(entry + kMsixEntryControl, 4, 0xfffffffe);
  EXPECT_EQ(dispatcher.mmio_read(entry + kMsixEntryControl, 4), 0u);
  // A vector beyond the table does nothing.
  device.msix_vector(100);
  EXPECT_EQ(irq.msis.size(), 2u);
}

TEST_F(PciDeviceTest, ResetRestoresPowerOnState) {
  write(kBar0, 0xfebf0000);
  write(kCommand, kCommandMemory, 2);
  write(kInterruptLine, 5, 1);
  device.reset();
  EXPECT_EQ(read(kBar0), 0u);
  EXPECT_EQ(read(kCommand, 2), 0u);
  EXPECT_EQ(read(kInterruptLine, 1), 0u);
  EXPECT_EQ(dispatcher.mmio_read(0xfebf0000, 4), 0xffffffffu);
}

TEST_F(PciDeviceTest, SaveAndLoadRoundTrip) {
  write(kBar0, 0xfebf0000);
  write(kCommand, kCommandMemory, 2);
  write(kInterruptLine, 9, 1);
  StateWriter out;
  device.save(out);
  device.reset();
  StateReader in(out.data());
  ASSERT_TRUE(device.load(in, 1).ok());
  EXPECT_TRUE(in.at_end());
  EXPECT_EQ(read(kInterruptLine, 1), 9u);
  EXPECT_EQ(device.bar(0).address, 0xfebf0000u);
  EXPECT_EQ(dispatcher.mmio_read(0xfebf0004, 4), 0x1004u);
}

TEST_F(PciDeviceTest, LoadRejectsAnotherDevicesState) {
  StateWriter out;
  device.save(out);
  std::vector<uint8_t> bytes = out.data();
  bytes[4] ^= 0xff;  // vendor id, after the 4-byte length prefix
  StateReader in(bytes);
  EXPECT_FALSE(device.load(in, 1).ok());
  std::vector<uint8_t> truncated(out.data().begin(), out.data().begin() + 100);
  StateReader short_in(truncated);
  EXPECT_FALSE(device.load(short_in, 1).ok());
}

TEST(PciBus, PlugChecksAddresses) {
  HostRam ram{RamLayout::pc(16 << 20)};
  Dispatcher dispatcher{&ram};
  PciBus bus{dispatcher, nullptr};
  TestPciDevice a, b, c;
  auto first = bus.plug(a, std::nullopt);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->devfn, 0u);
  auto clash = bus.plug(b, 0);
  ASSERT_FALSE(clash.ok());
  EXPECT_NE(clash.error().message.find("already taken"), std::string::npos);
  auto next = bus.plug(c, std::nullopt);
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->devfn, 8u);
  bus.unplug(c);
  EXPECT_EQ(dispatcher.pci_read(PciAddress{0, 0, 8}, 0, 4), 0xffffffffu);
  EXPECT_EQ(parse_devfn("1f.7").value(), 0xffu);
  EXPECT_EQ(parse_devfn("0x3").value(), 0x18u);
  EXPECT_FALSE(parse_devfn("20").ok());
  EXPECT_FALSE(parse_devfn("3.8").ok());
  EXPECT_FALSE(parse_devfn("").ok());
}

}  // namespace
}  // namespace hvmd::test
