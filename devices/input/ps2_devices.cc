#include "devices/input/ps2_devices.h"

#include <algorithm>

#include "devices/input/scancodes.h"
#include "dm/state_fields.h"

namespace hvmd::devices {

namespace {
// Keyboard commands.
constexpr uint8_t kSetLeds = 0xed, kEchoCommand = 0xee, kScancodeSet = 0xf0, kIdentify = 0xf2,
                  kTypematic = 0xf3, kEnable = 0xf4, kDisable = 0xf5, kDefaults = 0xf6,
                  kResendCommand = 0xfe, kReset = 0xff;
constexpr uint8_t kKeyboardId[] = {0xab, 0x83};
// Mouse commands.
constexpr uint8_t kScaling1to1 = 0xe6, kScaling2to1 = 0xe7, kSetResolution = 0xe8,
                  kStatusRequest = 0xe9, kStreamMode = 0xea, kReadData = 0xeb, kResetWrap = 0xec,
                  kWrapMode = 0xee, kRemoteMode = 0xf0, kGetId = 0xf2, kSampleRate = 0xf3;
constexpr int kMaxDelta = 255;
}  // namespace

uint8_t Ps2Port::take() {
  uint8_t byte = queue_.front();
  queue_.pop_front();
  return byte;
}

void Ps2Port::send(uint8_t byte) {
  if (queue_.size() >= kQueueSize) return;  // overrun: the device drops it, as hardware does
  queue_.push_back(byte);
  if (notify_) notify_();
}

void Ps2Port::send_all(std::initializer_list<uint8_t> bytes) {
  for (uint8_t b : bytes) send(b);
}

// --- keyboard ---

void Ps2Keyboard::reset() {
  clear();
  pending_command_ = 0;
  set_ = 2;
  leds_ = 0;
  scanning_ = true;
}

void Ps2Keyboard::write(uint8_t byte) {
  if (pending_command_) {
    uint8_t command = pending_command_;
    pending_command_ = 0;
    switch (command) {
      case kSetLeds:
        leds_ = byte & 0x07;
        send(kAck);
        return;
      case kTypematic:
        send(kAck);  // repeat comes from the host side's own key repeat
        return;
      case kScancodeSet:
        if (byte == 0) {
          send_all({kAck, static_cast<uint8_t>(set_)});
        } else if (byte == 1 || byte == 2) {
          set_ = byte;
          send(kAck);
        } else {
          send(kResend);  // set 3 is not offered
        }
        return;
    }
  }
  switch (byte) {
    case kSetLeds:
    case kTypematic:
    case kScancodeSet:
      pending_command_ = byte;
      send(kAck);
      return;
    case kEchoCommand:
      send(kEcho);
      return;
    case kIdentify:
      send_all({kAck, kKeyboardId[0], kKeyboardId[1]});
      return;
    case kEnable:
      clear();
      scanning_ = true;
      send(kAck);
      return;
    case kDisable:
    case kDefaults:
      clear();
      set_ = 2;
      leds_ = 0;
      scanning_ = byte == kDefaults;
      send(kAck);
      return;
    case kReset:
      reset();
      send_all({kAck, kSelfTestPassed});
      return;
    default:
      if (byte >= 0xf7 && byte <= 0xfd) {  // per-key typematic/make settings: set 3 only
        send(kAck);
        return;
      }
      send(kResend);
  }
}

void Ps2Keyboard::key_event(uint16_t qnum, bool pressed) {
  if (!scanning_) return;
  auto bytes = scancodes::key_bytes(qnum, pressed, set_);
  if (bytes.size() > room()) return;  // never half a scan code
  for (uint8_t b : bytes) send(b);
}

template <class V>
void Ps2KeyboardState::describe(V& v) {
  v("keyboard command", pending_command_);           // checked in check()
  v("scan code set", set_, InRange<uint8_t>{1, 2});  // set 3 is not offered: refused
  v("LEDs", leds_, Mask<uint8_t>{0x07});             // as the set-LEDs argument is masked
  v("scanning", scanning_);
}
template void Ps2KeyboardState::describe(FieldWriter&);
template void Ps2KeyboardState::describe(FieldReader&);

Result<void> Ps2KeyboardState::check() const {
  if (pending_command_ != 0 && pending_command_ != kSetLeds && pending_command_ != kTypematic &&
      pending_command_ != kScancodeSet)
    return make_error("PS/2 keyboard: no command %#x waits for an argument", pending_command_);
  return ok();
}

// --- mouse ---

void Ps2Mouse::reset() {
  clear();
  pending_command_ = 0;
  reporting_ = remote_ = wrap_ = scaling_2to1_ = false;
  resolution_ = 2;
  sample_rate_ = 100;
  buttons_ = 0;
  id_ = kIdStandard;
  rate_history_.fill(0);
}

void Ps2Mouse::write(uint8_t byte) {
  if (wrap_ && byte != kResetWrap && byte != kReset) {
    send(byte);  // wrap mode echoes everything
    return;
  }
  if (pending_command_) {
    uint8_t command = pending_command_;
    pending_command_ = 0;
    if (command == kSetResolution) {
      resolution_ = byte & 3;
    } else if (command == kSampleRate) {
      sample_rate_ = byte;
      // IntelliMouse detection: rates 200, 100, 80 in a row switch the wheel on.
      rate_history_[0] = rate_history_[1];
      rate_history_[1] = rate_history_[2];
      rate_history_[2] = byte;
      if (rate_history_[0] == 200 && rate_history_[1] == 100 && rate_history_[2] == 80)
        id_ = kIdWheel;
    }
    send(kAck);
    return;
  }
  switch (byte) {
    case kSetResolution:
    case kSampleRate:
      pending_command_ = byte;
      send(kAck);
      return;
    case kScaling1to1:
    case kScaling2to1:
      scaling_2to1_ = byte == kScaling2to1;
      send(kAck);
      return;
    case kStatusRequest:
      send_all({kAck,
                static_cast<uint8_t>((remote_ ? 0x40 : 0) | (reporting_ ? 0x20 : 0) |
                                     (scaling_2to1_ ? 0x10 : 0) | (buttons_ & 0x07)),
                resolution_, sample_rate_});
      return;
    case kStreamMode:
      remote_ = false;
      send(kAck);
      return;
    case kReadData:
      send(kAck);
      send_packet(0, 0, 0);
      return;
    case kResetWrap:
      wrap_ = false;
      send(kAck);
      return;
    case kWrapMode:
      wrap_ = true;
      send(kAck);
      return;
    case kRemoteMode:
      remote_ = true;
      send(kAck);
      return;
    case kGetId:
      send_all({kAck, id_});
      return;
    case kEnable:
      reporting_ = true;
      send(kAck);
      return;
    case kDisable:
    case kDefaults:
      reporting_ = false;
      resolution_ = 2;
      sample_rate_ = 100;
      scaling_2to1_ = false;
      send(kAck);
      return;
    case kResendCommand:
      send(kAck);
      return;
    case kReset:
      reset();
      send_all({kAck, kSelfTestPassed, kIdStandard});
      return;
    default:
      send(kResend);
  }
}

void Ps2Mouse::send_packet(int dx, int dy, int dz) {
  unsigned size = id_ == kIdWheel ? 4 : 3;
  if (room() < size) return;  // a whole packet or nothing
  dx = std::clamp(dx, -kMaxDelta, kMaxDelta);
  dy = std::clamp(dy, -kMaxDelta, kMaxDelta);
  uint8_t first = 0x08 | (buttons_ & 0x07) | (dx < 0 ? 0x10 : 0) | (dy < 0 ? 0x20 : 0);
  send(first);
  send(static_cast<uint8_t>(dx));
  send(static_cast<uint8_t>(dy));
  if (size == 4) send(static_cast<uint8_t>(std::clamp(dz, -8, 7) & 0x0f));
}

void Ps2Mouse::mouse_event(int dx, int dy, int dz, uint8_t buttons) {
  buttons_ = buttons & 0x07;
  if (reporting_ && !remote_ && !wrap_) send_packet(dx, dy, dz);
}

template <class V>
void Ps2MouseState::describe(V& v) {
  v("mouse command", pending_command_);  // checked in check()
  v("reporting", reporting_);
  v("remote mode", remote_);
  v("wrap mode", wrap_);
  v("2:1 scaling", scaling_2to1_);
  // Masked as the commands setting them mask them; the id is checked in check().
  v("resolution", resolution_, Mask<uint8_t>{3});
  v("sample rate", sample_rate_);
  v("buttons", buttons_, Mask<uint8_t>{0x07});
  v("id", id_);
  v("sample rate history", rate_history_);
}
template void Ps2MouseState::describe(FieldWriter&);
template void Ps2MouseState::describe(FieldReader&);

Result<void> Ps2MouseState::check() const {
  if (pending_command_ != 0 && pending_command_ != kSetResolution &&
      pending_command_ != kSampleRate)
    return make_error("PS/2 mouse: no command %#x waits for an argument", pending_command_);
  if (id_ != kIdStandard && id_ != kIdWheel) return make_error("PS/2 mouse: id %#x", id_);
  return ok();
}

}  // namespace hvmd::devices
