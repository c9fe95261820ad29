// MapCache: guest RAM for the Xen transport. Guest pages are mapped from the domain on demand in
// 1 MiB buckets (single pages where a bucket holds non-RAM), kept in a bounded LRU cache, and all
// dropped when Xen sends IOREQ_TYPE_INVALIDATE (the guest's memory map changed). A view returned
// by map() is valid until the next map() or invalidate(), which is within one guest access.
#pragma once

#include <cstdint>
#include <list>
#include <unordered_map>
#include <vector>

#include "dm/guest_memory.h"
#include "ioreq/xen/xen_platform.h"

namespace hvmd::xen {

class MapCache final : public GuestMemory {
 public:
  static constexpr uint64_t kPageShift = 12;
  static constexpr uint64_t kBucketShift = 20;
  static constexpr uint64_t kPagesPerBucket = 1ull << (kBucketShift - kPageShift);
  // Bounded address space: at most this many live mappings (1 GiB of buckets).
  static constexpr size_t kMaxEntries = 1024;

  explicit MapCache(XenPlatform& platform) : platform_(platform) {}
  ~MapCache() override;
  MapCache(const MapCache&) = delete;
  MapCache& operator=(const MapCache&) = delete;

  std::span<uint8_t> map(uint64_t gpa, uint64_t length) override;
  // A pinned mapping is neither evicted nor unmapped by invalidate() until its last unpin (an
  // invalidated one leaves the lookup at once, so new accesses map afresh).
  std::span<uint8_t> pin(uint64_t gpa, uint64_t length) override;
  void unpin(uint64_t gpa, std::span<uint8_t> view) override;
  // While dirty logging is on (live migration, QMP xen-set-global-dirty-log), every page a device
  // writes is reported to Xen: consecutive writes are merged into page ranges and sent in one
  // call when kMaxPendingRanges accumulate or flush_dirty() is called (the Xen runner calls it at
  // the end of every event-loop round, the machine before saving its state).
  static constexpr size_t kMaxPendingRanges = 64;
  void mark_dirty(uint64_t gpa, uint64_t length) override;
  void flush_dirty() override;
  void set_dirty_logging(bool enabled);
  bool dirty_logging() const { return dirty_logging_; }

  void invalidate();
  size_t live_mappings() const { return entries_.size(); }

 private:
  struct Entry {
    uint8_t* address;
    uint64_t pages;
    std::list<uint64_t>::iterator lru;
    unsigned pins = 0;
  };
  // Key: bucket number for whole buckets, or (1 << 63 | gfn) for a single page.
  Entry* lookup(uint64_t key, uint64_t first_gfn, uint64_t pages);
  // The entry map() would use for gpa (and its first byte's host address), or nullptr.
  Entry* entry_for(uint64_t gpa, uint64_t length);
  void evict_one();

  XenPlatform& platform_;
  std::unordered_map<uint64_t, Entry> entries_;
  std::list<uint64_t> lru_;  // front: most recently used
  // Pinned mappings invalidate() took out of the lookup: unmapped at their last unpin.
  std::unordered_map<uint8_t*, Entry> retired_;
  bool dirty_logging_ = false;
  std::vector<XenPlatform::PageRange> pending_dirty_;
};

}  // namespace hvmd::xen
