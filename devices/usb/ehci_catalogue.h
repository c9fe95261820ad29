// The EHCI part of the device catalogue: ich9-usb-ehci1/2 and their companion UHCIs
// ich9-usb-uhci1..6 (masterbus=, firstport=), in the forms libxl writes for usbversion=2:
//   -device ich9-usb-ehci1,id=usb,addr=0x1d.0x7,multifunction=on
//   -device ich9-usb-uhci1,masterbus=usb.0,firstport=0,addr=0x1d.0,multifunction=on  (2, 4)
// and usb-storage (devices/usb/usb_storage.h).
#pragma once

#include "dm/machine.h"

namespace hvmd::devices::usb {

void register_ehci_devices(DeviceRegistry& registry);

}  // namespace hvmd::devices::usb
