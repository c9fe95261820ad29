// What QMP's query-usb (and x-query-usb, QEMU's `info usb` text) report: every USB device
// plugged into a controller's root port or a hub, with its bus, port, speed and product.
#pragma once

#include <string>
#include <vector>

#include "dm/machine.h"

namespace hvmd::devices::usb {

struct UsbListing {
  std::string bus;       // usb.0, or a hub's usb.0.2
  unsigned port = 0;     // from 1
  unsigned address = 0;  // the USB address software gave it (0: not yet)
  std::string speed;     // Mb/s: "1.5", "12", "480", "5000"
  std::string product;
  std::string type;  // the -device driver
  std::string id;    // id= or empty
};

std::vector<UsbListing> list_usb_devices(const Machine& machine);
// QEMU's `info usb` lines: "  Device 0.2, Port 1, Speed 12 Mb/s, Product ..., ID: ...".
std::string usb_info_text(const std::vector<UsbListing>& devices);

}  // namespace hvmd::devices::usb
