#include "dm/pci/pci_bus.h"

#include <cstdlib>

#include "dm/pci/pci_device.h"

namespace hvmd::pci {

Result<PciAddress> PciBus::plug(PciDevice& device, std::optional<uint8_t> devfn, PlugMode mode) {
  if (!devfn) {
    for (uint8_t slot = 0; slot < kSlots && !devfn; ++slot)
      if (!devices_[slot << 3]) devfn = static_cast<uint8_t>(slot << 3);
    if (!devfn) return make_error("no free PCI slot for '%s'", std::string(device.type()).c_str());
  }
  if (PciDevice* other = devices_[*devfn])
    return make_error("PCI address %02x.%x is already taken by '%s'", *devfn >> 3, *devfn & 7,
                      std::string(other->type()).c_str());
  PciAddress address{0, 0, *devfn};
  devices_[*devfn] = &device;
  hotpluggable_[*devfn] = mode != PlugMode::kFixed;
  device.attach(*this, address);
  dispatcher_.map_pci(address, &device);
  // Functions present from the start need no announcement: firmware and the OS find them.
  if (mode == PlugMode::kHotPlugged && controller_) controller_->slot_plugged(address.device());
  return address;
}

void PciBus::unplug(PciDevice& device) {
  uint8_t devfn = device.address().devfn;
  if (devices_[devfn] != &device) return;
  device.unrealize();
  dispatcher_.unmap_pci(device.address());
  devices_[devfn] = nullptr;
  hotpluggable_[devfn] = false;
}

bool PciBus::request_unplug(PciDevice& device) {
  uint8_t devfn = device.address().devfn;
  if (!controller_ || devices_[devfn] != &device || !hotpluggable_[devfn]) return false;
  controller_->request_unplug(device.address().device());
  return true;
}

void PciBus::eject_slots(uint32_t slots) {
  for (unsigned slot = 0; slot < kSlots; ++slot) {
    if (!(slots >> slot & 1)) continue;
    // The functions to go, gathered first: the handler changes the table as it removes them.
    std::array<PciDevice*, 8> leaving{};
    for (unsigned fn = 0; fn < 8; ++fn) {
      unsigned devfn = slot << 3 | fn;
      if (hotpluggable_[devfn]) leaving[fn] = devices_[devfn];
    }
    for (unsigned fn = 0; fn < 8; ++fn) {
      PciDevice* device = leaving[fn];
      // Still there (a handler may take a slot's other functions along with the first)?
      if (!device || devices_[slot << 3 | fn] != device) continue;
      if (eject_handler_) {
        eject_handler_(*device);
      } else {
        unplug(*device);
      }
    }
  }
}

uint32_t PciBus::hotpluggable_slots() const {
  uint32_t slots = 0;
  for (unsigned slot = 0; slot < kSlots; ++slot) {
    bool fixed = false;
    for (unsigned fn = 0; fn < 8; ++fn) {
      unsigned devfn = slot << 3 | fn;
      fixed |= devices_[devfn] && !hotpluggable_[devfn];
    }
    if (!fixed) slots |= 1u << slot;
  }
  return slots;
}

Result<uint8_t> parse_devfn(const std::string& text) {
  auto parse_hex = [](const std::string& s, unsigned long max, unsigned long* out) {
    if (s.empty()) return false;
    char* end = nullptr;
    *out = strtoul(s.c_str(), &end, 16);
    return *end == '\0' && *out <= max;
  };
  auto dot = text.find('.');
  unsigned long slot = 0;
  unsigned long function = 0;
  if (!parse_hex(text.substr(0, dot), PciBus::kSlots - 1, &slot) ||
      (dot != std::string::npos && !parse_hex(text.substr(dot + 1), 7, &function)))
    return make_error("invalid PCI address '%s' (expected SLOT or SLOT.FUNCTION in hex)",
                      text.c_str());
  return static_cast<uint8_t>(slot << 3 | function);
}

}  // namespace hvmd::pci
