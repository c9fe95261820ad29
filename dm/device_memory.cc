#include "dm/device_memory.h"

#include <sys/mman.h>

#include <cstring>
#include <new>

namespace hvmd {

void DirtyBitmap::mark(uint64_t offset, uint64_t length) {
  if (length == 0) return;
  uint64_t first = offset / kPageSize;
  uint64_t last = (offset + length - 1) / kPageSize;
  for (uint64_t page = first; page <= last && page < bits_.size(); ++page) bits_[page] = true;
}

void DirtyBitmap::mark_all() {
  std::fill(bits_.begin(), bits_.end(), true);
}

std::vector<bool> DirtyBitmap::take() {
  std::vector<bool> out(bits_.size(), false);
  out.swap(bits_);
  return out;
}

DeviceMemory::DeviceMemory(std::string name, uint64_t size, Access access,
                           DeviceMemoryBacking* backing)
    : name_(std::move(name)), size_(size), access_(access), dirty_(size) {
  if (backing) data_ = backing->allocate(size_);
  if (data_) {
    backing_ = backing;
    return;
  }
  // Anonymous mapping: page aligned (mappable into a guest) and not resident until touched.
  void* p = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  data_ = static_cast<uint8_t*>(p);
}

DeviceMemory::~DeviceMemory() {
  if (backing_)
    backing_->release(data_, size_);
  else
    munmap(data_, size_);
}

std::vector<bool> DeviceMemory::collect_dirty() {
  if (backing_) backing_->sync_dirty(*this);
  return dirty_.take();
}

uint64_t DeviceMemory::read(uint64_t offset, unsigned size) {
  if (offset >= size_ || size > size_ - offset) return all_ones(size);
  uint64_t value = 0;
  std::memcpy(&value, data_ + offset, size);
  return value;
}

void DeviceMemory::write(uint64_t offset, unsigned size, uint64_t value) {
  if (read_only() || offset >= size_ || size > size_ - offset) return;
  std::memcpy(data_ + offset, &value, size);
  dirty_.mark(offset, size);
}

}  // namespace hvmd
