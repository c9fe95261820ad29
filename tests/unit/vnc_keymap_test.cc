// Keymaps: the key (set-1 code) each layout types a character with, and the keys every layout
// shares.
#include "dm/vnc/keymap.h"

#include <gtest/gtest.h>

#include "dm/vnc/keysyms.h"

namespace hvmd::test {
namespace {

uint16_t q(const char* layout, uint32_t keysym) {
  const vnc::Keymap* map = vnc::find_keymap(layout);
  EXPECT_NE(map, nullptr) << layout;
  return map ? map->qnum(keysym) : 0;
}

TEST(VncKeymapTest, UsLayoutTypesLettersDigitsAndSymbols) {
  EXPECT_EQ(q("en-us", 'a'), 0x1e);
  EXPECT_EQ(q("en-us", 'A'), 0x1e);
  EXPECT_EQ(q("en-us", 'q'), 0x10);
  EXPECT_EQ(q("en-us", 'm'), 0x32);
  EXPECT_EQ(q("en-us", '1'), 0x02);
  EXPECT_EQ(q("en-us", '0'), 0x0b);
  EXPECT_EQ(q("en-us", '@'), 0x03);
  EXPECT_EQ(q("en-us", ')'), 0x0b);
  EXPECT_EQ(q("en-us", '|'), 0x2b);
  EXPECT_EQ(q("en-us", '<'), 0x33);
  EXPECT_EQ(q("en-us", '"'), 0x28);
  EXPECT_EQ(q("en-us", ' '), 0x39);
  EXPECT_EQ(q("en-us", 0xfc /* ü */), 0) << "no US key makes it";
}

TEST(VncKeymapTest, EuropeanLayoutsMoveLettersAndSymbols) {
  EXPECT_EQ(q("de", 'z'), 0x15);
  EXPECT_EQ(q("de", 'y'), 0x2c);
  EXPECT_EQ(q("de", 0xfc /* ü */), 0x1a);
  EXPECT_EQ(q("de", 0xdc /* Ü */), 0x1a);
  EXPECT_EQ(q("de", 0xdf /* ß */), 0x0c);
  EXPECT_EQ(q("de", '@'), 0x10) << "AltGr+Q";
  EXPECT_EQ(q("de", '-'), 0x35);
  EXPECT_EQ(q("de", '|'), 0x56);
  EXPECT_EQ(q("de", vnc::keysym::kDeadCircumflex), 0x29);
  EXPECT_EQ(q("fr", 'a'), 0x10);
  EXPECT_EQ(q("fr", 'q'), 0x1e);
  EXPECT_EQ(q("fr", 'm'), 0x27);
  EXPECT_EQ(q("fr", 'w'), 0x2c);
  EXPECT_EQ(q("fr", '1'), 0x02);
  EXPECT_EQ(q("fr", '&'), 0x02);
  EXPECT_EQ(q("fr", 0xe9 /* é */), 0x03);
  EXPECT_EQ(q("fr", ','), 0x32);
  EXPECT_EQ(q("en-gb", '@'), 0x28);
  EXPECT_EQ(q("en-gb", '"'), 0x03);
  EXPECT_EQ(q("en-gb", 0xa3 /* £ */), 0x04);
  EXPECT_EQ(q("en-gb", '#'), 0x2b);
  EXPECT_EQ(q("en-gb", '\\'), 0x56);
  EXPECT_EQ(q("it", 0xf2 /* ò */), 0x27);
  EXPECT_EQ(q("it", 0xe8 /* è */), 0x1a);
  EXPECT_EQ(q("it", '/'), 0x08);
  EXPECT_EQ(q("es", 0xf1 /* ñ */), 0x27);
  EXPECT_EQ(q("es", 0xbf /* ¿ */), 0x0d);
  EXPECT_EQ(q("es", 0xe7 /* ç */), 0x2b);
}

TEST(VncKeymapTest, JapaneseLayoutHasItsOwnKeys) {
  EXPECT_EQ(q("ja", '@'), 0x1a);
  EXPECT_EQ(q("ja", ':'), 0x28);
  EXPECT_EQ(q("ja", '\\'), 0x73);
  EXPECT_EQ(q("ja", '_'), 0x73);
  EXPECT_EQ(q("ja", 0xa5 /* ¥ */), 0x7d);
  EXPECT_EQ(q("ja", vnc::keysym::kHenkan), 0x79);
  EXPECT_EQ(q("ja", vnc::keysym::kMuhenkan), 0x7b);
  EXPECT_EQ(q("ja", '\''), 0x08);
}

TEST(VncKeymapTest, EveryLayoutSharesTheKeysOutsideTheTypingArea) {
  for (const char* layout : {"en-us", "en-gb", "de", "fr", "it", "es", "ja"}) {
    EXPECT_EQ(q(layout, vnc::keysym::kReturn), 0x1c) << layout;
    EXPECT_EQ(q(layout, vnc::keysym::kLeft), 0xcb) << layout;
    EXPECT_EQ(q(layout, vnc::keysym::kControlR), 0x9d) << layout;
    EXPECT_EQ(q(layout, vnc::keysym::kF1 + 11), 0x58) << layout;
    EXPECT_EQ(q(layout, vnc::keysym::kKpEnter), 0x9c) << layout;
    EXPECT_EQ(q(layout, vnc::keysym::kKp0 + 7), 0x47) << layout;
    EXPECT_EQ(q(layout, vnc::keysym::kIsoLevel3Shift), 0xb8) << layout;
    EXPECT_EQ(q(layout, 0x12345678), 0) << layout;
  }
  EXPECT_EQ(vnc::find_keymap("xx"), nullptr);
  EXPECT_NE(vnc::keymap_names().find("ja"), std::string::npos);
}

}  // namespace
}  // namespace hvmd::test
