// Device memory under Xen (VRAM, option ROMs): the bytes are pages of the domain itself,
// populated in a private range above the guest's RAM while hvmd sets up, and mapped into hvmd.
// When the guest maps the region (a BAR is programmed), the pages are moved in the domain's
// memory map to that address, so the guest reaches them at memory speed without an ioreq; when
// the BAR moves or goes away, they move with it or back. The guest's writes to placed VRAM come
// from Xen's dirty-VRAM tracking. Where any step is refused (no pages left, set-up over, a
// region that is not whole pages), the region stays ordinary MMIO served through ioreqs.
#pragma once

#include <cstdint>
#include <optional>
#include <unordered_map>
#include <utility>

#include "dm/device_memory.h"
#include "ioreq/xen/xen_platform.h"

namespace hvmd::xen {

class XenDeviceMemory final : public DeviceMemoryBacking {
 public:
  static constexpr uint64_t kPageSize = 4096;
  XenDeviceMemory(XenPlatform& platform, uint64_t first_private_gfn)
      : platform_(platform), next_gfn_(first_private_gfn) {}

  // The private range starts above the guest's RAM, aligned to 1 GiB and never below 4 GiB.
  static uint64_t private_base_gfn(uint64_t ram_top);

  uint8_t* allocate(uint64_t size) override;
  void release(uint8_t* data, uint64_t size) override;
  void sync_dirty(DeviceMemory& memory) override;

  // The ioreq server's MappingListener::memory_changed lands here.
  void place(DeviceMemory& memory, uint64_t base, bool mapped);
  // Whether memory is now in the guest's memory map (and so no MMIO range of the ioreq server).
  bool placed(const DeviceMemory& memory) const;

 private:
  struct Block {
    uint64_t private_gfn;
    uint64_t pages;
    std::optional<uint64_t> placed_gfn;
  };
  const Block* find(const DeviceMemory& memory) const;
  Block* find(const DeviceMemory& memory) {
    return const_cast<Block*>(std::as_const(*this).find(memory));
  }

  XenPlatform& platform_;
  uint64_t next_gfn_;
  std::unordered_map<const uint8_t*, Block> blocks_;  // by host address
};

}  // namespace hvmd::xen
