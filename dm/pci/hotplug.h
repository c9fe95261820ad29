// PCI hot-plug as the bus sees it. A HotplugController is the platform's hot-plug hardware (the
// PIIX4's ACPI registers on the pc and xenfv boards): the bus tells it when a function arrives
// while the machine runs and asks it to request a removal; it tells the guest (a general-purpose
// event, an SCI) and, when the guest lets go of a slot, calls PciBus::eject_slots. The bus never
// removes a hot-pluggable function on the host's word alone while a controller is present: only the
// guest's eject does.
#pragma once

#include <cstdint>

namespace hvmd::pci {

// How a function joins the bus.
enum class PlugMode {
  kFixed,        // part of the board, or of a type that cannot be unplugged: never ejected
  kColdPlugged,  // hot-pluggable, present from the start (-device): no event, but ejectable
  kHotPlugged,   // added while the machine runs (device_add): the controller announces it
};

class HotplugController {
 public:
  virtual ~HotplugController() = default;
  // A function was hot-plugged into slot: tell the guest to check the slot.
  virtual void slot_plugged(unsigned slot) = 0;
  // The host wants slot's hot-pluggable functions gone: ask the guest to eject the slot. Asking
  // again while a request is outstanding asks again (a guest that missed it gets another chance).
  virtual void request_unplug(unsigned slot) = 0;
  // Slots with a removal request the guest has not acted on yet, one bit per slot.
  virtual uint32_t unplug_requests() const = 0;
};

}  // namespace hvmd::pci
