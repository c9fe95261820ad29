// PC keyboard scan codes. Keys are named by their set-1 "qnum" (the set-1 make code, with 0x80
// added for keys sent behind an 0xE0 prefix), which is what QMP's input-send-event carries as a
// key "number". From it come the set-1 and set-2 bytes a PS/2 keyboard sends, and the
// controller's set-2 to set-1 translation.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hvmd::devices::scancodes {

inline constexpr uint8_t kExtendedPrefix = 0xe0;
inline constexpr uint8_t kSet1Break = 0x80;  // set 1: break = make | 0x80
inline constexpr uint8_t kSet2Break = 0xf0;  // set 2: break = 0xF0, make

// The bytes a key press or release sends in scan code set 1 or 2 (empty for unknown keys).
std::vector<uint8_t> key_bytes(uint16_t qnum, bool pressed, unsigned set);
// What the i8042 turns a set-2 byte into when translating (the byte itself where no key has that
// code: prefixes and command replies pass unchanged).
uint8_t translate_set2(uint8_t code);
// A qnum from QMP's key names ("a", "ret", "shift", "f1", ...); 0 when unknown.
uint16_t qnum_from_name(const std::string& name);

}  // namespace hvmd::devices::scancodes
