// Black-box: -device cirrus-vga programmed the way Linux's cirrus DRM driver and the cirrus VGA
// BIOS do (through BAR1's copy of the VGA ports, the legacy ports and the banked window), checked
// in video memory (BAR0) and in QMP screendumps pixel for pixel; the BitBLT engine through its
// memory-mapped registers against references computed here; hostile blits as no-ops; save and
// restore of both cards into a fresh hvmd.
#include <gtest/gtest.h>

#include <unistd.h>

#include <fstream>
#include <functional>
#include <iterator>
#include <string>

#include "tests/qtest/qtest_client.h"

namespace hvmd::test {
namespace {

constexpr uint8_t kDevfn = 0x10;  // addr=2
constexpr uint64_t kLfb = 0xe0000000, kMmio = 0xe2000000, kRom = 0xe3000000;
constexpr uint64_t kBlt = kMmio + 0x100;
constexpr uint64_t kWindow = 0xa0000;
constexpr uint64_t kVram = 4 << 20;

// A picture as QMP screendump writes it (PPM): width, height and RGB bytes.
struct Picture {
  uint32_t width = 0, height = 0;
  std::string rgb;
  uint32_t at(uint32_t x, uint32_t y) const {
    size_t i = (size_t{y} * width + x) * 3;
    return uint32_t{uint8_t(rgb[i])} << 16 | uint32_t{uint8_t(rgb[i + 1])} << 8 |
           uint8_t(rgb[i + 2]);
  }
};

std::string dump(QtestClient& qt) {
  std::string path = testing::TempDir() + "cirrus-dump-" + std::to_string(getpid()) + ".ppm";
  Json r = qt.qmp("screendump", {{"filename", path}});
  EXPECT_TRUE(r.contains("return")) << r;
  std::ifstream in(path, std::ios::binary);
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  unlink(path.c_str());
  return data;
}

Picture parse_ppm(const std::string& data) {
  Picture p;
  unsigned w = 0, h = 0, max = 0;
  int used = 0;
  if (sscanf(data.c_str(), "P6\n%u %u\n%u\n%n", &w, &h, &max, &used) != 3 || used == 0) return p;
  p.width = w;
  p.height = h;
  p.rgb = data.substr(used);
  return p;
}

class CirrusTest : public ::testing::Test {
 protected:
  explicit CirrusTest(std::vector<std::string> args = {"-device", "cirrus-vga,vgamem_mb=8,addr=2"})
      : qt(args) {
    setup(qt);
  }

 public:
  static void setup(QtestClient& q) {
    q.pci_config_write(kDevfn, 0x10, 4, static_cast<uint32_t>(kLfb));
    q.pci_config_write(kDevfn, 0x14, 4, static_cast<uint32_t>(kMmio));
    q.pci_config_write(kDevfn, 0x04, 2, 0x0003);
    q.outb(0x3c2, 0x67);  // colour ports
  }

 protected:
  // The VGA ports through BAR1, as Linux's cirrus driver reaches them.
  void out8(uint16_t port, uint8_t v) { qt.memwrite(kMmio + port - 0x3c0, {v}); }
  uint8_t in8(uint16_t port) { return qt.memread(kMmio + port - 0x3c0, 1)[0]; }
  void seq(uint8_t i, uint8_t v) {
    out8(0x3c4, i);
    out8(0x3c5, v);
  }
  uint8_t seq_read(uint8_t i) {
    out8(0x3c4, i);
    return in8(0x3c5);
  }
  void crt(uint8_t i, uint8_t v) {
    out8(0x3d4, i);
    out8(0x3d5, v);
  }
  uint8_t crt_read(uint8_t i) {
    out8(0x3d4, i);
    return in8(0x3d5);
  }
  void gfx(uint8_t i, uint8_t v) {
    out8(0x3ce, i);
    out8(0x3cf, v);
  }
  void hdr(uint8_t v) {
    in8(0x3c8);  // any other DAC access restarts the count
    for (int i = 0; i < 4; ++i) in8(0x3c6);
    out8(0x3c6, v);
  }
  // What cirrus_mode_set() and cirrus_set_start_address() write, in their order.
  void linux_mode_set(uint32_t width, uint32_t height, uint32_t bpp) {
    uint32_t htotal = (width + 160) / 8 - 5, hdispend = width / 8 - 1;
    uint32_t vtotal = height + 45 - 2, vdispend = height - 1;
    crt(0x11, 0x20);  // V_SYNC_END: clears the write protection too
    crt(0x00, static_cast<uint8_t>(htotal));
    crt(0x01, static_cast<uint8_t>(hdispend));
    crt(0x02, static_cast<uint8_t>(width / 8));
    crt(0x03, 0x80);
    crt(0x04, static_cast<uint8_t>(width / 8 + 2));
    crt(0x05, 0x00);
    crt(0x06, static_cast<uint8_t>(vtotal));
    crt(0x10, static_cast<uint8_t>(height + 10));
    crt(0x12, static_cast<uint8_t>(vdispend));
    crt(0x09, static_cast<uint8_t>(0x40 | ((vdispend + 1) & 512 ? 0x20 : 0)));
    uint8_t overflow = 0x10 | (vtotal & 0x100 ? 0x01 : 0) | (vdispend & 0x100 ? 0x02 : 0) |
                       ((vdispend + 1) & 0x100 ? 0x08 : 0) | (vtotal & 0x200 ? 0x20 : 0) |
                       (vdispend & 0x200 ? 0x40 : 0);
    crt(0x07, overflow);
    crt(0x1a, static_cast<uint8_t>((vtotal & 0x100 ? 0x40 : 0) | (vtotal & 0x200 ? 0x80 : 0)));
    crt(0x17, 0x03);  // no Hercules/CGA compatibility
    uint8_t sr07 = seq_read(0x07) & 0xe0;
    sr07 |= bpp == 8 ? 0x11 : bpp == 16 ? 0x17 : bpp == 24 ? 0x15 : 0x19;
    seq(0x07, sr07);
    uint32_t pitch = width * bpp / 8 / 8;
    crt(0x13, static_cast<uint8_t>(pitch));
    crt(0x1b, static_cast<uint8_t>(0x22 | ((pitch >> 4) & 0x10)));
    gfx(0x05, 0x40);
    gfx(0x06, 0x01);
    hdr(bpp == 8 ? 0x00 : bpp == 16 ? 0xc1 : 0xc5);
    // Start address 0.
    crt(0x0c, 0);
    crt(0x0d, 0);
    crt(0x1b, crt_read(0x1b) & 0xf2);
    crt(0x1d, crt_read(0x1d) & 0x7f);
    out8(0x3c0, 0x20);  // unblank: the attribute controller's palette source
  }
  void set_palette(uint8_t index, uint8_t r, uint8_t g, uint8_t b) {
    out8(0x3c8, index);
    out8(0x3c9, r);
    out8(0x3c9, g);
    out8(0x3c9, b);
  }
  static uint32_t scale6(uint8_t v) { return ((v << 2) | (v >> 4)) & 0xff; }

  // BitBLT registers through BAR1 + 0x100.
  void blt8(uint32_t off, uint8_t v) { qt.memwrite(kBlt + off, {v}); }
  void blt16(uint32_t off, uint16_t v) { qt.memwrite(kBlt + off, {uint8_t(v), uint8_t(v >> 8)}); }
  void blt24(uint32_t off, uint32_t v) {
    qt.memwrite(kBlt + off, {uint8_t(v), uint8_t(v >> 8), uint8_t(v >> 16)});
  }
  struct Blit {
    uint32_t width, height, dst_pitch, src_pitch, dst, src;
    uint8_t mode = 0, rop = 0x0d, mode_ext = 0;
    uint32_t fg = 0, bg = 0;
    uint8_t left_clip = 0;  // GR2F
  };
  void program(const Blit& b) {
    for (int i = 0; i < 4; ++i) {
      blt8(0x00 + i, uint8_t(b.bg >> (8 * i)));
      blt8(0x04 + i, uint8_t(b.fg >> (8 * i)));
    }
    blt16(0x08, static_cast<uint16_t>(b.width - 1));
    blt16(0x0a, static_cast<uint16_t>(b.height - 1));
    blt16(0x0c, static_cast<uint16_t>(b.dst_pitch));
    blt16(0x0e, static_cast<uint16_t>(b.src_pitch));
    blt24(0x14, b.src);
    blt8(0x18, b.mode);
    blt8(0x1a, b.rop);
    blt8(0x1b, b.mode_ext);
    blt8(0x17, b.left_clip);
    blt24(0x10, b.dst);
  }
  void run(const Blit& b) {
    program(b);
    blt8(0x40, 0x02);  // start
  }
  std::vector<uint8_t> vram(uint64_t at, size_t n) { return qt.memread(kLfb + at, n); }
  void fill_vram(uint64_t at, size_t n, uint8_t seed) {
    std::vector<uint8_t> data(n);
    for (size_t i = 0; i < n; ++i) data[i] = static_cast<uint8_t>(i * 13 + seed + (i >> 7));
    qt.memwrite(kLfb + at, data);
  }

  QtestClient qt;
};

TEST_F(CirrusTest, PciIdentityAndBars) {
  EXPECT_EQ(qt.pci_config_read(kDevfn, 0x00, 4), 0x00b81013u);
  EXPECT_EQ(qt.pci_config_read(kDevfn, 0x08, 4) >> 8, 0x030000u);
  qt.pci_config_write(kDevfn, 0x10, 4, 0xffffffff);
  EXPECT_EQ(qt.pci_config_read(kDevfn, 0x10, 4), static_cast<uint32_t>(~((32u << 20) - 1)) | 0x8)
      << "32 MiB linear aperture, prefetchable";
  qt.pci_config_write(kDevfn, 0x14, 4, 0xffffffff);
  EXPECT_EQ(qt.pci_config_read(kDevfn, 0x14, 4), 0xfffff000u) << "4 KiB of registers";
  if (access("/usr/share/seabios/vgabios-cirrus.bin", R_OK) == 0) {
    qt.pci_config_write(kDevfn, 0x30, 4, static_cast<uint32_t>(kRom) | 1);
    EXPECT_EQ(qt.memread(kRom, 2), (std::vector<uint8_t>{0x55, 0xaa})) << "the cirrus VGA BIOS";
  }
}

TEST_F(CirrusTest, ExtendedRegistersChipIdMemorySizeAndUnlock) {
  EXPECT_EQ(seq_read(0x06), 0x0f) << "locked after reset";
  seq(0x06, 0x12);
  EXPECT_EQ(seq_read(0x06), 0x12) << "unlocked";
  seq(0x06, 0x00);
  EXPECT_EQ(seq_read(0x06), 0x0f);
  seq(0x06, 0x92);  // as the cirrus VGA BIOS probes: only bits 4 and 2-0 are the key
  EXPECT_EQ(seq_read(0x06), 0x12);
  EXPECT_EQ(crt_read(0x27), 0xb8) << "CL-GD5446";
  EXPECT_EQ(seq_read(0x0f) & 0x98, 0x98) << "64-bit bus, two banks: 4 MiB";
  seq(0x0f, 0x00);
  EXPECT_EQ(seq_read(0x0f) & 0x98, 0x98) << "the size bits are the card's";
  EXPECT_EQ(seq_read(0x15), 0x04);
  EXPECT_EQ(seq_read(0x17) & 0x38, 0x20) << "PCI bus";
  // The legacy ports reach the same registers.
  qt.outb(0x3c4, 0x07);
  qt.outb(0x3c5, 0x01);
  EXPECT_EQ(seq_read(0x07), 0x01);
  gfx(0x0b, 0x21);
  qt.outb(0x3ce, 0x0b);
  EXPECT_EQ(qt.inb(0x3cf), 0x21);
}

TEST_F(CirrusTest, HiddenDacRegisterAfterFourMaskReads) {
  EXPECT_EQ(in8(0x3c6), 0xff);
  hdr(0xc1);
  EXPECT_EQ(in8(0x3c6), 0xff) << "the count restarted after the write";
  in8(0x3c8);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(in8(0x3c6), 0xff);
  EXPECT_EQ(in8(0x3c6), 0xc1) << "the fifth read is the hidden register";
  in8(0x3c8);
  in8(0x3c6);
  in8(0x3c6);
  in8(0x3c7);  // interrupts the sequence
  in8(0x3c6);
  in8(0x3c6);
  out8(0x3c6, 0x3f);
  EXPECT_EQ(in8(0x3c6), 0x3f) << "a write before four reads is the PEL mask";
}

// Each depth as Linux sets it, then the framebuffer written through BAR0 and every pixel of the
// screendump compared with what the written bytes mean.
TEST_F(CirrusTest, LinuxModeSetsAndFramebufferPixels) {
  struct Case {
    uint32_t width, height, bpp;
  };
  for (Case c : {Case{640, 480, 8}, Case{320, 240, 16}, Case{320, 200, 24}, Case{320, 240, 32}}) {
    SCOPED_TRACE(c.bpp);
    linux_mode_set(c.width, c.height, c.bpp);
    if (c.bpp == 8)
      for (int i = 0; i < 256; ++i)
        set_palette(uint8_t(i), uint8_t(i & 63), uint8_t((i * 3) & 63), uint8_t((i * 7) & 63));
    uint32_t bytes = c.bpp / 8, pitch = c.width * bytes;
    std::vector<uint8_t> fb(size_t{pitch} * c.height);
    for (size_t i = 0; i < fb.size(); ++i) fb[i] = static_cast<uint8_t>(i * 31 + (i >> 9));
    qt.memwrite(kLfb, fb);
    Picture p = parse_ppm(dump(qt));
    ASSERT_EQ(p.width, c.width);
    ASSERT_EQ(p.height, c.height);
    for (uint32_t y = 0; y < c.height; ++y) {
      for (uint32_t x = 0; x < c.width; ++x) {
        const uint8_t* px = &fb[y * pitch + x * bytes];
        uint32_t want;
        if (c.bpp == 8) {
          uint8_t i = px[0];
          want = scale6(i & 63) << 16 | scale6((i * 3) & 63) << 8 | scale6((i * 7) & 63);
        } else if (c.bpp == 16) {
          uint32_t v = px[0] | px[1] << 8;
          want = (v >> 11 & 31) << 19 | (v >> 5 & 63) << 10 | (v & 31) << 3;
        } else {
          want = uint32_t{px[2]} << 16 | uint32_t{px[1]} << 8 | px[0];
        }
        ASSERT_EQ(p.at(x, y), want) << x << "," << y;
      }
    }
  }
}

TEST_F(CirrusTest, FifteenBitWithoutTheHiddenDacAndStartAddress) {
  linux_mode_set(320, 200, 16);
  hdr(0xc0);  // 5:5:5
  crt(0x0c, 0x00);
  crt(0x0d, 0x40);                        // start at 0x40 dwords = 256 bytes
  qt.memwrite(kLfb + 256, {0x1f, 0x7c});  // 0x7c1f: red 31, green 0, blue 31
  Picture p = parse_ppm(dump(qt));
  ASSERT_EQ(p.width, 320u);
  EXPECT_EQ(p.at(0, 0), 0xf800f8u);
}

// 0xa0000 through the bank registers: one bank (GR09 for both halves), dual banks (GR0A for
// 0xa8000), 4 KiB and 16 KiB granularity.
TEST_F(CirrusTest, BankSwitchingSingleDualAndGranularity) {
  seq(0x07, 0x01);  // extended mode: the window is banked
  gfx(0x09, 0x03);  // 3 * 4 KiB
  qt.memwrite(kWindow + 0x10, {0x5a});
  EXPECT_EQ(vram(0x3010, 1)[0], 0x5a);
  qt.memwrite(kWindow + 0x8010, {0x6b});
  EXPECT_EQ(vram(0x3000 + 0x8010, 1)[0], 0x6b) << "one bank: the second half continues";
  gfx(0x0b, 0x01);  // dual
  gfx(0x0a, 0x10);  // 16 * 4 KiB
  qt.memwrite(kWindow + 0x8020, {0x7c});
  EXPECT_EQ(vram(0x10000 + 0x20, 1)[0], 0x7c);
  gfx(0x0b, 0x21);  // dual, 16 KiB granularity
  qt.memwrite(kWindow + 0x8030, {0x8d});
  EXPECT_EQ(vram(0x10 * 0x4000 + 0x30, 1)[0], 0x8d);
  EXPECT_EQ(qt.memread(kWindow + 0x8030, 1)[0], 0x8d);
  gfx(0x0a, 0xff);  // 255 * 16 KiB + 20 KiB is past 4 MiB: writes go nowhere, reads float
  qt.memwrite(kWindow + 0xd000, {0x11});
  EXPECT_EQ(qt.memread(kWindow + 0xd000, 1)[0], 0xff);
}

TEST_F(CirrusTest, LinearApertureByteSwappingViews) {
  qt.writel(kLfb + 0x100, 0x11223344);
  EXPECT_EQ(vram(0x100, 4), (std::vector<uint8_t>{0x44, 0x33, 0x22, 0x11}));
  qt.writel(kLfb + (4 << 20) + 0x100, 0x11223344);
  EXPECT_EQ(vram(0x100, 4), (std::vector<uint8_t>{0x33, 0x44, 0x11, 0x22})) << "16-bit swap";
  qt.writel(kLfb + (8 << 20) + 0x100, 0x11223344);
  EXPECT_EQ(vram(0x100, 4), (std::vector<uint8_t>{0x11, 0x22, 0x33, 0x44})) << "32-bit swap";
  EXPECT_EQ(qt.readl(kLfb + (8 << 20) + 0x100), 0x11223344u);
  EXPECT_EQ(qt.readl(kLfb + 0x100), 0x44332211u);
}

// Write mode 5 with GRB's extended write modes: each CPU bit is a pixel in the foreground or
// background colour (BY8 addressing: a byte covers eight pixels).
TEST_F(CirrusTest, ExtendedWriteModeFive) {
  seq(0x07, 0x01);
  gfx(0x0b, 0x06);  // extended write modes, BY8
  gfx(0x05, 0x05);
  gfx(0x00, 0x22);  // background
  gfx(0x01, 0x99);  // foreground
  qt.memwrite(kWindow + 2, {0xa0});
  gfx(0x0b, 0x00);  // plain addressing again, so BAR0 reads VRAM as it is
  EXPECT_EQ(vram(16, 8), (std::vector<uint8_t>{0x99, 0x22, 0x99, 0x22, 0x22, 0x22, 0x22, 0x22}));
}

TEST_F(CirrusTest, BlitVideoToVideoForwardAndBackward) {
  fill_vram(0, 0x8000, 1);
  auto before = vram(0, 0x8000);
  run({.width = 40, .height = 10, .dst_pitch = 256, .src_pitch = 256, .dst = 0x4000, .src = 0x100});
  auto after = vram(0x4000, 10 * 256);
  for (uint32_t y = 0; y < 10; ++y)
    for (uint32_t x = 0; x < 256; ++x)
      ASSERT_EQ(after[y * 256 + x],
                x < 40 ? before[0x100 + y * 256 + x] : before[0x4000 + y * 256 + x]);
  // Backward, overlapping (a scroll down by 2 lines): addresses name the last byte.
  before = vram(0, 0x8000);
  uint32_t last = 0x1000 + 9 * 256 + 39;
  run({.width = 40,
       .height = 10,
       .dst_pitch = 256,
       .src_pitch = 256,
       .dst = last + 512,
       .src = last,
       .mode = 0x01});
  after = vram(0, 0x8000);
  for (uint32_t y = 0; y < 10; ++y)
    for (uint32_t x = 0; x < 40; ++x)
      ASSERT_EQ(after[0x1000 + (y + 2) * 256 + x], before[0x1000 + y * 256 + x]);
  EXPECT_EQ(qt.memread(kBlt + 0x40, 1)[0] & 0x0b, 0) << "idle when done";
}

TEST_F(CirrusTest, BlitPatternFillAndColorExpansion16bpp) {
  fill_vram(0, 0x10000, 7);
  auto before = vram(0, 0x10000);
  // 16 bpp pattern (128 bytes at 0x800) over 24x12 pixels.
  run({.width = 48,
       .height = 12,
       .dst_pitch = 1024,
       .src_pitch = 0,
       .dst = 0x8000,
       .src = 0x800,
       .mode = 0x50});
  auto after = vram(0x8000, 12 * 1024);
  for (uint32_t y = 0; y < 12; ++y)
    for (uint32_t x = 0; x < 48; ++x)
      ASSERT_EQ(after[y * 1024 + x], before[0x800 + (y & 7) * 16 + ((x / 2) & 7) * 2 + x % 2]);
  // Transparent colour expansion from video memory: bytes at 0x200, a 2-byte line pitch.
  qt.memwrite(kLfb + 0x200, {0xf0, 0x81, 0x3c, 0x00});
  before = vram(0, 0x10000);
  run({.width = 32,
       .height = 2,
       .dst_pitch = 512,
       .src_pitch = 2,
       .dst = 0xc000,
       .src = 0x200,
       .mode = 0x98,
       .fg = 0xabcd});
  after = vram(0xc000, 1024);
  const uint8_t bits[2][2] = {{0xf0, 0x81}, {0x3c, 0x00}};
  for (uint32_t y = 0; y < 2; ++y)
    for (uint32_t x = 0; x < 16; ++x) {
      bool on = bits[y][x / 8] >> (7 - x % 8) & 1;
      ASSERT_EQ(after[y * 512 + 2 * x], on ? 0xcd : before[0xc000 + y * 512 + 2 * x]);
      ASSERT_EQ(after[y * 512 + 2 * x + 1], on ? 0xab : before[0xc000 + y * 512 + 2 * x + 1]);
    }
}

// GR2F clips the left of every line of colour-expansion and pattern blits: the destination and
// width include the clipped pixels, the source bits and pattern stay aligned to the destination
// address, and the clipped pixels keep their bytes. Plain copies are not clipped.
TEST_F(CirrusTest, LeftClipSkipsTheFirstPixelsOfExpansionAndPatternLines) {
  fill_vram(0, 0x20000, 3);
  qt.memwrite(kLfb + 0x300, {0xb6, 0x5d, 0xff, 0x0f});  // two lines of 16 bits
  auto before = vram(0, 0x20000);
  // Opaque colour expansion at 8 bpp, 3 pixels clipped.
  run({.width = 16,
       .height = 2,
       .dst_pitch = 640,
       .src_pitch = 2,
       .dst = 0x4000,
       .src = 0x300,
       .mode = 0x80,
       .fg = 0x77,
       .bg = 0x11,
       .left_clip = 3});
  const uint8_t bits[2][2] = {{0xb6, 0x5d}, {0xff, 0x0f}};
  for (uint32_t y = 0; y < 2; ++y) {
    auto line = vram(0x4000 + y * 640, 16);
    for (uint32_t x = 0; x < 16; ++x) {
      uint8_t want = x < 3 ? before[0x4000 + y * 640 + x]
                           : ((bits[y][x / 8] >> (7 - x % 8) & 1) ? 0x77 : 0x11);
      ASSERT_EQ(line[x], want) << "x " << x << " y " << y;
    }
  }
  // A 32 bpp pattern fill (256 bytes at 0x1000), 5 pixels clipped; the pattern's pixel x & 7.
  run({.width = 12 * 4,
       .height = 9,
       .dst_pitch = 2048,
       .src_pitch = 0,
       .dst = 0x8000,
       .src = 0x1000,
       .mode = 0x70,
       .left_clip = 5});
  auto after = vram(0x8000, 9 * 2048);
  for (uint32_t y = 0; y < 9; ++y)
    for (uint32_t x = 0; x < 48; ++x) {
      uint8_t want = x / 4 < 5 ? before[0x8000 + y * 2048 + x]
                               : before[0x1000 + (y & 7) * 32 + ((x / 4) & 7) * 4 + x % 4];
      ASSERT_EQ(after[y * 2048 + x], want) << "x " << x << " y " << y;
    }
  // At 24 bpp GR2F counts bytes: 7 of them clip two whole pixels. Pattern lines are 32 bytes.
  before = vram(0, 0x20000);
  run({.width = 10 * 3,
       .height = 2,
       .dst_pitch = 1024,
       .src_pitch = 0,
       .dst = 0xc000,
       .src = 0x1000,
       .mode = 0x60,
       .left_clip = 7});
  after = vram(0xc000, 2048);
  for (uint32_t y = 0; y < 2; ++y)
    for (uint32_t x = 0; x < 30; ++x) {
      uint8_t want = x / 3 < 2 ? before[0xc000 + y * 1024 + x]
                               : before[0x1000 + y * 32 + ((x / 3) & 7) * 3 + x % 3];
      ASSERT_EQ(after[y * 1024 + x], want) << "x " << x << " y " << y;
    }
  // System-source colour expansion at 16 bpp, 2 pixels clipped: the CPU's bits still start at
  // the clipped pixel.
  before = vram(0, 0x20000);
  run({.width = 16 * 2,
       .height = 1,
       .dst_pitch = 640,
       .src_pitch = 0,
       .dst = 0x10000,
       .src = 0,
       .mode = 0x94,
       .fg = 0xbeef,
       .bg = 0x1234,
       .left_clip = 2});
  qt.writel(kWindow, 0x00000ff0);  // bits f0 0f
  after = vram(0x10000, 32);
  for (uint32_t x = 0; x < 16; ++x) {
    bool on = (x / 8 == 0 ? 0xf0 : 0x0f) >> (7 - x % 8) & 1;
    uint16_t want =
        x < 2 ? static_cast<uint16_t>(before[0x10000 + 2 * x] | before[0x10000 + 2 * x + 1] << 8)
        : on  ? 0xbeef
              : 0x1234;
    ASSERT_EQ(after[2 * x] | after[2 * x + 1] << 8, want) << "x " << x;
  }
  // A plain video-to-video copy ignores GR2F.
  run({.width = 8,
       .height = 1,
       .dst_pitch = 640,
       .src_pitch = 640,
       .dst = 0x14000,
       .src = 0x300,
       .left_clip = 7});
  EXPECT_EQ(vram(0x14000, 8), vram(0x300, 8));
}

// System-to-video through the memory window, as cirrusfb's imageblit does: colour expansion of
// the CPU's bytes, one dword-padded line at a time; autostart by the destination's high byte.
TEST_F(CirrusTest, BlitSystemSourceThroughTheWindowWithAutostart) {
  blt8(0x40, 0x80);  // autostart
  run({.width = 16,
       .height = 2,
       .dst_pitch = 640,
       .src_pitch = 0,
       .dst = 0x2000,
       .src = 0,
       .mode = 0x84,
       .fg = 0x77,
       .bg = 0x11});
  EXPECT_EQ(qt.memread(kBlt + 0x40, 1)[0] & 0x01, 0x01) << "busy: waiting for data";
  qt.writel(kWindow, 0x0000c3a5);  // line 0: bits a5 c3, padded to a dword
  qt.writel(kWindow, 0x000001ff);  // line 1
  EXPECT_EQ(qt.memread(kBlt + 0x40, 1)[0] & 0x01, 0x00) << "done";
  auto line0 = vram(0x2000, 16), line1 = vram(0x2000 + 640, 16);
  const uint8_t bits[2][2] = {{0xa5, 0xc3}, {0xff, 0x01}};
  for (uint32_t x = 0; x < 16; ++x) {
    EXPECT_EQ(line0[x], (bits[0][x / 8] >> (7 - x % 8) & 1) ? 0x77 : 0x11) << x;
    EXPECT_EQ(line1[x], (bits[1][x / 8] >> (7 - x % 8) & 1) ? 0x77 : 0x11) << x;
  }
  blt8(0x40, 0x00);
}

TEST_F(CirrusTest, BlitRopsAt32bppAndTheScreendump) {
  linux_mode_set(320, 200, 32);
  fill_vram(0, 320 * 200 * 4, 3);
  auto before = vram(0, 320 * 4 * 20);
  // XOR a 10x10 pixel block from line 0 onto line 10.
  run({.width = 40,
       .height = 10,
       .dst_pitch = 1280,
       .src_pitch = 1280,
       .dst = 10 * 1280,
       .src = 0,
       .mode = 0x30,
       .rop = 0x59});
  Picture p = parse_ppm(dump(qt));
  ASSERT_EQ(p.width, 320u);
  for (uint32_t y = 0; y < 10; ++y)
    for (uint32_t x = 0; x < 10; ++x) {
      uint32_t s = y * 1280 + x * 4, d = (y + 10) * 1280 + x * 4;
      uint32_t want = uint32_t(before[s + 2] ^ before[d + 2]) << 16 |
                      uint32_t(before[s + 1] ^ before[d + 1]) << 8 | uint8_t(before[s] ^ before[d]);
      ASSERT_EQ(p.at(x, y + 10), want);
    }
}

// The CVE classes through the device: each blit is refused and no byte changes.
TEST_F(CirrusTest, HostileBlitsAreNoOps) {
  fill_vram(0, 0x10000, 9);
  fill_vram(kVram - 0x10000, 0x10000, 5);
  auto low = vram(0, 0x10000), mid = vram(0x10000, 0x10000);
  auto high = vram(kVram - 0x10000, 0x10000);
  // CVE-2014-8106 / CVE-2017-18030: backward below 0.
  run({.width = 256,
       .height = 64,
       .dst_pitch = 1024,
       .src_pitch = 1024,
       .dst = 0x1000,
       .src = 0x8000,
       .mode = 0x01});
  // CVE-2017-2615: backward with the source below 0.
  run({.width = 256,
       .height = 64,
       .dst_pitch = 1024,
       .src_pitch = 1024,
       .dst = 0x1ffff,
       .src = 0x100,
       .mode = 0x01});
  // CVE-2017-7980: forward past the end, source and destination.
  run({.width = 8192,
       .height = 2048,
       .dst_pitch = 8191,
       .src_pitch = 8191,
       .dst = 0,
       .src = kVram - 0x100});
  run({.width = 4096, .height = 4, .dst_pitch = 0, .src_pitch = 0, .dst = kVram - 0x800, .src = 0});
  // CVE-2017-2620: system source with its destination past the end; the data must go nowhere.
  run({.width = 8192,
       .height = 8,
       .dst_pitch = 8192,
       .src_pitch = 0,
       .dst = kVram - 64,
       .src = 0,
       .mode = 0x84});
  EXPECT_EQ(qt.memread(kBlt + 0x40, 1)[0] & 0x01, 0x00) << "not waiting for data";
  // CVE-2016-9921/9922: zero pitches are legal and stay inside.
  run({.width = 64,
       .height = 64,
       .dst_pitch = 0,
       .src_pitch = 0,
       .dst = kVram - 64,
       .src = kVram - 128});
  for (int i = 0; i < 64; ++i) high[0x10000 - 64 + i] = high[0x10000 - 128 + i];
  EXPECT_TRUE(vram(0, 0x10000) == low);
  EXPECT_TRUE(vram(0x10000, 0x10000) == mid);
  EXPECT_TRUE(vram(kVram - 0x10000, 0x10000) == high);
}

// The hardware cursor: 32x32 at (100, 50), pattern at the end of video memory, colours from
// the extended DAC entries; each plane combination drawn as the card draws it.
TEST_F(CirrusTest, HardwareCursorInTheScreendump) {
  linux_mode_set(320, 200, 8);
  set_palette(1, 0x10, 0x20, 0x30);
  qt.memwrite(kLfb, std::vector<uint8_t>(320 * 200, 1));
  seq(0x12, 0x02);              // DAC access to the cursor colours
  set_palette(0, 0x3f, 0, 0);   // background: red
  set_palette(15, 0, 0x3f, 0);  // foreground: green
  seq(0x12, 0x00);
  std::vector<uint8_t> pattern(256, 0);
  pattern[0] = 0xc0;                                         // plane 0, line 0: pixels 0-1
  pattern[128] = 0x60;                                       // plane 1, line 0: pixels 1-2
  qt.memwrite(kLfb + kVram - 16 * 1024 + 2 * 256, pattern);  // pattern 2
  seq(0x13, 0x02);
  qt.outb(0x3c4, 0x10 | (100 & 7) << 5);
  qt.outb(0x3c5, 100 >> 3);
  qt.outb(0x3c4, 0x11 | (50 & 7) << 5);
  qt.outb(0x3c5, 50 >> 3);
  seq(0x12, 0x01);
  Picture p = parse_ppm(dump(qt));
  ASSERT_EQ(p.width, 320u);
  uint32_t screen = scale6(0x10) << 16 | scale6(0x20) << 8 | scale6(0x30);
  EXPECT_EQ(p.at(100, 50), screen ^ 0xffffffu) << "plane 0 only: inverted";
  EXPECT_EQ(p.at(101, 50), 0x00ff00u) << "both: foreground";
  EXPECT_EQ(p.at(102, 50), 0xff0000u) << "plane 1 only: background";
  EXPECT_EQ(p.at(103, 50), screen) << "neither: the picture";
  EXPECT_EQ(p.at(99, 50), screen);
  seq(0x12, 0x00);
  EXPECT_EQ(parse_ppm(dump(qt)).at(101, 50), screen) << "hidden";
}

// Save and restore into a fresh hvmd: the same picture (mode, palette, VRAM, cursor).
void save_restore_same_picture(const std::vector<std::string>& args,
                               const std::function<void(QtestClient&)>& draw) {
  std::string path = testing::TempDir() + "cirrus-state-" + std::to_string(getpid());
  std::string first;
  {
    QtestClient a(args);
    CirrusTest::setup(a);
    draw(a);
    first = dump(a);
    ASSERT_GT(first.size(), 100u);
    ASSERT_TRUE(a.qmp("stop").contains("return"));
    Json r = a.qmp("xen-save-devices-state", {{"filename", path}, {"live", false}});
    ASSERT_TRUE(r.contains("return")) << r;
  }
  QtestClient b(args);
  Json r = b.qmp("xen-load-devices-state", {{"filename", path}});
  ASSERT_TRUE(r.contains("return")) << r;
  EXPECT_TRUE(dump(b) == first) << "the restored picture differs";
  unlink(path.c_str());
}

TEST(CirrusSaveRestore, ModePixelsAndCursorSurvive) {
  save_restore_same_picture({"-device", "cirrus-vga,addr=2"}, [](QtestClient& q) {
    auto out8 = [&](uint16_t port, uint8_t v) { q.memwrite(kMmio + port - 0x3c0, {v}); };
    auto seq = [&](uint8_t i, uint8_t v) { out8(0x3c4, i), out8(0x3c5, v); };
    auto crt = [&](uint8_t i, uint8_t v) { out8(0x3d4, i), out8(0x3d5, v); };
    crt(0x11, 0x20);
    crt(0x01, 320 / 8 - 1);
    crt(0x12, 199);
    crt(0x07, 0x10);
    crt(0x13, 320 * 2 / 8);
    seq(0x07, 0x17);
    q.memread(kMmio + 8, 1);
    for (int i = 0; i < 4; ++i) q.memread(kMmio + 6, 1);
    out8(0x3c6, 0xc1);
    out8(0x3c0, 0x20);
    std::vector<uint8_t> fb(320 * 200 * 2);
    for (size_t i = 0; i < fb.size(); ++i) fb[i] = static_cast<uint8_t>(i * 5 + (i >> 10));
    q.memwrite(kLfb, fb);
    seq(0x12, 0x02);
    out8(0x3c8, 15);
    for (int i = 0; i < 3; ++i) out8(0x3c9, 0x3f);
    q.memwrite(kLfb + kVram - 16 * 1024, std::vector<uint8_t>(256, 0xff));
    seq(0x12, 0x01);
    seq(0x10, 4);
  });
}

TEST(StdVgaSaveRestore, VbeModePaletteAndPixelsSurvive) {
  save_restore_same_picture({"-device", "VGA,vgamem_mb=4,addr=2"}, [](QtestClient& q) {
    auto dispi = [&](uint16_t i, uint16_t v) {
      q.outw(0x1ce, i);
      q.outw(0x1cf, v);
    };
    dispi(1, 320);
    dispi(2, 200);
    dispi(3, 8);
    dispi(4, 0x41);
    q.outb(0x3c8, 0);
    for (int i = 0; i < 256 * 3; ++i) q.outb(0x3c9, static_cast<uint8_t>(i * 7 & 63));
    std::vector<uint8_t> fb(320 * 200);
    for (size_t i = 0; i < fb.size(); ++i) fb[i] = static_cast<uint8_t>(i * 3 + (i >> 8));
    q.memwrite(kLfb, fb);
  });
}

TEST(CirrusCommandLine, VgaShorthands) {
  {
    QtestClient q({"-vga", "cirrus"});
    bool found = false;
    for (uint8_t devfn = 0x08; devfn < 0xf8 && !found; devfn += 8)
      found = q.pci_config_read(devfn, 0, 4) == 0x00b81013u;
    EXPECT_TRUE(found) << "-vga cirrus adds the card";
  }
  {
    QtestClient q({"-vga", "std"});
    bool found = false;
    for (uint8_t devfn = 0x08; devfn < 0xf8 && !found; devfn += 8)
      found = q.pci_config_read(devfn, 0, 4) == 0x11111234u;
    EXPECT_TRUE(found) << "-vga std adds the standard VGA";
  }
  RunResult r = run_hvmd({"-vga", "tseng"});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.stderr_text, "hvmd: -vga tseng: unknown card (std, cirrus or none)\n");
}

}  // namespace
}  // namespace hvmd::test
