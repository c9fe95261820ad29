#include "devices/usb/usb_port.h"

#include "devices/usb/usb_device.h"

namespace hvmd::devices::usb {

UsbPort::~UsbPort() {
  if (device_) device_->set_port(nullptr);
}

void UsbPort::attach(UsbDevice* device) {
  device_ = device;
  device->set_port(this);
  device->bus_reset();
  enabled = false;
  suspended = false;
  connect_change = true;
  owner_->port_changed(*this);
}

void UsbPort::detach() {
  if (!device_) return;
  device_->set_port(nullptr);
  device_ = nullptr;
  if (enabled) enable_change = true;
  enabled = false;
  suspended = false;
  connect_change = true;
  owner_->port_changed(*this);
}

void UsbPort::begin_reset() {
  resetting = true;
  enabled = false;
  suspended = false;
  if (device_) {
    device_->bus_reset();
    device_->set_suspended(false);
  }
}

void UsbPort::end_reset(bool enable) {
  if (!resetting) return;
  resetting = false;
  enabled = enable && device_ != nullptr;
  reset_change = true;
}

void UsbPort::set_enabled(bool enable) {
  bool now = enable && device_ != nullptr && !resetting;
  if (enabled && !now) suspended = false;
  enabled = now;
}

void UsbPort::set_suspended(bool suspend) {
  suspended = suspend && enabled;
  if (device_) device_->set_suspended(suspended);
}

void UsbPort::power_on_reset() {
  static_cast<UsbPortState&>(*this) = UsbPortState{};
  // A device still plugged in is seen again by software that looks after the reset.
  connect_change = device_ != nullptr;
  if (device_) device_->bus_reset();
}

UsbDevice* UsbPort::find(uint8_t address, unsigned depth) {
  if (!device_ || !enabled || suspended || resetting || !powered) return nullptr;
  return device_->find(address, depth);
}

void UsbPort::load(const UsbPortState& state) {
  static_cast<UsbPortState&>(*this) = state;
  // A port saved with a device but restored without one (or the other way) cannot pass traffic.
  if (!device_) enabled = suspended = false;
}

Result<unsigned> UsbBus::claim(std::optional<unsigned> port) {
  auto free = [&](unsigned n) { return !claimed_[n - 1] && !ports_[n - 1].connected(); };
  if (port) {
    if (*port < 1 || *port > ports_.size())
      return make_error("%s port %u does not exist (1-%zu)", name_.c_str(), *port, ports_.size());
    if (!free(*port)) return make_error("%s port %u is already in use", name_.c_str(), *port);
    claimed_[*port - 1] = true;
    return *port;
  }
  for (unsigned n = 1; n <= ports_.size(); ++n) {
    if (free(n)) {
      claimed_[n - 1] = true;
      return n;
    }
  }
  return make_error("%s is full", name_.c_str());
}

void UsbBus::release(unsigned port) {
  if (port < 1 || port > ports_.size()) return;
  claimed_[port - 1] = false;
  ports_[port - 1].detach();
}

}  // namespace hvmd::devices::usb
