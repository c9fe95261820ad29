// The Xen platform device's protocol as Linux's and Windows' PV drivers run it (Xen's
// docs/misc/hvm-emulated-unplug), on a xenfv board.
#include <gtest/gtest.h>
#include <unistd.h>

#include "devices/board.h"
#include "dm/machine.h"
#include "tests/unit/test_devices.h"

namespace hvmd::test {
namespace {

// An emulated NIC and a disk controller as far as unplugging goes.
class FakeNic final : public Device {
 public:
  std::string_view type() const override { return "fake-nic"; }
  void save(StateWriter&) const override {}
  Result<std::unique_ptr<StagedState>> parse_state(StateReader&, uint32_t) override {
    return nothing_staged();
  }
  bool removed_by_unplug(uint16_t mask) const override { return mask & kUnplugNics; }
};
class FakeDisk final : public Device {
 public:
  std::string_view type() const override { return "fake-disk"; }
  void save(StateWriter&) const override {}
  Result<std::unique_ptr<StagedState>> parse_state(StateReader&, uint32_t) override {
    return nothing_staged();
  }
  bool removed_by_unplug(uint16_t mask) const override { return mask & kUnplugIdeDisks; }
};

class XenPlatformTest : public ::testing::Test {
 protected:
  XenPlatformTest() {
    devices::register_devices(registry);
    EXPECT_TRUE(devices::build_board(machine).ok());
  }
  uint32_t config_read(uint8_t devfn, uint8_t reg) {
    machine.dispatcher().port_write(0xcf8, 4, 0x80000000u | uint32_t{devfn} << 8 | reg);
    return static_cast<uint32_t>(machine.dispatcher().port_read(0xcfc, 4));
  }
  Clock clock{Clock::Mode::kVirtual};
  HostRam ram{RamLayout::pc(32 << 20)};
  FakeInterrupts irq;
  DeviceRegistry registry;
  Machine machine{MachineOptions{.type = "xenfv", .xen = true}, clock, ram, irq, registry};
};

TEST_F(XenPlatformTest, IdentityAndBars) {
  EXPECT_EQ(config_read(0x18, 0x00), 0x00015853u);  // 00:03.0
  EXPECT_EQ(config_read(0x18, 0x08) >> 8, 0xff8000u);
  EXPECT_EQ(config_read(0x18, 0x2c), 0x00015853u);  // subsystem
  EXPECT_EQ(config_read(0x18, 0x10), 0x1u);         // BAR0: I/O
  EXPECT_EQ(config_read(0x18, 0x14), 0x8u);         // BAR1: prefetchable memory
}

TEST_F(XenPlatformTest, MagicVersionRegistrationAndUnplug) {
  auto& d = machine.dispatcher();
  auto nic = machine.add_board_device(std::make_unique<FakeNic>(), std::nullopt);
  auto disk = machine.add_board_device(std::make_unique<FakeDisk>(), std::nullopt);
  ASSERT_TRUE(nic.ok() && disk.ok());
  size_t before = machine.devices().size();

  EXPECT_EQ(d.port_read(0x10, 2), 0x49d2u);
  EXPECT_EQ(d.port_read(0x12, 1), 1u);
  d.port_write(0x12, 2, 0x0003);  // product number
  d.port_write(0x10, 4, 1234);    // build number
  EXPECT_EQ(d.port_read(0x10, 2), 0x49d2u) << "still welcome after registering";
  d.port_write(0x10, 2, 0x0001);  // unplug IDE disks
  EXPECT_EQ(machine.devices().size(), before - 1);
  EXPECT_EQ(machine.unplugged(), 0x0001u);
  d.port_write(0x10, 2, 0x0002);  // unplug NICs
  EXPECT_EQ(machine.devices().size(), before - 2);
  EXPECT_EQ(machine.unplugged(), 0x0003u);
  // The PV driver log: a line at a time, bounded; nothing breaks on junk.
  for (char c : std::string("xen-vbd: ready\n")) d.port_write(0x12, 1, static_cast<uint8_t>(c));
  for (int i = 0; i < 1000; ++i) d.port_write(0x12, 1, 0x07);
}

TEST(XenPlatformBoard, OnlyOnXenfv) {
  Clock clock{Clock::Mode::kVirtual};
  HostRam ram{RamLayout::pc(32 << 20)};
  FakeInterrupts irq;
  DeviceRegistry registry;
  devices::register_devices(registry);
  Machine machine{MachineOptions{.type = "pc", .xen = true}, clock, ram, irq, registry};
  ASSERT_TRUE(devices::build_board(machine).ok());
  machine.dispatcher().port_write(0xcf8, 4, 0x80001800u);
  EXPECT_EQ(machine.dispatcher().port_read(0xcfc, 4), 0xffffffffu);
  EXPECT_EQ(machine.dispatcher().port_read(0x10, 2), 0xffffu);
}

// The real thing: PV drivers unplug the IDE disks; the CD-ROM stays, as Xen's protocol says.
TEST(XenPlatformUnplug, IdeDisksGoTheCdromStays) {
  char disk[] = "/tmp/hvmd-unplug-XXXXXX";
  int fd = mkstemp(disk);
  ASSERT_EQ(ftruncate(fd, 1 << 20), 0);
  close(fd);
  Clock clock{Clock::Mode::kVirtual};
  HostRam ram{RamLayout::pc(32 << 20)};
  FakeInterrupts irq;
  DeviceRegistry registry;
  devices::register_devices(registry);
  InlineExecutor block_io;
  Machine machine{MachineOptions{.type = "xenfv", .xen = true}, clock, ram, irq, registry};
  machine.set_io_executor(&block_io);
  for (std::string text : {std::string("file=") + disk + ",if=ide,index=0,id=hd0",
                           std::string("file=") + disk + ",if=ide,index=1,id=hd1",
                           std::string("if=ide,index=2,media=cdrom,id=cd")}) {
    auto spec = DriveSpec::from_options(*SubOptions::parse(text, ""));
    ASSERT_TRUE(spec) << spec.error().message;
    machine.add_drive(*spec);
  }
  ASSERT_TRUE(devices::build_board(machine));
  ASSERT_TRUE(devices::attach_drives(machine));
  Dispatcher& d = machine.dispatcher();
  auto count = [&](std::string_view type) {
    int n = 0;
    for (Device* device : machine.devices()) n += device->type() == type;
    return n;
  };
  EXPECT_EQ(count("ide-hd"), 2);
  EXPECT_EQ(d.port_read(0x1f7, 1) & 0x40, 0x40u) << "primary master ready";
  d.port_write(0x10, 2, 0x0004);  // auxiliary disks: all but the primary master
  EXPECT_EQ(count("ide-hd"), 1);
  d.port_write(0x10, 2, 0x0001);  // every IDE disk
  EXPECT_EQ(count("ide-hd"), 0);
  EXPECT_EQ(count("ide-cd"), 1);
  EXPECT_EQ(d.port_read(0x1f7, 1), 0u) << "no drive left on the primary channel";
  EXPECT_EQ(d.port_read(0x175, 1), 0xebu) << "the CD-ROM's signature";
  unlink(disk);
}

}  // namespace
}  // namespace hvmd::test
