// The i8042 keyboard controller at ports 0x60/0x64 with a PS/2 keyboard (IRQ 1) and mouse
// (IRQ 12): the controller command set firmware and Linux use, the command byte (interrupt
// enables, port disables, set-2 to set-1 translation), the output port (A20, and the reset line
// a guest pulses to reboot), and one output buffer fed from the controller, then the keyboard,
// then the mouse.
#pragma once

#include <deque>

#include "devices/input/ps2_devices.h"
#include "dm/device.h"
#include "dm/dispatcher.h"
#include "dm/input.h"
#include "dm/interrupts.h"
#include "dm/io_handler.h"
#include "dm/power_control.h"

namespace hvmd::devices {

// The controller's saved state, described in i8042.cc.
struct I8042State {
  enum class Source : uint8_t { kController, kKeyboard, kMouse };
  std::deque<uint8_t> replies_;  // controller command results
  bool output_full_ = false;
  Source output_source_ = Source::kController;
  uint8_t output_ = 0;
  uint8_t command_byte_ = 0;
  uint8_t output_port_ = 0;
  uint8_t pending_command_ = 0;  // a controller command waiting for its data byte
  bool last_write_was_command_ = false;
  bool translating_break_ = false;  // an F0 prefix seen while translating
  bool system_flag_ = false;
  template <class V>
  void describe(V& v);
};

class I8042 final : public Device,
                    public KeyboardInput,
                    public RelativePointerInput,
                    private I8042State {
 public:
  // Registers with input as the keyboard and the relative pointer until unrealized.
  I8042(Dispatcher& dispatcher, InterruptSink& interrupts, PowerControl& power, InputRouter& input);
  std::string_view type() const override { return "i8042"; }
  void reset() override;
  void save(StateWriter& out) const override;
  Result<std::unique_ptr<StagedState>> parse_state(StateReader& in, uint32_t version) override;
  void post_load() override;
  void unrealize() override;

  // Input as the machine's InputRouter delivers it: the keyboard and the relative pointer.
  // PS/2 counts y upwards.
  void key_event(uint16_t qnum, bool pressed) override { keyboard_.key_event(qnum, pressed); }
  void relative_event(int dx, int dy, int dz, uint8_t buttons) override {
    mouse_.mouse_event(dx, -dy, -dz, buttons);
  }

  uint64_t data_read(uint64_t offset, unsigned size);
  void data_write(uint64_t offset, unsigned size, uint64_t value);
  uint64_t status_read(uint64_t offset, unsigned size);
  void command_write(uint64_t offset, unsigned size, uint64_t value);

 private:
  struct Saved;
  Saved saved() const;
  void reply(uint8_t byte);
  void fill_output();
  void update_interrupts();

  PowerControl& power_;
  InputRouter& input_;
  IrqLine keyboard_irq_;
  IrqLine mouse_irq_;
  MemberIoHandler<I8042, &I8042::data_read, &I8042::data_write> data_io_{*this};
  MemberIoHandler<I8042, &I8042::status_read, &I8042::command_write> command_io_{*this};
  ScopedMapping data_mapping_;
  ScopedMapping command_mapping_;
  Ps2Keyboard keyboard_;
  Ps2Mouse mouse_;
};

}  // namespace hvmd::devices
