#include "dm/vnc/keymap.h"

#include <cctype>
#include <initializer_list>
#include <memory>

#include "dm/vnc/keysyms.h"

namespace hvmd::vnc {
namespace {

// Keys that are the same on every layout: set-1 codes from the IBM PC/AT keyboard's scan code
// set 1 (0x80 | code for 0xE0-prefixed keys).
struct CommonKey {
  uint32_t keysym;
  uint16_t qnum;
};
constexpr CommonKey kCommonKeys[] = {
    {' ', 0x39},
    {keysym::kBackSpace, 0x0e},
    {keysym::kTab, 0x0f},
    {keysym::kIsoLeftTab, 0x0f},
    {keysym::kReturn, 0x1c},
    {keysym::kEscape, 0x01},
    {keysym::kDelete, 0xd3},
    {keysym::kHome, 0xc7},
    {keysym::kLeft, 0xcb},
    {keysym::kUp, 0xc8},
    {keysym::kRight, 0xcd},
    {keysym::kDown, 0xd0},
    {keysym::kPageUp, 0xc9},
    {keysym::kPageDown, 0xd1},
    {keysym::kEnd, 0xcf},
    {keysym::kInsert, 0xd2},
    {keysym::kMenu, 0xdd},
    {keysym::kPrint, 0xb7},
    {keysym::kSysReq, 0x54},
    {keysym::kPause, 0xc6},  // (QEMU's number for Pause/Break)
    {keysym::kScrollLock, 0x46},
    {keysym::kNumLock, 0x45},
    {keysym::kCapsLock, 0x3a},
    {keysym::kShiftL, 0x2a},
    {keysym::kShiftR, 0x36},
    {keysym::kControlL, 0x1d},
    {keysym::kControlR, 0x9d},
    {keysym::kAltL, 0x38},
    {keysym::kMetaL, 0x38},
    {keysym::kAltR, 0xb8},
    {keysym::kMetaR, 0xb8},
    {keysym::kIsoLevel3Shift, 0xb8},  // AltGr
    {keysym::kModeSwitch, 0xb8},
    {keysym::kSuperL, 0xdb},
    {keysym::kSuperR, 0xdc},
    {keysym::kF1 + 0, 0x3b},
    {keysym::kF1 + 1, 0x3c},
    {keysym::kF1 + 2, 0x3d},
    {keysym::kF1 + 3, 0x3e},
    {keysym::kF1 + 4, 0x3f},
    {keysym::kF1 + 5, 0x40},
    {keysym::kF1 + 6, 0x41},
    {keysym::kF1 + 7, 0x42},
    {keysym::kF1 + 8, 0x43},
    {keysym::kF1 + 9, 0x44},
    {keysym::kF1 + 10, 0x57},
    {keysym::kF1 + 11, 0x58},
    // The keypad, with Num Lock on and off.
    {keysym::kKp0 + 0, 0x52},
    {keysym::kKp0 + 1, 0x4f},
    {keysym::kKp0 + 2, 0x50},
    {keysym::kKp0 + 3, 0x51},
    {keysym::kKp0 + 4, 0x4b},
    {keysym::kKp0 + 5, 0x4c},
    {keysym::kKp0 + 6, 0x4d},
    {keysym::kKp0 + 7, 0x47},
    {keysym::kKp0 + 8, 0x48},
    {keysym::kKp0 + 9, 0x49},
    {keysym::kKpDecimal, 0x53},
    {keysym::kKpSeparator, 0x53},  // the keypad's comma on European layouts
    {keysym::kKpAdd, 0x4e},
    {keysym::kKpSubtract, 0x4a},
    {keysym::kKpMultiply, 0x37},
    {keysym::kKpDivide, 0xb5},
    {keysym::kKpEnter, 0x9c},
    {keysym::kKpHome, 0x47},
    {keysym::kKpLeft, 0x4b},
    {keysym::kKpUp, 0x48},
    {keysym::kKpRight, 0x4d},
    {keysym::kKpDown, 0x50},
    {keysym::kKpPageUp, 0x49},
    {keysym::kKpPageDown, 0x51},
    {keysym::kKpEnd, 0x4f},
    {keysym::kKpBegin, 0x4c},
    {keysym::kKpInsert, 0x52},
    {keysym::kKpDelete, 0x53},
};

}  // namespace

Keymap::Keymap(std::string name, const std::vector<Key>& typing_keys) : name_(std::move(name)) {
  // The first key listed for a keysym wins (a layout lists its usual key first).
  for (const Key& key : typing_keys)
    for (uint32_t sym : key.syms)
      if (sym) keys_.emplace(sym, key.code);
  for (const CommonKey& key : kCommonKeys) keys_.emplace(key.keysym, key.qnum);
}

uint16_t Keymap::qnum(uint32_t keysym) const {
  auto it = keys_.find(keysym);
  return it == keys_.end() ? 0 : it->second;
}

}  // namespace hvmd::vnc
