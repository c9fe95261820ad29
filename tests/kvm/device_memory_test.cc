// Device memory on the kvm runner: a region the guest maps becomes a memory slot, so guest writes
// land in the device's bytes without an exit and come back as dirty pages. A three-instruction
// "firmware" at the reset vector writes one byte into the VGA window.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "dm/clock.h"
#include "dm/device_memory.h"
#include "dm/dispatcher.h"
#include "dm/event_loop.h"
#include "ioreq/kvm/kvm_vm.h"

namespace hvmd::test {
namespace {

constexpr uint64_t kFirmwareBase = 0xffff0000;  // 64 KiB ending at 4 GiB: the reset vector's page
constexpr uint64_t kVgaWindow = 0xa0000;

TEST(KvmDeviceMemory, GuestWritesLandInDeviceMemoryAsDirtyPages) {
  int probe = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (probe < 0) GTEST_SKIP() << "/dev/kvm: " << strerror(errno);
  close(probe);
  auto vm = kvm::KvmVm::create();
  ASSERT_TRUE(vm.ok()) << vm.error().message;

  // Real mode at reset runs from 0xfffffff0: mov ax, 0xa000; mov ds, ax;
  // mov byte [0x1234], 0x5a; hlt.
  constexpr uint8_t kCode[] = {0xb8, 0x00, 0xa0, 0x8e, 0xd8, 0xc6, 0x06, 0x34, 0x12, 0x5a, 0xf4};
  void* firmware =
      mmap(nullptr, 0x10000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(firmware, MAP_FAILED);
  std::memcpy(static_cast<uint8_t*>(firmware) + 0xfff0, kCode, sizeof(kCode));
  ASSERT_TRUE((*vm)->map_memory(kFirmwareBase, 0x10000, firmware, /*read_only=*/true).ok());

  Dispatcher dispatcher(nullptr);
  dispatcher.set_listener(vm->get());
  DeviceMemory vram("vram", 0x20000, DeviceMemory::Access::kReadWrite, vm->get());
  ASSERT_EQ(vram.backing(), vm->get());
  dispatcher.map_memory(kVgaWindow, vram.size(), &vram, "vga-window");
  (void)vram.collect_dirty();

  Clock clock(Clock::Mode::kHost);
  EventLoop loop(clock);
  ASSERT_TRUE(loop.init().ok());
  std::mutex device_lock;
  ASSERT_TRUE((*vm)->create_vcpus(1).ok());
  (*vm)->start(
      dispatcher, loop, device_lock, [] {}, [](std::string message) { ADD_FAILURE() << message; });
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (vram.host_data()[0x1234] != 0x5a && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  (*vm)->stop();

  EXPECT_EQ(vram.host_data()[0x1234], 0x5a);
  EXPECT_EQ((*vm)->exits(), 0u) << "the write went to memory, not through an exit";
  std::vector<bool> dirty = vram.collect_dirty();
  ASSERT_EQ(dirty.size(), 32u);
  for (size_t page = 0; page < dirty.size(); ++page)
    EXPECT_EQ(dirty[page], page == 1) << "page " << page;
  EXPECT_EQ(vram.collect_dirty(), std::vector<bool>(32, false)) << "fetching clears";
  munmap(firmware, 0x10000);
}

}  // namespace
}  // namespace hvmd::test
