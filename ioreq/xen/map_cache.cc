#include "ioreq/xen/map_cache.h"

#include <algorithm>

namespace hvmd::xen {
namespace {
constexpr uint64_t kSinglePage = 1ull << 63;
constexpr uint64_t kPageSize = 1ull << MapCache::kPageShift;
}  // namespace

MapCache::~MapCache() {
  invalidate();
  for (auto& [address, entry] : retired_) platform_.unmap_guest(entry.address, entry.pages);
}

MapCache::Entry* MapCache::lookup(uint64_t key, uint64_t first_gfn, uint64_t pages) {
  auto it = entries_.find(key);
  if (it != entries_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    return &it->second;
  }
  void* address = platform_.map_guest(first_gfn, pages);
  if (!address) return nullptr;
  if (entries_.size() >= kMaxEntries) evict_one();
  lru_.push_front(key);
  auto [inserted, _] =
      entries_.emplace(key, Entry{static_cast<uint8_t*>(address), pages, lru_.begin()});
  return &inserted->second;
}

void MapCache::evict_one() {
  // The least recently used mapping no I/O has pinned; with every one pinned (never more than
  // the DMA chunks in flight) the cache grows past its bound until they are unpinned.
  for (auto key = lru_.rbegin(); key != lru_.rend(); ++key) {
    auto it = entries_.find(*key);
    if (it->second.pins > 0) continue;
    platform_.unmap_guest(it->second.address, it->second.pages);
    lru_.erase(std::next(key).base());
    entries_.erase(it);
    return;
  }
}

MapCache::Entry* MapCache::entry_for(uint64_t gpa, uint64_t length) {
  auto it = entries_.find(gpa >> kBucketShift);
  if (it != entries_.end()) return &it->second;
  it = entries_.find(kSinglePage | (gpa >> kPageShift));
  if (it != entries_.end() && ((gpa + length - 1) >> kPageShift) == (gpa >> kPageShift))
    return &it->second;
  return nullptr;
}

std::span<uint8_t> MapCache::pin(uint64_t gpa, uint64_t length) {
  std::span<uint8_t> view = map(gpa, length);
  if (view.empty()) return view;
  entry_for(gpa, length)->pins++;  // map() just put it there
  return view;
}

void MapCache::unpin(uint64_t gpa, std::span<uint8_t> view) {
  if (view.empty()) return;
  Entry* live = entry_for(gpa, view.size());
  if (live && view.data() >= live->address &&
      view.data() + view.size() <= live->address + (live->pages << kPageShift)) {
    live->pins--;
    return;
  }
  // Invalidated while pinned: unmapped with its last pin.
  for (auto it = retired_.begin(); it != retired_.end(); ++it) {
    Entry& entry = it->second;
    if (view.data() < entry.address || view.data() >= entry.address + (entry.pages << kPageShift))
      continue;
    if (--entry.pins == 0) {
      platform_.unmap_guest(entry.address, entry.pages);
      retired_.erase(it);
    }
    return;
  }
}

std::span<uint8_t> MapCache::map(uint64_t gpa, uint64_t length) {
  if (length == 0 || gpa + length < gpa) return {};
  uint64_t bucket = gpa >> kBucketShift;
  if (((gpa + length - 1) >> kBucketShift) != bucket) return {};  // callers fall back to copies
  uint64_t offset = gpa & ((1ull << kBucketShift) - 1);
  if (Entry* e = lookup(bucket, bucket * kPagesPerBucket, kPagesPerBucket))
    return {e->address + offset, static_cast<size_t>(length)};
  // Part of this megabyte is not RAM (the VGA window, the end of RAM): map the page alone.
  uint64_t gfn = gpa >> kPageShift;
  if (((gpa + length - 1) >> kPageShift) != gfn) return {};
  if (Entry* e = lookup(kSinglePage | gfn, gfn, 1))
    return {e->address + (gpa & (kPageSize - 1)), static_cast<size_t>(length)};
  return {};
}

void MapCache::mark_dirty(uint64_t gpa, uint64_t length) {
  if (!dirty_logging_ || length == 0) return;
  uint64_t first = gpa >> kPageShift;
  uint64_t end = ((gpa + length - 1) >> kPageShift) + 1;
  // Merge with the previous range when they touch or overlap (a DMA transfer arrives in
  // page-sized pieces, descriptor write-backs land in the same ring page again and again).
  if (!pending_dirty_.empty()) {
    XenPlatform::PageRange& last = pending_dirty_.back();
    uint64_t last_end = last.first_gfn + last.count;
    if (first <= last_end && end >= last.first_gfn) {
      uint64_t merged_first = std::min(first, last.first_gfn);
      last.count = std::max(end, last_end) - merged_first;
      last.first_gfn = merged_first;
      return;
    }
  }
  pending_dirty_.push_back({first, end - first});
  if (pending_dirty_.size() >= kMaxPendingRanges) flush_dirty();
}

void MapCache::flush_dirty() {
  if (pending_dirty_.empty()) return;
  platform_.modified_memory(pending_dirty_);
  pending_dirty_.clear();
}

void MapCache::set_dirty_logging(bool enabled) {
  flush_dirty();  // what was written while logging was on is reported, even as it stops
  dirty_logging_ = enabled;
}

void MapCache::invalidate() {
  for (auto& [key, entry] : entries_) {
    // Pinned: I/O is still reading or writing these pages; they go when it is done.
    if (entry.pins > 0) {
      retired_.emplace(entry.address, entry);
    } else {
      platform_.unmap_guest(entry.address, entry.pages);
    }
  }
  entries_.clear();
  lru_.clear();
}

}  // namespace hvmd::xen
