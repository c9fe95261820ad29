#include "ioreq/xen/xen_device_memory.h"

#include <algorithm>

#include "dm/log.h"

namespace hvmd::xen {
namespace {

uint64_t pages_of(uint64_t bytes) {
  return (bytes + XenDeviceMemory::kPageSize - 1) / XenDeviceMemory::kPageSize;
}

}  // namespace

uint64_t XenDeviceMemory::private_base_gfn(uint64_t ram_top) {
  constexpr uint64_t kGiB = 1ull << 30;
  uint64_t top = std::max<uint64_t>(ram_top, 4 * kGiB);
  return ((top + kGiB - 1) & ~(kGiB - 1)) / kPageSize;
}

uint8_t* XenDeviceMemory::allocate(uint64_t size) {
  uint64_t pages = pages_of(size);
  if (pages == 0) return nullptr;
  if (auto populated = platform_.populate(next_gfn_, pages); !populated) {
    HVMD_WARN("device memory of %llu KiB served as MMIO: %s",
              static_cast<unsigned long long>(size >> 10), populated.error().message.c_str());
    return nullptr;
  }
  auto* data = static_cast<uint8_t*>(platform_.map_guest(next_gfn_, pages));
  if (!data) {
    HVMD_WARN("cannot map device memory at gfn %#llx", static_cast<unsigned long long>(next_gfn_));
    return nullptr;  // the pages stay with the domain until it is destroyed
  }
  blocks_[data] = {next_gfn_, pages, {}};
  next_gfn_ += pages;
  return data;
}

void XenDeviceMemory::release(uint8_t* data, uint64_t) {
  auto it = blocks_.find(data);
  if (it == blocks_.end()) return;
  // The pages belong to the domain and go with it; hvmd only drops its view.
  platform_.unmap_guest(data, it->second.pages);
  blocks_.erase(it);
}

const XenDeviceMemory::Block* XenDeviceMemory::find(const DeviceMemory& memory) const {
  if (memory.backing() != this) return nullptr;
  auto it = blocks_.find(memory.host_data().data());
  return it == blocks_.end() ? nullptr : &it->second;
}

bool XenDeviceMemory::placed(const DeviceMemory& memory, uint64_t offset, uint64_t base) const {
  const Block* block = find(memory);
  if (!block) return false;
  for (const Placement& p : block->placed)
    if (p.first_page * kPageSize == offset && p.gfn * kPageSize == base) return true;
  return false;
}

void XenDeviceMemory::place(DeviceMemory& memory, uint64_t offset, uint64_t length, uint64_t base,
                            bool mapped) {
  Block* block = find(memory);
  if (!block || base % kPageSize || offset % kPageSize) return;  // stays MMIO
  uint64_t first = offset / kPageSize;
  uint64_t pages = pages_of(length);
  if (first > block->pages || pages > block->pages - first || pages == 0) return;
  uint64_t gfn = base / kPageSize;
  auto& placed = block->placed;
  if (mapped) {
    for (const Placement& p : placed)
      if (first < p.first_page + p.pages && p.first_page < first + pages) return;  // elsewhere
    if (auto moved = platform_.relocate(block->private_gfn + first, gfn, pages); !moved) {
      HVMD_WARN("%s at %#llx served as MMIO: %s", memory.name().c_str(),
                static_cast<unsigned long long>(base), moved.error().message.c_str());
      return;
    }
    placed.push_back({first, pages, gfn});
    return;
  }
  auto it = std::find_if(placed.begin(), placed.end(), [&](const Placement& p) {
    return p.first_page == first && p.pages == pages && p.gfn == gfn;
  });
  if (it == placed.end()) return;  // this mapping was served as MMIO
  // The guest's writes since the last sync would be lost with the placement: keep them.
  harvest_dirty(memory, *it);
  if (auto moved = platform_.relocate(gfn, block->private_gfn + first, pages); !moved)
    HVMD_WARN("cannot take %s back from %#llx: %s", memory.name().c_str(),
              static_cast<unsigned long long>(base), moved.error().message.c_str());
  placed.erase(it);
}

bool XenDeviceMemory::harvest_dirty(DeviceMemory& memory, const Placement& placement) {
  std::vector<uint64_t> bitmap;
  if (auto r = platform_.dirty_pages(placement.gfn, placement.pages, bitmap); !r) {
    HVMD_WARN("dirty VRAM tracking failed, redrawing all of %s: %s", memory.name().c_str(),
              r.error().message.c_str());
    memory.dirty().mark_all();
    return false;
  }
  for (uint64_t page = 0; page < placement.pages; ++page)
    if (bitmap[page / 64] >> (page % 64) & 1)
      memory.dirty().mark((placement.first_page + page) * kPageSize, kPageSize);
  return true;
}

// Xen tracks dirty VRAM for one range at a time, so with several placements of one memory (not a
// case the VGA cards produce: their window is refused while the framebuffer BAR holds the pages)
// each call moves Xen's tracking to that range (what it reports for a range it has just started
// tracking is what Xen decides; not a case that arises today).
void XenDeviceMemory::sync_dirty(DeviceMemory& memory) {
  Block* block = find(memory);
  if (!block) return;  // unplaced: every write came through the handler
  for (const Placement& p : block->placed)
    if (!harvest_dirty(memory, p)) return;
}

}  // namespace hvmd::xen
