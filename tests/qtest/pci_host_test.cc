// Black-box: PCI enumeration through configuration mechanism #1, as firmware does it.
#include <gtest/gtest.h>

#include "tests/qtest/qtest_client.h"

namespace hvmd::test {
namespace {

constexpr uint8_t kHostBridge = 0x00;  // 00:00.0

TEST(PciHost, HostBridgeIdentity) {
  QtestClient qt;
  EXPECT_EQ(qt.pci_config_read(kHostBridge, 0x00, 4), 0x12378086u);  // device:vendor
  EXPECT_EQ(qt.pci_config_read(kHostBridge, 0x08, 4), 0x06000002u);  // class 0600, rev 02
  EXPECT_EQ(qt.pci_config_read(kHostBridge, 0x0e, 1), 0x00u);        // header type 0
  // Byte and word reads land on the right bytes of the dword.
  EXPECT_EQ(qt.pci_config_read(kHostBridge, 0x02, 2), 0x1237u);
  EXPECT_EQ(qt.pci_config_read(kHostBridge, 0x0b, 1), 0x06u);
}

// The board's functions carry QEMU's subsystem IDs (Red Hat 1af4, "QEMU" 1100), as under
// qemu-xen; read-only like the rest of the identity.
TEST(PciHost, BoardFunctionsCarryQemuSubsystemIds) {
  QtestClient qt;
  for (uint8_t devfn : {0x00, 0x08, 0x09, 0x0b}) {  // i440FX, PIIX3, its IDE, PIIX4
    EXPECT_EQ(qt.pci_config_read(devfn, 0x2c, 4), 0x11001af4u) << int{devfn};
    qt.pci_config_write(devfn, 0x2c, 4, 0);
    EXPECT_EQ(qt.pci_config_read(devfn, 0x2c, 4), 0x11001af4u) << int{devfn};
  }
}

TEST(PciHost, ConfigAddressRegister) {
  QtestClient qt;
  // Every bit written is kept, reserved ones too (QEMU: 0xffffffff reads back whole).
  qt.outl(0xcf8, 0xffffffff);
  EXPECT_EQ(qt.inl(0xcf8), 0xffffffffu);
  // With the enable bit clear no config cycle happens.
  qt.outl(0xcf8, 0x00000000);
  EXPECT_EQ(qt.inl(0xcfc), 0xffffffffu);
  // Narrow writes to 0xcf8 are not CONFIG_ADDRESS writes; narrow reads answer its low bytes
  // whichever of 0xcf8-0xcfb they address (QEMU: 0x8123fe03 gives inb 0xcfa 0x03, inw 0xfe03).
  qt.outl(0xcf8, 0x80000000);
  qt.outb(0xcf8, 0x12);
  qt.outw(0xcf8, 0x1234);
  EXPECT_EQ(qt.inl(0xcf8), 0x80000000u);
  qt.outl(0xcf8, 0x8123fe03);
  EXPECT_EQ(qt.inb(0xcfa), 0x03u);
  EXPECT_EQ(qt.inw(0xcfa), 0xfe03u);
  EXPECT_EQ(qt.inb(0xcfb), 0x03u);
}

// libqos writes the register's full offset to CONFIG_ADDRESS, bits 1:0 included, and reads the
// data port at 0xcfc: bits 1:0 select the byte, ORed with the port's own offset.
TEST(PciHost, ConfigAddressLowBitsSelectTheByte) {
  QtestClient qt;
  qt.outl(0xcf8, 0x80000002);
  EXPECT_EQ(qt.inl(0xcf8), 0x80000002u);
  EXPECT_EQ(qt.inw(0xcfc), 0x1237u);  // the device ID, not the vendor ID
  EXPECT_EQ(qt.inb(0xcfc), 0x37u);
  EXPECT_EQ(qt.inw(0xcfe), 0x1237u);  // 2 | 2 is still offset 2
  EXPECT_EQ(qt.inb(0xcfd), 0x12u);    // 2 | 1: offset 3
  qt.outl(0xcf8, 0x80000001);
  EXPECT_EQ(qt.inb(0xcfc), 0x80u);    // the vendor ID's high byte
  EXPECT_EQ(qt.inw(0xcfc), 0x3780u);  // offsets 1 and 2
  // The PIIX4 PM function at 00:01.3, word at 0x2e: its subsystem ID.
  qt.outl(0xcf8, 0x80000b2e);
  EXPECT_EQ(qt.inw(0xcfc), 0x1100u);
  // Writes take the same path: the latency timer at 0x0d through CONFIG_ADDRESS 0x0d.
  qt.outl(0xcf8, 0x8000000d);
  qt.outb(0xcfc, 0x40);
  EXPECT_EQ(qt.pci_config_read(kHostBridge, 0x0d, 1), 0x40u);
  EXPECT_EQ(qt.pci_config_read(kHostBridge, 0x0c, 4) & 0xffff00ffu, 0u);
  // A dword past the end of config space reads the bytes inside it and zeros beyond.
  qt.outl(0xcf8, 0x800000fe);
  EXPECT_EQ(qt.inl(0xcfc), 0u);
}

TEST(PciHost, EmptySlotsReadAllOnes) {
  QtestClient qt;
  for (uint8_t slot = 2; slot < 32; ++slot)
    EXPECT_EQ(qt.pci_config_read(static_cast<uint8_t>(slot << 3), 0x00, 4), 0xffffffffu)
        << "slot " << int(slot);
  // Slot 1 is the PIIX: functions 0, 1 (IDE) and 3 exist, 2 (USB) not yet.
  EXPECT_EQ(qt.pci_config_read(0x09, 0x00, 4), 0x70108086u);
  EXPECT_EQ(qt.pci_config_read(0x0a, 0x00, 4), 0xffffffffu);
  // Another bus: nothing there either.
  qt.outl(0xcf8, 0x80010000);
  EXPECT_EQ(qt.inl(0xcfc), 0xffffffffu);
  // Writes to absent functions are dropped without effect.
  qt.pci_config_write(0x28, 0x04, 2, 0xffff);
  EXPECT_EQ(qt.pci_config_read(0x28, 0x04, 2), 0xffffu);
}

TEST(PciHost, WriteMasks) {
  QtestClient qt;
  // Identity is read-only.
  qt.pci_config_write(kHostBridge, 0x00, 4, 0xdeadbeef);
  EXPECT_EQ(qt.pci_config_read(kHostBridge, 0x00, 4), 0x12378086u);
  // PAM registers hold the bits firmware programs to shadow the BIOS.
  qt.pci_config_write(kHostBridge, 0x5a, 1, 0xff);
  EXPECT_EQ(qt.pci_config_read(kHostBridge, 0x5a, 1), 0x33u);
  // The latency timer is plain read/write.
  qt.pci_config_write(kHostBridge, 0x0d, 1, 0x40);
  EXPECT_EQ(qt.pci_config_read(kHostBridge, 0x0d, 1), 0x40u);
}

TEST(PciHost, SystemResetRestoresConfig) {
  QtestClient qt;
  qt.pci_config_write(kHostBridge, 0x59, 1, 0x30);
  ASSERT_EQ(qt.pci_config_read(kHostBridge, 0x59, 1), 0x30u);
  EXPECT_TRUE(qt.qmp("system_reset").contains("return"));
  EXPECT_EQ(qt.pci_config_read(kHostBridge, 0x59, 1), 0x00u);
  ASSERT_FALSE(qt.events().empty());
  EXPECT_EQ(qt.events().back()["event"], "RESET");
}

TEST(PciHost, QueryPciDescribesTheBus) {
  QtestClient qt;
  Json reply = qt.qmp("query-pci");
  ASSERT_TRUE(reply.contains("return")) << reply.dump();
  const Json& buses = reply["return"];
  ASSERT_EQ(buses.size(), 1u);
  EXPECT_EQ(buses[0]["bus"], 0);
  const Json& devices = buses[0]["devices"];
  ASSERT_EQ(devices.size(), 4u);  // host bridge, PIIX3 ISA bridge and IDE, PIIX4 PM
  EXPECT_EQ(devices[1]["id"]["device"], 0x7000);
  EXPECT_EQ(devices[1]["class_info"]["class"], 0x0601);
  EXPECT_EQ(devices[2]["function"], 1);
  EXPECT_EQ(devices[2]["id"]["device"], 0x7010);
  EXPECT_EQ(devices[2]["class_info"]["desc"], "IDE controller");
  EXPECT_EQ(devices[3]["function"], 3);
  EXPECT_EQ(devices[3]["id"]["device"], 0x7113);
  const Json& host = devices[0];
  EXPECT_EQ(host["slot"], 0);
  EXPECT_EQ(host["function"], 0);
  EXPECT_EQ(host["id"]["vendor"], 0x8086);
  EXPECT_EQ(host["id"]["device"], 0x1237);
  EXPECT_EQ(host["class_info"]["class"], 0x0600);
  EXPECT_EQ(host["class_info"]["desc"], "Host bridge");
  EXPECT_TRUE(host["regions"].empty());
}

}  // namespace
}  // namespace hvmd::test
