// The X11 keysyms VNC clients send (RFC 6143 §7.5.4 defers to X11's keysymdef.h), by name. The
// printable Latin-1 characters are their own code points and are written as such.
#pragma once

#include <cstdint>

namespace hvmd::vnc::keysym {

inline constexpr uint32_t kBackSpace = 0xff08;
inline constexpr uint32_t kTab = 0xff09;
inline constexpr uint32_t kReturn = 0xff0d;
inline constexpr uint32_t kPause = 0xff13;
inline constexpr uint32_t kScrollLock = 0xff14;
inline constexpr uint32_t kSysReq = 0xff15;
inline constexpr uint32_t kEscape = 0xff1b;
inline constexpr uint32_t kMuhenkan = 0xff22;
inline constexpr uint32_t kHenkan = 0xff23;
inline constexpr uint32_t kHiraganaKatakana = 0xff27;
inline constexpr uint32_t kZenkakuHankaku = 0xff2a;
inline constexpr uint32_t kEisuToggle = 0xff30;
inline constexpr uint32_t kHome = 0xff50;
inline constexpr uint32_t kLeft = 0xff51;
inline constexpr uint32_t kUp = 0xff52;
inline constexpr uint32_t kRight = 0xff53;
inline constexpr uint32_t kDown = 0xff54;
inline constexpr uint32_t kPageUp = 0xff55;
inline constexpr uint32_t kPageDown = 0xff56;
inline constexpr uint32_t kEnd = 0xff57;
inline constexpr uint32_t kPrint = 0xff61;
inline constexpr uint32_t kInsert = 0xff63;
inline constexpr uint32_t kMenu = 0xff67;
inline constexpr uint32_t kModeSwitch = 0xff7e;
inline constexpr uint32_t kNumLock = 0xff7f;
inline constexpr uint32_t kKpEnter = 0xff8d;
inline constexpr uint32_t kKpHome = 0xff95;
inline constexpr uint32_t kKpLeft = 0xff96;
inline constexpr uint32_t kKpUp = 0xff97;
inline constexpr uint32_t kKpRight = 0xff98;
inline constexpr uint32_t kKpDown = 0xff99;
inline constexpr uint32_t kKpPageUp = 0xff9a;
inline constexpr uint32_t kKpPageDown = 0xff9b;
inline constexpr uint32_t kKpEnd = 0xff9c;
inline constexpr uint32_t kKpBegin = 0xff9d;
inline constexpr uint32_t kKpInsert = 0xff9e;
inline constexpr uint32_t kKpDelete = 0xff9f;
inline constexpr uint32_t kKpMultiply = 0xffaa;
inline constexpr uint32_t kKpAdd = 0xffab;
inline constexpr uint32_t kKpSeparator = 0xffac;
inline constexpr uint32_t kKpSubtract = 0xffad;
inline constexpr uint32_t kKpDecimal = 0xffae;
inline constexpr uint32_t kKpDivide = 0xffaf;
inline constexpr uint32_t kKp0 = 0xffb0;  // through kKp0 + 9
inline constexpr uint32_t kF1 = 0xffbe;   // through kF1 + 11 (F12)
inline constexpr uint32_t kShiftL = 0xffe1;
inline constexpr uint32_t kShiftR = 0xffe2;
inline constexpr uint32_t kControlL = 0xffe3;
inline constexpr uint32_t kControlR = 0xffe4;
inline constexpr uint32_t kCapsLock = 0xffe5;
inline constexpr uint32_t kMetaL = 0xffe7;
inline constexpr uint32_t kMetaR = 0xffe8;
inline constexpr uint32_t kAltL = 0xffe9;
inline constexpr uint32_t kAltR = 0xffea;
inline constexpr uint32_t kSuperL = 0xffeb;
inline constexpr uint32_t kSuperR = 0xffec;
inline constexpr uint32_t kDelete = 0xffff;
inline constexpr uint32_t kIsoLevel3Shift = 0xfe03;
inline constexpr uint32_t kIsoLeftTab = 0xfe20;
inline constexpr uint32_t kDeadGrave = 0xfe50;
inline constexpr uint32_t kDeadAcute = 0xfe51;
inline constexpr uint32_t kDeadCircumflex = 0xfe52;
inline constexpr uint32_t kDeadTilde = 0xfe53;
inline constexpr uint32_t kDeadDiaeresis = 0xfe57;
inline constexpr uint32_t kEuro = 0x20ac;

}  // namespace hvmd::vnc::keysym
