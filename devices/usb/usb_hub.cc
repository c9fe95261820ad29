#include "devices/usb/usb_hub.h"

#include <array>

#include "devices/usb/usb_regs.h"

namespace hvmd::devices::usb {

namespace {
// Hubs nest at most five deep (USB 2.0 section 4.1.1): lookups go no deeper than that.
constexpr unsigned kMaxDepth = 5;
constexpr uint8_t kClassHub = 9;
constexpr uint8_t kStatusBytes = (UsbHub::kPorts + 1 + 7) / 8;  // bit 0 the hub, then ports
// wHubCharacteristics: individual power switching, no over-current protection reporting.
constexpr uint16_t kHubCharacteristics = 0x0001 | 0x0010;
constexpr uint8_t kPowerOnToGood = 50;  // 2 ms units

constexpr std::array<uint8_t, 18> kDeviceDescriptor = {
    18,   kDescDevice, 0x10, 0x01, kClassHub, 0, 0, 8,  // USB 1.1 hub, 8-byte ep0
    0x27, 0x06,        0x02, 0x00,                      // QEMU's vendor, product 2 (hub)
    0x00, 0x01,        1,    2,    3,         1};
constexpr std::array<uint8_t, 25> kConfiguration = {
    9, kDescConfiguration, 25, 0, 1, 1, 0,
    kConfigReserved | kConfigSelfPowered | kConfigRemoteWakeup, 0, 9, kDescInterface, 0, 0, 1,
    kClassHub, 0, 0, 0,
    // The status-change endpoint: one bit per port plus the hub's, polled every 255 ms.
    7, kDescEndpoint, 0x81, kEndpointInterrupt, kStatusBytes, 0, 0xff};
}  // namespace

namespace {
std::vector<UsbPort> make_ports(UsbPortOwner& owner) {
  std::vector<UsbPort> ports;
  ports.reserve(UsbHub::kPorts);
  for (unsigned n = 1; n <= UsbHub::kPorts; ++n) ports.emplace_back(owner, n);
  return ports;
}
}  // namespace

UsbHub::UsbHub(std::string bus_name)
    : UsbDevice(Speed::kFull), ports_(make_ports(*this)), bus_(std::move(bus_name), ports_) {}

std::span<const uint8_t> UsbHub::device_descriptor() const {
  return kDeviceDescriptor;
}
std::span<const uint8_t> UsbHub::configuration_descriptor() const {
  return kConfiguration;
}

UsbDevice* UsbHub::find(uint8_t address, unsigned depth) {
  if (address == this->address()) return this;
  // Behind a hub only once it is configured (its ports are not powered before).
  if (configuration() == 0 || depth >= kMaxDepth) return nullptr;
  for (auto& port : ports_)
    if (UsbDevice* device = port.find(address, depth + 1)) return device;
  return nullptr;
}

void UsbHub::port_changed(UsbPort&) {
  request_wakeup();  // a connect or disconnect wakes a suspended hub that may wake the host
  // The status-change endpoint has a bit to report.
  endpoint_ready();
}

void UsbHub::port_wakeup(UsbPort& port) {
  if (!port.suspended) return;
  port.set_suspended(false);
  port.suspend_change = true;
  request_wakeup();
}

bool UsbHub::class_request(const SetupPacket& setup, std::span<const uint8_t>,
                           std::vector<uint8_t>& reply) {
  if ((setup.request_type & kTypeMask) != kTypeClass) return false;
  uint8_t recipient = setup.request_type & kRecipientMask;
  if (recipient == kRecipientOther) return port_request(setup, reply);
  if (recipient != kRecipientDevice) return false;
  switch (setup.request) {
    case kGetDescriptor: {
      if (!setup.in() || (setup.value >> 8) != kDescHub) return false;
      // Device-removable bits (none fixed) and the USB 1.0 port power control mask.
      reply = {static_cast<uint8_t>(7 + 2 * kStatusBytes),
               kDescHub,
               kPorts,
               kHubCharacteristics & 0xff,
               kHubCharacteristics >> 8,
               kPowerOnToGood,
               0};
      for (unsigned i = 0; i < kStatusBytes; ++i) reply.push_back(0);
      for (unsigned i = 0; i < kStatusBytes; ++i) reply.push_back(0xff);
      return true;
    }
    case kGetStatus:
      if (!setup.in()) return false;
      reply = {0, 0, 0, 0};  // local power good, no over-current, nothing changed
      return true;
    case kClearFeature:
    case kSetFeature:
      // C_HUB_LOCAL_POWER and C_HUB_OVER_CURRENT: nothing ever sets them.
      return !setup.in() && setup.value <= 1;
    default:
      return false;
  }
}

bool UsbHub::port_request(const SetupPacket& setup, std::vector<uint8_t>& reply) {
  unsigned number = setup.index & 0xff;
  if (number < 1 || number > kPorts || configuration() == 0) return false;
  UsbPort& port = ports_[number - 1];
  switch (setup.request) {
    case kGetStatus: {
      if (!setup.in()) return false;
      uint16_t status = 0, change = 0;
      if (port.powered) status |= kPortStatPower;
      if (port.connected() && port.powered) {
        status |= kPortStatConnection;
        if (port.device()->speed() == Speed::kLow) status |= kPortStatLowSpeed;
        if (port.device()->speed() == Speed::kHigh) status |= kPortStatHighSpeed;
      }
      if (port.enabled) status |= kPortStatEnable;
      if (port.suspended) status |= kPortStatSuspend;
      if (port.resetting) status |= kPortStatReset;
      if (port.connect_change) change |= kPortChangeConnection;
      if (port.enable_change) change |= kPortChangeEnable;
      if (port.suspend_change) change |= kPortChangeSuspend;
      if (port.reset_change) change |= kPortChangeReset;
      reply = {static_cast<uint8_t>(status), static_cast<uint8_t>(status >> 8),
               static_cast<uint8_t>(change), static_cast<uint8_t>(change >> 8)};
      return true;
    }
    case kSetFeature:
      if (setup.in()) return false;
      switch (setup.value) {
        case kPortReset:
          // The reset completes at once: the port enabled, the reset change reported.
          if (!port.powered) return true;
          port.begin_reset();
          port.end_reset(true);
          return true;
        case kPortSuspend:
          port.set_suspended(true);
          return true;
        case kPortPower:
          port.powered = true;
          return true;
        case kPortEnable:
          port.set_enabled(port.powered);
          return true;
        default:
          return false;
      }
    case kClearFeature:
      if (setup.in()) return false;
      switch (setup.value) {
        case kPortEnable:
          port.set_enabled(false);
          return true;
        case kPortSuspend:
          if (port.suspended) {
            port.set_suspended(false);
            port.suspend_change = true;
          }
          return true;
        case kPortPower:
          port.powered = false;
          port.set_enabled(false);
          return true;
        case kCPortConnection:
          port.connect_change = false;
          return true;
        case kCPortEnable:
          port.enable_change = false;
          return true;
        case kCPortSuspend:
          port.suspend_change = false;
          return true;
        case kCPortOverCurrent:
          return true;
        case kCPortReset:
          port.reset_change = false;
          return true;
        default:
          return false;
      }
    default:
      return false;
  }
}

void UsbHub::endpoint_in(unsigned, Packet& packet) {
  std::array<uint8_t, kStatusBytes> bitmap{};
  bool any = false;
  for (const auto& port : ports_) {
    if (port.connect_change || port.enable_change || port.suspend_change || port.reset_change) {
      bitmap[port.number() / 8] |= static_cast<uint8_t>(1u << (port.number() % 8));
      any = true;
    }
  }
  if (!any) {
    packet.status = PacketStatus::kNak;
    return;
  }
  if (packet.buffer.size() < bitmap.size()) {
    packet.status = PacketStatus::kBabble;
    return;
  }
  std::copy(bitmap.begin(), bitmap.end(), packet.buffer.begin());
  packet.actual = bitmap.size();
}

void UsbHub::usb_reset() {
  // A reset hub forgets its ports' state; what is plugged in is seen again as a connection.
  for (auto& port : ports_) port.power_on_reset();
}

void UsbHub::save_usb(StateWriter& out) const {
  for (const auto& port : ports_) write_fields(out, static_cast<const UsbPortState&>(port));
}

Result<std::unique_ptr<StagedState>> UsbHub::parse_usb(StateReader& in, uint32_t version) {
  std::array<UsbPortState, kPorts> states;
  for (auto& state : states) HVMD_TRY(read_fields(in, version, "usb-hub port", state));
  return staged([this, states] {
    for (unsigned i = 0; i < kPorts; ++i) ports_[i].load(states[i]);
  });
}

}  // namespace hvmd::devices::usb
