#include "dm/pci/config_registers.h"

#include <cassert>

namespace hvmd::pci {
namespace {

constexpr uint32_t byte_mask(unsigned bytes) {
  return bytes >= 4 ? 0xffffffffu : (1u << (8 * bytes)) - 1;
}

}  // namespace

void ConfigRegisters::add(ConfigSpace& config, ConfigRegister reg) {
  assert(reg.size == 1 || reg.size == 2 || reg.size == 4);
  assert(reg.offset % reg.size == 0 && reg.offset + reg.size <= kConfigSize);
  // Read-only wins over write-1-to-clear where a device declares both.
  uint32_t emulated = reg.emulated & byte_mask(reg.size) & ~reg.read_only;
  config.set_write_mask(reg.offset, reg.size, emulated & ~reg.w1c);
  config.set_w1c_mask(reg.offset, reg.size, emulated & reg.w1c);
  registers_.push_back(std::move(reg));
  auto owner = static_cast<uint16_t>(registers_.size());
  const ConfigRegister& r = registers_.back();
  for (uint32_t i = 0; i < r.size; ++i) {
    // Layout errors: registers overlap, or one lies over bytes the base emulates (BARs, MSI).
    assert(owner_[r.offset + i] == kUnclaimed && !emulated_only_[r.offset + i]);
    owner_[r.offset + i] = owner;
  }
}

void ConfigRegisters::keep_emulated(uint32_t reg, unsigned size) {
  assert(reg + size <= kConfigSize);
  for (uint32_t i = 0; i < size; ++i) {
    assert(owner_[reg + i] == kUnclaimed);
    emulated_only_[reg + i] = true;
  }
}

ConfigRegisters::Run ConfigRegisters::run_at(uint32_t reg, uint32_t end) const {
  uint16_t owner = owner_[reg];
  bool host = to_host(reg);
  uint32_t stop = reg + 1;
  while (stop < end && owner_[stop] == owner && (owner != kUnclaimed || to_host(stop) == host))
    ++stop;
  return {reg, stop - reg, owner};
}

// The guest-visible value: emulated bits from the ConfigSpace, the rest from the host. Without a
// host the ConfigSpace serves every bit (the host bits are then read-only there).
uint32_t ConfigRegisters::register_value(const ConfigSpace& config, const ConfigRegister& r) {
  uint32_t emulated = config.read(r.offset, r.size);
  uint32_t host_bits = ~r.emulated & byte_mask(r.size);
  if (!host_ || !host_bits) return emulated;
  return (emulated & r.emulated) | (host_->read(r.offset, r.size) & host_bits);
}

uint32_t ConfigRegisters::read_unclaimed(const ConfigSpace& config, uint32_t reg, unsigned length) {
  return to_host(reg) ? host_->read(reg, length) : config.read(reg, length);
}

uint32_t ConfigRegisters::read(const ConfigSpace& config, uint32_t reg, unsigned size) {
  assert(size <= 4 && reg + size <= kConfigSize);
  uint32_t value = 0;
  for (uint32_t at = reg; at < reg + size;) {
    Run run = run_at(at, reg + size);
    uint32_t bytes;
    if (run.owner == kUnclaimed) {
      bytes = read_unclaimed(config, run.start, run.length);
    } else {
      const ConfigRegister& r = registers_[run.owner - 1u];
      bytes = register_value(config, r) >> (8 * (run.start - r.offset));
    }
    value |= (bytes & byte_mask(run.length)) << (8 * (at - reg));
    at += run.length;
  }
  return value;
}

void ConfigRegisters::write(ConfigSpace& config, uint32_t reg, unsigned size, uint32_t value) {
  assert(size <= 4 && reg + size <= kConfigSize);
  for (uint32_t at = reg; at < reg + size;) {
    Run run = run_at(at, reg + size);
    uint32_t part = (value >> (8 * (at - reg))) & byte_mask(run.length);
    if (run.owner == kUnclaimed) {
      write_unclaimed(config, run.start, run.length, part);
    } else {
      const ConfigRegister& r = registers_[run.owner - 1u];
      unsigned shift = 8 * (run.start - r.offset);
      write_register(config, r, byte_mask(run.length) << shift, part << shift);
    }
    at += run.length;
  }
}

// touched: the register's bits inside the guest's access; value: the guest's bits there.
void ConfigRegisters::write_register(ConfigSpace& config, const ConfigRegister& r, uint32_t touched,
                                     uint32_t value) {
  uint32_t old_value = r.written ? register_value(config, r) : 0;
  // Emulated bits: the ConfigSpace applies the masks add() gave it, to the touched bytes only.
  for (uint32_t i = 0; i < r.size; ++i)
    if (touched >> (8 * i) & 0xff) config.guest_write(r.offset + i, 1, value >> (8 * i));
  if (host_) {
    uint32_t host_bits = ~r.emulated & ~r.read_only & byte_mask(r.size);
    uint32_t host_w1c = host_bits & r.w1c;
    uint32_t through = host_bits & ~r.w1c & touched;
    uint32_t cleared = host_w1c & touched & value;
    if (through || cleared) {
      // Read-modify-write of the whole register. Write-1-to-clear bits go back as 0 unless the
      // guest clears them, so a status bit the guest did not touch survives the write-back.
      uint32_t current = host_->read(r.offset, r.size);
      host_->write(r.offset, r.size,
                   (current & ~through & ~host_w1c) | (value & through) | cleared);
    }
  }
  if (r.written) r.written(old_value, register_value(config, r));
}

void ConfigRegisters::write_unclaimed(ConfigSpace& config, uint32_t reg, unsigned length,
                                      uint32_t value) {
  if (to_host(reg))
    host_->write(reg, length, value);
  else
    config.guest_write(reg, length, value);
}

}  // namespace hvmd::pci
