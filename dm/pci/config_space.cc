#include "dm/pci/config_space.h"

namespace hvmd::pci {

uint32_t ConfigSpace::read(uint32_t reg, unsigned size) const {
  uint32_t value = 0;
  for (unsigned i = 0; i < size && reg + i < kConfigSize; ++i)
    value |= uint32_t{bytes_[reg + i]} << (8 * i);
  return value;
}

void ConfigSpace::guest_write(uint32_t reg, unsigned size, uint32_t value) {
  for (unsigned i = 0; i < size && reg + i < kConfigSize; ++i) {
    auto byte = static_cast<uint8_t>(value >> (8 * i));
    uint32_t r = reg + i;
    uint8_t w1c = byte & w1c_mask_[r];
    bytes_[r] = static_cast<uint8_t>((bytes_[r] & ~write_mask_[r]) | (byte & write_mask_[r]));
    bytes_[r] &= static_cast<uint8_t>(~w1c);
  }
}

uint16_t ConfigSpace::get16(uint32_t reg) const {
  return static_cast<uint16_t>(read(reg, 2));
}
uint32_t ConfigSpace::get32(uint32_t reg) const {
  return read(reg, 4);
}

void ConfigSpace::set16(uint32_t reg, uint16_t value) {
  bytes_[reg] = static_cast<uint8_t>(value);
  bytes_[reg + 1] = static_cast<uint8_t>(value >> 8);
}

void ConfigSpace::set32(uint32_t reg, uint32_t value) {
  set16(reg, static_cast<uint16_t>(value));
  set16(reg + 2, static_cast<uint16_t>(value >> 16));
}

void ConfigSpace::set_write_mask(uint32_t reg, unsigned size, uint32_t mask) {
  for (unsigned i = 0; i < size; ++i) write_mask_[reg + i] = static_cast<uint8_t>(mask >> (8 * i));
}

void ConfigSpace::set_w1c_mask(uint32_t reg, unsigned size, uint32_t mask) {
  for (unsigned i = 0; i < size; ++i) w1c_mask_[reg + i] = static_cast<uint8_t>(mask >> (8 * i));
}

}  // namespace hvmd::pci
