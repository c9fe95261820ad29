// DeviceMemory: memory a device owns and the guest can map (VRAM, option ROMs), with per-page dirty
// tracking so a display or migration can fetch only what changed. Transports that can map it into
// the guest directly (KVM memory slots, Xen's physmap) use host_data(); others reach it through its
// IoHandler, which the dispatcher maps like any MMIO range.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "dm/io_handler.h"

namespace hvmd {

class DirtyBitmap {
 public:
  static constexpr uint64_t kPageSize = 4096;
  explicit DirtyBitmap(uint64_t bytes) : bits_((bytes + kPageSize - 1) / kPageSize) {}
  void mark(uint64_t offset, uint64_t length);
  void mark_all();
  // Returns the dirty bit of each page and clears them all.
  std::vector<bool> take();
  bool is_dirty(uint64_t offset) const { return bits_[offset / kPageSize]; }

 private:
  std::vector<bool> bits_;
};

class DeviceMemory;

// Where device memory's bytes live. Without one, anonymous host memory. A transport that lets the
// guest reach device memory directly provides its own: under Xen, pages of the domain itself,
// populated outside its RAM and moved to wherever the guest maps the region.
class DeviceMemoryBacking {
 public:
  virtual ~DeviceMemoryBacking() = default;
  // A host view of size bytes (page-rounded), or nullptr when this backing cannot provide them;
  // the memory is then plain host memory, reached through its IoHandler.
  virtual uint8_t* allocate(uint64_t size) = 0;
  virtual void release(uint8_t* data, uint64_t size) = 0;
  // Pulls the dirty pages the hypervisor logged for memory into memory.dirty().
  virtual void sync_dirty(DeviceMemory& memory) = 0;
};

class DeviceMemory final : public IoHandler {
 public:
  enum class Access { kReadOnly, kReadWrite };
  DeviceMemory(std::string name, uint64_t size, Access access,
               DeviceMemoryBacking* backing = nullptr);
  ~DeviceMemory() override;
  DeviceMemory(const DeviceMemory&) = delete;
  DeviceMemory& operator=(const DeviceMemory&) = delete;

  const std::string& name() const { return name_; }
  uint64_t size() const { return size_; }
  bool read_only() const { return access_ == Access::kReadOnly; }
  std::span<uint8_t> host_data() { return {data_, static_cast<size_t>(size_)}; }
  std::span<const uint8_t> host_data() const { return {data_, static_cast<size_t>(size_)}; }
  DirtyBitmap& dirty() { return dirty_; }
  // The backing that holds the bytes, or nullptr for host memory.
  DeviceMemoryBacking* backing() const { return backing_; }
  // The pages written since the last call, by device code, through the IoHandler, or by the
  // guest directly where the backing lets it (a display's refresh asks this).
  std::vector<bool> collect_dirty();

  // Guest accesses (guest writes to a read-only region are ignored, as ROM ignores them).
  uint64_t read(uint64_t offset, unsigned size) override;
  void write(uint64_t offset, unsigned size, uint64_t value) override;

 private:
  std::string name_;
  uint64_t size_;
  Access access_;
  uint8_t* data_ = nullptr;
  DeviceMemoryBacking* backing_ = nullptr;
  DirtyBitmap dirty_;
};

// A view of [offset, offset + length) of a DeviceMemory, as the guest reaches it through one
// mapping: a banked window (VGA's 0xa0000 window onto a bank of VRAM) is one, whose offset the
// device moves when the guest switches banks. The dispatcher maps device memory through a view,
// so an access at a mapping's offset o reaches byte offset + o of the memory.
class DeviceMemoryView final : public IoHandler {
 public:
  DeviceMemoryView(DeviceMemory& memory, uint64_t offset, uint64_t length)
      : memory_(memory), offset_(offset), length_(length) {}
  DeviceMemory& memory() const { return memory_; }
  uint64_t offset() const { return offset_; }
  uint64_t length() const { return length_; }
  // Whether [offset, offset + length) lies within the memory.
  bool valid() const { return offset_ <= memory_.size() && length_ <= memory_.size() - offset_; }
  void set_offset(uint64_t offset) { offset_ = offset; }

  uint64_t read(uint64_t offset, unsigned size) override {
    if (offset >= length_ || size > length_ - offset) return all_ones(size);
    return memory_.read(offset_ + offset, size);
  }
  void write(uint64_t offset, unsigned size, uint64_t value) override {
    if (offset >= length_ || size > length_ - offset) return;
    memory_.write(offset_ + offset, size, value);
  }

 private:
  DeviceMemory& memory_;
  uint64_t offset_;
  uint64_t length_;
};

}  // namespace hvmd
