#include "dm/guest_memory.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstring>

namespace hvmd {

template <typename Fn>
bool GuestMemory::for_each_chunk(uint64_t gpa, uint64_t length, Fn&& fn) {
  if (gpa + length < gpa) return false;
  // Validate the whole range first so a failing copy leaves nothing half done.
  for (uint64_t done = 0; done < length;) {
    uint64_t chunk = std::min<uint64_t>(length - done, 4096 - ((gpa + done) & 4095));
    if (map(gpa + done, chunk).empty()) return false;
    done += chunk;
  }
  for (uint64_t done = 0; done < length;) {
    uint64_t chunk = std::min<uint64_t>(length - done, 4096 - ((gpa + done) & 4095));
    fn(map(gpa + done, chunk), done);
    done += chunk;
  }
  return true;
}

bool GuestMemory::read(uint64_t gpa, void* out, uint64_t length) {
  auto* dst = static_cast<uint8_t*>(out);
  return for_each_chunk(gpa, length, [&](std::span<uint8_t> s, uint64_t done) {
    std::memcpy(dst + done, s.data(), s.size());
  });
}

bool GuestMemory::write(uint64_t gpa, const void* in, uint64_t length) {
  const auto* src = static_cast<const uint8_t*>(in);
  bool ok = for_each_chunk(gpa, length, [&](std::span<uint8_t> s, uint64_t done) {
    std::memcpy(s.data(), src + done, s.size());
  });
  if (ok) mark_dirty(gpa, length);
  return ok;
}

bool GuestMemory::fill(uint64_t gpa, uint8_t value, uint64_t length) {
  bool ok = for_each_chunk(
      gpa, length, [&](std::span<uint8_t> s, uint64_t) { std::memset(s.data(), value, s.size()); });
  if (ok) mark_dirty(gpa, length);
  return ok;
}

RamLayout RamLayout::pc(uint64_t ram_bytes) {
  RamLayout layout;
  layout.below_4g = ram_bytes;
  if (ram_bytes > kMaxBelow4g) layout.below_4g = kBelow4gWhenSplit;
  layout.above_4g = ram_bytes - layout.below_4g;
  layout.regions.push_back({0, std::min(layout.below_4g, kVgaWindowStart)});
  if (layout.below_4g > kVgaWindowEnd)
    layout.regions.push_back({kVgaWindowEnd, layout.below_4g - kVgaWindowEnd});
  if (layout.above_4g) layout.regions.push_back({kFourGiB, layout.above_4g});
  return layout;
}

HostRam::HostRam(const RamLayout& layout) : layout_(layout) {
  // One mapping covering low RAM at its guest offsets (the VGA window is a never-touched gap)
  // followed by high RAM. MAP_NORESERVE: pages become resident only when the guest uses them.
  mapped_bytes_ = layout.below_4g + layout.above_4g;
  if (mapped_bytes_ == 0) return;
  void* p = mmap(nullptr, mapped_bytes_, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    mapped_bytes_ = 0;
    return;
  }
  base_ = static_cast<uint8_t*>(p);
}

HostRam::~HostRam() {
  if (base_) munmap(base_, mapped_bytes_);
}

uint8_t* HostRam::host_address(const RamLayout::Region& region) {
  uint64_t offset = region.gpa >= RamLayout::kFourGiB
                        ? layout_.below_4g + (region.gpa - RamLayout::kFourGiB)
                        : region.gpa;
  return base_ + offset;
}

std::span<uint8_t> HostRam::map(uint64_t gpa, uint64_t length) {
  if (!base_) return {};
  for (const auto& region : layout_.regions) {
    if (gpa < region.gpa) break;
    uint64_t offset = gpa - region.gpa;
    if (offset < region.size && length <= region.size - offset)
      return {host_address(region) + offset, static_cast<size_t>(length)};
  }
  return {};
}

}  // namespace hvmd
