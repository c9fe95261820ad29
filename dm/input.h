// Where keyboard and pointer input goes: the device the guest reads it from (the i8042 today; a
// USB tablet later). The display (VNC) and QMP's input-send-event deliver through this.
#pragma once

#include <cstdint>

namespace hvmd {

class InputSink {
 public:
  virtual ~InputSink() = default;
  // qnum: the key's PC set-1 code, 0x80 | code for keys behind an 0xE0 prefix.
  virtual void key_event(uint16_t qnum, bool pressed) = 0;
  // Relative motion (x right, y down as screens count, wheel), buttons in bits 0-2 (L, R, M).
  virtual void pointer_event(int dx, int dy, int dz, uint8_t buttons) = 0;
};

}  // namespace hvmd
