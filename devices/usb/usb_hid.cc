#include "devices/usb/usb_hid.h"

#include <algorithm>
#include <array>

#include "devices/usb/usb_regs.h"

namespace hvmd::devices::usb {

namespace {

// QEMU's vendor and product IDs: guests that met these devices under QEMU (Windows' cached
// driver bindings) see the same devices here.
constexpr uint16_t kVendorQemu = 0x0627;
constexpr uint16_t kProductHid = 0x0001;
constexpr uint8_t kEndpointIn1 = 0x81;
constexpr uint8_t kPollInterval = 10;  // ms, bInterval of the interrupt endpoint
constexpr uint8_t kMaxPacket = 8;
constexpr uint8_t kHidReportInput = 1, kHidReportOutput = 2;
constexpr uint8_t kInterfaceSubclassBoot = 1;
constexpr uint8_t kProtocolKeyboard = 1, kProtocolMouse = 2;
constexpr int64_t kIdleUnitNs = 4'000'000;  // SET_IDLE counts 4 ms
constexpr uint8_t kUsageRollOver = 0x01;    // ErrorRollOver: more keys held than a report holds
constexpr uint8_t kUsageFirstModifier = 0xe0, kUsageLastModifier = 0xe7;

constexpr std::array<uint8_t, 18> device_descriptor_for(uint8_t string_product) {
  return {18,
          kDescDevice,
          0x10,
          0x01,  // USB 1.1
          0,
          0,
          0,           // class in the interface
          kMaxPacket,  // bMaxPacketSize0
          kVendorQemu & 0xff,
          kVendorQemu >> 8,
          kProductHid & 0xff,
          kProductHid >> 8,
          0x00,
          0x01,  // bcdDevice 1.0
          1,
          string_product,
          3,   // manufacturer, product, serial
          1};  // one configuration
}
constexpr auto kDeviceDescriptor = device_descriptor_for(2);

// HID 1.11 report descriptors (short items: tag/type/size byte, then data).
// The tablet: three buttons, X and Y absolute 16-bit in 0..0x7fff, a relative wheel.
constexpr uint8_t kTabletReport[] = {
    0x05, 0x01,        // Usage Page (Generic Desktop)
    0x09, 0x02,        // Usage (Mouse): Windows' mouse class takes absolute mice
    0xa1, 0x01,        // Collection (Application)
    0x09, 0x01,        //   Usage (Pointer)
    0xa1, 0x00,        //   Collection (Physical)
    0x05, 0x09,        //     Usage Page (Button)
    0x19, 0x01,        //     Usage Minimum (1)
    0x29, 0x03,        //     Usage Maximum (3)
    0x15, 0x00,        //     Logical Minimum (0)
    0x25, 0x01,        //     Logical Maximum (1)
    0x95, 0x03,        //     Report Count (3)
    0x75, 0x01,        //     Report Size (1)
    0x81, 0x02,        //     Input (Data, Variable, Absolute)
    0x95, 0x01,        //     Report Count (1)
    0x75, 0x05,        //     Report Size (5)
    0x81, 0x01,        //     Input (Constant): padding
    0x05, 0x01,        //     Usage Page (Generic Desktop)
    0x09, 0x30,        //     Usage (X)
    0x09, 0x31,        //     Usage (Y)
    0x15, 0x00,        //     Logical Minimum (0)
    0x26, 0xff, 0x7f,  //     Logical Maximum (0x7fff)
    0x35, 0x00,        //     Physical Minimum (0)
    0x46, 0xff, 0x7f,  //     Physical Maximum (0x7fff)
    0x75, 0x10,        //     Report Size (16)
    0x95, 0x02,        //     Report Count (2)
    0x81, 0x02,        //     Input (Data, Variable, Absolute)
    0x09, 0x38,        //     Usage (Wheel)
    0x15, 0x81,        //     Logical Minimum (-127)
    0x25, 0x7f,        //     Logical Maximum (127)
    0x35, 0x00,        //     Physical Minimum (0)
    0x45, 0x00,        //     Physical Maximum (0)
    0x75, 0x08,        //     Report Size (8)
    0x95, 0x01,        //     Report Count (1)
    0x81, 0x06,        //     Input (Data, Variable, Relative)
    0xc0,              //   End Collection
    0xc0,              // End Collection
};
// The mouse: the boot mouse's three bytes (buttons, X, Y relative) plus a wheel.
constexpr uint8_t kMouseReport[] = {
    0x05, 0x01, 0x09, 0x02, 0xa1, 0x01,  // Generic Desktop, Mouse, Collection (Application)
    0x09, 0x01, 0xa1, 0x00,              // Pointer, Collection (Physical)
    0x05, 0x09, 0x19, 0x01, 0x29, 0x03,  // Buttons 1..3
    0x15, 0x00, 0x25, 0x01, 0x95, 0x03, 0x75, 0x01, 0x81, 0x02,  // 3 bits, Input (Var)
    0x95, 0x01, 0x75, 0x05, 0x81, 0x01,                          // 5 bits padding
    0x05, 0x01, 0x09, 0x30, 0x09, 0x31, 0x09, 0x38,              // X, Y, Wheel
    0x15, 0x81, 0x25, 0x7f, 0x75, 0x08, 0x95, 0x03, 0x81, 0x06,  // -127..127, Input (Rel)
    0xc0, 0xc0,
};
// The keyboard: the boot keyboard's layout (modifier byte, reserved byte, six key usages) and
// five LED bits as its output report.
constexpr uint8_t kKeyboardReport[] = {
    0x05, 0x01, 0x09, 0x06, 0xa1, 0x01,  // Generic Desktop, Keyboard, Collection (Application)
    0x05, 0x07, 0x19, 0xe0, 0x29, 0xe7,  // Key codes: the eight modifiers
    0x15, 0x00, 0x25, 0x01, 0x75, 0x01, 0x95, 0x08, 0x81, 0x02,  // 8 bits, Input (Var)
    0x95, 0x01, 0x75, 0x08, 0x81, 0x01,                          // reserved byte
    0x95, 0x05, 0x75, 0x01, 0x05, 0x08, 0x19, 0x01, 0x29, 0x05,  // LEDs 1..5
    0x91, 0x02,                                                  // Output (Var)
    0x95, 0x01, 0x75, 0x03, 0x91, 0x01,                          // LED padding
    0x95, 0x06, 0x75, 0x08, 0x15, 0x00, 0x25, 0xff,              // six key array bytes
    0x05, 0x07, 0x19, 0x00, 0x29, 0xff, 0x81, 0x00,              // Input (Array)
    0xc0,
};

// PC set-1 scan codes to keyboard usages (HID Usage Tables, section 10). Index: the code.
constexpr uint8_t kSet1ToUsage[0x59] = {
    0x00, 0x29, 0x1e, 0x1f, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x2d, 0x2e, 0x2a,
    0x2b,  // 0x00-0x0f
    0x14, 0x1a, 0x08, 0x15, 0x17, 0x1c, 0x18, 0x0c, 0x12, 0x13, 0x2f, 0x30, 0x28, 0xe0, 0x04,
    0x16,  // 0x10-0x1f
    0x07, 0x09, 0x0a, 0x0b, 0x0d, 0x0e, 0x0f, 0x33, 0x34, 0x35, 0xe1, 0x31, 0x1d, 0x1b, 0x06,
    0x19,  // 0x20-0x2f
    0x05, 0x11, 0x10, 0x36, 0x37, 0x38, 0xe5, 0x55, 0xe2, 0x2c, 0x39, 0x3a, 0x3b, 0x3c, 0x3d,
    0x3e,  // 0x30-0x3f
    0x3f, 0x40, 0x41, 0x42, 0x43, 0x53, 0x47, 0x5f, 0x60, 0x61, 0x56, 0x5c, 0x5d, 0x5e, 0x57,
    0x59,                                                  // 0x40-0x4f
    0x5a, 0x5b, 0x62, 0x63, 0x00, 0x00, 0x64, 0x44, 0x45,  // 0x50-0x58
};
struct Extended {
  uint8_t code;  // the byte after 0xE0
  uint8_t usage;
};
constexpr Extended kExtendedToUsage[] = {
    {0x1c, 0x58}, {0x1d, 0xe4}, {0x35, 0x54}, {0x37, 0x46}, {0x38, 0xe6}, {0x47, 0x4a},
    {0x48, 0x52}, {0x49, 0x4b}, {0x4b, 0x50}, {0x4d, 0x4f}, {0x4f, 0x4d}, {0x50, 0x51},
    {0x51, 0x4e}, {0x52, 0x49}, {0x53, 0x4c}, {0x5b, 0xe3}, {0x5c, 0xe7}, {0x5d, 0x65},
};

int8_t clamp8(int v) {
  return static_cast<int8_t>(std::clamp(v, -127, 127));
}

}  // namespace

template <class V>
void UsbHidState::describe(V& v) {
  v("protocol", protocol_, AtMost{uint8_t{1}});
  v("idle", idle_);
  v("LEDs", leds_);
  v("buttons", buttons_, Mask{uint8_t{0x07}});
  v("X", x_, AtMost{uint16_t{InputRouter::kAbsoluteMax}});
  v("Y", y_, AtMost{uint16_t{InputRouter::kAbsoluteMax}});
  v("queue", queue_, MaxSize{kQueueDepth * kMaxReport});  // whole reports: parse_usb checks
  v("keys", keys_, MaxSize{kMaxKeys});
  v("modifiers", modifiers_);
}

uint8_t UsbHid::usage_from_qnum(uint16_t qnum) {
  if (qnum & 0x80) {
    for (const auto& e : kExtendedToUsage)
      if (e.code == (qnum & 0x7f)) return e.usage;
    return 0;
  }
  return qnum < std::size(kSet1ToUsage) ? kSet1ToUsage[qnum] : 0;
}

UsbHid::UsbHid(Kind kind, Clock& clock, InputRouter& input)
    : UsbDevice(Speed::kFull), kind_(kind), clock_(clock), input_(&input) {
  auto report = report_descriptor();
  uint8_t subclass = kind == Kind::kTablet ? 0 : kInterfaceSubclassBoot;
  uint8_t protocol = kind == Kind::kKeyboard ? kProtocolKeyboard
                     : kind == Kind::kMouse  ? kProtocolMouse
                                             : 0;
  constexpr uint8_t kTotal = 9 + 9 + 9 + 7;
  config_ = {9, kDescConfiguration, kTotal, 0, 1 /* interfaces */, 1 /* value */, 0,
             kConfigReserved | kConfigRemoteWakeup, 50 /* 100 mA */,
             // Interface 0: HID.
             9, kDescInterface, 0, 0, 1 /* endpoints */, 3 /* HID */, subclass, protocol, 0,
             // HID descriptor: HID 1.11, no country, one report descriptor.
             9, kDescHid, 0x11, 0x01, 0, 1, kDescHidReport, static_cast<uint8_t>(report.size()),
             static_cast<uint8_t>(report.size() >> 8),
             // Endpoint 1 IN, interrupt.
             7, kDescEndpoint, kEndpointIn1, kEndpointInterrupt, kMaxPacket, 0, kPollInterval};
  switch (kind) {
    case Kind::kTablet:
      input.add_absolute(this);
      break;
    case Kind::kMouse:
      input.add_relative(this);
      break;
    case Kind::kKeyboard:
      input.add_keyboard(this);
      break;
  }
}

UsbHid::~UsbHid() {
  unregister();
}

void UsbHid::unrealize() {
  unregister();
}

void UsbHid::unregister() {
  if (!input_) return;
  input_->remove_absolute(this);
  input_->remove_relative(this);
  input_->remove_keyboard(this);
  input_ = nullptr;
}

std::string_view UsbHid::type() const {
  switch (kind_) {
    case Kind::kTablet:
      return "usb-tablet";
    case Kind::kMouse:
      return "usb-mouse";
    case Kind::kKeyboard:
      return "usb-kbd";
  }
  return "usb-hid";
}

std::string UsbHid::product() const {
  switch (kind_) {
    case Kind::kTablet:
      return "HVMD USB Tablet";
    case Kind::kMouse:
      return "HVMD USB Mouse";
    case Kind::kKeyboard:
      return "HVMD USB Keyboard";
  }
  return {};
}

std::span<const uint8_t> UsbHid::device_descriptor() const {
  return kDeviceDescriptor;
}
std::span<const uint8_t> UsbHid::configuration_descriptor() const {
  return config_;
}

std::span<const uint8_t> UsbHid::report_descriptor() const {
  switch (kind_) {
    case Kind::kTablet:
      return kTabletReport;
    case Kind::kMouse:
      return kMouseReport;
    case Kind::kKeyboard:
      return kKeyboardReport;
  }
  return {};
}

unsigned UsbHid::report_size() const {
  switch (kind_) {
    case Kind::kTablet:
      return 6;
    case Kind::kMouse:
      return protocol_ == 0 ? 3 : 4;  // the boot mouse has no wheel byte
    case Kind::kKeyboard:
      return 8;
  }
  return 0;
}

std::vector<uint8_t> UsbHid::make_report(int dx, int dy, int dz) const {
  std::vector<uint8_t> r(report_size());
  switch (kind_) {
    case Kind::kTablet:
      r = {buttons_,
           static_cast<uint8_t>(x_),
           static_cast<uint8_t>(x_ >> 8),
           static_cast<uint8_t>(y_),
           static_cast<uint8_t>(y_ >> 8),
           static_cast<uint8_t>(clamp8(dz))};
      break;
    case Kind::kMouse:
      r[0] = buttons_;
      r[1] = static_cast<uint8_t>(clamp8(dx));
      r[2] = static_cast<uint8_t>(clamp8(dy));
      if (r.size() > 3) r[3] = static_cast<uint8_t>(clamp8(dz));
      break;
    case Kind::kKeyboard:
      r[0] = modifiers_;
      if (keys_.size() > 6) {
        std::fill(r.begin() + 2, r.end(), kUsageRollOver);
      } else {
        std::copy(keys_.begin(), keys_.end(), r.begin() + 2);
      }
      break;
  }
  return r;
}

void UsbHid::queue_report(std::vector<uint8_t> report) {
  if (queue_.size() >= kQueueDepth * report.size()) {
    // Full: the newest report replaces the last one (the guest sees the latest state).
    std::copy(report.begin(), report.end(), queue_.end() - static_cast<long>(report.size()));
  } else {
    queue_.insert(queue_.end(), report.begin(), report.end());
  }
  request_wakeup();
  endpoint_ready();
}

void UsbHid::key_event(uint16_t qnum, bool pressed) {
  if (kind_ != Kind::kKeyboard) return;
  uint8_t usage = usage_from_qnum(qnum);
  if (!usage) return;
  if (usage >= kUsageFirstModifier && usage <= kUsageLastModifier) {
    uint8_t bit = static_cast<uint8_t>(1u << (usage - kUsageFirstModifier));
    modifiers_ = pressed ? (modifiers_ | bit) : (modifiers_ & ~bit);
  } else if (pressed) {
    if (std::find(keys_.begin(), keys_.end(), usage) != keys_.end()) return;  // typematic
    if (keys_.size() >= kMaxKeys) return;
    keys_.push_back(usage);
  } else {
    auto it = std::find(keys_.begin(), keys_.end(), usage);
    if (it == keys_.end()) return;
    keys_.erase(it);
  }
  queue_report(make_report(0, 0, 0));
}

void UsbHid::relative_event(int dx, int dy, int dz, uint8_t buttons) {
  if (kind_ != Kind::kMouse) return;
  buttons_ = buttons & 7;
  // Motion beyond one report's range goes out in several.
  do {
    int sx = std::clamp(dx, -127, 127), sy = std::clamp(dy, -127, 127);
    int sz = std::clamp(dz, -127, 127);
    queue_report(make_report(sx, sy, -sz));  // HID wheel: positive away from the user
    dx -= sx;
    dy -= sy;
    dz -= sz;
  } while ((dx || dy || dz) && queue_.size() < kQueueDepth * report_size());
}

void UsbHid::absolute_event(uint32_t x, uint32_t y, int dz, uint8_t buttons) {
  if (kind_ != Kind::kTablet) return;
  x_ = static_cast<uint16_t>(std::min(x, InputRouter::kAbsoluteMax));
  y_ = static_cast<uint16_t>(std::min(y, InputRouter::kAbsoluteMax));
  buttons_ = buttons & 7;
  queue_report(make_report(0, 0, -std::clamp(dz, -127, 127)));  // clamped before negating
}

void UsbHid::endpoint_in(unsigned /*endpoint*/, Packet& packet) {
  unsigned size = report_size();
  std::vector<uint8_t> report;
  int64_t now = clock_.now_ns();
  if (queue_.size() >= size) {
    report.assign(queue_.begin(), queue_.begin() + size);
  } else if (idle_ != 0 && now - last_report_ns_ >= idle_ * kIdleUnitNs) {
    report = make_report(0, 0, 0);  // the idle rate repeats the current state
  } else {
    packet.status = PacketStatus::kNak;
    return;
  }
  if (report.size() > packet.buffer.size()) {
    packet.status = PacketStatus::kBabble;  // the report stays queued
    return;
  }
  if (queue_.size() >= size) queue_.erase(queue_.begin(), queue_.begin() + size);
  std::copy(report.begin(), report.end(), packet.buffer.begin());
  packet.actual = report.size();
  last_report_ns_ = now;
}

bool UsbHid::class_request(const SetupPacket& setup, std::span<const uint8_t> data,
                           std::vector<uint8_t>& reply) {
  if ((setup.request_type & kRecipientMask) != kRecipientInterface || (setup.index & 0xff) != 0)
    return false;
  if ((setup.request_type & kTypeMask) == kTypeStandard) {
    // GET_DESCRIPTOR to the interface: the HID and report descriptors.
    if (setup.request != kGetDescriptor || !setup.in()) return false;
    switch (setup.value >> 8) {
      case kDescHid:
        reply.assign(config_.begin() + 18, config_.begin() + 27);
        return true;
      case kDescHidReport: {
        auto r = report_descriptor();
        reply.assign(r.begin(), r.end());
        return true;
      }
      default:
        return false;
    }
  }
  if ((setup.request_type & kTypeMask) != kTypeClass) return false;
  switch (setup.request) {
    case kHidGetReport:
      if (!setup.in() || (setup.value >> 8) != kHidReportInput) return false;
      reply = make_report(0, 0, 0);
      return true;
    case kHidSetReport:
      if (setup.in() || kind_ != Kind::kKeyboard || (setup.value >> 8) != kHidReportOutput)
        return false;
      if (!data.empty()) leds_ = data[0] & 0x1f;
      return true;
    case kHidGetIdle:
      if (!setup.in()) return false;
      reply.push_back(idle_);
      return true;
    case kHidSetIdle:
      if (setup.in()) return false;
      idle_ = static_cast<uint8_t>(setup.value >> 8);
      last_report_ns_ = clock_.now_ns();
      return true;
    case kHidGetProtocol:
      if (!setup.in() || kind_ == Kind::kTablet) return false;
      reply.push_back(protocol_);
      return true;
    case kHidSetProtocol:
      if (setup.in() || kind_ == Kind::kTablet || setup.value > 1) return false;
      if (protocol_ != setup.value) queue_.clear();  // the report size may change
      protocol_ = static_cast<uint8_t>(setup.value);
      return true;
    default:
      return false;
  }
}

void UsbHid::usb_reset() {
  // A reset device starts in the report protocol with nothing queued; what is held stays held.
  protocol_ = 1;
  idle_ = 0;
  queue_.clear();
  leds_ = 0;
}

void UsbHid::save_usb(StateWriter& out) const {
  write_fields(out, static_cast<const UsbHidState&>(*this));
}

Result<std::unique_ptr<StagedState>> UsbHid::parse_usb(StateReader& in, uint32_t version) {
  return stage_fields<UsbHidState>(in, version, type().data(), *this, [this](UsbHidState& s) {
    unsigned size = kind_ == Kind::kMouse ? (s.protocol_ == 0 ? 3 : 4) : report_size();
    if (s.queue_.size() % size != 0 || s.queue_.size() > kQueueDepth * size)
      return Result<void>(
          make_error("%s: saved report queue is not whole reports", std::string(type()).c_str()));
    return ok();
  });
}

}  // namespace hvmd::devices::usb
