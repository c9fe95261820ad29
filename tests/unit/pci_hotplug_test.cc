// PCI hot-plug: the bus's side (controller calls, ejects, removable slots) and the machine's
// (device_del asks, the guest's eject removes, reset completes requests, no controller: at once),
// and the PIIX4's hot-plug state across save and restore.
#include <gtest/gtest.h>

#include "devices/board.h"
#include "dm/machine.h"
#include "dm/pci/pci_bus.h"
#include "tests/unit/test_devices.h"

namespace hvmd::test {
namespace {

using pci::PlugMode;

class RecordingController final : public pci::HotplugController {
 public:
  void slot_plugged(unsigned slot) override { plugged.push_back(slot); }
  void request_unplug(unsigned slot) override { down |= 1u << slot; }
  uint32_t unplug_requests() const override { return down; }
  std::vector<unsigned> plugged;
  uint32_t down = 0;
};

class PciHotplugBus : public ::testing::Test {
 protected:
  HostRam ram{RamLayout::pc(16 << 20)};
  Dispatcher dispatcher{&ram};
  pci::PciBus bus{dispatcher, nullptr};
  RecordingController controller;
  ScratchDevice fixed{1}, cold{2}, hot{3}, hot_fn1{4};
};

TEST_F(PciHotplugBus, OnlyRunTimePlugsAreAnnounced) {
  bus.set_hotplug_controller(&controller);
  ASSERT_TRUE(bus.plug(fixed, 0x00).ok());
  ASSERT_TRUE(bus.plug(cold, 0x10, PlugMode::kColdPlugged).ok());
  ASSERT_TRUE(bus.plug(hot, 0x28, PlugMode::kHotPlugged).ok());
  EXPECT_EQ(controller.plugged, std::vector<unsigned>{5});
  // Slot 0 holds a fixed function; every other slot, empty or not, may be offered for eject.
  EXPECT_EQ(bus.hotpluggable_slots(), ~1u);
}

TEST_F(PciHotplugBus, RequestsNeedAControllerAndAHotpluggableFunction) {
  ASSERT_TRUE(bus.plug(fixed, 0x00).ok());
  ASSERT_TRUE(bus.plug(hot, 0x28, PlugMode::kHotPlugged).ok());
  EXPECT_FALSE(bus.request_unplug(hot)) << "no controller: the caller removes it";
  EXPECT_EQ(bus.unplug_requests(), 0u);
  bus.set_hotplug_controller(&controller);
  EXPECT_FALSE(bus.request_unplug(fixed));
  EXPECT_TRUE(bus.request_unplug(hot));
  EXPECT_EQ(bus.unplug_requests(), 1u << 5);
  EXPECT_EQ(bus.at(0x28), &hot) << "still there until the guest ejects";
}

TEST_F(PciHotplugBus, EjectRemovesHotpluggableFunctionsOfTheSlot) {
  bus.set_hotplug_controller(&controller);
  ASSERT_TRUE(bus.plug(fixed, 0x08).ok());                           // 01.0
  ASSERT_TRUE(bus.plug(cold, 0x0d, PlugMode::kColdPlugged).ok());    // 01.5, beside it
  ASSERT_TRUE(bus.plug(hot, 0x28, PlugMode::kHotPlugged).ok());      // 05.0
  ASSERT_TRUE(bus.plug(hot_fn1, 0x29, PlugMode::kHotPlugged).ok());  // 05.1
  EXPECT_EQ(bus.hotpluggable_slots() & (1u << 1), 0u);
  std::vector<pci::PciDevice*> ejected;
  bus.set_eject_handler([&](pci::PciDevice& d) {
    ejected.push_back(&d);
    bus.unplug(d);
  });
  bus.eject_slots(1u << 1 | 1u << 5 | 1u << 9);  // slot 9 is empty
  EXPECT_EQ(ejected, (std::vector<pci::PciDevice*>{&cold, &hot, &hot_fn1}));
  EXPECT_EQ(bus.at(0x08), &fixed);
  EXPECT_EQ(bus.at(0x0d), nullptr);
  EXPECT_EQ(dispatcher.pci_read(PciAddress{0, 0, 0x29}, 0, 4), 0xffffffffu);
  // Without a handler the bus takes the functions off by itself.
  bus.set_eject_handler(nullptr);
  ASSERT_TRUE(bus.plug(hot, 0x30, PlugMode::kHotPlugged).ok());
  bus.eject_slots(~0u);
  EXPECT_EQ(bus.at(0x30), nullptr);
  EXPECT_EQ(bus.at(0x08), &fixed);
}

// The machine, with the board's PIIX4 as controller or on a bare bus.
class PciHotplugMachine : public ::testing::Test {
 protected:
  PciHotplugMachine() {
    registry.add({.name = "scratch",
                  .description = "test",
                  .pci = true,
                  .hotpluggable = true,
                  .create = [](Machine&, OptionReader&) -> Result<std::unique_ptr<Device>> {
                    return std::unique_ptr<Device>(new ScratchDevice(0));
                  }});
    for (Machine* m : {&board, &bare})
      m->set_device_deleted_handler(
          [this](const std::string& id, const std::string& path) { deleted.push_back(id + path); });
    EXPECT_TRUE(devices::build_board(board).ok());
  }
  Result<Device*> add(Machine& m, const std::string& text, bool hotplug) {
    auto options = SubOptions::parse(text, "driver");
    EXPECT_TRUE(options.ok());
    return m.add_device(*options, hotplug);
  }
  uint32_t port(uint16_t p) { return static_cast<uint32_t>(board.dispatcher().port_read(p, 4)); }

  Clock clock{Clock::Mode::kVirtual};
  HostRam ram{RamLayout::pc(32 << 20)};
  FakeInterrupts irq;
  DeviceRegistry registry;
  Machine board{MachineOptions{}, clock, ram, irq, registry};
  Machine bare{MachineOptions{}, clock, ram, irq, registry};
  std::vector<std::string> deleted;
};

TEST_F(PciHotplugMachine, WithoutAControllerRemovalIsImmediate) {
  ASSERT_TRUE(add(bare, "scratch,id=s,addr=4", true).ok());
  auto removal = bare.request_removal("s");
  ASSERT_TRUE(removal.ok());
  EXPECT_EQ(*removal, Machine::Removal::kRemoved);
  EXPECT_EQ(bare.find_device("s"), nullptr);
  EXPECT_EQ(deleted, std::vector<std::string>{"s/machine/peripheral/s"});
}

TEST_F(PciHotplugMachine, GuestEjectCompletesTheRequest) {
  ASSERT_TRUE(add(board, "scratch,id=s,addr=4", true).ok());
  EXPECT_EQ(port(0xae00), 1u << 4);
  auto removal = board.request_removal("s");
  ASSERT_TRUE(removal.ok());
  EXPECT_EQ(*removal, Machine::Removal::kRequested);
  EXPECT_NE(board.find_device("s"), nullptr);
  EXPECT_TRUE(deleted.empty());
  EXPECT_EQ(port(0xae04), 1u << 4);
  board.dispatcher().port_write(0xae08, 4, 1u << 4);
  EXPECT_EQ(board.find_device("s"), nullptr);
  EXPECT_EQ(deleted, std::vector<std::string>{"s/machine/peripheral/s"});
  EXPECT_FALSE(board.request_removal("s").ok());
}

TEST_F(PciHotplugMachine, AnonymousDevicesAreReportedByPath) {
  ASSERT_TRUE(add(board, "scratch,addr=4", false).ok());
  board.dispatcher().port_write(0xae08, 4, 1u << 4);
  ASSERT_EQ(deleted.size(), 1u);
  EXPECT_TRUE(deleted[0].starts_with("/machine/peripheral-anon/scratch#")) << deleted[0];
}

TEST_F(PciHotplugMachine, ResetRemovesWhatWasRequested) {
  ASSERT_TRUE(add(board, "scratch,id=a,addr=4", true).ok());
  ASSERT_TRUE(add(board, "scratch,id=b,addr=5", true).ok());
  ASSERT_TRUE(board.request_removal("b").ok());
  board.reset();
  EXPECT_NE(board.find_device("a"), nullptr);
  EXPECT_EQ(board.find_device("b"), nullptr);
  EXPECT_EQ(deleted, std::vector<std::string>{"b/machine/peripheral/b"});
  EXPECT_EQ(port(0xae00), 0u);
  EXPECT_EQ(port(0xae04), 0u);
}

TEST_F(PciHotplugMachine, HotplugStateSurvivesSaveAndRestore) {
  ASSERT_TRUE(add(board, "scratch,id=s,addr=4", true).ok());
  board.dispatcher().port_write(0xafe2, 1, 0x02);  // GPE 1 enabled
  ASSERT_TRUE(board.request_removal("s").ok());
  std::vector<uint8_t> state = board.save_state();
  board.dispatcher().port_write(0xafe0, 1, 0x02);
  board.reset();  // ejects s: make the machine match the stream again
  ASSERT_TRUE(add(board, "scratch,id=s,addr=4", false).ok());
  deleted.clear();
  ASSERT_TRUE(board.load_state(state).ok());
  EXPECT_EQ(port(0xae00), 1u << 4);
  EXPECT_EQ(port(0xae04), 1u << 4);
  EXPECT_EQ(board.dispatcher().port_read(0xafe0, 2), 0x02u);
  EXPECT_EQ(board.dispatcher().port_read(0xafe2, 2), 0x02u);
  // The restored request is the guest's to complete.
  board.dispatcher().port_write(0xae08, 4, 1u << 4);
  EXPECT_EQ(board.find_device("s"), nullptr);
  EXPECT_EQ(deleted.size(), 1u);
}

TEST_F(PciHotplugMachine, Piix4SavesItsHotplugAndGpeState) {
  Device* pm = nullptr;
  for (Device* d : board.devices())
    if (d->type() == "PIIX4_PM") pm = d;
  ASSERT_NE(pm, nullptr);
  ASSERT_TRUE(add(board, "scratch,id=s,addr=4", true).ok());
  board.dispatcher().port_write(0xafe2, 1, 0x02);
  StateWriter out;
  pm->save(out);
  std::vector<uint8_t> saved = out.data();
  board.dispatcher().port_write(0xafe0, 1, 0x02);  // the guest clears the status
  StateReader in(saved);
  ASSERT_TRUE(pm->load(in, pm->state_version()).ok());
  EXPECT_TRUE(in.at_end());
  EXPECT_EQ(port(0xae00), 1u << 4);
  EXPECT_EQ(board.dispatcher().port_read(0xafe0, 4), 0x00020002u);
  // Cut short of the hot-plug bitmaps: refused.
  std::vector<uint8_t> cut(saved.begin(), saved.end() - 4);
  StateReader short_stream(cut);
  EXPECT_FALSE(pm->load(short_stream, pm->state_version()).ok());
}

}  // namespace
}  // namespace hvmd::test
