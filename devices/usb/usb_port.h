// UsbPort: one downstream port of a root hub (a host controller's) or of a usb-hub: whether a
// device is connected, enabled, suspended or in reset, and the change bits software clears.
// Controllers show these through their own registers (UHCI's PORTSC, a hub's wPortStatus and
// wPortChange); the state machine is the same.
//
// UsbBus: the Bus (dm/bus.h) a controller or hub offers its ports as, so users plug devices in
// with -device usb-tablet,bus=usb.0,port=N. Ports are numbered from 1, as QEMU numbers them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dm/bus.h"
#include "dm/state_fields.h"

namespace hvmd::devices::usb {

class UsbDevice;
class UsbPort;

// The controller or hub a port belongs to: told when a port's status changes on its own (a
// device connected or left, a suspended device asked to wake up).
class UsbPortOwner {
 public:
  virtual ~UsbPortOwner() = default;
  virtual void port_changed(UsbPort& port) = 0;
  virtual void port_wakeup(UsbPort& port) = 0;
  // A device behind the port has data it NAKed for ready (UsbDevice::endpoint_ready).
  virtual void port_endpoint_ready(UsbPort& /*port*/) {}
};

struct UsbPortState {
  bool enabled = false;
  bool suspended = false;
  bool resetting = false;
  bool connect_change = false;
  bool enable_change = false;
  bool suspend_change = false;
  bool reset_change = false;
  bool powered = true;
  template <class V>
  void describe(V& v) {
    v("enabled", enabled);
    v("suspended", suspended);
    v("resetting", resetting);
    v("connect change", connect_change);
    v("enable change", enable_change);
    v("suspend change", suspend_change);
    v("reset change", reset_change);
    v("powered", powered);
  }
};

class UsbPort : public UsbPortState {
 public:
  UsbPort(UsbPortOwner& owner, unsigned number) : owner_(&owner), number_(number) {}
  // A port that goes (its controller or hub removed) leaves its device unplugged.
  ~UsbPort();
  UsbPort(const UsbPort&) = default;
  UsbPort& operator=(const UsbPort&) = default;
  unsigned number() const { return number_; }
  UsbDevice* device() const { return device_; }
  bool connected() const { return device_ != nullptr; }

  // A device arrives or leaves: the connect change bit, the port disabled.
  void attach(UsbDevice* device);
  void detach();
  // Reset signalling: the device sees a bus reset when it starts, the port is disabled while it
  // lasts; end_reset() enables it (if a device is still there) when enable is set.
  void begin_reset();
  void end_reset(bool enable);
  // Software enables or disables the port; only a connected port can be enabled.
  void set_enabled(bool enable);
  void set_suspended(bool suspend);
  // Back to power-on state, device still connected (a controller's reset).
  void power_on_reset();
  // The device answering to address behind this port, if the port passes traffic.
  UsbDevice* find(uint8_t address, unsigned depth);
  // A suspended device asks for resume (remote wake-up).
  void wakeup() { owner_->port_wakeup(*this); }
  void endpoint_ready() { owner_->port_endpoint_ready(*this); }
  // After a restore: the state is the saved one, the device the one plugged in now.
  void load(const UsbPortState& state);

 private:
  UsbPortOwner* owner_;
  unsigned number_;
  UsbDevice* device_ = nullptr;
};

// The ports of a controller or hub as a bus named NAME (usb.0, or the hub's usb.0.N), kind "usb",
// address property port=.
class UsbBus final : public Bus {
 public:
  UsbBus(std::string name, std::vector<UsbPort>& ports) : name_(std::move(name)), ports_(ports) {}
  const std::string& name() const override { return name_; }
  std::string_view kind() const override { return "usb"; }
  std::string_view address_property() const override { return "port"; }
  Result<unsigned> claim(std::optional<unsigned> port) override;
  // The device leaves its port.
  void release(unsigned port) override;
  UsbPort& port(unsigned number) { return ports_.at(number - 1); }

 private:
  std::string name_;
  std::vector<UsbPort>& ports_;
  std::vector<bool> claimed_ = std::vector<bool>(ports_.size());
};

}  // namespace hvmd::devices::usb
