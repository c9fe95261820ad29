// PciBus: bus 0 of the machine. It assigns device/function numbers, registers each function's
// config space with the dispatcher, hands devices their wiring, and runs PCI hot-plug through the
// platform's HotplugController (dm/pci/hotplug.h).
//
// Removal, with and without a controller:
//  - With a controller, request_unplug() only asks the guest; the function stays on the bus (and
//    working) until the guest ejects its slot, then the eject handler removes it. A guest that
//    never ejects keeps the device: nothing times out. A second request asks again.
//  - Without one (a bare bus, or a board without ACPI hot-plug), request_unplug() declines and
//    the caller removes the function at once.
//  - A guest eject removes the slot's hot-pluggable functions whether or not the host asked (an
//    OS may eject a slot on its own, as on real hardware); fixed functions never leave.
#pragma once

#include <array>
#include <bitset>
#include <functional>
#include <optional>

#include "dm/dispatcher.h"
#include "dm/interrupts.h"
#include "dm/pci/hotplug.h"
#include "dm/result.h"

namespace hvmd::pci {

class PciDevice;

class PciBus {
 public:
  static constexpr unsigned kSlots = 32;
  PciBus(Dispatcher& dispatcher, InterruptSink* sink) : dispatcher_(dispatcher), sink_(sink) {}

  // Plugs a function at devfn, or at function 0 of the first free slot. Errors name the clash.
  // A hot-plugged function is announced to the controller, if there is one.
  Result<PciAddress> plug(PciDevice& device, std::optional<uint8_t> devfn,
                          PlugMode mode = PlugMode::kFixed);
  // Takes a function off the bus at once (its owner destroys it), with no word to the guest.
  void unplug(PciDevice& device);
  PciDevice* at(uint8_t devfn) const { return devices_[devfn]; }

  // The platform's hot-plug hardware (nullptr: none). It must outlive its registration.
  void set_hotplug_controller(HotplugController* controller) { controller_ = controller; }
  HotplugController* hotplug_controller() const { return controller_; }
  // Who disposes of a function the guest ejected (the Machine: it unplugs and destroys the device,
  // then reports it deleted). Without a handler the bus only unplugs the function.
  using EjectHandler = std::function<void(PciDevice&)>;
  void set_eject_handler(EjectHandler handler) { eject_handler_ = std::move(handler); }

  // Asks the guest, through the controller, to eject the function's slot. False when there is no
  // controller or the function is fixed: then nothing was asked and the caller decides.
  bool request_unplug(PciDevice& device);
  // Slots with a removal request outstanding (the controller's view), one bit per slot.
  uint32_t unplug_requests() const { return controller_ ? controller_->unplug_requests() : 0; }
  // The guest ejected these slots (one bit per slot): their hot-pluggable functions go to the
  // eject handler, one by one. Empty slots and fixed functions are left alone.
  void eject_slots(uint32_t slots);
  // Slots holding no fixed function, one bit per slot: what ACPI may offer the OS to eject.
  uint32_t hotpluggable_slots() const;

  Dispatcher& dispatcher() { return dispatcher_; }
  InterruptSink* interrupt_sink() const { return sink_; }

 private:
  Dispatcher& dispatcher_;
  InterruptSink* sink_;
  std::array<PciDevice*, 256> devices_{};
  std::bitset<256> hotpluggable_;  // by devfn: the function may be ejected
  HotplugController* controller_ = nullptr;
  EjectHandler eject_handler_;
};

// Parses a QEMU-style PCI address property: "SLOT" or "SLOT.FN", hex without or with 0x.
Result<uint8_t> parse_devfn(const std::string& text);

}  // namespace hvmd::pci
