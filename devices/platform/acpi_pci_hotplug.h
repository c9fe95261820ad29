// ACPI PCI hot-plug for bus 0: the registers QEMU's PIIX4 offers at 0xae00 and the DSDTs of
// hvmloader (for qemu-xen) and SeaBIOS (its own tables, -machine pc) use. A change raises GPE0
// bit 1, whose _E01 method reads "up" and "down" and notifies the OS slot by slot: device check
// for up, eject request for down. The OS's _EJ0 writes the slot's bit to the eject register.
//
// These are QEMU's legacy (no bus-select register) semantics, the ones both DSDTs need: _E01
// reads PCIU once per slot, so reading must not clear it; up and down are cleared only when the
// guest ejects the slot (and at reset). Eject removes the slot's hot-pluggable functions whether
// or not the host asked for it, and ignores fixed ones.
#pragma once

#include <cstdint>
#include <functional>

#include "dm/dispatcher.h"
#include "dm/io_handler.h"
#include "dm/pci/hotplug.h"
#include "dm/pci/pci_bus.h"

namespace hvmd::devices {

namespace pcihp {
// Four dwords; the DSDTs' fields are DWordAcc. hvmloader's DSDT reserves 0xae00-0xae0f (HP0).
inline constexpr uint16_t kBase = 0xae00;
inline constexpr uint16_t kLength = 0x10;
inline constexpr uint16_t kSlotsUp = 0x00;    // PCIU, read-only: slots hot-plugged since eject
inline constexpr uint16_t kSlotsDown = 0x04;  // PCID, read-only: slots the host wants removed
inline constexpr uint16_t kEject = 0x08;      // B0EJ: write a slot's bit to eject it; reads 0
inline constexpr uint16_t kRemovable = 0x0c;  // read-only: slots with no fixed function (SeaBIOS)
inline constexpr unsigned kAccessSize = 4;
}  // namespace pcihp

// The slot bitmaps, kept in the owner's saved state.
struct HotplugSlots {
  uint32_t up_ = 0;
  uint32_t down_ = 0;
  template <class V>
  void describe(V& v) {
    // Any bits: a hot-plugged device may sit in any slot, and an eject of an empty slot is
    // harmless.
    v("slots up", up_);
    v("slots down", down_);
  }
};

class AcpiPciHotplug final : public pci::HotplugController {
 public:
  // raise_event sets the hot-plug GPE's status bit (the owner's GPE0 block decides on the SCI).
  AcpiPciHotplug(Dispatcher& dispatcher, pci::PciBus& bus, HotplugSlots& slots,
                 std::function<void()> raise_event);
  ~AcpiPciHotplug() override { detach(); }
  AcpiPciHotplug(const AcpiPciHotplug&) = delete;
  AcpiPciHotplug& operator=(const AcpiPciHotplug&) = delete;
  // Maps the registers and becomes the bus's controller; detach undoes both (and may repeat).
  void attach();
  void detach();

  void slot_plugged(unsigned slot) override;
  void request_unplug(unsigned slot) override;
  uint32_t unplug_requests() const override { return slots_.down_; }

  void reset() { slots_ = {}; }

  uint64_t read(uint64_t offset, unsigned size);
  void write(uint64_t offset, unsigned size, uint64_t value);

 private:
  Dispatcher& dispatcher_;
  pci::PciBus& bus_;
  HotplugSlots& slots_;
  std::function<void()> raise_event_;
  MemberIoHandler<AcpiPciHotplug, &AcpiPciHotplug::read, &AcpiPciHotplug::write> io_{*this};
  ScopedMapping mapping_;
};

}  // namespace hvmd::devices
