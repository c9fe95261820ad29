// Input routing: keyboard, relative-pointer and absolute-pointer consumers kept apart. Devices the
// guest reads input from register as consumers of a class (the PS/2 keyboard and mouse through
// the i8042 today; a USB tablet as an absolute pointer later); sources (QMP's input-send-event,
// a VNC server) send events to the router. Within a class the most recently added consumer gets
// the events, and removing it gives them back to the one added before (as QEMU routes input).
// Absolute positions go to an absolute consumer if there is one, else they become relative
// motion for the relative consumer.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace hvmd {

// Pointer buttons, as bits of a button state.
inline constexpr uint8_t kButtonLeft = 1 << 0;
inline constexpr uint8_t kButtonRight = 1 << 1;
inline constexpr uint8_t kButtonMiddle = 1 << 2;

class KeyboardInput {
 public:
  virtual ~KeyboardInput() = default;
  // qnum: the key's PC set-1 code, 0x80 | code for keys behind an 0xE0 prefix.
  virtual void key_event(uint16_t qnum, bool pressed) = 0;
};

class RelativePointerInput {
 public:
  virtual ~RelativePointerInput() = default;
  // Motion as screens count (x right, y down), wheel steps (positive: towards the user), and the
  // whole button state.
  virtual void relative_event(int dx, int dy, int dz, uint8_t buttons) = 0;
};

class AbsolutePointerInput {
 public:
  virtual ~AbsolutePointerInput() = default;
  // A position in [0, InputRouter::kAbsoluteMax] on both axes, scaled to the screen: (0, 0) its
  // top-left corner, kAbsoluteMax its bottom or right edge.
  virtual void absolute_event(uint32_t x, uint32_t y, int dz, uint8_t buttons) = 0;
};

class InputRouter {
 public:
  // The absolute range, QEMU's (input-send-event's "abs" values, a USB tablet's logical range).
  static constexpr uint32_t kAbsoluteMax = 0x7fff;
  // Converted motion assumes a screen of this size until told the display's (set_screen_size).
  static constexpr uint32_t kDefaultWidth = 1024;
  static constexpr uint32_t kDefaultHeight = 768;

  void add_keyboard(KeyboardInput* consumer) { add(keyboards_, consumer); }
  void remove_keyboard(KeyboardInput* consumer) { remove(keyboards_, consumer); }
  void add_relative(RelativePointerInput* consumer) { add(relatives_, consumer); }
  void remove_relative(RelativePointerInput* consumer) { remove(relatives_, consumer); }
  void add_absolute(AbsolutePointerInput* consumer) { add(absolutes_, consumer); }
  void remove_absolute(AbsolutePointerInput* consumer) { remove(absolutes_, consumer); }

  bool has_keyboard() const { return !keyboards_.empty(); }
  bool has_pointer() const { return !relatives_.empty() || !absolutes_.empty(); }
  // Whether absolute positions reach the guest as such (a VNC server then hides no cursor).
  bool absolute() const { return !absolutes_.empty(); }

  // Each returns false when no consumer took the event.
  bool key_event(uint16_t qnum, bool pressed);
  // Relative motion goes to the relative consumer only: an absolute one cannot follow it.
  bool relative_event(int dx, int dy, int dz, uint8_t buttons);
  // x and y are clamped to [0, kAbsoluteMax]. Converted to relative motion, a position becomes
  // the pixel it means on the screen and the motion the distance from the previous position (the
  // first position after start or a change of consumer moves nothing).
  bool absolute_event(uint32_t x, uint32_t y, int dz, uint8_t buttons);
  // The screen absolute positions are scaled to when converted (the display's size).
  void set_screen_size(uint32_t width, uint32_t height);

 private:
  template <typename T>
  void add(std::vector<T*>& list, T* consumer) {
    std::erase(list, consumer);
    list.push_back(consumer);
    last_.reset();
  }
  template <typename T>
  void remove(std::vector<T*>& list, T* consumer) {
    std::erase(list, consumer);
    last_.reset();
  }

  std::vector<KeyboardInput*> keyboards_;  // last: the one in use
  std::vector<RelativePointerInput*> relatives_;
  std::vector<AbsolutePointerInput*> absolutes_;
  uint32_t width_ = kDefaultWidth;
  uint32_t height_ = kDefaultHeight;
  struct Point {
    int64_t x;
    int64_t y;
  };
  std::optional<Point> last_;  // the previous converted position, in pixels
};

}  // namespace hvmd
