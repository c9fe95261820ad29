// The Cirrus BitBLT engine in-process: each blit kind against a reference computed here, and the
// QEMU CVE classes of this engine replayed as hostile register settings that must leave video
// memory untouched.
#include "devices/vga/cirrus_blt.h"

#include <gtest/gtest.h>

#include <vector>

namespace hvmd::devices::vga::cirrus {
namespace {

constexpr uint64_t kVram = 1 << 20;

class CirrusBltTest : public ::testing::Test {
 protected:
  CirrusBltTest() {
    uint8_t* p = vram.host_data().data();
    for (uint64_t i = 0; i < kVram; ++i) p[i] = static_cast<uint8_t>(i * 7 + (i >> 8));
    vram.collect_dirty();
  }
  std::vector<uint8_t> snapshot() { return {vram.host_data().begin(), vram.host_data().end()}; }
  uint8_t* mem() { return vram.host_data().data(); }
  static BltParams copy(uint32_t dst, uint32_t src, uint32_t w, uint32_t h, uint32_t pitch) {
    BltParams p;
    p.dst = dst;
    p.src = src;
    p.width = w;
    p.height = h;
    p.dst_pitch = p.src_pitch = pitch;
    p.rop = kRopSrc;
    return p;
  }
  // A hostile blit: refused and no byte of VRAM changed.
  void expect_noop(const BltParams& p) {
    auto before = snapshot();
    EXPECT_FALSE(blitter.start(p));
    for (int i = 0; i < 64; ++i) blitter.feed(0xa5);
    EXPECT_FALSE(blitter.waiting_for_data());
    EXPECT_TRUE(snapshot() == before) << "a refused blit changed video memory";
  }

  DeviceMemory vram{"vram", kVram, DeviceMemory::Access::kReadWrite};
  Blitter blitter{vram};
};

TEST_F(CirrusBltTest, ForwardCopyMovesTheRectangle) {
  auto before = snapshot();
  ASSERT_TRUE(blitter.start(copy(0x20000, 0x1000, 100, 20, 1024)));
  for (uint32_t y = 0; y < 20; ++y)
    for (uint32_t x = 0; x < 100; ++x)
      ASSERT_EQ(mem()[0x20000 + y * 1024 + x], before[0x1000 + y * 1024 + x]) << x << "," << y;
  EXPECT_EQ(mem()[0x20000 + 100], before[0x20000 + 100]) << "nothing right of the rectangle";
  auto dirty = vram.collect_dirty();
  EXPECT_TRUE(dirty[0x20000 / 4096]);
  EXPECT_FALSE(dirty[0]);
}

// Backward: addresses name the last byte; lines and bytes go down. An overlapping move down the
// screen (a scroll) keeps the source intact, as the guest's driver expects.
TEST_F(CirrusBltTest, BackwardCopyScrollsOverlappingLines) {
  auto before = snapshot();
  const uint32_t pitch = 640, w = 640, h = 100, shift = 8 * pitch;
  uint32_t src_last = 0x10000 + (h - 1) * pitch + w - 1;
  BltParams p = copy(src_last + shift, src_last, w, h, pitch);
  p.mode = kBltBackward;
  ASSERT_TRUE(blitter.start(p));
  for (uint32_t y = 0; y < h; ++y)
    for (uint32_t x = 0; x < w; x += 37)
      ASSERT_EQ(mem()[0x10000 + shift + y * pitch + x], before[0x10000 + y * pitch + x]);
}

TEST_F(CirrusBltTest, EveryRopComputesItsFunction) {
  const uint8_t rops[] = {kRop0,
                          kRopSrcAndDst,
                          kRopDst,
                          kRopSrcAndNotDst,
                          kRopNotDst,
                          kRopSrc,
                          kRop1,
                          kRopNotSrcAndDst,
                          kRopSrcXorDst,
                          kRopSrcOrDst,
                          kRopNotSrcAndNotDst,
                          kRopNotSrcXorDst,
                          kRopSrcOrNotDst,
                          kRopNotSrc,
                          kRopNotSrcOrDst,
                          kRopNotSrcOrNotDst};
  auto fn = [](uint8_t rop, uint8_t s, uint8_t d) -> uint8_t {
    switch (rop) {
      case kRop0:
        return 0;
      case kRopSrcAndDst:
        return s & d;
      case kRopDst:
        return d;
      case kRopSrcAndNotDst:
        return s & ~d;
      case kRopNotDst:
        return ~d;
      case kRopSrc:
        return s;
      case kRop1:
        return 0xff;
      case kRopNotSrcAndDst:
        return ~s & d;
      case kRopSrcXorDst:
        return s ^ d;
      case kRopSrcOrDst:
        return s | d;
      case kRopNotSrcAndNotDst:
        return ~(s | d);
      case kRopNotSrcXorDst:
        return ~(s ^ d);
      case kRopSrcOrNotDst:
        return s | ~d;
      case kRopNotSrc:
        return ~s;
      case kRopNotSrcOrDst:
        return ~s | d;
      default:
        return ~(s & d);
    }
  };
  for (uint8_t rop : rops) {
    auto before = snapshot();
    BltParams p = copy(0x40000, 0x8000, 64, 4, 256);
    p.rop = rop;
    ASSERT_TRUE(blitter.start(p));
    for (uint32_t y = 0; y < 4; ++y)
      for (uint32_t x = 0; x < 64; ++x) {
        uint32_t d = 0x40000 + y * 256 + x, s = 0x8000 + y * 256 + x;
        ASSERT_EQ(mem()[d], fn(rop, before[s], before[d])) << "rop " << int(rop);
      }
  }
}

// Colour expansion of a one-bit source at each depth: set bits are the foreground, clear ones
// the background, or untouched with transparency.
TEST_F(CirrusBltTest, ColorExpansionAtEveryDepthOpaqueAndTransparent) {
  for (uint32_t bpp = 1; bpp <= 4; ++bpp) {
    for (bool transparent : {false, true}) {
      mem()[0x100] = 0xa5;
      mem()[0x101] = 0x0f;
      mem()[0x102] = 0x3c;  // second line
      mem()[0x103] = 0xc3;
      auto before = snapshot();
      BltParams p = copy(0x30000, 0x100, 16 * bpp, 2, 2);
      p.dst_pitch = 4096;
      p.mode = static_cast<uint8_t>(kBltColorExpand | ((bpp - 1) << kBltDepthShift) |
                                    (transparent ? kBltTransparent : 0));
      p.fg = 0x44332211;
      p.bg = 0x88776655;
      ASSERT_TRUE(blitter.start(p));
      for (uint32_t y = 0; y < 2; ++y)
        for (uint32_t x = 0; x < 16; ++x) {
          bool on = before[0x100 + y * 2 + x / 8] >> (7 - x % 8) & 1;
          for (uint32_t b = 0; b < bpp; ++b) {
            uint32_t at = 0x30000 + y * 4096 + x * bpp + b;
            uint8_t want = on            ? static_cast<uint8_t>(p.fg >> (8 * b))
                           : transparent ? before[at]
                                         : static_cast<uint8_t>(p.bg >> (8 * b));
            ASSERT_EQ(mem()[at], want) << bpp << " " << transparent << " " << x << "," << y;
          }
        }
    }
  }
}

TEST_F(CirrusBltTest, PatternFillRepeatsEightByEight) {
  for (uint32_t bpp : {1u, 2u, 4u}) {
    uint32_t pattern = 0x2000;  // aligned for every depth
    auto before = snapshot();
    BltParams p = copy(0x50000, pattern, 40 * bpp, 20, 0);
    p.dst_pitch = 2048;
    p.mode = static_cast<uint8_t>(kBltPattern | ((bpp - 1) << kBltDepthShift));
    ASSERT_TRUE(blitter.start(p));
    for (uint32_t y = 0; y < 20; ++y)
      for (uint32_t x = 0; x < 40; ++x)
        for (uint32_t b = 0; b < bpp; ++b)
          ASSERT_EQ(mem()[0x50000 + y * 2048 + x * bpp + b],
                    before[pattern + (y & 7) * 8 * bpp + (x & 7) * bpp + b]);
  }
}

TEST_F(CirrusBltTest, SolidFillNeedsNoSource) {
  BltParams p = copy(0x60000, 0xfffff0, 64, 3, 0);  // the source address is not used
  p.dst_pitch = 64;
  p.mode = kBltColorExpand | (1 << kBltDepthShift);
  p.mode_ext = kBltSolidFill;
  p.fg = 0xbeef;
  ASSERT_TRUE(blitter.start(p));
  for (uint32_t i = 0; i < 64 * 3; i += 2) {
    ASSERT_EQ(mem()[0x60000 + i], 0xef);
    ASSERT_EQ(mem()[0x60000 + i + 1], 0xbe);
  }
}

// System-to-video: the CPU's bytes, a line at a time in whole 32-bit words, are the source.
TEST_F(CirrusBltTest, SystemSourceTakesDwordPaddedLines) {
  BltParams p = copy(0x70000, 0, 6, 3, 0);
  p.dst_pitch = 100;
  p.mode = kBltSystemSource;
  ASSERT_TRUE(blitter.start(p));
  EXPECT_EQ(Blitter::source_line_bytes(p), 8u);
  for (uint32_t y = 0; y < 3; ++y)
    for (uint32_t i = 0; i < 8; ++i) {
      ASSERT_TRUE(blitter.waiting_for_data());
      blitter.feed(static_cast<uint8_t>(0x10 * y + i));
    }
  EXPECT_FALSE(blitter.waiting_for_data());
  for (uint32_t y = 0; y < 3; ++y) {
    for (uint32_t x = 0; x < 6; ++x) EXPECT_EQ(mem()[0x70000 + y * 100 + x], 0x10 * y + x);
  }
}

TEST_F(CirrusBltTest, TransparentCopySkipsTheKeyColour) {
  auto before = snapshot();
  mem()[0x100] = 0x11;
  mem()[0x101] = 0x22;
  mem()[0x102] = 0x11;
  mem()[0x103] = 0x33;
  BltParams p = copy(0x80000, 0x100, 4, 1, 4);
  p.mode = kBltTransparent;
  p.key = 0x11;
  ASSERT_TRUE(blitter.start(p));
  EXPECT_EQ(mem()[0x80000], before[0x80000]);
  EXPECT_EQ(mem()[0x80001], 0x22);
  EXPECT_EQ(mem()[0x80002], before[0x80002]);
  EXPECT_EQ(mem()[0x80003], 0x33);
}

// ---- The CVE classes: each a blit that once reached outside video memory in QEMU. ----

// CVE-2014-8106: the bounds check ignored the sign of the pitch (a backward blit walks down from
// its address), so destinations below the start of VRAM and past its end were written.
TEST_F(CirrusBltTest, Cve2014_8106_BackwardBlitBelowVram) {
  BltParams p = copy(0x1000, 0x80000, 256, 64, 1024);  // 64 lines of 1024 down from 0x1000
  p.mode = kBltBackward;
  expect_noop(p);
  expect_noop(copy(kVram - 0x1000, 0x0, 256, 64, 1024));  // forward past the end
}

// CVE-2016-9921/9922: a zero pitch (division by zero in QEMU's copy path) and a width wider than
// the pitch. Both are legal: the lines overlap, every byte stays inside.
TEST_F(CirrusBltTest, Cve2016_9921_9922_ZeroAndNarrowPitch) {
  ASSERT_TRUE(blitter.start(copy(0x1000, 0x2000, 128, 16, 0)));
  ASSERT_TRUE(blitter.start(copy(0x3000, 0x5000, 4096, 4, 16)));
  expect_noop(copy(kVram - 100, 0x5000, 4096, 1, 0));
}

// CVE-2017-2615: a backward copy whose source runs below video memory.
TEST_F(CirrusBltTest, Cve2017_2615_BackwardSourceBelowVram) {
  BltParams p = copy(0x90000, 0x100, 512, 8, 2048);
  p.mode = kBltBackward;
  expect_noop(p);
}

// CVE-2017-2620: system-to-video with colour expansion and a destination past the end: the data
// the CPU then writes must reach nothing.
TEST_F(CirrusBltTest, Cve2017_2620_SystemSourceOutsideVram) {
  BltParams p = copy(kVram - 16, 0, 8191 + 1, 2, 8192);
  p.mode = kBltSystemSource | kBltColorExpand;
  expect_noop(p);
}

// CVE-2017-7980: video-to-video reads and writes past the end through large pitches, addresses
// near the end, and patterns whose source is past the end.
TEST_F(CirrusBltTest, Cve2017_7980_PitchAndAddressPastTheEnd) {
  expect_noop(copy(0x0, kVram - 64, 128, 2, 8191));
  expect_noop(copy(0x0, 0x0, 8192, 2048, 8191));
  BltParams p = copy(0x0, 0x3ffffc, 64, 8, 64);  // a 22-bit address past 1 MiB
  p.mode = kBltPattern;
  expect_noop(p);
  p.mode = kBltPattern | kBltColorExpand;
  expect_noop(p);
}

// CVE-2017-18030: a backward blit whose extent (computed with the negative pitch) reached
// outside, invalidating and copying out of range. Also the directions a blit cannot take.
TEST_F(CirrusBltTest, Cve2017_18030_NegativePitchExtent) {
  BltParams p = copy(kVram - 1, kVram - 1, 1024, 1025, 1024);  // one line below 0
  p.mode = kBltBackward;
  expect_noop(p);
  p = copy(0x80000, 0x90000, 64, 4, 64);
  p.mode = kBltBackward | kBltColorExpand;
  expect_noop(p);
  p.mode = kBltMemToSystem;
  expect_noop(p);
  p.mode = 0;
  p.rop = 0x42;  // not an engine ROP
  expect_noop(p);
}

TEST_F(CirrusBltTest, ExtentCoversEitherSign) {
  auto e = Blitter::extent(1000, 100, 10, 5, 1);
  EXPECT_EQ(e.lo, 1000);
  EXPECT_EQ(e.hi, 1000 + 400 + 9);
  e = Blitter::extent(1000, 100, 10, 5, -1);
  EXPECT_EQ(e.lo, 1000 - 409);
  EXPECT_EQ(e.hi, 1000);
  e = Blitter::extent(1000, -100, 10, 5, 1);
  EXPECT_EQ(e.lo, 600);
  EXPECT_EQ(e.hi, 1009);
}

}  // namespace
}  // namespace hvmd::devices::vga::cirrus
