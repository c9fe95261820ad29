// The device catalogue and the fixed part of the board. main() and the fuzzer use these; the
// dm core never names a device.
#pragma once

#include "dm/machine.h"

namespace hvmd::devices {

// Every device type a user can name with -device / device_add.
void register_devices(DeviceRegistry& registry);

// The devices a machine type always has (pc / xenfv: the i440FX host bridge at 00:00.0, ...).
Result<void> build_board(Machine& machine);

// The drives of the -drive list that no -device claimed (if=ide), each on a drive device of its
// own. Runs after the -device list.
Result<void> attach_drives(Machine& machine);

// -usb and -usbdevice: the PIIX3's UHCI at 00:01.2 and the named devices on it.
Result<void> add_usb(Machine& machine, const std::vector<std::string>& usbdevices);

}  // namespace hvmd::devices
