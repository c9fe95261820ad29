// MSI and MSI-X of emulated devices under Xen. A Linux guest that takes MSIs as event channels
// (XENFEAT_hvm_pirqs) writes vector 0 with the pirq in the address and masks through the event
// channel: it never clears the device's mask bits. Xen must be handed such a message whatever the
// mask bits say, and a message with a real vector must still wait for its unmask.
#include <gtest/gtest.h>

#include "dm/pci/pci_bus.h"
#include "dm/pci/pci_device.h"
#include "dm/pci/pci_regs.h"
#include "ioreq/xen/xen_interrupts.h"
#include "tests/unit/test_devices.h"
#include "tests/xen/sim_xen.h"

namespace hvmd::test {
namespace {

using namespace pci;
using Msis = std::vector<std::pair<uint64_t, uint32_t>>;

constexpr uint64_t kTableBase = 0xfe000000;
// What Linux's xen_msi_compose_msg writes for pirq 40: the pirq as the physical destination,
// vector 0, ExtINT delivery (XEN_PIRQ_MSI_DATA).
constexpr MsiMessage kPirq40{0xfee28000, 0x0300};
constexpr MsiMessage kVector0x25{0xfee00000, 0x4025};

class MsiDevice final : public PciDevice {
 public:
  MsiDevice() : PciDevice({.vendor = 0x1af4, .device = 0x1234, .class_code = 0x0c0330}) {
    add_bar(0, BarType::kMemory32, 0x4000, &table_handler_);
    add_msi(1, /*is_64bit=*/true, /*maskable=*/true);
    add_msix(4, 0, 0x0000, 0x2000);
  }
  std::string_view type() const override { return "msi-test"; }
  void fire_msi() { notify_msi(0); }
  void fire_msix(unsigned v) { notify_msix(v); }

 private:
  MsixBarHandler table_handler_{*this};
};

class XenMsiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(bus.plug(device, 0x20).ok());
    write(kBar0, kTableBase);
    write(kCommand, kCommandMemory, 2);
  }
  uint32_t read(uint32_t reg, unsigned size = 4) {
    return dispatcher.pci_read(device.address(), reg, size);
  }
  void write(uint32_t reg, uint32_t value, unsigned size = 4) {
    dispatcher.pci_write(device.address(), reg, size, value);
  }
  uint8_t capability(uint8_t id) {
    for (uint8_t cap = static_cast<uint8_t>(read(kCapabilitiesPointer, 1)); cap;
         cap = static_cast<uint8_t>(read(cap + 1, 1)))
      if (read(cap, 1) == id) return cap;
    return 0;
  }
  void program_msix(unsigned v, const MsiMessage& m) {
    uint64_t entry = kTableBase + v * kMsixEntrySize;
    dispatcher.mmio_write(entry + kMsixEntryAddressLow, 4, m.address & 0xffffffff);
    dispatcher.mmio_write(entry + kMsixEntryAddressHigh, 4, m.address >> 32);
    dispatcher.mmio_write(entry + kMsixEntryData, 4, m.data);
  }

  SimXen xen{1, 16 << 20};
  xen::XenInterrupts interrupts{xen};
  HostRam ram{RamLayout::pc(16 << 20)};
  Dispatcher dispatcher{&ram};
  PciBus bus{dispatcher, &interrupts};
  MsiDevice device;
};

TEST_F(XenMsiTest, MsixPirqMessageIsDeliveredThoughTheTableMasksIt) {
  program_msix(1, kPirq40);  // entry stays masked, as Linux leaves it
  program_msix(2, kVector0x25);
  write(capability(kCapMsix) + kMsixControl, kMsixControlEnable, 2);
  device.fire_msix(1);
  EXPECT_EQ(xen.msis(), (Msis{{kPirq40.address, kPirq40.data}}));
  // Under the function mask too: the event channel is the only mask.
  write(capability(kCapMsix) + kMsixControl, kMsixControlEnable | kMsixControlFunctionMask, 2);
  device.fire_msix(1);
  EXPECT_EQ(xen.msis().size(), 2u);
  write(capability(kCapMsix) + kMsixControl, kMsixControlEnable, 2);
  // A vectored message is the device's to mask: pending until the guest unmasks the entry.
  device.fire_msix(2);
  EXPECT_EQ(xen.msis().size(), 2u);
  EXPECT_EQ(dispatcher.mmio_read(kTableBase + 0x2000, 8), 1u << 2);
  dispatcher.mmio_write(kTableBase + 2 * kMsixEntrySize + kMsixEntryControl, 4, 0);
  EXPECT_EQ(xen.msis().back(), (std::pair{kVector0x25.address, kVector0x25.data}));
}

TEST_F(XenMsiTest, MsiPirqMessageIsDeliveredThoughTheMaskBitIsSet) {
  uint8_t cap = capability(kCapMsi);
  write(cap + kMsiAddressLow, kPirq40.address);
  write(cap + kMsiAddressHigh, 0);
  write(cap + 0x0c, kPirq40.data, 2);  // data (64-bit layout)
  write(cap + 0x10, 1);                // mask vector 0
  write(cap + kMsiControl, kMsiControlEnable, 2);
  device.fire_msi();
  EXPECT_EQ(xen.msis(), (Msis{{kPirq40.address, kPirq40.data}}));
  write(cap + 0x0c, kVector0x25.data, 2);
  device.fire_msi();
  EXPECT_EQ(xen.msis().size(), 1u);  // masked, pending
  EXPECT_EQ(read(cap + 0x14), 1u);
}

}  // namespace
}  // namespace hvmd::test
