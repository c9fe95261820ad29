#include "ioreq/xen/map_cache.h"

namespace hvmd::xen {
namespace {
constexpr uint64_t kSinglePage = 1ull << 63;
constexpr uint64_t kPageSize = 1ull << MapCache::kPageShift;
}  // namespace

MapCache::~MapCache() {
  invalidate();
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
  uint64_t key = lru_.back();
  lru_.pop_back();
  auto it = entries_.find(key);
  platform_.unmap_guest(it->second.address, it->second.pages);
  entries_.erase(it);
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
  uint64_t last = (gpa + length - 1) >> kPageShift;
  platform_.modified_memory(first, last - first + 1);
}

void MapCache::invalidate() {
  for (auto& [key, entry] : entries_) platform_.unmap_guest(entry.address, entry.pages);
  entries_.clear();
  lru_.clear();
}

}  // namespace hvmd::xen
