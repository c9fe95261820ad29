// The PS/2 keyboard and mouse behind the i8042: each takes command bytes from the host and
// answers through a small output queue the controller drains. Input arrives through key_event()
// and mouse_event(), the API a display (VNC) or QMP's input-send-event calls.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <functional>

#include "dm/result.h"

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
  // Saved with the controller (bounded by kQueueSize there).
  const std::deque<uint8_t>& queue() const { return queue_; }
  void restore_queue(std::deque<uint8_t> queue) { queue_ = std::move(queue); }

 protected:
  void send(uint8_t byte);
  void send_all(std::initializer_list<uint8_t> bytes);
  size_t room() const { return kQueueSize - queue_.size(); }

 private:
  std::deque<uint8_t> queue_;
  std::function<void()> notify_;
};

// The keyboard's settings a save carries (its queue is the port's), described in
// ps2_devices.cc.
struct Ps2KeyboardState {
  uint8_t pending_command_ = 0;  // a command waiting for its argument byte
  uint8_t set_ = 2;
  uint8_t leds_ = 0;
  bool scanning_ = true;
  template <class V>
  void describe(V& v);
  // Refuses what no command sequence leaves behind.
  Result<void> check() const;
};

class Ps2Keyboard final : public Ps2Port, private Ps2KeyboardState {
 public:
  // Command bytes and replies (IBM PS/2 keyboard technical reference).
  static constexpr uint8_t kAck = 0xfa, kResend = 0xfe, kSelfTestPassed = 0xaa, kEcho = 0xee;

  void write(uint8_t byte);  // a byte from the host
  void key_event(uint16_t qnum, bool pressed);
  void reset();
  const Ps2KeyboardState& state() const { return *this; }
  void restore(const Ps2KeyboardState& state) { static_cast<Ps2KeyboardState&>(*this) = state; }
};

struct Ps2MouseState {
  static constexpr uint8_t kIdStandard = 0x00, kIdWheel = 0x03;
  uint8_t pending_command_ = 0;
  bool reporting_ = false;
  bool remote_ = false;
  bool wrap_ = false;
  bool scaling_2to1_ = false;
  uint8_t resolution_ = 2;
  uint8_t sample_rate_ = 100;
  uint8_t buttons_ = 0;
  uint8_t id_ = kIdStandard;
  std::array<uint8_t, 3> rate_history_{};  // the 200, 100, 80 knock that turns the wheel on
  template <class V>
  void describe(V& v);
  Result<void> check() const;
};

class Ps2Mouse final : public Ps2Port, private Ps2MouseState {
 public:
  static constexpr uint8_t kAck = 0xfa, kResend = 0xfe, kSelfTestPassed = 0xaa;
  using Ps2MouseState::kIdStandard;
  using Ps2MouseState::kIdWheel;

  void write(uint8_t byte);
  // Relative motion (x right, y up, z wheel) and the left/right/middle buttons (bits 0-2).
  void mouse_event(int dx, int dy, int dz, uint8_t buttons);
  void reset();
  const Ps2MouseState& state() const { return *this; }
  void restore(const Ps2MouseState& state) { static_cast<Ps2MouseState&>(*this) = state; }

 private:
  void send_packet(int dx, int dy, int dz);
};

}  // namespace hvmd::devices
