#include "devices/usb/usb_device.h"

#include <algorithm>
#include <cstring>

#include "devices/usb/usb_port.h"
#include "devices/usb/usb_regs.h"
#include "dm/log.h"

namespace hvmd::devices::usb {

namespace {
constexpr uint8_t kMaxAddress = 127;
}  // namespace

const char* speed_name(Speed speed) {
  switch (speed) {
    case Speed::kLow:
      return "1.5";
    case Speed::kFull:
      return "12";
    case Speed::kHigh:
      return "480";
    case Speed::kSuper:
      return "5000";
  }
  return "?";
}

SetupPacket SetupPacket::parse(std::span<const uint8_t, 8> b) {
  return {.request_type = b[0],
          .request = b[1],
          .value = static_cast<uint16_t>(b[2] | b[3] << 8),
          .index = static_cast<uint16_t>(b[4] | b[5] << 8),
          .length = static_cast<uint16_t>(b[6] | b[7] << 8)};
}

std::string UsbDevice::string_descriptor(unsigned index) const {
  switch (index) {
    case 1:
      return "HVMD";
    case 2:
      return product();
    case 3:
      return std::string(type());
    default:
      return {};
  }
}

std::vector<uint8_t> string_descriptor_bytes(const std::string& text) {
  // UTF-16LE of ASCII text; bLength is one byte, so at most 126 characters.
  size_t chars = std::min<size_t>(text.size(), 126);
  std::vector<uint8_t> d{static_cast<uint8_t>(2 + 2 * chars), kDescString};
  for (size_t i = 0; i < chars; ++i) {
    d.push_back(static_cast<uint8_t>(text[i]));
    d.push_back(0);
  }
  return d;
}

template <class V>
void UsbDeviceState::describe(V& v) {
  v("address", address_, AtMost{kMaxAddress});
  v("pending address", pending_address_, AtMost{kMaxAddress});
  v("address pending", address_pending_);
  v("configuration", configuration_);  // checked against the descriptor in parse_state
  v("remote wake-up", remote_wakeup_);
  v("suspended", suspended_);
  v("halted IN", halted_in_, Mask{uint16_t{0xfffe}});
  v("halted OUT", halted_out_, Mask{uint16_t{0xfffe}});
  v("control stage", stage_, AtMost{Stage::kStalled});
  v("setup packet", setup_);
  v("control data", data_, MaxSize{UsbDevice::kMaxControlData});
  v("control position", position_);
}

UsbDevice::~UsbDevice() {
  if (port_) port_->detach();
}

void UsbDevice::bus_reset() {
  static_cast<UsbDeviceState&>(*this) = UsbDeviceState{};
  usb_reset();
}

void UsbDevice::request_wakeup() {
  if (suspended_ && remote_wakeup_ && port_) port_->wakeup();
}

void UsbDevice::endpoint_ready() {
  if (port_) port_->endpoint_ready();
}

UsbDevice* UsbDevice::find(uint8_t address, unsigned /*depth*/) {
  return address == address_ ? this : nullptr;
}

unsigned UsbDevice::max_packet0() const {
  if (speed_ == Speed::kHigh) return 64;
  auto d = device_descriptor();
  return d.size() > 7 && d[7] >= 8 ? d[7] : 8;
}

bool UsbDevice::has_endpoint(unsigned endpoint, bool in) const {
  auto d = configuration_descriptor();
  // Each descriptor's bLength moves on by at least 2, so the walk ends within the blob.
  for (size_t pos = 0; pos + 2 <= d.size() && d[pos] >= 2; pos += d[pos]) {
    if (d[pos + 1] != kDescEndpoint || pos + 7 > d.size()) continue;
    uint8_t address = d[pos + 2];
    if ((address & 0x0f) == endpoint && ((address & kDirIn) != 0) == in) return true;
  }
  return false;
}

void UsbDevice::handle_packet(Packet& packet) {
  packet.actual = 0;
  packet.status = PacketStatus::kAck;
  if (packet.endpoint == 0) {
    control(packet);
    return;
  }
  bool in = packet.pid == kPidIn;
  if (packet.endpoint > 15 || packet.pid == kPidSetup || configuration_ == 0 ||
      !has_endpoint(packet.endpoint, in)) {
    packet.status = PacketStatus::kNoResponse;
    return;
  }
  if ((in ? halted_in_ : halted_out_) & (1u << packet.endpoint)) {
    packet.status = PacketStatus::kStall;
    return;
  }
  if (in)
    endpoint_in(packet.endpoint, packet);
  else
    endpoint_out(packet.endpoint, packet);
  // An endpoint's reply never exceeds the room it was given.
  if (packet.status == PacketStatus::kAck && packet.actual > packet.buffer.size())
    packet.actual = packet.buffer.size();
}

void UsbDevice::control(Packet& packet) {
  if (packet.pid == kPidSetup) {
    setup_stage(packet);
    return;
  }
  bool in = packet.pid == kPidIn;
  switch (stage_) {
    case Stage::kDataIn:
      if (in) {
        size_t remaining = data_.size() - std::min<size_t>(position_, data_.size());
        size_t chunk = std::min<size_t>(remaining, max_packet0());
        if (chunk > packet.buffer.size()) {
          packet.status = PacketStatus::kBabble;  // more than the host made room for
          return;
        }
        if (chunk) std::memcpy(packet.buffer.data(), data_.data() + position_, chunk);
        position_ += static_cast<uint32_t>(chunk);
        packet.actual = chunk;
        return;
      }
      // The host's OUT status stage, possibly before all the data was read (allowed).
      stage_ = Stage::kIdle;
      data_.clear();
      position_ = 0;  // the saved state requires the position within the data
      return;
    case Stage::kStatusOut:
      if (!in) {
        stage_ = Stage::kIdle;
        return;
      }
      break;
    case Stage::kDataOut:
      if (!in) {
        SetupPacket setup = SetupPacket::parse(setup_);
        if (data_.size() + packet.buffer.size() > setup.length) {
          stage_ = Stage::kStalled;  // more than wLength announced
          packet.status = PacketStatus::kStall;
          return;
        }
        data_.insert(data_.end(), packet.buffer.begin(), packet.buffer.end());
        packet.actual = packet.buffer.size();
        if (data_.size() == setup.length)
          stage_ = run_request(data_) ? Stage::kStatusIn : Stage::kStalled;
        return;
      }
      break;
    case Stage::kStatusIn:
      if (in) {
        stage_ = Stage::kIdle;
        data_.clear();
        position_ = 0;
        status_done();
        return;
      }
      break;
    case Stage::kIdle:
    case Stage::kStalled:
      break;
  }
  packet.status = PacketStatus::kStall;
}

void UsbDevice::setup_stage(Packet& packet) {
  if (packet.buffer.size() != setup_.size()) {
    // A corrupt SETUP is ignored by the device; the host sees no handshake.
    packet.status = PacketStatus::kNoResponse;
    return;
  }
  std::copy(packet.buffer.begin(), packet.buffer.end(), setup_.begin());
  packet.actual = setup_.size();
  data_.clear();
  position_ = 0;
  address_pending_ = false;
  SetupPacket setup = SetupPacket::parse(setup_);
  if (setup.in()) {
    if (!run_request({})) {
      stage_ = Stage::kStalled;
      return;
    }
    // run_request left the reply in data_; every reply is truncated to wLength.
    if (data_.size() > setup.length) data_.resize(setup.length);
    // A read with no data stage ends with an IN status stage like any no-data request.
    stage_ = setup.length ? Stage::kDataIn : Stage::kStatusIn;
    return;
  }
  if (setup.length == 0) {
    stage_ = run_request({}) ? Stage::kStatusIn : Stage::kStalled;
  } else if (setup.length > kMaxControlData) {
    stage_ = Stage::kStalled;
  } else {
    stage_ = Stage::kDataOut;
  }
}

bool UsbDevice::run_request(std::span<const uint8_t> data) {
  SetupPacket setup = SetupPacket::parse(setup_);
  std::vector<uint8_t> reply;
  bool handled;
  if ((setup.request_type & kTypeMask) == kTypeStandard &&
      !((setup.request_type & kRecipientMask) == kRecipientInterface &&
        setup.request == kGetDescriptor)) {
    handled = standard_request(setup, reply);
  } else {
    handled = class_request(setup, data, reply);
  }
  if (!handled) {
    HVMD_DEBUG("usb %s: request %02x/%02x value %04x index %04x stalled",
               std::string(type()).c_str(), setup.request_type, setup.request, setup.value,
               setup.index);
    return false;
  }
  if (setup.in()) {
    if (reply.size() > kMaxControlData) reply.resize(kMaxControlData);
    data_ = std::move(reply);
  } else {
    data_.clear();
  }
  position_ = 0;
  return true;
}

void UsbDevice::status_done() {
  if (address_pending_) {
    address_ = pending_address_;
    address_pending_ = false;
  }
}

bool UsbDevice::standard_request(const SetupPacket& setup, std::vector<uint8_t>& reply) {
  auto config = configuration_descriptor();
  uint8_t config_value = config.size() > 5 ? config[5] : 1;
  uint8_t attributes = config.size() > 7 ? config[7] : kConfigReserved;
  unsigned interfaces = config.size() > 4 ? config[4] : 0;
  auto put16 = [&](uint16_t v) {
    reply.push_back(static_cast<uint8_t>(v));
    reply.push_back(static_cast<uint8_t>(v >> 8));
  };
  switch (setup.request_type & kRecipientMask) {
    case kRecipientDevice:
      switch (setup.request) {
        case kGetStatus:
          if (!setup.in()) return false;
          put16(static_cast<uint16_t>(((attributes & kConfigSelfPowered) ? kStatusSelfPowered : 0) |
                                      (remote_wakeup_ ? kStatusRemoteWakeup : 0)));
          return true;
        case kClearFeature:
        case kSetFeature:
          if (setup.in() || setup.value != kFeatureRemoteWakeup) return false;
          remote_wakeup_ = setup.request == kSetFeature;
          return true;
        case kSetAddress:
          if (setup.in() || setup.value > kMaxAddress || setup.length) return false;
          pending_address_ = static_cast<uint8_t>(setup.value);
          address_pending_ = true;
          return true;
        case kGetDescriptor:
          return setup.in() && get_descriptor(setup, reply);
        case kGetConfiguration:
          if (!setup.in()) return false;
          reply.push_back(configuration_);
          return true;
        case kSetConfiguration:
          if (setup.in() || address_ == 0) return false;  // not in the default state
          if (setup.value != 0 && setup.value != config_value) return false;
          configuration_ = static_cast<uint8_t>(setup.value);
          halted_in_ = halted_out_ = 0;
          configured();
          return true;
        default:
          return false;
      }
    case kRecipientInterface:
      if (configuration_ == 0 || (setup.index & 0xff) >= interfaces) return false;
      switch (setup.request) {
        case kGetStatus:
          if (!setup.in()) return false;
          put16(0);
          return true;
        case kGetInterface:
          if (!setup.in()) return false;
          reply.push_back(0);  // one alternate setting per interface
          return true;
        case kSetInterface:
          return !setup.in() && setup.value == 0;
        default:
          return false;
      }
    case kRecipientEndpoint: {
      unsigned endpoint = setup.index & 0x0f;
      bool in = setup.index & kDirIn;
      if (endpoint != 0 && (configuration_ == 0 || !has_endpoint(endpoint, in))) return false;
      uint16_t& halted = in ? halted_in_ : halted_out_;
      switch (setup.request) {
        case kGetStatus:
          if (!setup.in()) return false;
          put16((halted >> endpoint) & 1 ? kStatusHalt : 0);
          return true;
        case kClearFeature:
        case kSetFeature:
          if (setup.in() || setup.value != kFeatureEndpointHalt) return false;
          // The default pipe cannot be halted by request; a protocol STALL clears at SETUP.
          if (endpoint == 0) return true;
          if (setup.request == kSetFeature)
            halted = static_cast<uint16_t>(halted | 1u << endpoint);
          else
            halted = static_cast<uint16_t>(halted & ~(1u << endpoint));
          return true;
        default:
          return false;
      }
    }
    default:
      return false;
  }
}

void UsbDevice::as_high_speed_device(std::vector<uint8_t>& d) {
  if (d.size() < 8) return;
  d[2] = 0x00;  // bcdUSB 2.0
  d[3] = 0x02;
  d[7] = 64;  // the only default-pipe size high speed allows
}

void UsbDevice::as_high_speed_configuration(std::vector<uint8_t>& d) {
  for (size_t pos = 0; pos + 2 <= d.size() && d[pos] >= 2; pos += d[pos]) {
    if (d[pos + 1] != kDescEndpoint || pos + 7 > d.size()) continue;
    uint8_t type = d[pos + 3] & 3;
    if (type == kEndpointBulk) {
      d[pos + 4] = 0x00;  // wMaxPacketSize 512: the only bulk size high speed allows
      d[pos + 5] = 0x02;
    } else if (type == kEndpointInterrupt) {
      // Full speed counts the interval in frames, high speed as 2^(bInterval-1) microframes.
      unsigned microframes = std::max<unsigned>(1, d[pos + 6]) * 8;
      uint8_t exponent = 1;
      while (exponent < 16 && (2u << (exponent - 1)) <= microframes) ++exponent;
      d[pos + 6] = exponent;
    }
  }
}

bool UsbDevice::get_descriptor(const SetupPacket& setup, std::vector<uint8_t>& reply) {
  uint8_t type = static_cast<uint8_t>(setup.value >> 8);
  uint8_t index = static_cast<uint8_t>(setup.value);
  switch (type) {
    case kDescDevice: {
      auto d = device_descriptor();
      reply.assign(d.begin(), d.end());
      if (speed_ == Speed::kHigh) as_high_speed_device(reply);
      return true;
    }
    case kDescConfiguration: {
      if (index != 0) return false;  // one configuration
      auto d = configuration_descriptor();
      reply.assign(d.begin(), d.end());
      if (speed_ == Speed::kHigh) as_high_speed_configuration(reply);
      return true;
    }
    case kDescDeviceQualifier: {
      // Only a dual-speed device has one: the device descriptor's fields at the other speed.
      auto d = device_descriptor();
      if (!high_speed_capable_ || d.size() < 18) return false;
      reply = {10,    kDescDeviceQualifier,
               0x00,  0x02,
               d[4],  d[5],
               d[6],  static_cast<uint8_t>(speed_ == Speed::kHigh ? d[7] : 64),
               d[17], 0};
      return true;
    }
    case kDescString: {
      if (index == 0) {
        reply = {4, kDescString, 0x09, 0x04};  // US English
        return true;
      }
      std::string text = string_descriptor(index);
      if (text.empty()) return false;
      reply = string_descriptor_bytes(text);
      return true;
    }
    default:
      // Device qualifier and other-speed descriptors: a full-speed-only device refuses them.
      return false;
  }
}

void UsbDevice::save(StateWriter& out) const {
  write_fields(out, static_cast<const UsbDeviceState&>(*this));
  save_usb(out);
}

Result<std::unique_ptr<StagedState>> UsbDevice::parse_state(StateReader& in, uint32_t version) {
  UsbDeviceState next = *this;
  HVMD_TRY(read_fields(in, version, "usb device", next));
  auto config = configuration_descriptor();
  uint8_t config_value = config.size() > 5 ? config[5] : 1;
  if (next.configuration_ != 0 && next.configuration_ != config_value)
    return make_error("usb device: saved configuration %u does not exist", next.configuration_);
  if (next.position_ > next.data_.size())
    return make_error("usb device: saved control position is beyond its data");
  auto sub = parse_usb(in, version);
  if (!sub) return sub.error();
  return staged([this, next = std::move(next), sub = std::move(*sub)]() mutable {
    static_cast<UsbDeviceState&>(*this) = std::move(next);
    sub->apply();
  });
}

}  // namespace hvmd::devices::usb
