#include "dm/dispatcher.h"

#include <gtest/gtest.h>

#include "tests/unit/test_devices.h"

namespace hvmd::test {
namespace {

using Access = RecordingDevice::Access;

class DispatcherTest : public ::testing::Test {
 protected:
  HostRam ram{RamLayout::pc(16 << 20)};
  Dispatcher dispatcher{&ram};
  RecordingDevice device;
};

TEST_F(DispatcherTest, PortAccessReachesTheRegionAtItsOffset) {
  dispatcher.map_ports(0x1f0, 8, &device, "dev");
  IoRequest w{.addr = 0x1f2, .data = 0xab, .size = 1, .is_write = true};
  dispatcher.handle(w);
  IoRequest r{.addr = 0x1f4, .size = 2};
  dispatcher.handle(r);
  EXPECT_EQ(device.log, (std::vector<Access>{{true, 2, 1, 0xab}, {false, 4, 2, 0x1004}}));
  EXPECT_EQ(r.data, 0x1004u);
}

TEST_F(DispatcherTest, UnclaimedReadsAreAllOnesAndWritesAreDropped) {
  IoRequest r{.addr = 0x80, .size = 4};
  dispatcher.handle(r);
  EXPECT_EQ(r.data, 0xffffffffu);
  IoRequest m{.addr = 0xfe000000, .size = 8, .kind = IoKind::kMmio};
  dispatcher.handle(m);
  EXPECT_EQ(m.data, ~0ull);
  IoRequest p{
      .addr = PciAddress::make(0, 3, 0).config_addr(0), .size = 4, .kind = IoKind::kPciConfig};
  dispatcher.handle(p);
  EXPECT_EQ(p.data, 0xffffffffu);
}

TEST_F(DispatcherTest, ReadResultIsTruncatedToTheAccessSize) {
  device.next_read_value = 0x1122334455667788;
  dispatcher.map_ports(0x60, 1, &device, "dev");
  EXPECT_EQ(dispatcher.port_read(0x60, 1), 0x88u);
}

TEST_F(DispatcherTest, AccessRunningPastARegionIsSplitIntoBytes) {
  RecordingDevice second;
  dispatcher.map_ports(0x100, 2, &device, "a");
  dispatcher.map_ports(0x102, 2, &second, "b");
  dispatcher.port_write(0x101, 2, 0xbbaa);
  EXPECT_EQ(device.log, (std::vector<Access>{{true, 1, 1, 0xaa}}));
  EXPECT_EQ(second.log, (std::vector<Access>{{true, 0, 1, 0xbb}}));
}

TEST_F(DispatcherTest, NewestMappingWinsAndUnmapRevealsTheOlder) {
  RecordingDevice newer;
  auto a = dispatcher.map_mmio(0xf0000000, 0x1000, &device, "old");
  auto b = dispatcher.map_mmio(0xf0000800, 0x1000, &newer, "new");
  dispatcher.mmio_write(0xf0000900, 4, 1);
  dispatcher.mmio_write(0xf0000100, 4, 2);
  EXPECT_EQ(newer.log, (std::vector<Access>{{true, 0x100, 4, 1}}));
  dispatcher.unmap(b);
  dispatcher.mmio_write(0xf0000900, 4, 3);
  EXPECT_EQ(device.log.back(), (Access{true, 0x900, 4, 3}));
  dispatcher.unmap(a);
  EXPECT_EQ(dispatcher.mmio_read(0xf0000900, 4), 0xffffffffu);
}

TEST_F(DispatcherTest, AnOverlayWinsWhateverTheOrder) {
  // The reset control register 0xcf9 inside the host bridge's 0xcf8-0xcff, mapped before or after.
  for (bool overlay_first : {true, false}) {
    Dispatcher d{&ram};
    RecordingDevice bridge, reset;
    auto map_bridge = [&] { d.map_ports(0xcf8, 8, &bridge, "pci-config"); };
    if (!overlay_first) map_bridge();
    d.map_ports(0xcf9, 1, &reset, "reset-control", Claim::kOverlay);
    if (overlay_first) map_bridge();
    d.port_write(0xcf9, 1, 0x06);
    d.port_write(0xcf8, 4, 0x80000000);  // CONFIG_ADDRESS: the bridge, whole
    EXPECT_EQ(reset.log, (std::vector<Access>{{true, 0, 1, 0x06}})) << overlay_first;
    EXPECT_EQ(bridge.log, (std::vector<Access>{{true, 0, 4, 0x80000000}})) << overlay_first;
  }
}

TEST_F(DispatcherTest, ScopedMappingsAreReleasedWithTheirOwner) {
  {
    ScopedMapping owned(dispatcher, dispatcher.map_ports(0x60, 1, &device, "dev"));
    ScopedMapping moved = std::move(owned);
    EXPECT_EQ(owned.id(), Dispatcher::kNoMapping);
    dispatcher.port_write(0x60, 1, 1);
    EXPECT_EQ(device.log.size(), 1u);
  }
  dispatcher.port_write(0x60, 1, 2);
  EXPECT_EQ(device.log.size(), 1u) << "gone with its owner";
  for (const auto& m : dispatcher.mappings()) EXPECT_EQ(m.sequence, 0u);
}

TEST_F(DispatcherTest, HostBufferStringIoIsUnrolledInAccessOrder) {
  // KVM's string I/O: the items are in the vCPU's shared page, never in guest RAM.
  dispatcher.map_ports(0x1f0, 8, &device, "dev");
  uint16_t out[3] = {0x1111, 0x2222, 0x3333};
  IoRequest w{.addr = 0x1f0,
              .count = 3,
              .size = 2,
              .is_write = true,
              .df = true,  // ignored: the buffer is in access order
              .host_buffer = reinterpret_cast<uint8_t*>(out)};
  dispatcher.handle(w);
  EXPECT_EQ(device.log, (std::vector<Access>{
                            {true, 0, 2, 0x1111}, {true, 0, 2, 0x2222}, {true, 0, 2, 0x3333}}));
  device.log.clear();
  uint16_t in[2] = {};
  IoRequest r{.addr = 0x1f0, .count = 2, .size = 2, .host_buffer = reinterpret_cast<uint8_t*>(in)};
  dispatcher.handle(r);
  EXPECT_EQ(in[0], 0x1000u);
  EXPECT_EQ(in[1], 0x1000u);
  EXPECT_EQ(device.log.size(), 2u);
}

TEST_F(DispatcherTest, MoveRelocatesARegion) {
  auto id = dispatcher.map_mmio(0xe0000000, 0x100, &device, "bar");
  dispatcher.move(id, 0xe1000000);
  EXPECT_EQ(dispatcher.mmio_read(0xe0000000, 4), 0xffffffffu);
  EXPECT_EQ(dispatcher.mmio_read(0xe1000010, 4), 0x1010u);
  auto port = dispatcher.map_ports(0xc000, 0x10, &device, "io");
  dispatcher.move(port, 0xd000);
  EXPECT_EQ(dispatcher.port_read(0xc000, 1), 0xffu);
  EXPECT_EQ(dispatcher.port_read(0xd004, 1), 0x04u);  // 0x1004 truncated to a byte
  // A move that would leave port space is refused and the region stays.
  dispatcher.move(port, 0xfffc);
  EXPECT_EQ(dispatcher.port_read(0xd004, 1), 0x04u);
}

TEST_F(DispatcherTest, RejectsRegionsOutsidePortSpace) {
  EXPECT_EQ(dispatcher.map_ports(0xfff0, 0x20, &device, "x"), Dispatcher::kNoMapping);
  EXPECT_EQ(dispatcher.map_ports(0x10, 0, &device, "x"), Dispatcher::kNoMapping);
  EXPECT_EQ(dispatcher.map_mmio(~0ull - 4, 0x10, &device, "x"), Dispatcher::kNoMapping);
}

TEST_F(DispatcherTest, RepInsWriteGuestRamUpwardsAndDownwards) {
  device.next_read_value = 1;
  dispatcher.map_ports(0x1f0, 2, &device, "data");
  IoRequest up{.addr = 0x1f0, .data = 0x1000, .count = 3, .size = 2, .data_is_ptr = true};
  dispatcher.handle(up);
  uint16_t words[3];
  ASSERT_TRUE(ram.read(0x1000, words, sizeof(words)));
  EXPECT_EQ(words[0], 1);
  EXPECT_EQ(words[1], 2);
  EXPECT_EQ(words[2], 3);
  IoRequest down{
      .addr = 0x1f0, .data = 0x2004, .count = 3, .size = 2, .df = true, .data_is_ptr = true};
  dispatcher.handle(down);
  ASSERT_TRUE(ram.read(0x2000, words, sizeof(words)));
  EXPECT_EQ(words[2], 4);  // first item at the pointer, then downwards
  EXPECT_EQ(words[1], 5);
  EXPECT_EQ(words[0], 6);
}

TEST_F(DispatcherTest, RepOutsReadGuestRam) {
  dispatcher.map_ports(0x3f8, 1, &device, "uart");
  const uint8_t text[] = {'h', 'v', 'm'};
  ASSERT_TRUE(ram.write(0x3000, text, 3));
  IoRequest r{
      .addr = 0x3f8, .data = 0x3000, .count = 3, .size = 1, .is_write = true, .data_is_ptr = true};
  dispatcher.handle(r);
  EXPECT_EQ(device.log,
            (std::vector<Access>{{true, 0, 1, 'h'}, {true, 0, 1, 'v'}, {true, 0, 1, 'm'}}));
}

TEST_F(DispatcherTest, RepStosToMmioStepsTheDeviceAddress) {
  dispatcher.map_mmio(0xfebf0000, 0x100, &device, "regs");
  IoRequest r{.addr = 0xfebf0010,
              .data = 0x55,
              .count = 3,
              .size = 4,
              .kind = IoKind::kMmio,
              .is_write = true,
              .df = true};
  dispatcher.handle(r);
  EXPECT_EQ(device.log, (std::vector<Access>{
                            {true, 0x10, 4, 0x55}, {true, 0x0c, 4, 0x55}, {true, 0x08, 4, 0x55}}));
}

TEST_F(DispatcherTest, RepMovsFromMmioToRam) {
  device.next_read_value = 0x10;
  dispatcher.map_mmio(0xfebf0000, 0x100, &device, "regs");
  IoRequest r{.addr = 0xfebf0000,
              .data = 0x4000,
              .count = 2,
              .size = 8,
              .kind = IoKind::kMmio,
              .data_is_ptr = true};
  dispatcher.handle(r);
  uint64_t q[2];
  ASSERT_TRUE(ram.read(0x4000, q, sizeof(q)));
  EXPECT_EQ(q[0], 0x10u);
  EXPECT_EQ(q[1], 0x11u);
  EXPECT_EQ(device.log[1].offset, 8u);
}

TEST_F(DispatcherTest, DataPointerOutsideRamIsNeverDereferenced) {
  dispatcher.map_ports(0x1f0, 2, &device, "data");
  // Pointer into the VGA hole, past the end of RAM, and wrapping around the address space.
  for (uint64_t bad : {0xa0000ull, 16ull << 20, ~0ull - 1}) {
    IoRequest in{.addr = 0x1f0, .data = bad, .count = 4, .size = 2, .data_is_ptr = true};
    dispatcher.handle(in);
    IoRequest out{
        .addr = 0x1f0, .data = bad, .count = 1, .size = 2, .is_write = true, .data_is_ptr = true};
    dispatcher.handle(out);
  }
  // Reads happened (the device cannot know where the CPU will store them); writes, whose source
  // is not RAM, did not reach the device, and each request stopped at its first bad item.
  EXPECT_EQ(device.log.size(), 3u);
  for (const auto& access : device.log) EXPECT_FALSE(access.is_write);
}

TEST_F(DispatcherTest, HugeRepCountIsBounded) {
  dispatcher.map_ports(0x1f0, 1, &device, "data");
  IoRequest r{.addr = 0x1f0, .data = 0x1000, .count = 0xffffffff, .size = 4, .data_is_ptr = true};
  dispatcher.handle(r);
  EXPECT_EQ(device.log.size(), Dispatcher::kMaxRepBytes / 4);
  // A buffer that starts in RAM and runs off its end: the items in RAM are done, then it stops.
  device.log.clear();
  IoRequest edge{.addr = 0x1f0, .data = (16 << 20) - 8, .count = 4, .size = 4, .data_is_ptr = true};
  dispatcher.handle(edge);
  EXPECT_EQ(device.log.size(), 3u);
}

TEST_F(DispatcherTest, InvalidSizesAreDropped) {
  dispatcher.map_ports(0x1f0, 8, &device, "data");
  IoRequest odd{.addr = 0x1f0, .size = 3};
  dispatcher.handle(odd);
  IoRequest port_quad{.addr = 0x1f0, .size = 8};
  dispatcher.handle(port_quad);
  EXPECT_TRUE(device.log.empty());
  EXPECT_EQ(odd.data, ~0ull);
}

class ConfigRecorder final : public PciConfigTarget {
 public:
  uint32_t config_read(uint32_t reg, unsigned size) override { return reg * 0x10 + size; }
  void config_write(uint32_t reg, unsigned size, uint32_t value) override {
    writes.push_back({reg, size, value});
  }
  std::vector<std::tuple<uint32_t, unsigned, uint32_t>> writes;
};

TEST_F(DispatcherTest, PciConfigRequestsDecodeBdfAndRegister) {
  ConfigRecorder target;
  PciAddress address = PciAddress::make(0, 4, 2);
  dispatcher.map_pci(address, &target);
  IoRequest r{.addr = address.config_addr(0x3c), .size = 1, .kind = IoKind::kPciConfig};
  dispatcher.handle(r);
  EXPECT_EQ(r.data, 0x3c1u);
  // Config data from a guest pointer (Xen may send it that way).
  uint32_t value = 0xcafe;
  ASSERT_TRUE(ram.write(0x5000, &value, 4));
  IoRequest w{.addr = address.config_addr(0x10),
              .data = 0x5000,
              .size = 4,
              .kind = IoKind::kPciConfig,
              .is_write = true,
              .data_is_ptr = true};
  dispatcher.handle(w);
  ASSERT_EQ(target.writes.size(), 1u);
  EXPECT_EQ(target.writes[0], std::make_tuple(0x10u, 4u, 0xcafeu));
  // Beyond the 256-byte space: unclaimed.
  IoRequest far{.addr = address.config_addr(0x100), .size = 4, .kind = IoKind::kPciConfig};
  dispatcher.handle(far);
  EXPECT_EQ(far.data, 0xffffffffu);
  dispatcher.unmap_pci(address);
  EXPECT_EQ(dispatcher.pci_read(address, 0, 4), 0xffffffffu);
}

class RecordingListener final : public MappingListener {
 public:
  void ports_changed(uint64_t base, uint64_t length, bool mapped) override {
    events.push_back({'p', base, length, mapped});
  }
  void mmio_changed(uint64_t base, uint64_t length, bool mapped) override {
    events.push_back({'m', base, length, mapped});
  }
  void pci_changed(PciAddress address, bool mapped) override {
    events.push_back({'c', address.devfn, 0, mapped});
  }
  std::vector<std::tuple<char, uint64_t, uint64_t, bool>> events;
};

TEST_F(DispatcherTest, ListenerSeesEveryChange) {
  RecordingListener listener;
  dispatcher.set_listener(&listener);
  auto id = dispatcher.map_mmio(0xf0000000, 0x1000, &device, "bar");
  dispatcher.move(id, 0xf1000000);
  dispatcher.unmap(id);
  dispatcher.map_ports(0x60, 1, &device, "kbd");
  EXPECT_EQ(listener.events, (std::vector<std::tuple<char, uint64_t, uint64_t, bool>>{
                                 {'m', 0xf0000000, 0x1000, true},
                                 {'m', 0xf0000000, 0x1000, false},
                                 {'m', 0xf1000000, 0x1000, true},
                                 {'m', 0xf1000000, 0x1000, false},
                                 {'p', 0x60, 1, true}}));
}

// qtest reaches RAM itself unless an over-RAM mapping (the PAM-routed BIOS area) decodes there.
TEST_F(DispatcherTest, OverRamCoversExactlyTheOverRamMappingsStillMapped) {
  RecordingDevice bar;
  dispatcher.map_mmio(0xe0000, 0x4000, &device, "pam", Claim::kOverRam);
  auto high = dispatcher.map_mmio(0xf0000, 0x10000, &device, "pam-high", Claim::kOverRam);
  dispatcher.map_mmio(0xfebf0000, 0x1000, &bar, "bar");
  EXPECT_FALSE(dispatcher.over_ram(0xdf000, 0x1000));  // ends where the first starts
  EXPECT_TRUE(dispatcher.over_ram(0xdffff, 2));        // its last byte is the first's
  EXPECT_TRUE(dispatcher.over_ram(0xe3fff, 1));
  EXPECT_FALSE(dispatcher.over_ram(0xe4000, 0xc000));     // the gap between the two
  EXPECT_TRUE(dispatcher.over_ram(0, UINT64_MAX));        // a range wrapping the address space
  EXPECT_FALSE(dispatcher.over_ram(0xfebf0000, 0x1000));  // a plain BAR is not over RAM
  dispatcher.unmap(high);
  EXPECT_FALSE(dispatcher.over_ram(0xf0000, 0x10000));
}

TEST(GuestMemory, PcLayoutLeavesTheVgaWindowAndPciHoleOut) {
  RamLayout small = RamLayout::pc(128 << 20);
  ASSERT_EQ(small.regions.size(), 2u);
  EXPECT_EQ(small.regions[0].size, 0xa0000u);
  EXPECT_EQ(small.regions[1].gpa, 0xc0000u);
  RamLayout big = RamLayout::pc(4ull << 30);
  EXPECT_EQ(big.below_4g, 0xc0000000u);
  EXPECT_EQ(big.above_4g, 1ull << 30);
  ASSERT_EQ(big.regions.size(), 3u);
  EXPECT_EQ(big.regions[2].gpa, 1ull << 32);

  HostRam ram(big);
  uint32_t v = 0x12345678;
  EXPECT_TRUE(ram.write((1ull << 32) + 16, &v, 4));
  uint32_t back = 0;
  EXPECT_TRUE(ram.read((1ull << 32) + 16, &back, 4));
  EXPECT_EQ(back, v);
  EXPECT_FALSE(ram.write(0xc0000000 - 2, &v, 4));  // runs into the PCI hole
  EXPECT_FALSE(ram.write(0x9fffe, &v, 4));         // runs into the VGA window
  EXPECT_TRUE(ram.map(0xd0000000, 1).empty());
}

}  // namespace
}  // namespace hvmd::test
