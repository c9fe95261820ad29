// PciBus: bus 0 of the machine. It assigns device/function numbers, registers each function's
// config space with the dispatcher, and hands devices their wiring.
#pragma once

#include <array>
#include <optional>

#include "dm/dispatcher.h"
#include "dm/interrupts.h"
#include "dm/result.h"

namespace hvmd::pci {

class PciDevice;

class PciBus {
 public:
  static constexpr unsigned kSlots = 32;
  PciBus(Dispatcher& dispatcher, InterruptSink* sink) : dispatcher_(dispatcher), sink_(sink) {}

  // Plugs a function at devfn, or at function 0 of the first free slot. Errors name the clash.
  Result<PciAddress> plug(PciDevice& device, std::optional<uint8_t> devfn);
  void unplug(PciDevice& device);
  PciDevice* at(uint8_t devfn) const { return devices_[devfn]; }

  Dispatcher& dispatcher() { return dispatcher_; }
  InterruptSink* interrupt_sink() const { return sink_; }

 private:
  Dispatcher& dispatcher_;
  InterruptSink* sink_;
  std::array<PciDevice*, 256> devices_{};
};

// Parses a QEMU-style PCI address property: "SLOT" or "SLOT.FN", hex without or with 0x.
Result<uint8_t> parse_devfn(const std::string& text);

}  // namespace hvmd::pci
