// Keymaps for the VNC server: an X11 keysym (what a VNC client sends for a key) to the PC set-1
// scan code (qnum: 0x80 | code for keys behind an 0xE0 prefix) of the key that makes it on the
// guest's layout, as -k names it. The guest's layout must match the client's: then a keysym the
// client typed with Shift or AltGr comes from the key the guest also reads with Shift or AltGr.
// Keys outside the typing area (function keys, cursor keys, keypad, modifiers) are the same on
// every layout.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace hvmd::vnc {

class Keymap {
 public:
  // A key of the typing area and the keysyms it makes, usually alone, with Shift, with AltGr,
  // then the same characters as clients without dead keys send them (0: none).
  struct Key {
    uint8_t code;
    uint32_t syms[6];
  };
  Keymap(std::string name, const std::vector<Key>& typing_keys);

  const std::string& name() const { return name_; }
  // The key's qnum, or 0 for a keysym no key of this layout makes.
  uint16_t qnum(uint32_t keysym) const;

 private:
  std::string name_;
  std::unordered_map<uint32_t, uint16_t> keys_;
};

// The layout -k names (en-us, en-gb, de, fr, it, es, ja, ...), or nullptr.
const Keymap* find_keymap(std::string_view name);
// The names find_keymap knows, comma-separated (for the error message).
std::string keymap_names();

}  // namespace hvmd::vnc
