#include "devices/usb/usb_listing.h"

#include "devices/usb/ehci.h"
#include "devices/usb/uhci.h"
#include "devices/usb/usb_hub.h"

namespace hvmd::devices::usb {

namespace {

void list_bus(UsbBus& bus, std::vector<UsbListing>& out) {
  for (unsigned n = 1; n <= bus.port_count(); ++n) {
    UsbDevice* device = bus.port(n).device();
    if (!device) continue;
    out.push_back({.bus = bus.name(),
                   .port = n,
                   .address = device->address(),
                   .speed = speed_name(device->speed()),
                   .product = device->product(),
                   .type = std::string(device->type()),
                   .id = device->id()});
  }
}

}  // namespace

std::vector<UsbListing> list_usb_devices(const Machine& machine) {
  std::vector<UsbListing> out;
  // Controllers and hubs in creation order: each lists what is plugged into its ports. A
  // companion UHCI has no ports of its own (its EHCI lists them).
  for (Device* device : machine.devices()) {
    if (auto* ehci = dynamic_cast<Ehci*>(device)) {
      list_bus(ehci->bus(), out);
    } else if (auto* uhci = dynamic_cast<Uhci*>(device)) {
      if (!uhci->companion()) list_bus(uhci->bus(), out);
    } else if (auto* hub = dynamic_cast<UsbHub*>(device)) {
      list_bus(hub->bus(), out);
    }
  }
  return out;
}

std::string usb_info_text(const std::vector<UsbListing>& devices) {
  std::string text;
  for (const auto& d : devices) {
    // QEMU names the device by bus number and address; hvmd's bus names are usb.N.
    std::string bus_number = d.bus.rfind("usb.", 0) == 0 ? d.bus.substr(4) : d.bus;
    text += "  Device " + bus_number + "." + std::to_string(d.address) + ", Port " +
            std::to_string(d.port) + ", Speed " + d.speed + " Mb/s, Product " + d.product;
    if (!d.id.empty()) text += ", ID: " + d.id;
    text += "\r\n";
  }
  return text;
}

}  // namespace hvmd::devices::usb
