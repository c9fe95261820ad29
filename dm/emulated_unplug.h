// EmulatedUnplug: Xen's emulated-device unplug as the platform device receives it from a guest's
// PV drivers (Device::UnplugMask). The machine implements it: it removes the devices the mask
// names and remembers the mask for save/restore.
#pragma once

#include <cstdint>

namespace hvmd {

class EmulatedUnplug {
 public:
  // Returns how many devices were removed.
  virtual unsigned unplug_emulated(uint16_t mask) = 0;

 protected:
  ~EmulatedUnplug() = default;
};

}  // namespace hvmd
