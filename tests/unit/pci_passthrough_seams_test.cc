// The seams passthrough builds on: config registers split between emulation and a host function,
// host BARs mapped straight into the guest around trapped holes, and MSI/MSI-X listeners.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "dm/host_passthrough.h"
#include "dm/pci/pci_bus.h"
#include "dm/pci/pci_device.h"
#include "tests/unit/test_devices.h"

namespace hvmd::test {
namespace {

using namespace pci;

std::string format(const char* fmt, auto... args) {
  char line[160];
  snprintf(line, sizeof(line), fmt, args...);
  return line;
}

// A host function's config space with a real device's write-1-to-clear status bits, logging every
// access the device model makes.
class FakeHostConfig final : public HostConfigAccess {
 public:
  uint32_t read(uint32_t reg, unsigned size) override {
    uint32_t v = 0;
    for (unsigned i = 0; i < size; ++i) v |= uint32_t{bytes[reg + i]} << (8 * i);
    log.push_back(format("read %#x/%u", reg, size));
    return v;
  }
  void write(uint32_t reg, unsigned size, uint32_t value) override {
    for (unsigned i = 0; i < size; ++i) {
      auto byte = static_cast<uint8_t>(value >> (8 * i));
      uint8_t w1c = kStatusW1c[reg + i];
      bytes[reg + i] = static_cast<uint8_t>((bytes[reg + i] & w1c & ~byte) | (byte & ~w1c));
    }
    log.push_back(format("write %#x/%u %#x", reg, size, value));
  }
  void set16(uint32_t reg, uint16_t v) {
    bytes[reg] = static_cast<uint8_t>(v);
    bytes[reg + 1] = static_cast<uint8_t>(v >> 8);
  }
  uint16_t get16(uint32_t reg) const {
    return static_cast<uint16_t>(bytes[reg] | bytes[reg + 1] << 8);
  }
  bool touched(uint32_t lo, uint32_t hi) const {
    for (const auto& line : log) {
      unsigned reg = 0;
      if (sscanf(line.c_str(), "%*s %x", &reg) == 1 && reg >= lo && reg < hi) return true;
    }
    return false;
  }

  std::array<uint8_t, kConfigSize> bytes{};
  std::vector<std::string> log;

 private:
  static constexpr std::array<uint8_t, kConfigSize> kStatusW1c = [] {
    std::array<uint8_t, kConfigSize> m{};
    m[kStatus] = static_cast<uint8_t>(kStatusErrorBits);
    m[kStatus + 1] = static_cast<uint8_t>(kStatusErrorBits >> 8);
    return m;
  }();
};

// The transport side, recording what it was asked to do; refuse makes every mapping fail.
class FakePassthrough final : public HostPassthrough {
 public:
  Result<void> map_mmio(uint64_t guest, const HostMmioRegion& r, uint64_t offset,
                        uint64_t length) override {
    if (refuse) return make_error("refused");
    calls.push_back(format("map_mmio %#llx host=%#llx len=%#llx", ull(guest),
                           ull(r.host_physical + offset), ull(length)));
    return ok();
  }
  Result<void> unmap_mmio(uint64_t guest, const HostMmioRegion& r, uint64_t offset,
                          uint64_t length) override {
    calls.push_back(format("unmap_mmio %#llx host=%#llx len=%#llx", ull(guest),
                           ull(r.host_physical + offset), ull(length)));
    return ok();
  }
  Result<void> map_ports(uint32_t guest, uint32_t host, uint32_t count) override {
    if (refuse) return make_error("refused");
    calls.push_back(format("map_ports %#x host=%#x count=%u", guest, host, count));
    return ok();
  }
  Result<void> unmap_ports(uint32_t guest, uint32_t host, uint32_t count) override {
    calls.push_back(format("unmap_ports %#x host=%#x count=%u", guest, host, count));
    return ok();
  }
  Result<void> bind_intx(const HostIntx& h, PciAddress g, unsigned pin) override {
    calls.push_back(format("bind_intx irq=%u devfn=%#x pin=%u", h.machine_irq, g.devfn, pin));
    return ok();
  }
  Result<void> unbind_intx(const HostIntx& h, PciAddress g, unsigned pin) override {
    calls.push_back(format("unbind_intx irq=%u devfn=%#x pin=%u", h.machine_irq, g.devfn, pin));
    return ok();
  }
  Result<void> route_msi(const HostMsiVector& v, const MsiMessage& m, bool masked) override {
    calls.push_back(format("route_msi %u %#llx/%#x%s", v.entry, ull(m.address), m.data,
                           masked ? " masked" : ""));
    return ok();
  }
  Result<void> unroute_msi(const HostMsiVector& v) override {
    calls.push_back(format("unroute_msi %u", v.entry));
    return ok();
  }
  static unsigned long long ull(uint64_t v) { return v; }

  bool refuse = false;
  std::vector<std::string> calls;
};

// Records listener calls as lines, so tests compare whole sequences.
class RecordingListener final : public MsiListener {
 public:
  void vector_programmed(unsigned v, const MsiMessage& m, bool masked) override {
    events.push_back(format("programmed %u %#llx/%#x%s", v,
                            static_cast<unsigned long long>(m.address), m.data,
                            masked ? " masked" : ""));
  }
  void vector_masked(unsigned v, bool masked) override {
    events.push_back(format("%s %u", masked ? "masked" : "unmasked", v));
  }
  void vectors_disabled() override { events.push_back("disabled"); }
  std::vector<std::string> take() { return std::exchange(events, {}); }
  std::vector<std::string> events;
};

constexpr uint64_t kHostBar0 = 0xfe000000;
constexpr uint64_t kBar0Size = 0x4000;
constexpr uint32_t kMsixTable = 0x2000;  // MSI-X table and PBA share the third page of BAR0
constexpr uint32_t kMsixPba = 0x2800;
constexpr uint32_t kHostPort = 0xc000;
constexpr uint32_t kVendorReg = 0xa0;  // half emulated, half the host's (after the capabilities)
constexpr uint16_t kCommandEmulated =
    kCommandIo | kCommandMemory | kCommandBusMaster | kCommandIntxDisable;
constexpr uint16_t kCommandReserved = 0xf800;

// A passthrough-shaped function: host config space behind a register table, BAR0 a host region
// whose MSI-X page is trapped, BAR1 host ports, MSI and MSI-X emulated.
class SeamDevice final : public PciDevice {
 public:
  SeamDevice(FakeHostConfig& host, FakePassthrough& passthrough)
      : PciDevice(
            {.vendor = 0x8086, .device = 0x10d3, .class_code = 0x020000, .interrupt_pin = 1}) {
    add_host_bar(0, BarType::kMemory32, kBar0Size,
                 {.passthrough = &passthrough,
                  .region = {.host_physical = kHostBar0, .size = kBar0Size},
                  .holes = {{kMsixTable, 2 * kMsixEntrySize}, {kMsixPba, 8}},
                  .trap = &trap_,
                  .relocated = [this](uint64_t from, uint64_t to) {
                    moves.push_back({from, to});
                  }});
    add_host_bar(1, BarType::kIo, 0x20, {.passthrough = &passthrough, .host_port = kHostPort});
    add_msi(4, /*is_64bit=*/true, /*maskable=*/true);
    add_msix(2, 0, kMsixTable, kMsixPba);
    add_config_register({.offset = kCommand,
                         .size = 2,
                         .emulated = kCommandEmulated,
                         .read_only = kCommandReserved,
                         .written = [this](uint32_t o, uint32_t n) {
                           hooks.push_back({o, n});
                         }});
    add_config_register({.offset = kStatus,
                         .size = 2,
                         .emulated = kStatusCapabilities | kStatusInterrupt,
                         .read_only = static_cast<uint32_t>(~kStatusErrorBits & 0xffff),
                         .w1c = kStatusErrorBits});
    add_config_register({.offset = kVendorReg,
                         .size = 4,
                         .emulated = 0xffff0000,
                         .read_only = 0x000000ff,
                         .written = [this](uint32_t o, uint32_t n) {
                           hooks.push_back({o, n});
                         }});
    set_host_config(&host);
  }
  std::string_view type() const override { return "seam"; }

  // BAR0's trapped accesses: the MSI-X table and PBA, and the rest of their page from the host.
  uint64_t trap_read(uint64_t offset, unsigned size) {
    if (msix()->claims(offset)) return msix()->read(offset, size);
    host_bar_log.push_back(format("read %#llx", static_cast<unsigned long long>(offset)));
    return 0x5a5a;
  }
  void trap_write(uint64_t offset, unsigned size, uint64_t value) {
    if (msix()->claims(offset)) return msix()->write(offset, size, value);
    host_bar_log.push_back(format("write %#llx", static_cast<unsigned long long>(offset)));
  }

  std::vector<std::pair<uint64_t, uint64_t>> moves;
  std::vector<std::pair<uint32_t, uint32_t>> hooks;
  std::vector<std::string> host_bar_log;

 private:
  MemberIoHandler<SeamDevice, &SeamDevice::trap_read, &SeamDevice::trap_write> trap_{*this};
};

class PassthroughSeamsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    host.set16(kCommand, 0x0006);  // what the host driver left enabled
    host.bytes[kBar0] = 0x0c;      // the host's own BAR address must never show
    host.bytes[kBar0 + 3] = 0xfe;
    host.bytes[0x80] = 0x77;
    ASSERT_TRUE(bus.plug(device, 0x20).ok());  // 04.0
    host.log.clear();
  }
  uint32_t read(uint32_t reg, unsigned size = 4) {
    return dispatcher.pci_read(device.address(), reg, size);
  }
  void write(uint32_t reg, uint32_t value, unsigned size = 4) {
    dispatcher.pci_write(device.address(), reg, size, value);
  }
  void place_bar0(uint32_t address) {
    write(kBar0, address);
    write(kCommand, kCommandMemory | kCommandIo, 2);
  }

  HostRam ram{RamLayout::pc(16 << 20)};
  Dispatcher dispatcher{&ram};
  FakeInterrupts irq;
  PciBus bus{dispatcher, &irq};
  FakeHostConfig host;
  FakePassthrough passthrough;
  SeamDevice device{host, passthrough};
};

TEST_F(PassthroughSeamsTest, HostBitsReachTheHostAndEmulatedBitsStay) {
  write(kCommand, 0xffff, 2);
  // Emulated bits live in the emulated config; the host sees only its own writable bits, and
  // keeps the emulated ones as they were (memory decoding stays the host driver's).
  EXPECT_EQ(device.config().get16(kCommand), kCommandEmulated);
  uint32_t host_bits = ~uint32_t{kCommandEmulated} & ~uint32_t{kCommandReserved} & 0xffff;
  EXPECT_EQ(host.get16(kCommand), host_bits | 0x0006u);
  EXPECT_EQ(read(kCommand, 2), (kCommandEmulated | host_bits));
  ASSERT_EQ(device.hooks.size(), 1u);
  // Old: the host's memory and bus-master bits are emulated bits, which the guest had not set.
  EXPECT_EQ(device.hooks[0].first, 0u);
  EXPECT_EQ(device.hooks[0].second, (kCommandEmulated | host_bits));
}

TEST_F(PassthroughSeamsTest, HostWriteOneToClearClearsOnlyWhatTheGuestClears) {
  host.set16(kStatus, 0x8100);  // detected parity error, master data parity error
  EXPECT_EQ(read(kStatus, 2), 0x8100u | kStatusCapabilities);  // cap list is emulated
  write(kStatus, 0x8000 | kStatusCapabilities, 2);
  EXPECT_EQ(host.get16(kStatus), 0x0100);  // the untouched error bit survives the write-back
  EXPECT_EQ(read(kStatus, 2), 0x0100u | kStatusCapabilities);
  host.log.clear();
  write(kStatus, 0, 2);  // clears nothing: the host is not even written
  EXPECT_FALSE(host.touched(kStatus, kStatus + 2));
}

TEST_F(PassthroughSeamsTest, PartialWritesTouchOnlyTheirBytes) {
  host.bytes[kVendorReg] = 0x11;
  host.bytes[kVendorReg + 1] = 0x22;
  write(kVendorReg + 1, 0xab, 1);  // host byte
  EXPECT_EQ(host.log, (std::vector<std::string>{"read 0xa0/4", "read 0xa0/4", "write 0xa0/4 0xab11",
                                                "read 0xa0/4"}));
  EXPECT_EQ(read(kVendorReg), 0x0000ab11u);
  host.log.clear();
  write(kVendorReg + 2, 0xcd, 1);  // emulated byte: the host is read for the hook, never written
  for (const auto& line : host.log) EXPECT_EQ(line.rfind("write", 0), std::string::npos) << line;
  write(kVendorReg, 0x99, 1);  // read-only host byte: not written either
  EXPECT_EQ(read(kVendorReg), 0x00cdab11u);
  ASSERT_EQ(device.hooks.size(), 3u);
  EXPECT_EQ(device.hooks[0], (std::pair<uint32_t, uint32_t>{0x2211, 0xab11}));
  EXPECT_EQ(device.hooks[1], (std::pair<uint32_t, uint32_t>{0xab11, 0xcdab11}));
  EXPECT_EQ(device.hooks[2], (std::pair<uint32_t, uint32_t>{0xcdab11, 0xcdab11}));
}

TEST_F(PassthroughSeamsTest, UnclaimedBytesPassThroughButBarsAndMsiStayEmulated) {
  EXPECT_EQ(read(0x80), 0x77u);
  write(0x84, 0x12345678);
  EXPECT_EQ(host.log.back(), "write 0x84/4 0x12345678");
  // A dword straddling unclaimed bytes and a register: each part read its own way.
  host.bytes[kVendorReg - 2] = 0xaa;
  host.bytes[kVendorReg - 1] = 0xbb;
  host.bytes[kVendorReg] = 0x34;
  host.bytes[kVendorReg + 1] = 0x12;
  write(kVendorReg + 2, 0x5678, 2);  // the register's emulated half
  EXPECT_EQ(read(kVendorReg - 2, 4), 0x1234bbaau);
  EXPECT_EQ(read(kVendorReg, 4), 0x56781234u);
  host.log.clear();
  write(kBar0, 0xffffffff);
  EXPECT_EQ(read(kBar0), static_cast<uint32_t>(~(kBar0Size - 1)));  // sizing, not the host's
  write(kRomAddress, 0xffffffff);
  uint8_t msi = 0, msix = 0;
  for (uint8_t cap = device.config().get8(kCapabilitiesPointer); cap;
       cap = device.config().get8(cap + 1u)) {
    if (device.config().get8(cap) == kCapMsi) msi = cap;
    if (device.config().get8(cap) == kCapMsix) msix = cap;
  }
  ASSERT_TRUE(msi && msix);
  write(msi + kMsiAddressLow, 0xfee00000);
  write(msix, 0xffffffff);
  EXPECT_FALSE(host.touched(kBar0, kBar0 + 24));
  EXPECT_FALSE(host.touched(kRomAddress, kRomAddress + 4));
  EXPECT_FALSE(host.touched(msi, msi + 24));
  EXPECT_FALSE(host.touched(msix, msix + kMsixCapLength));
  EXPECT_TRUE(host.log.empty()) << host.log.front();
}

TEST(PassthroughSeams, DevicesWithoutRegistersOrHostAreUnchanged) {
  // Emulated devices never see the table: a ScratchDevice reads and writes as before.
  HostRam ram{RamLayout::pc(16 << 20)};
  Dispatcher dispatcher{&ram};
  PciBus bus{dispatcher, nullptr};
  ScratchDevice scratch(0);
  ASSERT_TRUE(bus.plug(scratch, 0x18).ok());
  dispatcher.pci_write(scratch.address(), kCommand, 2, 0xffff);
  EXPECT_EQ(dispatcher.pci_read(scratch.address(), kCommand, 2),
            uint32_t{kCommandIo | kCommandMemory | kCommandBusMaster | kCommandParity |
                     kCommandSerr | kCommandIntxDisable});
  dispatcher.pci_write(scratch.address(), kInterruptLine, 1, 0x0b);
  EXPECT_EQ(dispatcher.pci_read(scratch.address(), kInterruptLine, 1), 0x0bu);
}

// MSI where the host function has it: the chain is the host's, the capability emulated.
class PlacedMsiDevice final : public PciDevice {
 public:
  static constexpr uint8_t kMsiCap = 0x50;
  static constexpr uint8_t kHostNext = 0x70;
  explicit PlacedMsiDevice(HostConfigAccess& host)
      : PciDevice({.vendor = 0x8086, .device = 0x1533}) {
    place_msi(kMsiCap, 1, /*is_64bit=*/false, /*maskable=*/false);
    mutable_config().set8(kMsiCap + 1, kHostNext);  // linked on as the host links it
    set_host_config(&host);
  }
  std::string_view type() const override { return "placed-msi"; }
};

TEST(PassthroughSeams, PlacedMsiKeepsTheHostsChain) {
  HostRam ram{RamLayout::pc(16 << 20)};
  Dispatcher dispatcher{&ram};
  PciBus bus{dispatcher, nullptr};
  FakeHostConfig host;
  host.bytes[kCapabilitiesPointer] = 0x40;
  host.bytes[0x40] = 0x01;  // power management, then the host's MSI
  host.bytes[0x41] = PlacedMsiDevice::kMsiCap;
  host.bytes[PlacedMsiDevice::kHostNext] = 0x10;  // PCI Express, the end of the chain
  PlacedMsiDevice device(host);
  ASSERT_TRUE(bus.plug(device, 0x28).ok());
  RecordingListener events;
  device.msi()->set_listener(&events);
  std::vector<uint8_t> ids;
  uint32_t cap = dispatcher.pci_read(device.address(), kCapabilitiesPointer, 1);
  for (int hops = 0; cap && hops < 8; ++hops) {
    ids.push_back(static_cast<uint8_t>(dispatcher.pci_read(device.address(), cap, 1)));
    cap = dispatcher.pci_read(device.address(), cap + 1, 1);
  }
  EXPECT_EQ(ids, (std::vector<uint8_t>{0x01, kCapMsi, 0x10}));
  host.log.clear();
  dispatcher.pci_write(device.address(), PlacedMsiDevice::kMsiCap + kMsiAddressLow, 4, 0xfee00000);
  dispatcher.pci_write(device.address(), PlacedMsiDevice::kMsiCap + 8, 2, 0x4031);
  dispatcher.pci_write(device.address(), PlacedMsiDevice::kMsiCap + kMsiControl, 2,
                       kMsiControlEnable);
  EXPECT_TRUE(host.log.empty()) << host.log.front();
  EXPECT_EQ(events.take(), std::vector<std::string>{"programmed 0 0xfee00000/0x4031"});
}

TEST_F(PassthroughSeamsTest, HostBarMapsAroundTheTrappedMsixPage) {
  place_bar0(0xe0000000);
  EXPECT_EQ(passthrough.calls,
            (std::vector<std::string>{"map_mmio 0xe0000000 host=0xfe000000 len=0x2000",
                                      "map_mmio 0xe0003000 host=0xfe003000 len=0x1000"}));
  EXPECT_EQ(device.moves,
            (std::vector<std::pair<uint64_t, uint64_t>>{{BarInfo::kUnmapped, 0xe0000000}}));
  EXPECT_EQ(device.bar(0).address, 0xe0000000u);
  // The MSI-X page is the device model's: table writes reach the Msix, the rest of the page the
  // device's trap handler (which forwards to the host region).
  dispatcher.mmio_write(0xe0002000 + kMsixEntryData, 4, 0x4055);
  EXPECT_EQ(device.msix()->read(kMsixTable + kMsixEntryData, 4), 0x4055u);
  EXPECT_EQ(dispatcher.mmio_read(0xe0002400, 4), 0x5a5au);
  EXPECT_EQ(device.host_bar_log, std::vector<std::string>{"read 0x2400"});
  // Outside the hole nothing is trapped: the direct mapping serves it, not the dispatcher.
  EXPECT_EQ(dispatcher.mmio_read(0xe0001000, 4), 0xffffffffu);

  passthrough.calls.clear();
  write(kBar0, 0xe0100000);  // the guest moves it
  EXPECT_EQ(passthrough.calls,
            (std::vector<std::string>{"unmap_mmio 0xe0000000 host=0xfe000000 len=0x2000",
                                      "unmap_mmio 0xe0003000 host=0xfe003000 len=0x1000",
                                      "map_mmio 0xe0100000 host=0xfe000000 len=0x2000",
                                      "map_mmio 0xe0103000 host=0xfe003000 len=0x1000"}));
  EXPECT_EQ(device.moves.back(), (std::pair<uint64_t, uint64_t>{0xe0000000, 0xe0100000}));
  EXPECT_EQ(dispatcher.mmio_read(0xe0002000 + kMsixEntryData, 4), 0xffffffffu);
  EXPECT_EQ(dispatcher.mmio_read(0xe0102000 + kMsixEntryData, 4), 0x4055u);

  passthrough.calls.clear();
  write(kCommand, kCommandIo, 2);  // memory decoding off
  EXPECT_EQ(passthrough.calls,
            (std::vector<std::string>{"unmap_mmio 0xe0100000 host=0xfe000000 len=0x2000",
                                      "unmap_mmio 0xe0103000 host=0xfe003000 len=0x1000"}));
  EXPECT_EQ(device.moves.back(), (std::pair<uint64_t, uint64_t>{0xe0100000, BarInfo::kUnmapped}));
  EXPECT_EQ(dispatcher.mmio_read(0xe0102000 + kMsixEntryData, 4), 0xffffffffu);
}

TEST_F(PassthroughSeamsTest, RefusedDirectMappingIsTrapped) {
  passthrough.refuse = true;
  place_bar0(0xe0000000);
  EXPECT_EQ(device.moves.size(), 1u);
  EXPECT_EQ(dispatcher.mmio_read(0xe0001010, 4), 0x5a5au);
  EXPECT_EQ(dispatcher.mmio_read(0xe0003ffc, 4), 0x5a5au);
  EXPECT_EQ(device.host_bar_log, (std::vector<std::string>{"read 0x1010", "read 0x3ffc"}));
  // The BAR leaves cleanly: nothing direct to undo, the trapped pieces are gone.
  device.reset();
  EXPECT_TRUE(passthrough.calls.empty());
  EXPECT_EQ(dispatcher.mmio_read(0xe0001010, 4), 0xffffffffu);
  EXPECT_EQ(device.moves.back(), (std::pair<uint64_t, uint64_t>{0xe0000000, BarInfo::kUnmapped}));
}

TEST_F(PassthroughSeamsTest, IoHostBarMapsPortsAndUnrealizeUndoesEverything) {
  write(kBar0 + 4, 0xc100);
  write(kBar0, 0xe0000000);
  write(kCommand, kCommandIo | kCommandMemory, 2);
  EXPECT_NE(std::find(passthrough.calls.begin(), passthrough.calls.end(),
                      "map_ports 0xc100 host=0xc000 count=32"),
            passthrough.calls.end());
  passthrough.calls.clear();
  device.unrealize();
  EXPECT_EQ(passthrough.calls,
            (std::vector<std::string>{"unmap_mmio 0xe0000000 host=0xfe000000 len=0x2000",
                                      "unmap_mmio 0xe0003000 host=0xfe003000 len=0x1000",
                                      "unmap_ports 0xc100 host=0xc000 count=32"}));
  EXPECT_EQ(device.moves.back(), (std::pair<uint64_t, uint64_t>{0xe0000000, BarInfo::kUnmapped}));
}

TEST(HostBarMapper, SubPageBarIsTrappedWhole) {
  HostRam ram{RamLayout::pc(16 << 20)};
  Dispatcher dispatcher{&ram};
  FakePassthrough passthrough;
  RecordingDevice trap;
  HostBarMapper bar(
      false, 0x100,
      {.passthrough = &passthrough, .region = {kHostBar0, nullptr, 0x100}, .trap = &trap});
  bar.place(dispatcher, 0xe0000000, "sub-page");
  EXPECT_TRUE(passthrough.calls.empty());
  dispatcher.mmio_write(0xe00000f0, 4, 7);
  EXPECT_EQ(trap.log, (std::vector<RecordingDevice::Access>{{true, 0xf0, 4, 7}}));
}

class MsiListenerTest : public PassthroughSeamsTest {
 protected:
  void SetUp() override {
    PassthroughSeamsTest::SetUp();
    for (uint8_t cap = device.config().get8(kCapabilitiesPointer); cap;
         cap = device.config().get8(cap + 1u)) {
      if (device.config().get8(cap) == kCapMsi) msi = cap;
      if (device.config().get8(cap) == kCapMsix) msix = cap;
    }
    device.msi()->set_listener(&msi_events);
    device.msix()->set_listener(&msix_events);
    place_bar0(0xe0000000);
  }
  void msix_entry(unsigned vector, uint32_t reg, uint32_t value) {
    dispatcher.mmio_write(0xe0000000 + kMsixTable + vector * kMsixEntrySize + reg, 4, value);
  }
  uint8_t msi = 0, msix = 0;
  RecordingListener msi_events, msix_events;
};

TEST_F(MsiListenerTest, MsiProgramMaskUnmaskDisable) {
  uint32_t data = msi + 0x0c, mask = msi + 0x10;  // 64-bit, maskable layout
  write(msi + kMsiAddressLow, 0xfee01000);
  write(data, 0x4041, 2);
  EXPECT_TRUE(msi_events.take().empty());  // not enabled: nothing is live
  write(mask, 0b0010);
  // Enable with four vectors: each reported with the vector in the low data bits.
  write(msi + kMsiControl, kMsiControlEnable | 2 << kMsiControlMmeShift, 2);
  EXPECT_EQ(msi_events.take(),
            (std::vector<std::string>{
                "programmed 0 0xfee01000/0x4040", "programmed 1 0xfee01000/0x4041 masked",
                "programmed 2 0xfee01000/0x4042", "programmed 3 0xfee01000/0x4043"}));
  write(mask, 0b1000);
  EXPECT_EQ(msi_events.take(), (std::vector<std::string>{"unmasked 1", "masked 3"}));
  write(data, 0x4061, 2);
  EXPECT_EQ(msi_events.take(),
            (std::vector<std::string>{
                "programmed 0 0xfee01000/0x4060", "programmed 1 0xfee01000/0x4061",
                "programmed 2 0xfee01000/0x4062", "programmed 3 0xfee01000/0x4063 masked"}));
  write(msi + kMsiControl, 0, 2);
  EXPECT_EQ(msi_events.take(), std::vector<std::string>{"disabled"});
  write(msi + kMsiControl, kMsiControlEnable, 2);
  EXPECT_EQ(msi_events.take(), std::vector<std::string>{"programmed 0 0xfee01000/0x4061"});
  device.reset();
  EXPECT_EQ(msi_events.take(), std::vector<std::string>{"disabled"});
  EXPECT_TRUE(msix_events.take().empty());
}

TEST_F(MsiListenerTest, MsixProgramVectorMaskAndFunctionMask) {
  msix_entry(0, kMsixEntryAddressLow, 0xfee02000);
  EXPECT_TRUE(msix_events.take().empty());
  write(msix + kMsixControl, kMsixControlEnable, 2);
  // Every vector starts masked after reset.
  EXPECT_EQ(msix_events.take(), (std::vector<std::string>{"programmed 0 0xfee02000/0 masked",
                                                          "programmed 1 0/0 masked"}));
  msix_entry(0, kMsixEntryData, 0x4071);
  msix_entry(0, kMsixEntryControl, 0);
  msix_entry(1, kMsixEntryControl, 1);  // stays masked: no change, no event
  EXPECT_EQ(msix_events.take(),
            (std::vector<std::string>{"programmed 0 0xfee02000/0x4071 masked", "unmasked 0"}));
  // The function mask masks every vector not already masked by its own bit.
  write(msix + kMsixControl, kMsixControlEnable | kMsixControlFunctionMask, 2);
  EXPECT_EQ(msix_events.take(), std::vector<std::string>{"masked 0"});
  msix_entry(1, kMsixEntryControl, 0);  // under the function mask: still masked
  EXPECT_TRUE(msix_events.take().empty());
  write(msix + kMsixControl, kMsixControlEnable, 2);
  EXPECT_EQ(msix_events.take(), (std::vector<std::string>{"unmasked 0", "unmasked 1"}));
  // A qword write changes address and data of vector 1 in one access: one report.
  dispatcher.mmio_write(0xe0000000 + kMsixTable + kMsixEntrySize, 8, 0xfee03000);
  EXPECT_EQ(msix_events.take(), std::vector<std::string>{"programmed 1 0xfee03000/0"});
  write(msix + kMsixControl, 0, 2);
  EXPECT_EQ(msix_events.take(), std::vector<std::string>{"disabled"});
  write(msix + kMsixControl, kMsixControlEnable, 2);
  msix_events.take();
  device.reset();
  EXPECT_EQ(msix_events.take(), std::vector<std::string>{"disabled"});
}

// What passthrough/ will do with the events: route each vector through the transport.
TEST_F(MsiListenerTest, ListenerDrivesTheTransport) {
  struct Router final : MsiListener {
    HostPassthrough& pt;
    explicit Router(HostPassthrough& p) : pt(p) {}
    HostMsiVector vector(unsigned v) { return {.msix = true, .entry = v}; }
    MsiMessage last[2];
    void vector_programmed(unsigned v, const MsiMessage& m, bool masked) override {
      last[v] = m;
      (void)pt.route_msi(vector(v), m, masked);
    }
    void vector_masked(unsigned v, bool masked) override {
      (void)pt.route_msi(vector(v), last[v], masked);
    }
    void vectors_disabled() override {
      for (unsigned v = 0; v < 2; ++v) (void)pt.unroute_msi(vector(v));
    }
  } router(passthrough);
  device.msix()->set_listener(&router);
  passthrough.calls.clear();
  write(msix + kMsixControl, kMsixControlEnable, 2);
  msix_entry(0, kMsixEntryAddressLow, 0xfee00000);
  msix_entry(0, kMsixEntryData, 0x4022);
  msix_entry(0, kMsixEntryControl, 0);
  write(msix + kMsixControl, 0, 2);
  EXPECT_EQ(passthrough.calls,
            (std::vector<std::string>{
                "route_msi 0 0/0 masked", "route_msi 1 0/0 masked",
                "route_msi 0 0xfee00000/0 masked", "route_msi 0 0xfee00000/0x4022 masked",
                "route_msi 0 0xfee00000/0x4022", "unroute_msi 0", "unroute_msi 1"}));
}

}  // namespace
}  // namespace hvmd::test
