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

class DeviceMemory final : public IoHandler {
 public:
  enum class Access { kReadOnly, kReadWrite };
  DeviceMemory(std::string name, uint64_t size, Access access);
  ~DeviceMemory() override;
  DeviceMemory(const DeviceMemory&) = delete;
  DeviceMemory& operator=(const DeviceMemory&) = delete;

  const std::string& name() const { return name_; }
  uint64_t size() const { return size_; }
  bool read_only() const { return access_ == Access::kReadOnly; }
  std::span<uint8_t> host_data() { return {data_, static_cast<size_t>(size_)}; }
  DirtyBitmap& dirty() { return dirty_; }

  // Guest accesses (guest writes to a read-only region are ignored, as ROM ignores them).
  uint64_t read(uint64_t offset, unsigned size) override;
  void write(uint64_t offset, unsigned size, uint64_t value) override;

 private:
  std::string name_;
  uint64_t size_;
  Access access_;
  uint8_t* data_ = nullptr;
  DirtyBitmap dirty_;
};

}  // namespace hvmd
