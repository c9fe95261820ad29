#include "devices/input/scancodes.h"

#include <array>
#include <string>
#include <string_view>

namespace hvmd::devices::scancodes {
namespace {

struct Key {
  const char* name;  // QMP's QKeyCode name
  uint16_t qnum;     // set 1, 0x80 | code for E0 keys
  uint8_t set2;      // set 2 make code (behind E0 for E0 keys)
};

// The IBM PC/AT 101/102-key layout (IBM keyboard technical reference): set-1 and set-2 codes.
constexpr Key kKeys[] = {
    {"esc", 0x01, 0x76},
    {"1", 0x02, 0x16},
    {"2", 0x03, 0x1e},
    {"3", 0x04, 0x26},
    {"4", 0x05, 0x25},
    {"5", 0x06, 0x2e},
    {"6", 0x07, 0x36},
    {"7", 0x08, 0x3d},
    {"8", 0x09, 0x3e},
    {"9", 0x0a, 0x46},
    {"0", 0x0b, 0x45},
    {"minus", 0x0c, 0x4e},
    {"equal", 0x0d, 0x55},
    {"backspace", 0x0e, 0x66},
    {"tab", 0x0f, 0x0d},
    {"q", 0x10, 0x15},
    {"w", 0x11, 0x1d},
    {"e", 0x12, 0x24},
    {"r", 0x13, 0x2d},
    {"t", 0x14, 0x2c},
    {"y", 0x15, 0x35},
    {"u", 0x16, 0x3c},
    {"i", 0x17, 0x43},
    {"o", 0x18, 0x44},
    {"p", 0x19, 0x4d},
    {"bracket_left", 0x1a, 0x54},
    {"bracket_right", 0x1b, 0x5b},
    {"ret", 0x1c, 0x5a},
    {"ctrl", 0x1d, 0x14},
    {"a", 0x1e, 0x1c},
    {"s", 0x1f, 0x1b},
    {"d", 0x20, 0x23},
    {"f", 0x21, 0x2b},
    {"g", 0x22, 0x34},
    {"h", 0x23, 0x33},
    {"j", 0x24, 0x3b},
    {"k", 0x25, 0x42},
    {"l", 0x26, 0x4b},
    {"semicolon", 0x27, 0x4c},
    {"apostrophe", 0x28, 0x52},
    {"grave_accent", 0x29, 0x0e},
    {"shift", 0x2a, 0x12},
    {"backslash", 0x2b, 0x5d},
    {"z", 0x2c, 0x1a},
    {"x", 0x2d, 0x22},
    {"c", 0x2e, 0x21},
    {"v", 0x2f, 0x2a},
    {"b", 0x30, 0x32},
    {"n", 0x31, 0x31},
    {"m", 0x32, 0x3a},
    {"comma", 0x33, 0x41},
    {"dot", 0x34, 0x49},
    {"slash", 0x35, 0x4a},
    {"shift_r", 0x36, 0x59},
    {"kp_multiply", 0x37, 0x7c},
    {"alt", 0x38, 0x11},
    {"spc", 0x39, 0x29},
    {"caps_lock", 0x3a, 0x58},
    {"f1", 0x3b, 0x05},
    {"f2", 0x3c, 0x06},
    {"f3", 0x3d, 0x04},
    {"f4", 0x3e, 0x0c},
    {"f5", 0x3f, 0x03},
    {"f6", 0x40, 0x0b},
    {"f7", 0x41, 0x83},
    {"f8", 0x42, 0x0a},
    {"f9", 0x43, 0x01},
    {"f10", 0x44, 0x09},
    {"num_lock", 0x45, 0x77},
    {"scroll_lock", 0x46, 0x7e},
    {"kp_7", 0x47, 0x6c},
    {"kp_8", 0x48, 0x75},
    {"kp_9", 0x49, 0x7d},
    {"kp_subtract", 0x4a, 0x7b},
    {"kp_4", 0x4b, 0x6b},
    {"kp_5", 0x4c, 0x73},
    {"kp_6", 0x4d, 0x74},
    {"kp_add", 0x4e, 0x79},
    {"kp_1", 0x4f, 0x69},
    {"kp_2", 0x50, 0x72},
    {"kp_3", 0x51, 0x7a},
    {"kp_0", 0x52, 0x70},
    {"kp_decimal", 0x53, 0x71},
    {"less", 0x56, 0x61},
    {"f11", 0x57, 0x78},
    {"f12", 0x58, 0x07},
    // Behind E0.
    {"kp_enter", 0x9c, 0x5a},
    {"ctrl_r", 0x9d, 0x14},
    {"kp_divide", 0xb5, 0x4a},
    {"alt_r", 0xb8, 0x11},
    {"home", 0xc7, 0x6c},
    {"up", 0xc8, 0x75},
    {"pgup", 0xc9, 0x7d},
    {"left", 0xcb, 0x6b},
    {"right", 0xcd, 0x74},
    {"end", 0xcf, 0x69},
    {"down", 0xd0, 0x72},
    {"pgdn", 0xd1, 0x7a},
    {"insert", 0xd2, 0x70},
    {"delete", 0xd3, 0x71},
    {"meta_l", 0xdb, 0x1f},
    {"meta_r", 0xdc, 0x27},
    {"menu", 0xdd, 0x2f},
};

const Key* find(uint16_t qnum) {
  for (const Key& k : kKeys)
    if (k.qnum == qnum) return &k;
  return nullptr;
}

// Set 2 -> set 1 for single-byte codes, from the same layout. F7's set-2 code is the one above
// 0x7f (0x83, so an identify reply AB 83 reads AB 41 when translated).
std::array<uint8_t, 0x100> make_translation() {
  std::array<uint8_t, 0x100> table{};
  for (unsigned i = 0; i < table.size(); ++i) table[i] = static_cast<uint8_t>(i);
  for (const Key& k : kKeys)
    if (k.qnum < 0x80) table[k.set2] = static_cast<uint8_t>(k.qnum);
  return table;
}

}  // namespace

std::vector<uint8_t> key_bytes(uint16_t qnum, bool pressed, unsigned set) {
  const Key* key = find(qnum);
  if (!key) return {};
  std::vector<uint8_t> out;
  if (qnum & 0x80) out.push_back(kExtendedPrefix);
  if (set == 1) {
    out.push_back(static_cast<uint8_t>((qnum & 0x7f) | (pressed ? 0 : kSet1Break)));
  } else {
    if (!pressed) out.push_back(kSet2Break);
    out.push_back(key->set2);
  }
  return out;
}

uint8_t translate_set2(uint8_t code) {
  static const std::array<uint8_t, 0x100> kTable = make_translation();
  return kTable[code];
}

uint16_t qnum_from_name(const std::string& name) {
  for (const Key& k : kKeys)
    if (name == k.name) return k.qnum;
  return 0;
}

}  // namespace hvmd::devices::scancodes
