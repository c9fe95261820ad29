// Black-box: ACPI PCI hot-plug as the DSDTs of hvmloader (qemu-xen) and SeaBIOS drive it, the
// test playing the OS's ACPI interpreter: GPE0 at 0xafe0 (status write-1-to-clear, enable, SCI on
// IRQ 9), _E01 reading the up and down bitmaps at 0xae00/0xae04, _EJ0 writing the eject register
// at 0xae08. device_add announces a slot; device_del only asks, and DEVICE_DELETED comes once the
// guest ejects. Hostile ejects (empty slots, the board's own functions) change nothing.
#include <gtest/gtest.h>

#include <string>

#include "tests/qtest/qtest_client.h"

namespace hvmd::test {
namespace {

constexpr uint8_t kPmDevfn = 0x0b;  // 00:01.3
constexpr uint16_t kPmBase = 0x600;
constexpr uint16_t kPm1Control = kPmBase + 4;
constexpr uint16_t kSmiCommand = 0xb2;
constexpr uint8_t kAcpiEnable = 0xf1;
constexpr uint16_t kGpeStatus = 0xafe0, kGpeEnable = 0xafe2;  // FADT GPE0_BLK, 2 + 2 bytes
constexpr uint8_t kGpePciHotplug = 1u << 1;                   // _E01
constexpr uint16_t kSlotsUp = 0xae00, kSlotsDown = 0xae04, kEject = 0xae08, kRemovable = 0xae0c;
constexpr unsigned kSci = 9;
constexpr unsigned kSlot = 5;
constexpr uint8_t kDevfn = kSlot << 3;
constexpr uint32_t kE1000Id = 0x100e8086;

// The OS's side of ACPI start-up: firmware placed the PM block, the OS switches to ACPI mode
// through SMI_CMD and enables the GPEs it has methods for (_E01).
void enter_acpi_mode(QtestClient& qt) {
  EXPECT_EQ(qt.command("irq_intercept_in ioapic"), "OK");
  qt.pci_config_write(kPmDevfn, 0x40, 4, kPmBase | 1);  // PMBA
  qt.pci_config_write(kPmDevfn, 0x80, 1, 0x01);         // PMREGMISC: PM I/O on
  qt.outb(kSmiCommand, kAcpiEnable);
  ASSERT_EQ(qt.inw(kPm1Control) & 1, 1) << "SCI_EN";
  qt.outb(kGpeStatus, 0xff);  // clear what is stale, as ACPICA does
  qt.outb(kGpeStatus + 1, 0xff);
  qt.outb(kGpeEnable, kGpePciHotplug);
}

bool listed(QtestClient& qt, const std::string& id) {
  Json reply = qt.qmp("query-pci");
  for (const Json& device : reply["return"][0]["devices"])
    if (device.value("qdev_id", "") == id) return true;
  return false;
}

// DEVICE_DELETED events seen so far for id (the client keeps events that precede replies).
int deleted_events(QtestClient& qt, const std::string& id) {
  int count = 0;
  for (const Json& e : qt.events())
    count += e["event"] == "DEVICE_DELETED" && e["data"].value("device", "") == id;
  return count;
}

TEST(AcpiHotplug, IdleGpeBlockReadsZeroAndFollowsWrites) {
  QtestClient qt;
  // Served, not left unclaimed: all-ones here is what made a Linux guest disable GPEs 0-7.
  EXPECT_EQ(qt.inl(kGpeStatus), 0u);
  EXPECT_EQ(qt.inl(kSlotsUp), 0u);
  EXPECT_EQ(qt.inl(kSlotsDown), 0u);
  EXPECT_EQ(qt.inl(kEject), 0u) << "no hot-plug features";
  qt.outw(kGpeEnable, 0xffff);
  EXPECT_EQ(qt.inw(kGpeEnable), 0xffff);
  qt.outb(kGpeEnable + 1, 0x00);  // byte registers
  EXPECT_EQ(qt.inw(kGpeEnable), 0x00ff);
  EXPECT_EQ(qt.inb(kGpeEnable), 0xff);
  qt.outw(kGpeStatus, 0xffff);  // nothing pending: clearing is harmless
  EXPECT_EQ(qt.inw(kGpeStatus), 0);
  qt.outl(kGpeStatus, 0x00020000);  // a dword covers status and enable
  EXPECT_EQ(qt.inl(kGpeStatus), 0x00020000u);
  // The board's slots (host bridge, PIIX functions) are not offered for ejection; free ones are.
  uint32_t removable = qt.inl(kRemovable);
  EXPECT_EQ(removable & 0x3, 0u);
  EXPECT_NE(removable & (1u << kSlot), 0u);
}

TEST(AcpiHotplug, DeviceAddDelAndGuestEject) {
  QtestClient qt;
  enter_acpi_mode(qt);
  EXPECT_FALSE(qt.irq_level(kSci));

  // Hot-plug: the slot's "up" bit, GPE status bit 1, the SCI.
  Json added = qt.qmp("device_add", {{"driver", "e1000"}, {"id", "nic0"}, {"addr", "5"}});
  ASSERT_TRUE(added.contains("return")) << added.dump();
  EXPECT_EQ(qt.inb(kGpeStatus) & kGpePciHotplug, kGpePciHotplug);
  EXPECT_TRUE(qt.irq_level(kSci));
  // _E01 reads PCIU once per slot: reading must not clear it.
  EXPECT_EQ(qt.inl(kSlotsUp), 1u << kSlot);
  EXPECT_EQ(qt.inl(kSlotsUp), 1u << kSlot);
  EXPECT_EQ(qt.inl(kSlotsDown), 0u);
  EXPECT_EQ(qt.pci_config_read(kDevfn, 0, 4), kE1000Id);  // the OS's device check finds it
  EXPECT_TRUE(listed(qt, "nic0"));
  qt.outb(kGpeStatus, kGpePciHotplug);  // the OS acknowledges the edge event
  EXPECT_EQ(qt.inb(kGpeStatus), 0);
  EXPECT_FALSE(qt.irq_level(kSci));

  // device_del only asks: the "down" bit, another event, and the device stays.
  Json deleted = qt.qmp("device_del", {{"id", "nic0"}});
  ASSERT_TRUE(deleted.contains("return")) << deleted.dump();
  EXPECT_EQ(qt.inl(kSlotsDown), 1u << kSlot);
  EXPECT_EQ(qt.inb(kGpeStatus) & kGpePciHotplug, kGpePciHotplug);
  EXPECT_TRUE(qt.irq_level(kSci));
  EXPECT_EQ(qt.pci_config_read(kDevfn, 0, 4), kE1000Id);
  EXPECT_TRUE(listed(qt, "nic0"));
  EXPECT_EQ(deleted_events(qt, "nic0"), 0) << "not before the guest ejects";
  qt.outb(kGpeStatus, kGpePciHotplug);
  EXPECT_FALSE(qt.irq_level(kSci));

  // _EJ0: the device goes, the request is done, and only now DEVICE_DELETED.
  qt.outl(kEject, 1u << kSlot);
  EXPECT_EQ(qt.pci_config_read(kDevfn, 0, 4), 0xffffffffu);
  EXPECT_FALSE(listed(qt, "nic0"));
  EXPECT_EQ(deleted_events(qt, "nic0"), 1);
  EXPECT_EQ(qt.inl(kSlotsUp), 0u);
  EXPECT_EQ(qt.inl(kSlotsDown), 0u);
  EXPECT_EQ(qt.inb(kGpeStatus), 0) << "an eject raises no event";
  EXPECT_FALSE(qt.irq_level(kSci));

  // The slot is free again: another device can be hot-plugged there.
  added = qt.qmp("device_add", {{"driver", "e1000"}, {"id", "nic1"}, {"addr", "5"}});
  ASSERT_TRUE(added.contains("return")) << added.dump();
  EXPECT_EQ(qt.pci_config_read(kDevfn, 0, 4), kE1000Id);
  EXPECT_EQ(qt.inl(kSlotsUp), 1u << kSlot);
}

TEST(AcpiHotplug, SciWaitsForEnableAndAcpiMode) {
  QtestClient qt;
  EXPECT_EQ(qt.command("irq_intercept_in ioapic"), "OK");
  // Before the OS enables GPE 1 and ACPI mode the event is only latched.
  ASSERT_TRUE(qt.qmp("device_add", {{"driver", "e1000"}, {"id", "early"}}).contains("return"));
  EXPECT_EQ(qt.inb(kGpeStatus) & kGpePciHotplug, kGpePciHotplug);
  EXPECT_FALSE(qt.irq_level(kSci));
  qt.outb(kGpeEnable, kGpePciHotplug);
  EXPECT_FALSE(qt.irq_level(kSci)) << "SCI_EN is still clear";
  qt.outb(kSmiCommand, kAcpiEnable);
  EXPECT_TRUE(qt.irq_level(kSci));
  qt.outb(kGpeEnable, 0);  // masked: the line drops, the status stays
  EXPECT_FALSE(qt.irq_level(kSci));
  EXPECT_EQ(qt.inb(kGpeStatus) & kGpePciHotplug, kGpePciHotplug);
}

TEST(AcpiHotplug, ColdPluggedDevicesRaiseNoEventButCanBeEjected) {
  QtestClient qt({"-device", "e1000,id=cold,addr=4"});
  enter_acpi_mode(qt);
  EXPECT_EQ(qt.inl(kSlotsUp), 0u);
  EXPECT_EQ(qt.inb(kGpeStatus), 0);
  EXPECT_NE(qt.inl(kRemovable) & (1u << 4), 0u);
  // An OS may eject a hot-pluggable slot on its own: the device goes and the host hears of it.
  qt.outl(kEject, 1u << 4);
  EXPECT_EQ(qt.pci_config_read(4 << 3, 0, 4), 0xffffffffu);
  EXPECT_FALSE(listed(qt, "cold"));
  EXPECT_EQ(deleted_events(qt, "cold"), 1);
}

TEST(AcpiHotplug, HostileEjectsLeaveTheBoardAlone) {
  QtestClient qt({"-device", "e1000,id=cold,addr=4"});
  enter_acpi_mode(qt);
  const uint32_t host_bridge = qt.pci_config_read(0x00, 0, 4);
  const uint32_t pm = qt.pci_config_read(kPmDevfn, 0, 4);
  // An empty slot, the board's slots 0 and 1, then every slot but 4 at once.
  qt.outl(kEject, 1u << 9);
  qt.outl(kEject, 0x3);
  qt.outl(kEject, ~(1u << 4));
  EXPECT_EQ(qt.pci_config_read(0x00, 0, 4), host_bridge);
  EXPECT_EQ(qt.pci_config_read(0x08, 0, 4), 0x70008086u);  // PIIX3 ISA bridge
  EXPECT_EQ(qt.pci_config_read(kPmDevfn, 0, 4), pm);
  EXPECT_EQ(qt.inw(kPm1Control) & 1, 1) << "the PM function still answers";
  EXPECT_EQ(qt.pci_config_read(4 << 3, 0, 4), kE1000Id);
  EXPECT_TRUE(listed(qt, "cold"));
  EXPECT_TRUE(qt.events().empty());
  // Byte and word accesses, and writes to the read-only bitmaps, do nothing.
  ASSERT_TRUE(qt.qmp("device_del", {{"id", "cold"}}).contains("return"));
  qt.outw(kEject, 1u << 4);
  qt.outb(kEject, 1u << 4);
  qt.outl(kSlotsDown, 0);
  qt.outl(kSlotsUp, 0xffffffff);
  EXPECT_EQ(qt.inb(kSlotsDown), 0) << "dword registers";
  EXPECT_EQ(qt.inl(kSlotsDown), 1u << 4);
  EXPECT_EQ(qt.inl(kSlotsUp), 0u);
  EXPECT_TRUE(listed(qt, "cold"));
  Json refused = qt.qmp("device_del", {{"id", "nothing-here"}});
  EXPECT_TRUE(refused.contains("error"));
  EXPECT_EQ(qt.qmp("query-status")["return"]["status"], "running");
}

TEST(AcpiHotplug, RepeatedRequestAsksAgainAndDeletesOnce) {
  QtestClient qt;
  enter_acpi_mode(qt);
  ASSERT_TRUE(qt.qmp("device_add", {{"driver", "e1000"}, {"id", "nic0"}, {"addr", "5"}})
                  .contains("return"));
  qt.outb(kGpeStatus, kGpePciHotplug);
  ASSERT_TRUE(qt.qmp("device_del", {{"id", "nic0"}}).contains("return"));
  qt.outb(kGpeStatus, kGpePciHotplug);  // an OS that ignored the request
  EXPECT_FALSE(qt.irq_level(kSci));
  ASSERT_TRUE(qt.qmp("device_del", {{"id", "nic0"}}).contains("return"));
  EXPECT_EQ(qt.inl(kSlotsDown), 1u << kSlot);  // (IRQ lines arrive with qtest replies)
  EXPECT_TRUE(qt.irq_level(kSci)) << "asked again";
  qt.outl(kEject, 1u << kSlot);
  qt.outl(kEject, 1u << kSlot);  // a second eject finds the slot empty
  EXPECT_FALSE(listed(qt, "nic0"));
  EXPECT_EQ(deleted_events(qt, "nic0"), 1);
  Json again = qt.qmp("device_del", {{"id", "nic0"}});
  EXPECT_TRUE(again.contains("error"));
}

TEST(AcpiHotplug, ResetCompletesOutstandingRequests) {
  QtestClient qt;
  enter_acpi_mode(qt);
  ASSERT_TRUE(qt.qmp("device_add", {{"driver", "e1000"}, {"id", "stays"}, {"addr", "4"}})
                  .contains("return"));
  ASSERT_TRUE(qt.qmp("device_add", {{"driver", "e1000"}, {"id", "goes"}, {"addr", "5"}})
                  .contains("return"));
  ASSERT_TRUE(qt.qmp("device_del", {{"id", "goes"}}).contains("return"));
  EXPECT_EQ(deleted_events(qt, "goes"), 0);
  // The OS that was asked is gone after a reset: the removal happens then.
  ASSERT_TRUE(qt.qmp("system_reset").contains("return"));
  EXPECT_EQ(deleted_events(qt, "goes"), 1);
  EXPECT_FALSE(listed(qt, "goes"));
  EXPECT_TRUE(listed(qt, "stays"));
  EXPECT_EQ(qt.inl(kSlotsUp), 0u);
  EXPECT_EQ(qt.inl(kSlotsDown), 0u);
  EXPECT_EQ(qt.inl(kGpeStatus), 0u);
  EXPECT_FALSE(qt.irq_level(kSci));
}

// xenfv: the same registers (hvmloader's DSDT for qemu-xen), the Xen platform device's slot 3
// fixed like the rest of the board.
TEST(AcpiHotplug, XenfvBoard) {
  QtestClient qt({"-machine", "xenfv"});
  enter_acpi_mode(qt);
  EXPECT_EQ(qt.inl(kRemovable) & 0xb, 0u);
  ASSERT_TRUE(qt.qmp("device_add", {{"driver", "e1000"}, {"id", "nic0"}}).contains("return"));
  uint32_t up = qt.inl(kSlotsUp);
  ASSERT_NE(up, 0u);
  EXPECT_EQ(up & (up - 1), 0u) << "one slot";
  EXPECT_TRUE(qt.irq_level(kSci));
  ASSERT_TRUE(qt.qmp("device_del", {{"id", "nic0"}}).contains("return"));
  EXPECT_EQ(qt.inl(kSlotsDown), up);
  qt.outl(kEject, up);
  EXPECT_FALSE(listed(qt, "nic0"));
  EXPECT_EQ(deleted_events(qt, "nic0"), 1);
}

}  // namespace
}  // namespace hvmd::test
