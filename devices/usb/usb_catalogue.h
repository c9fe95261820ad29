// The USB part of the device catalogue: piix3-usb-uhci and the devices that plug into a USB bus
// (usb-tablet, usb-mouse, usb-kbd, usb-hub), and what -usb / -usbdevice ask for.
#pragma once

#include <string>
#include <vector>

#include "dm/machine.h"

namespace hvmd::devices::usb {

void register_usb_devices(DeviceRegistry& registry);
// -usb: a UHCI controller at 00:01.2 as QEMU's pc machine places it (its bus usb.0, unless a
// -device already gave the machine a USB bus); then -usbdevice tablet|mouse|keyboard on it.
Result<void> add_command_line_usb(Machine& machine, const std::vector<std::string>& usbdevices);

}  // namespace hvmd::devices::usb
