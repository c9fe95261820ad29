#include "devices/platform/acpi_pci_hotplug.h"

#include "dm/log.h"

namespace hvmd::devices {

using namespace pcihp;

AcpiPciHotplug::AcpiPciHotplug(Dispatcher& dispatcher, pci::PciBus& bus, HotplugSlots& slots,
                               std::function<void()> raise_event)
    : dispatcher_(dispatcher), bus_(bus), slots_(slots), raise_event_(std::move(raise_event)) {}

void AcpiPciHotplug::attach() {
  mapping_ =
      ScopedMapping(dispatcher_, dispatcher_.map_ports(kBase, kLength, &io_, "acpi-pci-hotplug"));
  bus_.set_hotplug_controller(this);
}

void AcpiPciHotplug::detach() {
  if (bus_.hotplug_controller() == this) bus_.set_hotplug_controller(nullptr);
  mapping_.reset();
}

void AcpiPciHotplug::slot_plugged(unsigned slot) {
  slots_.up_ |= 1u << slot;
  raise_event_();
}

void AcpiPciHotplug::request_unplug(unsigned slot) {
  slots_.down_ |= 1u << slot;
  raise_event_();
}

uint64_t AcpiPciHotplug::read(uint64_t offset, unsigned size) {
  if (size != kAccessSize || offset % kAccessSize) {
    HVMD_GUEST_LOG("ACPI PCI hot-plug: %u-byte read at +%#llx ignored (dword registers)", size,
                   static_cast<unsigned long long>(offset));
    return 0;
  }
  switch (offset) {
    case kSlotsUp:
      return slots_.up_;
    case kSlotsDown:
      return slots_.down_;
    case kRemovable:
      return bus_.hotpluggable_slots();
    default:
      return 0;  // the eject register reads as "no features"
  }
}

void AcpiPciHotplug::write(uint64_t offset, unsigned size, uint64_t value) {
  if (offset != kEject || size != kAccessSize) {
    HVMD_GUEST_LOG("ACPI PCI hot-plug: %u-byte write at +%#llx ignored", size,
                   static_cast<unsigned long long>(offset));
    return;
  }
  // The OS let go of these slots (_EJ0): the requests are done, and what is hot-pluggable there
  // leaves the bus (the machine then reports it deleted). Empty slots and fixed functions stay
  // as they are.
  auto slots = static_cast<uint32_t>(value);
  slots_.up_ &= ~slots;
  slots_.down_ &= ~slots;
  bus_.eject_slots(slots);
}

}  // namespace hvmd::devices
