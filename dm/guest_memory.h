// GuestMemory: the only way a device touches guest RAM (DMA, descriptor rings, rep I/O buffers).
// Every access is checked against the RAM regions; an access that is not wholly inside guest RAM
// fails, so DMA can never reach MMIO and a device can never re-enter itself through memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace hvmd {

class GuestMemory {
 public:
  virtual ~GuestMemory() = default;
  // A host view of [gpa, gpa + length) if it lies wholly in one RAM region, else an empty span.
  // The view stays valid until the next call that may change the memory map (the transport
  // guarantees none happens while a device handles one access).
  virtual std::span<uint8_t> map(uint64_t gpa, uint64_t length) = 0;
  // Tells the transport the device wrote guest RAM (Xen needs it for live migration). A transport
  // may batch these; flush_dirty() delivers what is pending, and the machine calls it before its
  // state is saved, so no page written before a save can be reported after it.
  virtual void mark_dirty(uint64_t /*gpa*/, uint64_t /*length*/) {}
  virtual void flush_dirty() {}
  // A view for I/O that outlives the current access (a disk read lands in it on another thread
  // or in the kernel while the loop goes on): valid until unpin() with the same gpa and view,
  // whatever the memory map does meanwhile. Empty if [gpa, gpa + length) is not wholly in one
  // mapping of RAM, or if the transport cannot pin; the caller then copies through a buffer.
  virtual std::span<uint8_t> pin(uint64_t /*gpa*/, uint64_t /*length*/) { return {}; }
  virtual void unpin(uint64_t /*gpa*/, std::span<uint8_t> /*view*/) {}

  // Copies that may cross RAM regions; false (and nothing copied) if any byte is not RAM.
  bool read(uint64_t gpa, void* out, uint64_t length);
  bool write(uint64_t gpa, const void* in, uint64_t length);
  bool fill(uint64_t gpa, uint8_t value, uint64_t length);

 private:
  template <typename Fn>
  bool for_each_chunk(uint64_t gpa, uint64_t length, Fn&& fn);
};

// The PC layout of RAM for a machine of ram_bytes: low RAM below the PCI hole (with the legacy
// VGA window 0xA0000-0xBFFFF left out, as it is MMIO) and the rest above 4 GiB.
struct RamLayout {
  struct Region {
    uint64_t gpa;
    uint64_t size;
  };
  static constexpr uint64_t kVgaWindowStart = 0xa0000;
  static constexpr uint64_t kVgaWindowEnd = 0xc0000;
  static constexpr uint64_t kFourGiB = 1ull << 32;
  // QEMU's pc machine: below 4 GiB at most 0xe0000000, rounded down to 0xc0000000 when it would
  // not all fit, so the PCI hole starts at a gigabyte boundary.
  static constexpr uint64_t kMaxBelow4g = 0xe0000000;
  static constexpr uint64_t kBelow4gWhenSplit = 0xc0000000;

  static RamLayout pc(uint64_t ram_bytes);
  uint64_t below_4g = 0;
  uint64_t above_4g = 0;
  std::vector<Region> regions;  // sorted by gpa
};

// Guest RAM allocated by hvmd itself (qtest and KVM): one anonymous mapping, reserved lazily so an
// idle guest costs no resident memory.
class HostRam final : public GuestMemory {
 public:
  explicit HostRam(const RamLayout& layout);
  ~HostRam() override;
  HostRam(const HostRam&) = delete;
  HostRam& operator=(const HostRam&) = delete;

  bool valid() const { return base_ != nullptr; }
  std::span<uint8_t> map(uint64_t gpa, uint64_t length) override;
  // The mapping lives as long as this object (devices finish their I/O before it goes).
  std::span<uint8_t> pin(uint64_t gpa, uint64_t length) override { return map(gpa, length); }
  const RamLayout& layout() const { return layout_; }
  // Host address of a RAM region's first byte (for KVM memory slots).
  uint8_t* host_address(const RamLayout::Region& region);

 private:
  RamLayout layout_;
  uint8_t* base_ = nullptr;
  size_t mapped_bytes_ = 0;
};

}  // namespace hvmd
