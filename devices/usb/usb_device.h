// UsbDevice: what every USB function shares, whichever controller reaches it (USB 2.0 chapter
// 9): its address, configuration and halted endpoints, the standard requests on the default
// control pipe, and control transfers as SETUP, DATA and STATUS stages. A controller hands it one
// transaction at a time (a Packet: token, endpoint, the bytes sent or the room for the bytes
// received) and gets back what the device answered: ACK with a length, NAK, STALL, babble, or no
// answer at all.
//
// Everything in a packet is guest-controlled: the setup bytes, wLength against the room the
// controller offers, the endpoint number. Each is checked here; a request the device does not
// know is a protocol STALL, as on hardware.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "dm/device.h"
#include "dm/state_fields.h"

namespace hvmd::devices::usb {

enum class Speed : uint8_t { kLow, kFull, kHigh, kSuper };
const char* speed_name(Speed speed);

enum class PacketStatus : uint8_t {
  kAck,         // done: actual bytes moved
  kNak,         // nothing to send (or no room) now: try again later
  kStall,       // halted endpoint or refused request
  kBabble,      // the device sent more than the room offered
  kNoResponse,  // no such endpoint, or the device is not there: the controller times out
};

struct Packet {
  uint8_t pid = 0;       // kPidSetup, kPidIn, kPidOut
  uint8_t endpoint = 0;  // 0..15
  // SETUP and OUT: the bytes sent. IN: room for at most this many bytes.
  std::span<uint8_t> buffer;
  size_t actual = 0;  // bytes moved (IN: written into buffer)
  PacketStatus status = PacketStatus::kAck;
};

class UsbPort;

// The eight bytes of a SETUP packet.
struct SetupPacket {
  uint8_t request_type = 0;
  uint8_t request = 0;
  uint16_t value = 0;
  uint16_t index = 0;
  uint16_t length = 0;
  static SetupPacket parse(std::span<const uint8_t, 8> bytes);
  bool in() const { return request_type & 0x80; }
};

// What the default pipe and the device framework keep between transactions (and save).
struct UsbDeviceState {
  enum class Stage : uint8_t { kIdle, kDataIn, kDataOut, kStatusIn, kStatusOut, kStalled };
  uint8_t address_ = 0;
  uint8_t pending_address_ = 0;  // SET_ADDRESS takes effect after its status stage
  bool address_pending_ = false;
  uint8_t configuration_ = 0;
  bool remote_wakeup_ = false;
  bool suspended_ = false;
  uint16_t halted_in_ = 0;  // bit n: IN endpoint n halted
  uint16_t halted_out_ = 0;
  Stage stage_ = Stage::kIdle;
  std::array<uint8_t, 8> setup_{};
  std::vector<uint8_t> data_;  // IN: the reply; OUT: what arrived so far
  uint32_t position_ = 0;      // IN: bytes of data_ already sent
  template <class V>
  void describe(V& v);
};

class UsbDevice : public Device, protected UsbDeviceState {
 public:
  // Largest control data stage the framework buffers (replies are truncated to wLength anyway;
  // an OUT data stage longer than this is refused at SETUP).
  static constexpr uint32_t kMaxControlData = 4096;

  explicit UsbDevice(Speed speed) : speed_(speed) {}
  // A device that goes while still plugged in (its creation failed after it was attached)
  // leaves its port.
  ~UsbDevice() override;
  Speed speed() const { return speed_; }
  uint8_t address() const { return address_; }
  uint8_t configuration() const { return configuration_; }
  bool suspended() const { return suspended_; }

  // The port the device is plugged into (set by UsbPort::attach), or nullptr.
  UsbPort* port() const { return port_; }
  void set_port(UsbPort* port) { port_ = port; }

  // Bus reset from the port: default address, unconfigured, pipes idle.
  void bus_reset();
  // Port suspend and resume.
  void set_suspended(bool suspended) { suspended_ = suspended; }
  // The device that answers to address here (a hub also looks behind its enabled ports).
  virtual UsbDevice* find(uint8_t address, unsigned depth = 0);
  // One transaction.
  void handle_packet(Packet& packet);
  // One line for query-usb / info usb.
  virtual std::string product() const = 0;

  void reset() override { bus_reset(); }
  void save(StateWriter& out) const final;
  Result<std::unique_ptr<StagedState>> parse_state(StateReader& in, uint32_t version) final;
  void post_load() final { post_load_usb(); }

 protected:
  // Descriptors. The configuration descriptor is the whole set (configuration, interfaces,
  // class descriptors, endpoints) as GET_DESCRIPTOR(CONFIGURATION) returns it.
  virtual std::span<const uint8_t> device_descriptor() const = 0;
  virtual std::span<const uint8_t> configuration_descriptor() const = 0;
  // String index (1..): the text, or empty if there is none. Every device hvmd models names
  // the same three: manufacturer, product and (its device type as) serial number.
  std::string string_descriptor(unsigned index) const;
  // Class and interface requests (and interface-directed GET_DESCRIPTOR, which HID uses for its
  // report descriptor). An IN request fills reply (truncated to wLength by the caller); an OUT
  // request gets its data stage. false: STALL.
  virtual bool class_request(const SetupPacket& setup, std::span<const uint8_t> data,
                             std::vector<uint8_t>& reply) = 0;
  // Interrupt and bulk endpoints of the configuration (endpoint 1..15); the framework has
  // checked the endpoint exists, the device is configured and the endpoint is not halted.
  virtual void endpoint_in(unsigned endpoint, Packet& packet) = 0;
  virtual void endpoint_out(unsigned /*endpoint*/, Packet& packet) {
    packet.status = PacketStatus::kStall;
  }
  // After a bus reset and after SET_CONFIGURATION, for the class's own state.
  virtual void usb_reset() {}
  virtual void configured() {}
  // A suspended device with remote wake-up enabled asks its port to resume (input arrived).
  void request_wakeup();
  // Data an endpoint NAKed for is ready now (host I/O completed): the controller may run its
  // schedule early instead of at its next frame.
  void endpoint_ready();
  // The subclass's saved fields, after the framework's, at the section's version.
  virtual void save_usb(StateWriter& /*out*/) const {}
  virtual Result<std::unique_ptr<StagedState>> parse_usb(StateReader& /*in*/,
                                                         uint32_t /*version*/) {
    return nothing_staged();
  }
  virtual void post_load_usb() {}

 private:
  void control(Packet& packet);
  void setup_stage(Packet& packet);
  // Runs the request in setup_; for OUT requests data holds the data stage. false: STALL.
  bool run_request(std::span<const uint8_t> data);
  bool standard_request(const SetupPacket& setup, std::vector<uint8_t>& reply);
  bool get_descriptor(const SetupPacket& setup, std::vector<uint8_t>& reply);
  void status_done();
  // Which endpoints the configuration has (from its endpoint descriptors).
  bool has_endpoint(unsigned endpoint, bool in) const;
  unsigned max_packet0() const;

  Speed speed_;
  UsbPort* port_ = nullptr;
};

// Descriptor building blocks, little-endian as on the wire.
std::vector<uint8_t> string_descriptor_bytes(const std::string& text);

}  // namespace hvmd::devices::usb
