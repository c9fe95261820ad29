// IoHandler: the one interface through which guest accesses reach a device. A device registers a
// region (port range, MMIO range, BAR) with a handler; the dispatcher calls it with the offset
// into that region and the access size (1, 2, 4 or 8). Nothing else reaches into a device.
#pragma once

#include <cstdint>

namespace hvmd {

class IoHandler {
 public:
  virtual ~IoHandler() = default;
  virtual uint64_t read(uint64_t offset, unsigned size) = 0;
  virtual void write(uint64_t offset, unsigned size, uint64_t value) = 0;
};

// Adapts two member functions of a device into an IoHandler, so one device can own several
// regions (one per BAR) without a class per region.
template <typename Owner, uint64_t (Owner::*Read)(uint64_t, unsigned),
          void (Owner::*Write)(uint64_t, unsigned, uint64_t)>
class MemberIoHandler final : public IoHandler {
 public:
  explicit MemberIoHandler(Owner& owner) : owner_(owner) {}
  uint64_t read(uint64_t offset, unsigned size) override { return (owner_.*Read)(offset, size); }
  void write(uint64_t offset, unsigned size, uint64_t value) override {
    (owner_.*Write)(offset, size, value);
  }

 private:
  Owner& owner_;
};

// All-ones of an access size: what an unclaimed read returns.
constexpr uint64_t all_ones(unsigned size) {
  return size >= 8 ? ~0ull : (1ull << (size * 8)) - 1;
}

}  // namespace hvmd
