#include "dm/machine.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "devices/board.h"
#include "dm/pci/pci_device.h"
#include "dm/qmp/machine_commands.h"
#include "tests/unit/test_devices.h"

namespace hvmd::test {
namespace {

class MachineTest : public ::testing::Test {
 protected:
  MachineTest() {
    devices::register_devices(registry);
    registry.add({.name = "scratch",
                  .description = "test",
                  .pci = true,
                  .hotpluggable = true,
                  .create = [](Machine&, OptionReader& props) -> Result<std::unique_ptr<Device>> {
                    auto v = props.number("value", UINT32_MAX);
                    if (!v) return v.error();
                    return std::unique_ptr<Device>(
                        new ScratchDevice(static_cast<uint32_t>(v->value_or(0))));
                  }});
    EXPECT_TRUE(devices::build_board(machine).ok());
  }
  Result<Device*> add(const std::string& text, bool hotplug = false) {
    auto options = SubOptions::parse(text, "driver");
    EXPECT_TRUE(options.ok());
    return machine.add_device(*options, hotplug);
  }
  // Programs the scratch device's I/O BAR at port through the host bridge, as firmware would.
  void map_scratch(uint8_t devfn, uint16_t port) {
    auto& d = machine.dispatcher();
    d.port_write(0xcf8, 4, 0x80000000u | uint32_t{devfn} << 8 | pci::kBar0);
    d.port_write(0xcfc, 4, port);
    d.port_write(0xcf8, 4, 0x80000000u | uint32_t{devfn} << 8 | pci::kCommand);
    d.port_write(0xcfc, 2, pci::kCommandIo);
  }

  Clock clock{Clock::Mode::kVirtual};
  HostRam ram{RamLayout::pc(32 << 20)};
  FakeInterrupts irq;
  DeviceRegistry registry;
  InlineExecutor block_io;  // before the machine: its drives' I/O drains here as they close
  Machine machine{MachineOptions{}, clock, ram, irq, registry};
};

TEST_F(MachineTest, DevicePropertiesAreChecked) {
  EXPECT_EQ(add("scratch,value=5,frob=1").error().message,
            "device 'scratch': unknown parameter 'frob'");
  EXPECT_FALSE(add("scratch,value=lots").ok());
  EXPECT_FALSE(add("scratch,id=1bad").ok());
  EXPECT_FALSE(add("scratch,bus=pci.7").ok());
  EXPECT_FALSE(add("scratch,addr=0").ok());  // the host bridge is there
  ASSERT_TRUE(add("scratch,id=s0,addr=5").ok());
  EXPECT_EQ(add("scratch,id=s0").error().message, "duplicate device id 's0'");
}

TEST_F(MachineTest, HotplugAndUnplug) {
  ASSERT_TRUE(add("scratch,id=hot,addr=4,value=7", /*hotplug=*/true).ok());
  map_scratch(0x20, 0xc000);
  EXPECT_EQ(machine.dispatcher().port_read(0xc000, 4), 7u);
  EXPECT_TRUE(machine.remove_device("hot").ok());
  EXPECT_EQ(machine.dispatcher().port_read(0xc000, 4), 0xffffffffu);
  EXPECT_EQ(machine.dispatcher().pci_read(PciAddress{0, 0, 0x20}, 0, 4), 0xffffffffu);
  EXPECT_FALSE(machine.remove_device("hot").ok());
  EXPECT_FALSE(machine.remove_device("").ok());
}

TEST_F(MachineTest, QmpDeviceAddAndDel) {
  qmp::Server server;
  qmp::register_machine_commands(server, machine, {.quit = [] {}});
  std::vector<std::string> sent;
  qmp::Session session(server, [&](std::string_view s) { sent.emplace_back(s); });
  session.feed(R"({"execute":"qmp_capabilities"})");
  session.feed(
      R"({"execute":"device_add","arguments":{"driver":"scratch","id":"s1","addr":"6","value":42}})");
  session.feed(R"({"execute":"query-pci"})");
  session.feed(R"({"execute":"device_del","arguments":{"id":"s1"}})");
  // The board's PIIX4 does ACPI hot-plug: device_del asks the guest, and the device goes (and
  // DEVICE_DELETED follows) when the guest ejects slot 6.
  ASSERT_EQ(sent.size(), 4u);
  EXPECT_NE(machine.find_device("s1"), nullptr);
  machine.dispatcher().port_write(0xae08, 4, 1u << 6);
  EXPECT_EQ(machine.find_device("s1"), nullptr);
  ASSERT_EQ(sent.size(), 5u);
  EXPECT_EQ(qmp::Json::parse(sent[1])["return"], qmp::Json::object());
  auto devices = qmp::Json::parse(sent[2])["return"][0]["devices"];
  ASSERT_EQ(devices.size(), 5u);  // the board's four, then ours
  EXPECT_EQ(devices[4]["qdev_id"], "s1");
  EXPECT_EQ(devices[4]["slot"], 6);
  EXPECT_EQ(devices[4]["regions"][0]["type"], "io");
  EXPECT_EQ(devices[4]["regions"][0]["size"], 4);
  EXPECT_EQ(qmp::Json::parse(sent[3])["return"], qmp::Json::object());
  auto event = qmp::Json::parse(sent[4]);
  EXPECT_EQ(event["event"], "DEVICE_DELETED");
  EXPECT_EQ(event["data"]["device"], "s1");
}

TEST_F(MachineTest, SaveAndLoadWholeMachine) {
  ASSERT_TRUE(add("scratch,id=s,addr=3,value=1").ok());
  map_scratch(0x18, 0xc100);
  machine.dispatcher().port_write(0xc100, 4, 0xabcd);
  machine.dispatcher().port_write(0xcf8, 4, 0x80000058);  // leave CONFIG_ADDRESS at PAM0's dword
  std::vector<uint8_t> state = machine.save_state();

  machine.reset();
  EXPECT_EQ(machine.dispatcher().port_read(0xc100, 4), 0xffffffffu);
  ASSERT_TRUE(machine.load_state(state).ok());
  EXPECT_EQ(machine.dispatcher().port_read(0xc100, 4), 0xabcdu);
  EXPECT_EQ(machine.dispatcher().port_read(0xcf8, 4), 0x80000058u);

  // Hostile streams: every truncation and a corrupted header are refused.
  for (size_t cut = 0; cut < state.size(); cut += 7) {
    std::vector<uint8_t> partial(state.begin(), state.begin() + static_cast<long>(cut));
    EXPECT_FALSE(machine.load_state(partial).ok()) << cut;
  }
  std::vector<uint8_t> bad = state;
  bad[0] ^= 1;
  EXPECT_FALSE(machine.load_state(bad).ok());
  std::vector<uint8_t> longer = state;
  longer.push_back(0);
  EXPECT_FALSE(machine.load_state(longer).ok());
}

TEST_F(MachineTest, LoadRejectsAnotherMachinesState) {
  std::vector<uint8_t> bare = machine.save_state();
  ASSERT_TRUE(add("scratch,id=s,addr=3").ok());
  auto loaded = machine.load_state(bare);
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.error().message.find("devices"), std::string::npos);
}

TEST_F(MachineTest, Piix3PirqRoutesReachTheTransport) {
  auto& d = machine.dispatcher();
  auto write_route = [&](unsigned link, uint8_t value) {
    d.port_write(0xcf8, 4, 0x80000800u | 0x60);  // 00:01.0, PIRQRCA..D
    d.port_write(0xcfc + link, 1, value);
  };
  write_route(0, 0x0b);  // PIRQA -> IRQ 11, as hvmloader and SeaBIOS program it
  write_route(2, 0x0a);
  EXPECT_EQ(irq.routes[0], 11u);
  EXPECT_EQ(irq.routes[2], 10u);
  write_route(0, 0x8b);  // routing disabled
  EXPECT_EQ(irq.routes[0], 0u);
  write_route(1, 0x02);  // IRQ 2 is not routable (cascade): treated as disabled
  EXPECT_EQ(irq.routes[1], 0u);
  // A reset disables every link again.
  machine.reset();
  EXPECT_EQ(irq.routes[2], 0u);
  d.port_write(0xcf8, 4, 0x80000800u | 0x60);
  EXPECT_EQ(d.port_read(0xcfc, 4), 0x80808080u);
}

TEST_F(MachineTest, RomfileFillsTheExpansionRomBar) {
  char path[] = "/tmp/hvmd-rom-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  std::vector<uint8_t> image(6000, 0x11);
  image[0] = 0x55;
  image[1] = 0xaa;
  ASSERT_EQ(write(fd, image.data(), image.size()), ssize_t(image.size()));
  close(fd);
  ASSERT_TRUE(add(std::string("scratch,id=r,addr=5,romfile=") + path).ok());
  EXPECT_FALSE(add("scratch,addr=6,romfile=/nonexistent.rom").ok());
  unlink(path);
  auto& d = machine.dispatcher();
  uint32_t rom_reg = 0x80000000u | 0x28u << 8 | pci::kRomAddress;
  d.port_write(0xcf8, 4, rom_reg);
  d.port_write(0xcfc, 4, 0xffffffff);  // sizing: 6000 bytes -> an 8 KiB BAR
  EXPECT_EQ(d.port_read(0xcfc, 4), 0xffffe001u);
  d.port_write(0xcfc, 4, 0xfeb00001);  // place and enable
  d.port_write(0xcf8, 4, 0x80000000u | 0x28u << 8 | pci::kCommand);
  d.port_write(0xcfc, 2, pci::kCommandMemory);
  EXPECT_EQ(d.mmio_read(0xfeb00000, 2), 0xaa55u);
  EXPECT_EQ(d.mmio_read(0xfeb00000 + 5999, 1), 0x11u);
  d.mmio_write(0xfeb00000, 2, 0);  // ROM: writes are ignored
  EXPECT_EQ(d.mmio_read(0xfeb00000, 2), 0xaa55u);
}

// The ROM cache keeps the file open, not its bytes: a second device reads the file again, and a
// file cut short meanwhile fails that device's creation with the reason instead of a short ROM.
TEST_F(MachineTest, RomfileIsReadForEachDeviceAndATruncatedFileIsRefused) {
  char path[] = "/tmp/hvmd-rom-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  std::vector<uint8_t> image(6000, 0x22);
  ASSERT_EQ(write(fd, image.data(), image.size()), ssize_t(image.size()));
  std::string romfile = std::string(",romfile=") + path;
  ASSERT_TRUE(add("scratch,addr=5" + romfile).ok());
  ASSERT_EQ(ftruncate(fd, 100), 0);
  auto refused = add("scratch,addr=6" + romfile);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find(std::string("romfile=") + path + ": the file shrank"),
            std::string::npos)
      << refused.error().message;
  close(fd);
  unlink(path);
  EXPECT_FALSE(add("scratch,addr=6,romfile=/dev/null").ok());  // not a regular file
}

// A controller with two buses of four ports each, and the devices that plug into them, as a USB
// host controller and its devices will.
class TestBus final : public Bus {
 public:
  explicit TestBus(std::string name) : name_(std::move(name)) {}
  const std::string& name() const override { return name_; }
  std::string_view kind() const override { return "test"; }
  std::string_view address_property() const override { return "port"; }
  Result<unsigned> claim(std::optional<unsigned> port) override {
    if (port) {
      if (*port >= used.size())
        return make_error("%s port %u does not exist", name_.c_str(), *port);
      if (used[*port]) return make_error("%s port %u is in use", name_.c_str(), *port);
      used[*port] = true;
      return *port;
    }
    for (unsigned p = 0; p < used.size(); ++p)
      if (!used[p]) return used[p] = true, p;
    return make_error("%s is full", name_.c_str());
  }
  void release(unsigned port) override { used[port] = false; }
  std::array<bool, 4> used{};

 private:
  std::string name_;
};

std::vector<std::string> unrealized;  // device ids in the order they were unrealized

class TestController final : public Device {
 public:
  std::string_view type() const override { return "test-controller"; }
  void save(StateWriter&) const override {}
  Result<std::unique_ptr<StagedState>> parse_state(StateReader&, uint32_t) override {
    return nothing_staged();
  }
  void unrealize() override { unrealized.push_back(id()); }
  TestBus buses[2] = {TestBus("tb.0"), TestBus("tb.1")};
};

class TestChild final : public Device {
 public:
  explicit TestChild(BusSlot where) : slot(where) {}
  std::string_view type() const override { return "test-child"; }
  void save(StateWriter&) const override {}
  Result<std::unique_ptr<StagedState>> parse_state(StateReader&, uint32_t) override {
    return nothing_staged();
  }
  void unrealize() override { unrealized.push_back(id()); }
  BusSlot slot;
};

class BusTest : public MachineTest {
 protected:
  BusTest() {
    unrealized.clear();
    registry.add({.name = "test-controller",
                  .hotpluggable = true,
                  .create = [](Machine& m, OptionReader&) -> Result<std::unique_ptr<Device>> {
                    auto controller = std::make_unique<TestController>();
                    for (auto& bus : controller->buses) m.add_bus(*controller, bus);
                    return std::unique_ptr<Device>(std::move(controller));
                  }});
    registry.add({.name = "test-child",
                  .hotpluggable = true,
                  .create = [](Machine& m, OptionReader& props) -> Result<std::unique_ptr<Device>> {
                    auto slot = m.plug_into_bus("test", props);
                    if (!slot) return slot.error();
                    if (props.string("fail")) return make_error("refused");
                    return std::unique_ptr<Device>(std::make_unique<TestChild>(*slot));
                  }});
    machine.set_device_deleted_handler(
        [this](const std::string& id, const std::string&) { removed.push_back(id); });
  }
  TestChild* child(const std::string& id) {
    return static_cast<TestChild*>(machine.find_device(id));
  }
  std::vector<std::string> removed;
};

TEST_F(BusTest, ChildrenNameTheirBusAndAddress) {
  ASSERT_TRUE(add("test-controller,id=ctl", true).ok());
  ASSERT_TRUE(add("test-child,id=a,bus=tb.1,port=3", true).ok());
  EXPECT_EQ(child("a")->slot.bus->name(), "tb.1");
  EXPECT_EQ(child("a")->slot.address, 3u);
  ASSERT_TRUE(add("test-child,id=b", true).ok()) << "no bus=: the first bus with room";
  EXPECT_EQ(child("b")->slot.bus->name(), "tb.0");
  EXPECT_EQ(child("b")->slot.address, 0u);
  EXPECT_EQ(add("test-child,id=c,bus=tb.1,port=3", true).error().message,
            "device 'test-child': tb.1 port 3 is in use");
  EXPECT_EQ(add("test-child,id=c,bus=tb.7", true).error().message,
            "device 'test-child': bus 'tb.7' not found");
  EXPECT_EQ(add("test-child,id=c,port=2", true).error().message,
            "device 'test-child': port= needs bus=");
  EXPECT_FALSE(add("test-child,id=c,bus=tb.0,port=9", true).ok());
  // A create that fails after its claim gives the port back.
  EXPECT_FALSE(add("test-child,id=c,bus=tb.0,port=2,fail=1", true).ok());
  ASSERT_TRUE(add("test-child,id=c,bus=tb.0,port=2", true).ok());
}

TEST_F(BusTest, AParentGoesAfterItsChildrenAndEachIsReportedOnceGone) {
  ASSERT_TRUE(add("test-controller,id=ctl", true).ok());
  ASSERT_TRUE(add("test-child,id=a,bus=tb.0,port=1", true).ok());
  ASSERT_TRUE(add("test-child,id=b,bus=tb.1,port=0", true).ok());
  auto* controller = static_cast<TestController*>(machine.find_device("ctl"));
  EXPECT_TRUE(controller->buses[0].used[1]);
  ASSERT_TRUE(machine.remove_device("a").ok());
  EXPECT_FALSE(controller->buses[0].used[1]) << "the port is free again";
  EXPECT_EQ(removed, (std::vector<std::string>{"a"}));
  ASSERT_TRUE(machine.remove_device("ctl").ok());
  EXPECT_EQ(unrealized, (std::vector<std::string>{"a", "b", "ctl"}));
  EXPECT_EQ(removed, (std::vector<std::string>{"a", "b", "ctl"}));
  EXPECT_EQ(machine.find_bus("tb.0"), nullptr) << "its buses went with it";
  EXPECT_FALSE(add("test-child,id=d", true).ok());
}

TEST_F(BusTest, IdeDrivesPlugIntoTheControllersBuses) {
  char disk[] = "/tmp/hvmd-bus-XXXXXX";
  int fd = mkstemp(disk);
  ASSERT_EQ(ftruncate(fd, 1 << 20), 0);
  close(fd);
  machine.set_io_executor(&block_io);
  for (const char* id : {"d0", "d1"}) {
    auto spec = DriveSpec::from_options(
        *SubOptions::parse(std::string("file=") + disk + ",if=none,id=" + id, ""));
    ASSERT_TRUE(spec);
    machine.add_drive(*spec);
  }
  ASSERT_NE(machine.find_bus("ide.1"), nullptr);
  ASSERT_TRUE(add("ide-hd,id=hd,drive=d0,bus=ide.1,unit=1").ok());
  EXPECT_EQ(machine.dispatcher().port_read(0x177, 1) & 0x40, 0u) << "unit 0 selected: empty";
  machine.dispatcher().port_write(0x176, 1, 0xb0);  // select unit 1
  EXPECT_EQ(machine.dispatcher().port_read(0x177, 1) & 0x40, 0x40u) << "the disk is there";
  EXPECT_EQ(add("ide-hd,drive=d1,bus=ide.1,unit=1").error().message,
            "device 'ide-hd': ide.1 unit 1 is already in use");
  EXPECT_EQ(add("ide-hd,drive=d1,bus=ide.2").error().message,
            "device 'ide-hd': bus 'ide.2' not found");
  unlink(disk);
}

}  // namespace
}  // namespace hvmd::test
