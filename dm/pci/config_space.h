// ConfigSpace: the 256 bytes of a PCI function's configuration space with, per byte, the bits the
// guest may write and the bits it clears by writing 1. Read-only fields are simply bytes whose
// write mask is 0. BAR sizing falls out of the masks: a BAR's low address bits are read-only 0.
#pragma once

#include <array>
#include <cstdint>

#include "dm/pci/pci_regs.h"

namespace hvmd::pci {

class ConfigSpace {
 public:
  uint32_t read(uint32_t reg, unsigned size) const;
  // A guest write: masks applied byte by byte. Returns nothing; callers compare before/after.
  void guest_write(uint32_t reg, unsigned size, uint32_t value);

  // Device-side access: ignores masks.
  uint8_t get8(uint32_t reg) const { return bytes_[reg]; }
  uint16_t get16(uint32_t reg) const;
  uint32_t get32(uint32_t reg) const;
  void set8(uint32_t reg, uint8_t value) { bytes_[reg] = value; }
  void set16(uint32_t reg, uint16_t value);
  void set32(uint32_t reg, uint32_t value);

  // Which bits of a field the guest can write / clear by writing 1 (little-endian, size bytes).
  void set_write_mask(uint32_t reg, unsigned size, uint32_t mask);
  void set_w1c_mask(uint32_t reg, unsigned size, uint32_t mask);

  // Bits of a byte the guest can change at all (writable or write-1-to-clear).
  uint8_t writable_bits(uint32_t reg) const { return write_mask_[reg] | w1c_mask_[reg]; }

  const std::array<uint8_t, kConfigSize>& bytes() const { return bytes_; }
  std::array<uint8_t, kConfigSize>& mutable_bytes() { return bytes_; }

 private:
  std::array<uint8_t, kConfigSize> bytes_{};
  std::array<uint8_t, kConfigSize> write_mask_{};
  std::array<uint8_t, kConfigSize> w1c_mask_{};
};

}  // namespace hvmd::pci
