// Device memory mapped whole and through banked windows: the bytes an access reaches, bank
// switches at run time, and what a transport's listener is told.
#include "dm/device_memory.h"

#include <gtest/gtest.h>

#include <tuple>
#include <vector>

#include "dm/dispatcher.h"
#include "dm/guest_memory.h"

namespace hvmd::test {
namespace {

constexpr uint64_t kPage = DirtyBitmap::kPageSize;
constexpr uint64_t kWindow = 0xa0000;

class MemoryListener final : public MappingListener {
 public:
  using Event = std::tuple<uint64_t, uint64_t, uint64_t, bool>;  // offset, length, base, mapped
  void ports_changed(uint64_t, uint64_t, bool) override {}
  void mmio_changed(uint64_t, uint64_t, bool) override {}
  void pci_changed(PciAddress, bool) override {}
  void memory_changed(DeviceMemory&, uint64_t offset, uint64_t length, uint64_t base,
                      bool mapped) override {
    events.push_back({offset, length, base, mapped});
  }
  std::vector<Event> events;
};

class BankedMemoryTest : public ::testing::Test {
 protected:
  BankedMemoryTest() {
    for (uint64_t bank = 0; bank < 4; ++bank) vram.host_data()[bank * 2 * kPage] = 0x10 + bank;
    dispatcher.set_listener(&listener);
  }
  HostRam ram{RamLayout::pc(16 << 20)};
  Dispatcher dispatcher{&ram};
  DeviceMemory vram{"vram", 8 * kPage, DeviceMemory::Access::kReadWrite};
  MemoryListener listener;
};

TEST_F(BankedMemoryTest, WindowReachesTheBytesAtItsOffset) {
  auto id = dispatcher.map_memory(kWindow, 2 * kPage, &vram, "window", 4 * kPage);
  ASSERT_NE(id, Dispatcher::kNoMapping);
  EXPECT_EQ(dispatcher.mmio_read(kWindow, 1), 0x12u);
  dispatcher.mmio_write(kWindow + kPage + 8, 4, 0xdeadbeef);
  EXPECT_EQ(vram.host_data()[5 * kPage + 8], 0xef);
  EXPECT_EQ(vram.collect_dirty(), (std::vector<bool>{0, 0, 0, 0, 0, 1, 0, 0}));
  // The window ends where it was mapped, not where the memory ends.
  EXPECT_EQ(dispatcher.mmio_read(kWindow + 2 * kPage, 1), 0xffu);
}

TEST_F(BankedMemoryTest, BankSwitchMovesTheWindowAndTellsTheListener) {
  auto id = dispatcher.map_memory(kWindow, 2 * kPage, &vram, "window");
  EXPECT_EQ(dispatcher.mmio_read(kWindow, 1), 0x10u);
  ASSERT_TRUE(dispatcher.set_memory_offset(id, 6 * kPage));
  EXPECT_EQ(dispatcher.mmio_read(kWindow, 1), 0x13u);
  dispatcher.mmio_write(kWindow + 1, 1, 0x55);
  EXPECT_EQ(vram.host_data()[6 * kPage + 1], 0x55);
  EXPECT_EQ(dispatcher.mappings()[id].offset, 6 * kPage);
  using E = MemoryListener::Event;
  EXPECT_EQ(listener.events, (std::vector<E>{{0, 2 * kPage, kWindow, true},
                                             {0, 2 * kPage, kWindow, false},
                                             {6 * kPage, 2 * kPage, kWindow, true}}));
  // The same bank again changes nothing and tells nobody.
  EXPECT_TRUE(dispatcher.set_memory_offset(id, 6 * kPage));
  EXPECT_EQ(listener.events.size(), 3u);
}

TEST_F(BankedMemoryTest, WindowsOutsideTheMemoryAreRefused) {
  EXPECT_EQ(dispatcher.map_memory(kWindow, 2 * kPage, &vram, "w", 7 * kPage),
            Dispatcher::kNoMapping);
  EXPECT_EQ(dispatcher.map_memory(kWindow, 2 * kPage, &vram, "w", ~0ull - kPage),
            Dispatcher::kNoMapping);
  auto id = dispatcher.map_memory(kWindow, 2 * kPage, &vram, "window", 2 * kPage);
  // A bank past the end (as a hostile bank register would ask for) leaves the window as it was.
  EXPECT_FALSE(dispatcher.set_memory_offset(id, 7 * kPage));
  EXPECT_FALSE(dispatcher.set_memory_offset(id, ~0ull));
  EXPECT_EQ(dispatcher.mmio_read(kWindow, 1), 0x11u);
  // Only device-memory mappings have an offset.
  DeviceMemory other("other", kPage, DeviceMemory::Access::kReadWrite);
  auto mmio = dispatcher.map_mmio(0xf0000000, kPage, &other, "plain");
  EXPECT_FALSE(dispatcher.set_memory_offset(mmio, 0));
  EXPECT_FALSE(dispatcher.set_memory_offset(Dispatcher::kNoMapping, 0));
}

TEST_F(BankedMemoryTest, FramebufferAndWindowShareTheBytes) {
  auto lfb = dispatcher.map_memory(0xe0000000, vram.size(), &vram, "lfb");
  auto window = dispatcher.map_memory(kWindow, 2 * kPage, &vram, "window", 2 * kPage);
  dispatcher.mmio_write(kWindow + 3, 1, 0x77);
  EXPECT_EQ(dispatcher.mmio_read(0xe0000000 + 2 * kPage + 3, 1), 0x77u);
  // Moving and unmapping either leaves the other working.
  dispatcher.move(lfb, 0xe1000000);
  dispatcher.unmap(window);
  EXPECT_EQ(dispatcher.mmio_read(0xe1000000 + 2 * kPage + 3, 1), 0x77u);
  EXPECT_EQ(dispatcher.mmio_read(kWindow + 3, 1), 0xffu);
}

}  // namespace
}  // namespace hvmd::test
