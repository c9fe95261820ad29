// The typing areas of the layouts -k offers, from the layouts' published key charts: which key
// (set-1 code) makes which character. Letters are listed by row and make their capital with Shift.
#include <cctype>
#include <memory>

#include "dm/vnc/keymap.h"
#include "dm/vnc/keysyms.h"

namespace hvmd::vnc {
namespace {

using Key = Keymap::Key;
using namespace keysym;

// Set-1 codes of the first key of each letter row and of the keys around them.
constexpr uint8_t kRowQ = 0x10;  // q w e r t y u i o p on en-us
constexpr uint8_t kRowA = 0x1e;  // a s d f g h j k l
constexpr uint8_t kRowZ = 0x2c;  // z x c v b n m
constexpr uint8_t kGraveKey = 0x29;
constexpr uint8_t kDigit1 = 0x02;  // 1..9 then 0 at 0x0b
constexpr uint8_t kMinusKey = 0x0c;
constexpr uint8_t kEqualsKey = 0x0d;
constexpr uint8_t kBracketLeftKey = 0x1a;
constexpr uint8_t kBracketRightKey = 0x1b;
constexpr uint8_t kSemicolonKey = 0x27;
constexpr uint8_t kQuoteKey = 0x28;
constexpr uint8_t kBackslashKey = 0x2b;
constexpr uint8_t kCommaKey = 0x33;
constexpr uint8_t kPeriodKey = 0x34;
constexpr uint8_t kSlashKey = 0x35;
constexpr uint8_t kIsoExtraKey = 0x56;  // the 102nd key, left of Z
constexpr uint8_t kJisRoKey = 0x73;
constexpr uint8_t kJisYenKey = 0x7d;
constexpr uint8_t kJisHenkanKey = 0x79;
constexpr uint8_t kJisMuhenkanKey = 0x7b;
constexpr uint8_t kJisKanaKey = 0x70;
constexpr uint8_t kCapsLockKey = 0x3a;

void letters(std::vector<Key>& keys, uint8_t first_code, const char* row) {
  for (uint8_t code = first_code; *row; ++row, ++code) {
    auto c = static_cast<unsigned char>(*row);
    keys.push_back({code, {c, static_cast<uint32_t>(toupper(c))}});
  }
}

// Digits row: 1..9, 0 with what Shift makes on each.
void digits(std::vector<Key>& keys, const uint32_t (&shifted)[10]) {
  for (uint8_t i = 0; i < 10; ++i)
    keys.push_back({static_cast<uint8_t>(kDigit1 + i),
                    {static_cast<uint32_t>(i == 9 ? '0' : '1' + i), shifted[i]}});
}

std::vector<Key> en_us() {
  std::vector<Key> k;
  digits(k, {'!', '@', '#', '$', '%', '^', '&', '*', '(', ')'});
  letters(k, kRowQ, "qwertyuiop");
  letters(k, kRowA, "asdfghjkl");
  letters(k, kRowZ, "zxcvbnm");
  k.insert(k.end(), {{kGraveKey, {'`', '~'}},
                     {kMinusKey, {'-', '_'}},
                     {kEqualsKey, {'=', '+'}},
                     {kBracketLeftKey, {'[', '{'}},
                     {kBracketRightKey, {']', '}'}},
                     {kSemicolonKey, {';', ':'}},
                     {kQuoteKey, {'\'', '"'}},
                     {kBackslashKey, {'\\', '|'}},
                     {kCommaKey, {',', '<'}},
                     {kPeriodKey, {'.', '>'}},
                     {kSlashKey, {'/', '?'}},
                     {kIsoExtraKey, {'<', '>'}}});  // after the comma key: '<' stays there
  return k;
}

std::vector<Key> en_gb() {
  std::vector<Key> k;
  digits(k, {'!', '"', 0xa3 /* £ */, '$', '%', '^', '&', '*', '(', ')'});
  letters(k, kRowQ, "qwertyuiop");
  letters(k, kRowA, "asdfghjkl");
  letters(k, kRowZ, "zxcvbnm");
  k.insert(k.end(), {{kGraveKey, {'`', 0xac /* ¬ */, 0xa6 /* ¦ */}},
                     {static_cast<uint8_t>(kDigit1 + 3), {kEuro}},  // AltGr+4
                     {kMinusKey, {'-', '_'}},
                     {kEqualsKey, {'=', '+'}},
                     {kBracketLeftKey, {'[', '{'}},
                     {kBracketRightKey, {']', '}'}},
                     {kSemicolonKey, {';', ':'}},
                     {kQuoteKey, {'\'', '@'}},
                     {kBackslashKey, {'#', '~'}},
                     {kCommaKey, {',', '<'}},
                     {kPeriodKey, {'.', '>'}},
                     {kSlashKey, {'/', '?'}},
                     {kIsoExtraKey, {'\\', '|'}}});
  return k;
}

std::vector<Key> de() {
  std::vector<Key> k;
  k.insert(k.end(), {{kGraveKey, {kDeadCircumflex, 0xb0 /* ° */, 0, '^'}},
                     {0x02, {'1', '!'}},
                     {0x03, {'2', '"', 0xb2 /* ² */}},
                     {0x04, {'3', 0xa7 /* § */, 0xb3 /* ³ */}},
                     {0x05, {'4', '$'}},
                     {0x06, {'5', '%'}},
                     {0x07, {'6', '&'}},
                     {0x08, {'7', '/', '{'}},
                     {0x09, {'8', '(', '['}},
                     {0x0a, {'9', ')', ']'}},
                     {0x0b, {'0', '=', '}'}},
                     {kMinusKey, {0xdf /* ß */, '?', '\\'}},
                     {kEqualsKey, {kDeadAcute, kDeadGrave, 0, 0xb4 /* ´ */, '`'}},
                     {kRowQ, {'@'}},          // AltGr+Q
                     {0x12, {kEuro}},         // AltGr+E
                     {0x32, {0xb5 /* µ */}},  // AltGr+M
                     {kBracketLeftKey, {0xfc /* ü */, 0xdc}},
                     {kBracketRightKey, {'+', '*', '~'}},
                     {kSemicolonKey, {0xf6 /* ö */, 0xd6}},
                     {kQuoteKey, {0xe4 /* ä */, 0xc4}},
                     {kBackslashKey, {'#', '\''}},
                     {kCommaKey, {',', ';'}},
                     {kPeriodKey, {'.', ':'}},
                     {kSlashKey, {'-', '_'}},
                     {kIsoExtraKey, {'<', '>', '|'}}});
  letters(k, kRowQ, "qwertzuiop");
  letters(k, kRowA, "asdfghjkl");
  letters(k, kRowZ, "yxcvbnm");
  return k;
}

std::vector<Key> fr() {
  std::vector<Key> k;
  k.insert(k.end(), {{kGraveKey, {0xb2 /* ² */}},
                     {0x02, {'&', '1'}},
                     {0x03, {0xe9 /* é */, '2', kDeadTilde, '~'}},
                     {0x04, {'"', '3', '#'}},
                     {0x05, {'\'', '4', '{'}},
                     {0x06, {'(', '5', '['}},
                     {0x07, {'-', '6', '|'}},
                     {0x08, {0xe8 /* è */, '7', kDeadGrave, '`'}},
                     {0x09, {'_', '8', '\\'}},
                     {0x0a, {0xe7 /* ç */, '9', '^'}},
                     {0x0b, {0xe0 /* à */, '0', '@'}},
                     {kMinusKey, {')', 0xb0 /* ° */, ']'}},
                     {kEqualsKey, {'=', '+', '}'}},
                     {0x12, {kEuro}},  // AltGr+E
                     {kBracketLeftKey, {kDeadCircumflex, kDeadDiaeresis, 0, 0xa8 /* ¨ */}},
                     {kBracketRightKey, {'$', 0xa3 /* £ */, 0xa4 /* ¤ */}},
                     {kQuoteKey, {0xf9 /* ù */, '%'}},
                     {kBackslashKey, {'*', 0xb5 /* µ */}},
                     {0x32, {',', '?'}},
                     {kCommaKey, {';', '.'}},
                     {kPeriodKey, {':', '/'}},
                     {kSlashKey, {'!', 0xa7 /* § */}},
                     {kIsoExtraKey, {'<', '>'}}});
  letters(k, kRowQ, "azertyuiop");
  letters(k, kRowA, "qsdfghjklm");
  letters(k, kRowZ, "wxcvbn");
  return k;
}

std::vector<Key> it() {
  std::vector<Key> k;
  digits(k, {'!', '"', 0xa3 /* £ */, '$', '%', '&', '/', '(', ')', '='});
  k.insert(k.end(), {{kGraveKey, {'\\', '|'}},
                     {kMinusKey, {'\'', '?'}},
                     {kEqualsKey, {0xec /* ì */, '^'}},
                     {0x12, {kEuro}},  // AltGr+E
                     {kBracketLeftKey, {0xe8 /* è */, 0xe9 /* é */, '[', '{'}},
                     {kBracketRightKey, {'+', '*', ']', '}'}},
                     {kSemicolonKey, {0xf2 /* ò */, 0xe7 /* ç */, '@'}},
                     {kQuoteKey, {0xe0 /* à */, 0xb0 /* ° */, '#'}},
                     {kBackslashKey, {0xf9 /* ù */, 0xa7 /* § */}},
                     {kCommaKey, {',', ';'}},
                     {kPeriodKey, {'.', ':'}},
                     {kSlashKey, {'-', '_'}},
                     {kIsoExtraKey, {'<', '>'}}});
  letters(k, kRowQ, "qwertyuiop");
  letters(k, kRowA, "asdfghjkl");
  letters(k, kRowZ, "zxcvbnm");
  return k;
}

std::vector<Key> es() {
  std::vector<Key> k;
  k.insert(k.end(), {{kGraveKey, {0xba /* º */, 0xaa /* ª */, '\\'}},
                     {0x02, {'1', '!', '|'}},
                     {0x03, {'2', '"', '@'}},
                     {0x04, {'3', 0xb7 /* · */, '#'}},
                     {0x05, {'4', '$', '~'}},
                     {0x06, {'5', '%', kEuro}},
                     {0x07, {'6', '&', 0xac /* ¬ */}},
                     {0x08, {'7', '/'}},
                     {0x09, {'8', '('}},
                     {0x0a, {'9', ')'}},
                     {0x0b, {'0', '='}},
                     {kMinusKey, {'\'', '?'}},
                     {kEqualsKey, {0xa1 /* ¡ */, 0xbf /* ¿ */}},
                     {0x12, {kEuro}},
                     {kBracketLeftKey, {kDeadGrave, kDeadCircumflex, '[', '`', '^'}},
                     {kBracketRightKey, {'+', '*', ']'}},
                     {kSemicolonKey, {0xf1 /* ñ */, 0xd1}},
                     {kQuoteKey, {kDeadAcute, kDeadDiaeresis, '{', 0xb4 /* ´ */, 0xa8 /* ¨ */}},
                     {kBackslashKey, {0xe7 /* ç */, 0xc7, '}'}},
                     {kCommaKey, {',', ';'}},
                     {kPeriodKey, {'.', ':'}},
                     {kSlashKey, {'-', '_'}},
                     {kIsoExtraKey, {'<', '>'}}});
  letters(k, kRowQ, "qwertyuiop");
  letters(k, kRowA, "asdfghjkl");
  letters(k, kRowZ, "zxcvbnm");
  return k;
}

// The JIS 106/109-key layout: symbols move, and the keys for input-method control appear.
std::vector<Key> ja() {
  std::vector<Key> k;
  digits(k, {'!', '"', '#', '$', '%', '&', '\'', '(', ')', 0});
  letters(k, kRowQ, "qwertyuiop");
  letters(k, kRowA, "asdfghjkl");
  letters(k, kRowZ, "zxcvbnm");
  k.insert(k.end(), {{kGraveKey, {kZenkakuHankaku}},
                     {kMinusKey, {'-', '='}},
                     {kEqualsKey, {'^', '~'}},
                     {kJisYenKey, {0xa5 /* ¥ */, '|'}},
                     {kBracketLeftKey, {'@', '`'}},
                     {kBracketRightKey, {'[', '{'}},
                     {kSemicolonKey, {';', '+'}},
                     {kQuoteKey, {':', '*'}},
                     {kBackslashKey, {']', '}'}},
                     {kCommaKey, {',', '<'}},
                     {kPeriodKey, {'.', '>'}},
                     {kSlashKey, {'/', '?'}},
                     {kJisRoKey, {'\\', '_'}},
                     {kJisHenkanKey, {kHenkan}},
                     {kJisMuhenkanKey, {kMuhenkan}},
                     {kJisKanaKey, {kHiraganaKatakana}},
                     {kCapsLockKey, {kEisuToggle}}});
  return k;
}

struct Layout {
  const char* name;
  std::vector<Key> (*keys)();
};
constexpr Layout kLayouts[] = {{"en-us", en_us}, {"en-gb", en_gb}, {"de", de}, {"fr", fr},
                               {"it", it},       {"es", es},       {"ja", ja}};

}  // namespace

const Keymap* find_keymap(std::string_view name) {
  // Built on first use and kept: a keymap is a few hundred entries.
  static std::unique_ptr<Keymap> built[std::size(kLayouts)];
  for (size_t i = 0; i < std::size(kLayouts); ++i) {
    if (name != kLayouts[i].name) continue;
    if (!built[i]) built[i] = std::make_unique<Keymap>(kLayouts[i].name, kLayouts[i].keys());
    return built[i].get();
  }
  return nullptr;
}

std::string keymap_names() {
  std::string names;
  for (const Layout& layout : kLayouts)
    names += (names.empty() ? "" : ", ") + std::string(layout.name);
  return names;
}

}  // namespace hvmd::vnc
