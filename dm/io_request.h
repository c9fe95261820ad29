// IoRequest: one trapped guest access, as every transport produces it. It mirrors Xen's ioreq_t
// (xen/hvm/ioreq.h) so the Xen transport converts field by field; qtest and KVM fill in the same.
#pragma once

#include <cstdint>

namespace hvmd {

enum class IoKind : uint8_t {
  kPort,       // x86 port I/O; addr is the port
  kMmio,       // memory-mapped I/O; addr is the guest-physical address
  kPciConfig,  // addr is PciConfigAddress::encode(): segment/bus/devfn in the high half, register
               // low
};

// A PCI function's place, plus the register offset for config accesses.
struct PciAddress {
  uint16_t segment = 0;
  uint8_t bus = 0;
  uint8_t devfn = 0;  // device << 3 | function

  static PciAddress make(uint8_t bus, uint8_t device, uint8_t function) {
    return {0, bus, static_cast<uint8_t>((device & 0x1f) << 3 | (function & 7))};
  }
  constexpr uint8_t device() const { return devfn >> 3; }
  constexpr uint8_t function() const { return devfn & 7; }
  // The layout Xen uses for IOREQ_TYPE_PCI_CONFIG: sbdf in bits 63..32, register in 31..0.
  uint64_t config_addr(uint32_t reg) const {
    return (uint64_t{segment} << 48) | (uint64_t{bus} << 40) | (uint64_t{devfn} << 32) | reg;
  }
  static PciAddress from_config_addr(uint64_t addr) {
    return {static_cast<uint16_t>(addr >> 48), static_cast<uint8_t>(addr >> 40),
            static_cast<uint8_t>(addr >> 32)};
  }
  bool operator==(const PciAddress&) const = default;
};

struct IoRequest {
  uint64_t addr = 0;
  // The value (written, or filled in for a read), or with data_is_ptr the guest-physical address
  // of a buffer in guest RAM holding count items of size bytes.
  uint64_t data = 0;
  uint32_t count = 1;  // repetitions (REP prefix)
  uint8_t size = 1;    // bytes per item: 1, 2, 4 or 8
  IoKind kind = IoKind::kPort;
  bool is_write = false;
  bool df = false;  // EFLAGS.DF: items step downwards
  bool data_is_ptr = false;
  // KVM's string I/O: the count items are in this host buffer (the vCPU's shared page), in
  // access order, instead of at a guest address; data is unused.
  uint8_t* host_buffer = nullptr;
};

}  // namespace hvmd
