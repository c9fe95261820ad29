// Bus: a place where child devices plug into a parent device, by name and address, as QEMU users
// write it: -device ide-hd,bus=ide.1,unit=0 or -device usb-tablet,bus=usb.0,port=3. The parent
// (an IDE controller, a USB host controller) owns its buses and registers them with the machine;
// the machine resolves a child's bus= (or picks the first bus of the kind with room), records the
// parent, and removes children before their parent.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "dm/result.h"

namespace hvmd {

class Bus {
 public:
  virtual ~Bus() = default;
  // The bus's name ("ide.0") and kind ("ide"): child device types name the kind they plug into.
  virtual const std::string& name() const = 0;
  virtual std::string_view kind() const = 0;
  // The property a child names its address with ("unit", "port").
  virtual std::string_view address_property() const = 0;
  // An address for a child: the one asked for if it exists and is free, or the first free one;
  // an error says why not. The child occupies it until release().
  virtual Result<unsigned> claim(std::optional<unsigned> address) = 0;
  virtual void release(unsigned address) = 0;
};

// Where a child device was plugged: its bus and address there.
struct BusSlot {
  Bus* bus = nullptr;
  unsigned address = 0;
};

}  // namespace hvmd
