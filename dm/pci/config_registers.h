// ConfigRegisters: a table of configuration-space registers, each saying which of its bits are
// emulated (kept in the device's ConfigSpace) and which belong to a host function's real config
// space (a passthrough device), which bits the guest cannot change and which it clears by writing
// 1, and an optional hook that sees the register's old and new value after a guest write.
//
// Bytes no register claims keep the plain ConfigSpace behaviour (its own write masks), unless a
// host is attached: then they pass straight through to the host, except the bytes the device
// marked as its own (BARs, the expansion ROM BAR, MSI and MSI-X: guest addresses and the guest's
// interrupt programming never reach the hardware).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <vector>

#include "dm/pci/config_space.h"

namespace hvmd::pci {

// A host function's real configuration space (sysfs `config`, the VFIO config region).
// reg + size never exceeds kConfigSize; size is 1 to 4.
class HostConfigAccess {
 public:
  virtual ~HostConfigAccess() = default;
  virtual uint32_t read(uint32_t reg, unsigned size) = 0;
  virtual void write(uint32_t reg, unsigned size, uint32_t value) = 0;
};

struct ConfigRegister {
  using Hook = std::function<void(uint32_t old_value, uint32_t new_value)>;
  uint32_t offset = 0;
  unsigned size = 4;       // 1, 2 or 4, naturally aligned
  uint32_t emulated = 0;   // bits served from the ConfigSpace; the others are the host's
  uint32_t read_only = 0;  // bits the guest cannot change, emulated or host
  uint32_t w1c = 0;        // bits the guest clears by writing 1, emulated or host
  Hook written;            // after a guest write touching the register: old and new value
};

class ConfigRegisters {
 public:
  // Declares a register and programs config's write and write-1-to-clear masks for its emulated
  // bits. Registers must not overlap (device layout; checked by assert).
  void add(ConfigSpace& config, ConfigRegister reg);
  // Routes host bits and unclaimed bytes to host (nullptr: everything is emulated).
  void set_host(HostConfigAccess* host) { host_ = host; }
  // Keeps the bytes reg..reg+size-1 emulated even when unclaimed and a host is attached.
  void keep_emulated(uint32_t reg, unsigned size);
  // True while nothing differs from a plain ConfigSpace (no register, no host).
  bool trivial() const { return registers_.empty() && !host_; }

  // A guest access; reg + size is within config space.
  uint32_t read(const ConfigSpace& config, uint32_t reg, unsigned size);
  void write(ConfigSpace& config, uint32_t reg, unsigned size, uint32_t value);

 private:
  static constexpr uint16_t kUnclaimed = 0;
  // A run of bytes the same owner serves: a register (index + 1) or unclaimed.
  struct Run {
    uint32_t start;
    uint32_t length;
    uint16_t owner;
  };
  Run run_at(uint32_t reg, uint32_t end) const;
  bool to_host(uint32_t reg) const { return host_ && !emulated_only_[reg]; }
  uint32_t register_value(const ConfigSpace& config, const ConfigRegister& r);
  uint32_t read_unclaimed(const ConfigSpace& config, uint32_t reg, unsigned length);
  void write_register(ConfigSpace& config, const ConfigRegister& r, uint32_t bytes, uint32_t value);
  void write_unclaimed(ConfigSpace& config, uint32_t reg, unsigned length, uint32_t value);

  std::vector<ConfigRegister> registers_;
  std::array<uint16_t, kConfigSize> owner_{};  // register index + 1, or kUnclaimed
  std::array<bool, kConfigSize> emulated_only_{};
  HostConfigAccess* host_ = nullptr;
};

}  // namespace hvmd::pci
