#include "devices/input/i8042.h"

#include "devices/input/scancodes.h"
#include "dm/log.h"

namespace hvmd::devices {

namespace {

constexpr uint16_t kDataPort = 0x60;
constexpr uint16_t kCommandPort = 0x64;
constexpr unsigned kKeyboardIrq = 1;
constexpr unsigned kMouseIrq = 12;

// Status register.
constexpr uint8_t kStatusOutputFull = 1u << 0;
constexpr uint8_t kStatusSystem = 1u << 2;
constexpr uint8_t kStatusCommand = 1u << 3;       // the last write went to 0x64
constexpr uint8_t kStatusNotInhibited = 1u << 4;  // the keyboard lock is open
constexpr uint8_t kStatusMouseData = 1u << 5;

// Command byte.
constexpr uint8_t kCbKeyboardInterrupt = 1u << 0;
constexpr uint8_t kCbMouseInterrupt = 1u << 1;
constexpr uint8_t kCbSystem = 1u << 2;
constexpr uint8_t kCbKeyboardDisabled = 1u << 4;
constexpr uint8_t kCbMouseDisabled = 1u << 5;
constexpr uint8_t kCbTranslate = 1u << 6;
constexpr uint8_t kPowerOnCommandByte = kCbKeyboardInterrupt | kCbTranslate;

// Output port.
constexpr uint8_t kOutResetLine = 1u << 0;  // 0 holds the processor in reset
constexpr uint8_t kOutA20 = 1u << 1;
constexpr uint8_t kPowerOnOutputPort = kOutResetLine | kOutA20;

// Controller commands.
constexpr uint8_t kReadCommandByte = 0x20, kWriteCommandByte = 0x60, kDisableMouse = 0xa7,
                  kEnableMouse = 0xa8, kTestMouse = 0xa9, kSelfTest = 0xaa, kTestKeyboard = 0xab,
                  kDisableKeyboard = 0xad, kEnableKeyboard = 0xae, kReadInputPort = 0xc0,
                  kReadOutputPort = 0xd0, kWriteOutputPort = 0xd1, kWriteKeyboardOutput = 0xd2,
                  kWriteMouseOutput = 0xd3, kWriteToMouse = 0xd4, kDisableA20 = 0xdd,
                  kEnableA20 = 0xdf, kPulseFirst = 0xf0;
constexpr uint8_t kSelfTestPassed = 0x55;
constexpr uint8_t kInterfaceOk = 0x00;
constexpr uint8_t kBreakPrefix = 0xf0;

// Controller commands followed by a data byte on port 0x60.
bool waits_for_data(uint8_t command) {
  return (command >= kWriteCommandByte && command < kWriteCommandByte + 0x20) ||
         command == kWriteOutputPort || command == kWriteKeyboardOutput ||
         command == kWriteMouseOutput || command == kWriteToMouse;
}

}  // namespace

I8042::I8042(Dispatcher& dispatcher, InterruptSink& interrupts, PowerControl& power,
             InputRouter& input)
    : power_(power),
      input_(input),
      keyboard_irq_(IrqLine::isa(&interrupts, kKeyboardIrq)),
      mouse_irq_(IrqLine::isa(&interrupts, kMouseIrq)),
      data_mapping_(dispatcher, dispatcher.map_ports(kDataPort, 1, &data_io_, "i8042-data")),
      command_mapping_(dispatcher,
                       dispatcher.map_ports(kCommandPort, 1, &command_io_, "i8042-cmd")) {
  input.add_keyboard(this);
  input.add_relative(this);
  keyboard_.set_notify([this] { fill_output(); });
  mouse_.set_notify([this] { fill_output(); });
  reset();
}

void I8042::unrealize() {
  input_.remove_keyboard(this);
  input_.remove_relative(this);
}

void I8042::reset() {
  keyboard_.reset();
  mouse_.reset();
  replies_.clear();
  output_full_ = false;
  output_ = 0;
  command_byte_ = kPowerOnCommandByte;
  output_port_ = kPowerOnOutputPort;
  pending_command_ = 0;
  last_write_was_command_ = true;  // the power-on status reads 0x18, as QEMU's and real 8042s
  translating_break_ = false;
  system_flag_ = false;
  update_interrupts();
}

void I8042::reply(uint8_t byte) {
  if (replies_.size() < Ps2Port::kQueueSize) replies_.push_back(byte);
  fill_output();
}

// Moves the next byte into the output buffer once it is free: controller replies first, then the
// keyboard (translated to set 1 when the command byte says so), then the mouse.
void I8042::fill_output() {
  while (!output_full_) {
    if (!replies_.empty()) {
      output_ = replies_.front();
      replies_.pop_front();
      output_source_ = Source::kController;
      output_full_ = true;
    } else if (!(command_byte_ & kCbKeyboardDisabled) && keyboard_.has_data()) {
      uint8_t byte = keyboard_.take();
      if (command_byte_ & kCbTranslate) {
        if (byte == kBreakPrefix) {
          translating_break_ = true;
          continue;  // folded into the next code's bit 7
        }
        byte = scancodes::translate_set2(byte) | (translating_break_ ? 0x80 : 0);
        translating_break_ = false;
      }
      output_ = byte;
      output_source_ = Source::kKeyboard;
      output_full_ = true;
    } else if (!(command_byte_ & kCbMouseDisabled) && mouse_.has_data()) {
      output_ = mouse_.take();
      output_source_ = Source::kMouse;
      output_full_ = true;
    } else {
      break;
    }
  }
  update_interrupts();
}

void I8042::update_interrupts() {
  bool mouse_data = output_full_ && output_source_ == Source::kMouse;
  keyboard_irq_.set(output_full_ && !mouse_data && (command_byte_ & kCbKeyboardInterrupt));
  mouse_irq_.set(mouse_data && (command_byte_ & kCbMouseInterrupt));
}

uint64_t I8042::data_read(uint64_t, unsigned) {
  // An empty buffer reads as the last byte, as the chip does.
  uint8_t value = output_;
  if (output_full_) {
    // The line drops with the read and rises again for the next queued byte: ISA IRQs are
    // edge-triggered (under Xen, IOAPIC edge pins) and drivers read one byte per interrupt.
    output_full_ = false;
    update_interrupts();
    fill_output();
  }
  return value;
}

uint64_t I8042::status_read(uint64_t, unsigned) {
  uint8_t status = kStatusNotInhibited;
  if (output_full_) status |= kStatusOutputFull;
  if (output_full_ && output_source_ == Source::kMouse) status |= kStatusMouseData;
  if (system_flag_ || (command_byte_ & kCbSystem)) status |= kStatusSystem;
  if (last_write_was_command_) status |= kStatusCommand;
  return status;
}

void I8042::data_write(uint64_t, unsigned, uint64_t value) {
  auto byte = static_cast<uint8_t>(value);
  last_write_was_command_ = false;
  uint8_t command = pending_command_;
  pending_command_ = 0;
  switch (command) {
    case 0:
      // A byte for the keyboard; talking to it enables its interface.
      command_byte_ &= ~kCbKeyboardDisabled;
      keyboard_.write(byte);
      break;
    case kWriteOutputPort:
      output_port_ = byte;
      if (!(byte & kOutResetLine)) power_.request_shutdown(ShutdownCause::kGuestReset);
      break;
    case kWriteKeyboardOutput:
      reply(byte);  // appears as if the keyboard sent it (bounded like every reply)
      break;
    case kWriteMouseOutput:
      output_ = byte;
      if (!output_full_) {
        output_full_ = true;
        output_source_ = Source::kMouse;
      }
      break;
    case kWriteToMouse:
      command_byte_ &= ~kCbMouseDisabled;
      mouse_.write(byte);
      break;
    default:
      if (command >= kWriteCommandByte && command < kWriteCommandByte + 0x20) {
        if (command == kWriteCommandByte) {
          command_byte_ = byte;
          if (byte & kCbSystem) system_flag_ = true;
        }
        // Other controller RAM bytes are not used by PCs.
      }
  }
  fill_output();
}

void I8042::command_write(uint64_t, unsigned, uint64_t value) {
  auto command = static_cast<uint8_t>(value);
  last_write_was_command_ = true;
  if (command >= kReadCommandByte && command < kReadCommandByte + 0x20) {
    reply(command == kReadCommandByte ? command_byte_ : 0);
    return;
  }
  if (waits_for_data(command)) {
    pending_command_ = command;
    return;
  }
  if (command >= kPulseFirst) {
    // Pulse the output-port bits whose mask bit is 0: bit 0 is the reset line (0xfe reboots).
    if (!(command & kOutResetLine)) power_.request_shutdown(ShutdownCause::kGuestReset);
    return;
  }
  switch (command) {
    case kDisableMouse:
      command_byte_ |= kCbMouseDisabled;
      break;
    case kEnableMouse:
      command_byte_ &= ~kCbMouseDisabled;
      break;
    case kTestMouse:
    case kTestKeyboard:
      reply(kInterfaceOk);
      break;
    case kSelfTest:
      system_flag_ = true;
      reply(kSelfTestPassed);
      break;
    case kDisableKeyboard:
      command_byte_ |= kCbKeyboardDisabled;
      break;
    case kEnableKeyboard:
      command_byte_ &= ~kCbKeyboardDisabled;
      break;
    case kReadInputPort:
      reply(0x80);  // keyboard not locked
      break;
    case kReadOutputPort: {
      uint8_t port = output_port_ & (kOutResetLine | kOutA20);
      if (output_full_ && output_source_ != Source::kMouse) port |= 1u << 4;
      if (output_full_ && output_source_ == Source::kMouse) port |= 1u << 5;
      reply(port);
      break;
    }
    case kDisableA20:
      output_port_ &= ~kOutA20;
      break;
    case kEnableA20:
      output_port_ |= kOutA20;
      break;
    default:
      HVMD_GUEST_LOG("i8042: unknown controller command %#x", command);
  }
  fill_output();
}

template <class V>
void I8042State::describe(V& v) {
  // Bounded as reply() bounds it: a longer queue is refused.
  v("controller replies", replies_, MaxSize{Ps2Port::kQueueSize});
  v("output full", output_full_);
  v("output source", output_source_, AtMost{Source::kMouse});  // refused beyond
  v("output buffer", output_);
  v("command byte", command_byte_);
  v("output port", output_port_);
  v("pending command", pending_command_);  // checked in parse_state
  v("last write was a command", last_write_was_command_);
  v("translating a break", translating_break_);
  v("system flag", system_flag_);
}

// The whole section: the controller, then each PS/2 device's settings and queue.
struct I8042::Saved {
  I8042State controller;
  Ps2KeyboardState keyboard;
  std::deque<uint8_t> keyboard_queue;
  Ps2MouseState mouse;
  std::deque<uint8_t> mouse_queue;
  template <class V>
  void describe(V& v) {
    v("controller", controller);
    v("keyboard", keyboard);
    // Bounded as the ports bound them: longer queues are refused.
    v("keyboard queue", keyboard_queue, MaxSize{Ps2Port::kQueueSize});
    v("mouse", mouse);
    v("mouse queue", mouse_queue, MaxSize{Ps2Port::kQueueSize});
  }
};

I8042::Saved I8042::saved() const {
  return {*this, keyboard_.state(), keyboard_.queue(), mouse_.state(), mouse_.queue()};
}

void I8042::save(StateWriter& out) const {
  write_fields(out, saved());
}

Result<std::unique_ptr<StagedState>> I8042::parse_state(StateReader& in, uint32_t version) {
  Saved s = saved();
  HVMD_TRY(read_fields(in, version, "i8042", s));
  if (s.controller.pending_command_ && !waits_for_data(s.controller.pending_command_))
    return make_error("i8042: no command %#x waits for data", s.controller.pending_command_);
  HVMD_TRY(s.keyboard.check());
  HVMD_TRY(s.mouse.check());
  return staged([this, s = std::move(s)] {
    static_cast<I8042State&>(*this) = s.controller;
    keyboard_.restore(s.keyboard);
    keyboard_.restore_queue(s.keyboard_queue);
    mouse_.restore(s.mouse);
    mouse_.restore_queue(s.mouse_queue);
  });
}

void I8042::post_load() {
  update_interrupts();
}

}  // namespace hvmd::devices
