// Cirrus Logic CL-GD5446 register layout (the extended sequencer, graphics controller and CRTC
// registers, the hidden DAC register, the BitBLT engine and its memory-mapped copy), from Cirrus'
// CL-GD544x technical reference and the register use of Linux's cirrus DRM driver and the cirrus
// VGA BIOS.
#pragma once

#include <cstdint>

namespace hvmd::devices::vga::cirrus {

// PCI identity.
constexpr uint16_t kVendor = 0x1013;
constexpr uint16_t kDevice = 0x00b8;  // CL-GD5446

// The chip addresses at most 4 MiB of video memory.
constexpr uint64_t kMaxVram = 4 << 20;
// BAR0: four 4 MiB views of video memory (plain, 16-bit swapped, 32-bit swapped, plain), then at
// 16 MiB the BitBLT data port (system-to-video source).
constexpr uint64_t kLinearBarSize = 32 << 20;
constexpr uint64_t kApertureSize = 4 << 20;
constexpr uint64_t kBltDataOffset = 16 << 20;
enum Aperture : unsigned { kApertureNoSwap = 0, kApertureSwap16 = 1, kApertureSwap32 = 2 };
// BAR1: the VGA ports 0x3c0-0x3df at 0x000, the BitBLT registers at 0x100.
constexpr uint64_t kMmioBarSize = 0x1000;
constexpr uint64_t kMmioVgaPorts = 0x000;
constexpr uint64_t kMmioBlt = 0x100;
constexpr uint64_t kMmioBltSize = 0x100;

// Sequencer extensions.
constexpr unsigned kSrCount = 0x20;
constexpr uint8_t kSrUnlock = 0x06;  // write 0x12 to unlock; reads 0x12 unlocked, else 0x0f
constexpr uint8_t kUnlockKey = 0x12, kUnlockKeyMask = 0x17, kLockedValue = 0x0f;
constexpr uint8_t kSrExtMode = 0x07;      // bit 0: packed-pixel (extended) mode; bits 3-1: depth
constexpr uint8_t kSrDramControl = 0x0f;  // bits 4-3 bus width, bit 7 second bank (memory size)
constexpr uint8_t kSrCursorX = 0x10;      // x >> 3; x bits 2-0 in the index's bits 7-5
constexpr uint8_t kSrCursorY = 0x11;
constexpr uint8_t kSrCursorAttr = 0x12;  // bit 0 show, bit 1 DAC extended colours, bit 2 64x64
constexpr uint8_t kSrCursorPattern = 0x13;
constexpr uint8_t kSrScratchMem = 0x15;  // memory size as the BIOS reads it
constexpr uint8_t kSrConfig = 0x17;      // bit 2 memory-mapped I/O, bit 6 at the aperture's end
constexpr uint8_t kSrIndexMask = 0x1f;   // SR10/SR11 are reached by any index ending so
constexpr uint8_t kExtModeEnable = 0x01;
constexpr uint8_t kExtDepthMask = 0x0e;
enum ExtDepth : uint8_t {
  kDepth8 = 0x00,
  kDepth16DoubleClock = 0x02,
  kDepth24 = 0x04,
  kDepth16 = 0x06,
  kDepth32 = 0x08,
};
constexpr uint8_t kCursorShow = 0x01, kCursorDacAccess = 0x02, kCursorLarge = 0x04;
constexpr uint8_t kConfigMmio = 0x04, kConfigMmioAtLinearEnd = 0x40;
constexpr uint8_t kConfigBusPci = 0x20;
constexpr uint32_t kCursorPatternArea = 16 * 1024;  // the last 16 KiB of video memory

// Graphics controller extensions.
constexpr unsigned kGrCount = 0x40;
constexpr uint8_t kGrOffset0 = 0x09, kGrOffset1 = 0x0a, kGrExtensions = 0x0b;
constexpr uint8_t kExtDualBank = 0x01, kExtBy8 = 0x02, kExtWriteModes = 0x04, kExtBy16 = 0x10,
                  kExt16KGranularity = 0x20;
constexpr uint8_t kGrBg1 = 0x10, kGrFg1 = 0x11, kGrBg2 = 0x12, kGrFg2 = 0x13, kGrBg3 = 0x14,
                  kGrFg3 = 0x15;
// BitBLT.
constexpr uint8_t kGrBltWidth = 0x20;     // 0x20-0x21: bytes - 1 (13 bits)
constexpr uint8_t kGrBltHeight = 0x22;    // 0x22-0x23: lines - 1 (11 bits)
constexpr uint8_t kGrBltDstPitch = 0x24;  // 0x24-0x25 (13 bits)
constexpr uint8_t kGrBltSrcPitch = 0x26;  // 0x26-0x27 (13 bits)
constexpr uint8_t kGrBltDstAddr = 0x28;   // 0x28-0x2a (22 bits)
constexpr uint8_t kGrBltSrcAddr = 0x2c;   // 0x2c-0x2e (22 bits)
constexpr uint8_t kGrBltWriteMask = 0x2f;
constexpr uint8_t kGrBltMode = 0x30;
constexpr uint8_t kGrBltStatus = 0x31;
constexpr uint8_t kGrBltRop = 0x32;
constexpr uint8_t kGrBltModeExt = 0x33;
constexpr uint8_t kGrBltKey = 0x34;      // 0x34-0x35: transparent colour
constexpr uint8_t kGrBltKeyMask = 0x38;  // 0x38-0x39: its don't-care bits
constexpr uint32_t kBltWidthMask = 0x1fff, kBltHeightMask = 0x7ff, kBltPitchMask = 0x1fff;
constexpr uint32_t kBltAddrMask = 0x3fffff;
// GR30.
constexpr uint8_t kBltBackward = 0x01, kBltMemToSystem = 0x02, kBltSystemSource = 0x04,
                  kBltTransparent = 0x08, kBltPattern = 0x40, kBltColorExpand = 0x80;
constexpr uint8_t kBltDepthShift = 4, kBltDepthMask = 0x30;
// GR31.
constexpr uint8_t kBltBusy = 0x01, kBltStart = 0x02, kBltReset = 0x04, kBltProgress = 0x08,
                  kBltAutostart = 0x80;
// GR33.
constexpr uint8_t kBltSolidFill = 0x04;

// The BitBLT registers' memory-mapped offsets (BAR1 + 0x100, or 0xb8000).
struct BltMmioReg {
  uint8_t offset;
  uint8_t gr;
};
constexpr BltMmioReg kBltMmioMap[] = {
    {0x00, 0x00}, {0x01, 0x10}, {0x02, 0x12}, {0x03, 0x14}, {0x04, 0x01}, {0x05, 0x11},
    {0x06, 0x13}, {0x07, 0x15}, {0x08, 0x20}, {0x09, 0x21}, {0x0a, 0x22}, {0x0b, 0x23},
    {0x0c, 0x24}, {0x0d, 0x25}, {0x0e, 0x26}, {0x0f, 0x27}, {0x10, 0x28}, {0x11, 0x29},
    {0x12, 0x2a}, {0x14, 0x2c}, {0x15, 0x2d}, {0x16, 0x2e}, {0x17, 0x2f}, {0x18, 0x30},
    {0x1a, 0x32}, {0x1b, 0x33}, {0x1c, 0x34}, {0x1d, 0x35}, {0x20, 0x38}, {0x21, 0x39},
    {0x40, 0x31},
};
// The legacy window's copy: 256 bytes at 0xb8000 while SR17 selects it.
constexpr uint32_t kWindowMmioOffset = 0x18000;

// CRTC extensions.
constexpr unsigned kCrCount = 0x28;
constexpr uint8_t kCrExtDisplay = 0x1b;  // bit 0 start bit 16, bits 3-2 start 18-17, bit 4 offset 8
constexpr uint8_t kCrOverlay = 0x1d;     // bit 7 start bit 19
constexpr uint8_t kCrChipId = 0x27;
constexpr uint8_t kChipId5446 = 0xb8;  // device 0x2e in bits 7-2, revision 0

// Hidden DAC register: the fifth access to the PEL mask after four reads of it.
constexpr unsigned kHiddenDacReads = 4;
constexpr uint8_t kHdrExtended = 0xc0;
constexpr uint8_t kHdrMask = 0xcf, kHdr565 = 0xc1;

// Raster operations (GR32): the sixteen the engine knows, named by what they compute.
enum Rop : uint8_t {
  kRop0 = 0x00,
  kRopSrcAndDst = 0x05,
  kRopDst = 0x06,
  kRopSrcAndNotDst = 0x09,
  kRopNotDst = 0x0b,
  kRopSrc = 0x0d,
  kRop1 = 0x0e,
  kRopNotSrcAndDst = 0x50,
  kRopSrcXorDst = 0x59,
  kRopSrcOrDst = 0x6d,
  kRopNotSrcAndNotDst = 0x90,
  kRopNotSrcXorDst = 0x95,
  kRopSrcOrNotDst = 0xad,
  kRopNotSrc = 0xd0,
  kRopNotSrcOrDst = 0xd6,
  kRopNotSrcOrNotDst = 0xda,
};

}  // namespace hvmd::devices::vga::cirrus
