// Device memory under Xen (VRAM, option ROMs): the bytes are pages of the domain itself,
// populated in a private range above the guest's RAM while hvmd sets up, and mapped into hvmd.
// When the guest maps the region (a BAR is programmed), the pages are moved in the domain's
// memory map to that address, so the guest reaches them at memory speed without an ioreq; when
// the BAR moves or goes away, they move with it or back. A mapping may cover part of the memory
// (a banked window onto VRAM): only its pages move, and a bank switch moves them back and the
// new bank's pages in. A page is in one place at a time in Xen's map, so a mapping whose pages
// are already placed elsewhere (the window's bank while the linear framebuffer BAR holds all of
// VRAM) is not placed. The guest's writes to placed VRAM come from Xen's dirty-VRAM tracking.
// Where any step is refused (no pages left, set-up over, a region that is not whole pages, pages
// placed elsewhere), the mapping stays ordinary MMIO served through ioreqs; hvmd's own view of
// the pages stays valid wherever they sit, so both paths see the same bytes.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <utility>
#include <vector>

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

  // The ioreq server's MappingListener::memory_changed lands here: bytes [offset, offset +
  // length) of memory mapped at base, or unmapped from there.
  void place(DeviceMemory& memory, uint64_t offset, uint64_t length, uint64_t base, bool mapped);
  // Whether the mapping of memory's bytes from offset at base is in the guest's memory map (and
  // so no MMIO range of the ioreq server).
  bool placed(const DeviceMemory& memory, uint64_t offset, uint64_t base) const;

 private:
  struct Placement {
    uint64_t first_page;  // within the block
    uint64_t pages;
    uint64_t gfn;  // where the guest sees them
  };
  struct Block {
    uint64_t private_gfn;
    uint64_t pages;
    std::vector<Placement> placed;  // non-overlapping
  };
  const Block* find(const DeviceMemory& memory) const;
  // Marks the pages the guest wrote in placement as dirty in memory; false if Xen could not say
  // (everything is marked then).
  bool harvest_dirty(DeviceMemory& memory, const Placement& placement);
  Block* find(const DeviceMemory& memory) {
    return const_cast<Block*>(std::as_const(*this).find(memory));
  }

  XenPlatform& platform_;
  uint64_t next_gfn_;
  std::unordered_map<const uint8_t*, Block> blocks_;  // by host address
};

}  // namespace hvmd::xen
