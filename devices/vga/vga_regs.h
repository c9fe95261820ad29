// VGA register layout (IBM VGA as FreeVGA documents it) and the Bochs VBE "dispi" interface
// (Bochs' vbe.h register numbers, as SeaBIOS's bochsvga.c and Linux's bochs DRM driver use them).
#pragma once

#include <cstdint>

namespace hvmd::devices::vga {

// Ports, as offsets from 0x3b0 (the device maps 0x3b0-0x3df as one range).
constexpr uint16_t kPortBase = 0x3b0;
constexpr uint16_t kPortCount = 0x30;
constexpr uint16_t kMonoCrtcIndex = 0x3b4, kMonoCrtcData = 0x3b5, kMonoStatus1 = 0x3ba;
constexpr uint16_t kAttrIndex = 0x3c0, kAttrDataRead = 0x3c1;
constexpr uint16_t kMiscWrite = 0x3c2, kStatus0 = 0x3c2;  // write: misc output; read: status 0
constexpr uint16_t kSeqIndex = 0x3c4, kSeqData = 0x3c5;
constexpr uint16_t kDacMask = 0x3c6, kDacReadIndex = 0x3c7, kDacState = 0x3c7;
constexpr uint16_t kDacWriteIndex = 0x3c8, kDacData = 0x3c9;
constexpr uint16_t kFeatureRead = 0x3ca, kMiscRead = 0x3cc;
constexpr uint16_t kGcIndex = 0x3ce, kGcData = 0x3cf;
constexpr uint16_t kColorCrtcIndex = 0x3d4, kColorCrtcData = 0x3d5, kColorStatus1 = 0x3da;

// Miscellaneous output.
constexpr uint8_t kMiscColorPorts = 0x01;  // CRTC and status 1 at 0x3dx, else 0x3bx

// Input status 1: both bits toggle on every read, so a guest polling for a retrace's start or
// end always gets there (there is no beam to follow).
constexpr uint8_t kStatus1DisplayDisabled = 0x01;
constexpr uint8_t kStatus1VerticalRetrace = 0x08;

// Sequencer.
constexpr unsigned kSeqCount = 5;
constexpr uint8_t kSeqClocking = 1, kSeqMapMask = 2, kSeqCharMap = 3, kSeqMemoryMode = 4;
constexpr uint8_t kClocking8Dot = 0x01, kClockingHalfDot = 0x08, kClockingScreenOff = 0x20;
constexpr uint8_t kMemoryOddEvenOff = 0x04, kMemoryChain4 = 0x08;

// Graphics controller.
constexpr unsigned kGcCount = 9;
constexpr uint8_t kGcSetReset = 0, kGcEnableSetReset = 1, kGcColorCompare = 2, kGcRotate = 3,
                  kGcReadMap = 4, kGcMode = 5, kGcMisc = 6, kGcColorDontCare = 7, kGcBitMask = 8;
constexpr uint8_t kModeWriteMask = 0x03, kModeReadCompare = 0x08, kModeOddEven = 0x10,
                  kModeShiftInterleave = 0x20, kMode256Color = 0x40;
constexpr uint8_t kMiscGraphics = 0x01, kMiscMapShift = 2, kMiscMapMask = 0x0c;
constexpr uint8_t kRotateCountMask = 0x07, kRotateFunctionShift = 3;
enum LogicOp : uint8_t { kLogicNone = 0, kLogicAnd = 1, kLogicOr = 2, kLogicXor = 3 };

// CRT controller.
constexpr unsigned kCrtcCount = 0x19;
constexpr uint8_t kCrtcHDisplayEnd = 0x01, kCrtcOverflow = 0x07, kCrtcPresetRow = 0x08,
                  kCrtcMaxScanLine = 0x09, kCrtcCursorStart = 0x0a, kCrtcCursorEnd = 0x0b,
                  kCrtcStartHigh = 0x0c, kCrtcStartLow = 0x0d, kCrtcCursorHigh = 0x0e,
                  kCrtcCursorLow = 0x0f, kCrtcVRetraceEnd = 0x11, kCrtcVDisplayEnd = 0x12,
                  kCrtcOffset = 0x13, kCrtcUnderline = 0x14, kCrtcModeControl = 0x17,
                  kCrtcLineCompare = 0x18;
// CR11 bit 7 makes CR00-CR07 read-only, except CR07's line-compare bit 8.
constexpr uint8_t kVRetraceEndProtect = 0x80;
constexpr uint8_t kLastProtected = 0x07;
constexpr uint8_t kOverflowLineCompare8 = 0x10;
constexpr uint8_t kOverflowVde8 = 0x02, kOverflowVde9 = 0x40;
constexpr uint8_t kMaxScanDouble = 0x80, kMaxScanLineCompare9 = 0x40, kMaxScanMask = 0x1f;
constexpr uint8_t kCursorDisable = 0x20, kCursorLineMask = 0x1f;
// CR17 bit 0 clear: row scan bit 0 replaces address bit 13 (CGA's two 8 KiB banks of lines).
constexpr uint8_t kModeControlCgaCompat = 0x01;
constexpr uint32_t kCgaBankBit = 0x2000;

// Attribute controller.
constexpr unsigned kAttrCount = 0x15;
constexpr uint8_t kAttrPaletteSource = 0x20;  // in the index: the display reads the palette
constexpr uint8_t kAttrIndexMask = 0x1f;
constexpr uint8_t kAttrMode = 0x10, kAttrOverscan = 0x11, kAttrPlaneEnable = 0x12,
                  kAttrPanning = 0x13, kAttrColorSelect = 0x14;
constexpr uint8_t kAttrModeGraphics = 0x01, kAttrModeLineGraphics = 0x04, kAttrModeBlink = 0x08,
                  kAttrModeP54Select = 0x80;
constexpr uint8_t kAttrModePanSplit = 0x20;  // set: the split screen does not pan
constexpr uint8_t kPanningMask = 0x07;

// The memory window and its four maps (GC misc bits 3-2).
constexpr uint64_t kWindowBase = 0xa0000;
constexpr uint64_t kWindowSize = 0x20000;
struct MemoryMap {
  uint32_t start;  // offset within the window
  uint32_t size;
};
constexpr MemoryMap kMemoryMaps[4] = {
    {0x00000, 0x20000}, {0x00000, 0x10000}, {0x10000, 0x8000}, {0x18000, 0x8000}};

// Text fonts live in plane 2: 8 maps, 32 bytes a character.
constexpr uint32_t kFontBytesPerChar = 32;

// Bochs VBE dispi interface: index at 0x1ce, data at 0x1cf (and 0x1d0).
constexpr uint16_t kDispiIndexPort = 0x1ce;
constexpr uint16_t kDispiPortCount = 3;  // 0x1ce index, 0x1cf and 0x1d0 data
enum DispiIndex : uint16_t {
  kDispiId = 0,
  kDispiXres = 1,
  kDispiYres = 2,
  kDispiBpp = 3,
  kDispiEnable = 4,
  kDispiBank = 5,
  kDispiVirtWidth = 6,
  kDispiVirtHeight = 7,
  kDispiXOffset = 8,
  kDispiYOffset = 9,
  kDispiVideoMemory64k = 10,
  kDispiCount = 11,
};
constexpr uint16_t kDispiId0 = 0xb0c0, kDispiIdNewest = 0xb0c5;
constexpr uint16_t kDispiEnabled = 0x01, kDispiGetCaps = 0x02, kDispi8BitDac = 0x20,
                   kDispiLfbEnabled = 0x40, kDispiNoClearMem = 0x80;
constexpr uint16_t kDispiMaxXres = 2560, kDispiMaxYres = 1600, kDispiMaxBpp = 32;
constexpr uint32_t kDispiBankSize = 0x10000;

}  // namespace hvmd::devices::vga
