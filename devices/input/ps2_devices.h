// The PS/2 keyboard and mouse behind the i8042: each takes command bytes from the host and
// answers through a small output queue the controller drains. Input arrives through key_event()
// and mouse_event(), the API a display (VNC) or QMP's input-send-event calls.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>

#include "dm/state.h"

namespace hvmd::devices {

// A PS/2 device's side of the wire: bytes towards the controller, bounded as in hardware.
class Ps2Port {
 public:
  static constexpr size_t kQueueSize = 16;
  bool has_data() const { return !queue_.empty(); }
  uint8_t take();
  void clear() { queue_.clear(); }
  // The controller asks to be told when data arrives.
  void set_notify(std::function<void()> fn) { notify_ = std::move(fn); }

 protected:
  void send(uint8_t byte);
  void send_all(std::initializer_list<uint8_t> bytes);
  size_t room() const { return kQueueSize - queue_.size(); }
  void save_queue(StateWriter& out) const;
  Result<void> load_queue(StateReader& in);

 private:
  std::deque<uint8_t> queue_;
  std::function<void()> notify_;
};

class Ps2Keyboard final : public Ps2Port {
 public:
  // Command bytes and replies (IBM PS/2 keyboard technical reference).
  static constexpr uint8_t kAck = 0xfa, kResend = 0xfe, kSelfTestPassed = 0xaa, kEcho = 0xee;

  void write(uint8_t byte);  // a byte from the host
  void key_event(uint16_t qnum, bool pressed);
  void reset();
  void save(StateWriter& out) const;
  Result<void> load(StateReader& in);

 private:
  uint8_t pending_command_ = 0;  // a command waiting for its argument byte
  unsigned set_ = 2;
  uint8_t leds_ = 0;
  bool scanning_ = true;
};

class Ps2Mouse final : public Ps2Port {
 public:
  static constexpr uint8_t kAck = 0xfa, kResend = 0xfe, kSelfTestPassed = 0xaa;
  static constexpr uint8_t kIdStandard = 0x00, kIdWheel = 0x03;

  void write(uint8_t byte);
  // Relative motion (x right, y up, z wheel) and the left/right/middle buttons (bits 0-2).
  void mouse_event(int dx, int dy, int dz, uint8_t buttons);
  void reset();
  void save(StateWriter& out) const;
  Result<void> load(StateReader& in);

 private:
  void send_packet(int dx, int dy, int dz);

  uint8_t pending_command_ = 0;
  bool reporting_ = false;
  bool remote_ = false;
  bool wrap_ = false;
  bool scaling_2to1_ = false;
  uint8_t resolution_ = 2;
  uint8_t sample_rate_ = 100;
  uint8_t buttons_ = 0;
  uint8_t id_ = kIdStandard;
  uint8_t rate_history_[3] = {};  // the 200, 100, 80 knock that turns the wheel on
};

}  // namespace hvmd::devices
