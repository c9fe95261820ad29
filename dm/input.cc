#include "dm/input.h"

#include <algorithm>

namespace hvmd {

bool InputRouter::key_event(uint16_t qnum, bool pressed) {
  if (keyboards_.empty()) return false;
  keyboards_.back()->key_event(qnum, pressed);
  return true;
}

bool InputRouter::relative_event(int dx, int dy, int dz, uint8_t buttons) {
  if (relatives_.empty()) return false;
  relatives_.back()->relative_event(dx, dy, dz, buttons);
  return true;
}

bool InputRouter::absolute_event(uint32_t x, uint32_t y, int dz, uint8_t buttons) {
  x = std::min(x, kAbsoluteMax);
  y = std::min(y, kAbsoluteMax);
  if (!absolutes_.empty()) {
    absolutes_.back()->absolute_event(x, y, dz, buttons);
    return true;
  }
  if (relatives_.empty()) return false;
  // The pixel the position means: kAbsoluteMax is the last pixel of the row or column.
  Point now{int64_t{x} * (width_ - 1) / kAbsoluteMax, int64_t{y} * (height_ - 1) / kAbsoluteMax};
  Point before = last_.value_or(now);
  last_ = now;
  relatives_.back()->relative_event(static_cast<int>(now.x - before.x),
                                    static_cast<int>(now.y - before.y), dz, buttons);
  return true;
}

void InputRouter::set_screen_size(uint32_t width, uint32_t height) {
  if (width == 0 || height == 0) return;
  if (width == width_ && height == height_) return;
  width_ = width;
  height_ = height;
  last_.reset();
}

}  // namespace hvmd
