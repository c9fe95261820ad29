// usb-hub: a full-speed USB 2.0 hub (chapter 11) with eight downstream ports: the hub
// descriptor, GET_STATUS and SET/CLEAR_FEATURE on the hub and its ports (reset, enable,
// suspend, power, the change bits), and the status-change bitmap on interrupt endpoint 1. It
// offers its ports as a bus of its own, named after where it is plugged (usb.0.1 for a hub on
// usb.0 port 1), so devices plug in behind it with -device usb-tablet,bus=usb.0.1,port=N.
#pragma once

#include <string>
#include <vector>

#include "devices/usb/usb_device.h"
#include "devices/usb/usb_port.h"

namespace hvmd::devices::usb {

class UsbHub final : public UsbDevice, public UsbPortOwner {
 public:
  static constexpr unsigned kPorts = 8;
  explicit UsbHub(std::string bus_name);
  std::string_view type() const override { return "usb-hub"; }
  std::string product() const override { return "HVMD USB Hub"; }
  UsbBus& bus() { return bus_; }
  UsbPort& downstream(unsigned number) { return ports_.at(number - 1); }

  UsbDevice* find(uint8_t address, unsigned depth) override;
  void port_changed(UsbPort& port) override;
  void port_wakeup(UsbPort& port) override;
  // A device behind the hub has data: the controller above is told through the hub's own port.
  void port_endpoint_ready(UsbPort&) override { endpoint_ready(); }

 protected:
  std::span<const uint8_t> device_descriptor() const override;
  std::span<const uint8_t> configuration_descriptor() const override;
  bool class_request(const SetupPacket& setup, std::span<const uint8_t> data,
                     std::vector<uint8_t>& reply) override;
  void endpoint_in(unsigned endpoint, Packet& packet) override;
  void usb_reset() override;
  void save_usb(StateWriter& out) const override;
  Result<std::unique_ptr<StagedState>> parse_usb(StateReader& in, uint32_t version) override;

 private:
  bool port_request(const SetupPacket& setup, std::vector<uint8_t>& reply);

  std::vector<UsbPort> ports_;
  UsbBus bus_;
};

}  // namespace hvmd::devices::usb
