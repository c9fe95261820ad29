// Device: what every emulated device is to the machine. A device gets its wiring (dispatcher,
// interrupt lines, guest memory, clock) from the Machine when it is created, registers its regions,
// and from then on is reached only through those regions' IoHandlers.
#pragma once

#include <string>
#include <string_view>

#include "dm/result.h"
#include "dm/state.h"

namespace hvmd {

class Device {
 public:
  virtual ~Device() = default;
  // The driver name users pass to -device / device_add ("i440FX-pcihost", "e1000").
  virtual std::string_view type() const = 0;
  // Bumped whenever save() changes layout; load() accepts the versions it knows.
  virtual uint32_t state_version() const { return 1; }
  // Back to power-on state (system_reset, reset port).
  virtual void reset() {}
  // Before save(): finish host I/O in flight so the state is a consistent snapshot.
  virtual void quiesce() {}
  virtual void save(StateWriter& out) const = 0;
  virtual Result<void> load(StateReader& in, uint32_t version) = 0;
  // Undo registration before the device is destroyed (device_del).
  virtual void unrealize() {}

  // Xen's emulated-device unplug: a guest with PV drivers asks for the emulated disks and NICs to
  // go (Xen's hvm-emulated-unplug protocol). Devices the mask names (a NIC, a hard disk) are
  // removed by the machine; the answer depends on the mask alone, so a restore can work out in
  // advance which devices a saved unplug removed.
  enum UnplugMask : uint16_t {
    kUnplugIdeDisks = 1u << 0,
    kUnplugNics = 1u << 1,
    kUnplugAuxIdeDisks = 1u << 2,
    kUnplugNvme = 1u << 3,
  };

  // Where firmware finds the device, in Open Firmware path form ("/pci@i0cf8/ide@1,1"), for the
  // bootorder list; empty for devices firmware does not boot from.
  virtual std::string firmware_path() const { return {}; }
  virtual bool removed_by_unplug(uint16_t /*mask*/) const { return false; }

  const std::string& id() const { return id_; }
  void set_id(std::string id) { id_ = std::move(id); }

 private:
  std::string id_;
};

}  // namespace hvmd
