// The VGA core's picture as a console gets it through the display hub: registers programmed as
// the VGA BIOS and Linux's drivers do, then pixels and damage checked.
#include <gtest/gtest.h>

#include <vector>

#include "devices/vga/vga_core.h"
#include "dm/display.h"
#include "dm/guest_memory.h"

namespace hvmd::test {
namespace {

using devices::vga::VgaCore;

class VgaRenderTest : public ::testing::Test {
 protected:
  VgaRenderTest() {
    core.map();
    hub.set_source(&core);
    console = hub.add_console();
  }
  ~VgaRenderTest() override { core.unmap(); }

  void seq(uint8_t i, uint8_t v) { d.port_write(0x3c4, 2, uint64_t{v} << 8 | i); }
  void gc(uint8_t i, uint8_t v) { d.port_write(0x3ce, 2, uint64_t{v} << 8 | i); }
  void crtc(uint8_t i, uint8_t v) { d.port_write(0x3d4, 2, uint64_t{v} << 8 | i); }
  void attr(uint8_t i, uint8_t v) {
    d.port_read(0x3da, 1);  // flip-flop to index
    d.port_write(0x3c0, 1, i);
    d.port_write(0x3c0, 1, v);
  }
  void dac(uint8_t index, uint8_t r, uint8_t g, uint8_t b) {
    d.port_write(0x3c8, 1, index);
    d.port_write(0x3c9, 1, r);
    d.port_write(0x3c9, 1, g);
    d.port_write(0x3c9, 1, b);
  }
  void dispi(uint16_t i, uint16_t v) {
    d.port_write(0x1ce, 2, i);
    d.port_write(0x1cf, 2, v);
  }
  void screen_on() {
    d.port_read(0x3da, 1);
    d.port_write(0x3c0, 1, 0x20);  // palette address source: the display reads the palette
  }
  // 80x25 text with 9x16 cells, as mode 3 sets it.
  void text_mode() {
    d.port_write(0x3c2, 1, 0x67);  // colour ports
    seq(1, 0x00);                  // 9-dot characters
    seq(2, 0x03);
    seq(3, 0x00);
    seq(4, 0x02);  // odd/even
    crtc(0x01, 79);
    crtc(0x07, 0x1f);  // VDE bit 8
    crtc(0x09, 0x4f);  // 16 scan lines a row
    crtc(0x0a, 0x0d);
    crtc(0x0b, 0x0e);
    crtc(0x12, 0x8f);  // 400 lines: 0x18f
    crtc(0x13, 40);
    gc(5, 0x10);
    gc(6, 0x0e);  // text, B8000
    gc(8, 0xff);  // bit mask: every bit from the CPU
    for (uint8_t i = 0; i < 16; ++i) attr(i, i);
    attr(0x10, 0x0c);  // line graphics, blink
    attr(0x12, 0x0f);
    dac(0x01, 0, 0, 0x2a);        // blue
    dac(0x0e, 0x3f, 0x3f, 0x15);  // yellow
    screen_on();
  }
  // Glyph rows of character ch in font 0 (plane 2), written as the BIOS loads fonts.
  void load_glyph(uint8_t ch, const std::vector<uint8_t>& rows) {
    seq(2, 0x04);
    seq(4, 0x06);
    gc(5, 0x00);
    gc(6, 0x04);  // A0000, 64 KiB
    for (size_t i = 0; i < rows.size(); ++i) d.mmio_write(0xa0000 + ch * 32u + i, 1, rows[i]);
    seq(2, 0x03);
    seq(4, 0x02);
    gc(5, 0x10);
    gc(6, 0x0e);
  }
  std::vector<uint32_t> render(const DisplayInfo& info) {
    std::vector<uint32_t> pixels(size_t{info.width} * info.height, 0xdeadbeef);
    Framebuffer fb{pixels.data(), info.width, info.height, info.width};
    hub.render(fb, {0, 0, info.width, info.height});
    return pixels;
  }

  HostRam ram{RamLayout::pc(16 << 20)};
  Dispatcher d{&ram};
  Clock clock{Clock::Mode::kVirtual};
  DeviceMemory vram{"vram", 4 << 20, DeviceMemory::Access::kReadWrite};
  VgaCore core{vram, d, clock};
  DisplayHub hub;
  DisplayHub::ConsoleId console = 0;
};

TEST_F(VgaRenderTest, TextCellDrawnWithTheFontFromPlane2AndItsAttribute) {
  text_mode();
  load_glyph('A', {0x00, 0x18, 0x24, 0x42, 0x7e, 0x42, 0x42, 0x00});
  d.mmio_write(0xb8000 + (2 * 80 + 3) * 2, 2, 0x1e00 | 'A');  // yellow on blue, row 2 column 3
  auto update = hub.poll(console);
  ASSERT_EQ(update.info, (DisplayInfo{DisplayMode::kText, 720, 400, 80, 25}));
  auto pixels = render(update.info);
  const uint32_t blue = 0x0000aa, yellow = 0xffff55;
  auto at = [&](uint32_t x, uint32_t y) { return pixels[y * 720 + x]; };
  uint32_t x0 = 3 * 9, y0 = 2 * 16;
  EXPECT_EQ(at(x0 + 3, y0 + 1), yellow);  // 0x18: dots 3 and 4
  EXPECT_EQ(at(x0 + 4, y0 + 1), yellow);
  EXPECT_EQ(at(x0 + 2, y0 + 1), blue);
  EXPECT_EQ(at(x0 + 1, y0 + 3), yellow);  // 0x42
  EXPECT_EQ(at(x0 + 8, y0 + 4), blue) << "the ninth dot is background for letters";
  EXPECT_EQ(at(0, 0), 0u) << "attribute 0: black";

  // One changed cell is one damaged cell.
  d.mmio_write(0xb8000 + (10 * 80 + 79) * 2, 1, 'A');
  EXPECT_EQ(hub.poll(console).damage, (std::vector<Rect>{{79 * 9, 10 * 16, 9, 16}}));
  EXPECT_TRUE(hub.poll(console).damage.empty()) << "nothing changed, nothing to redraw";
}

TEST_F(VgaRenderTest, TextCursorBlinksWhereTheCrtcPutsIt) {
  text_mode();
  crtc(0x0e, 0);
  crtc(0x0f, 81);  // row 1, column 1
  d.mmio_write(0xb8000 + 81 * 2, 2, 0x0e00);
  hub.poll(console);
  auto pixels = render(hub.info());
  EXPECT_EQ(pixels[(16 + 13) * 720 + 9 + 2], 0xffff55u) << "cursor lines 13-14 in fg";
  EXPECT_EQ(pixels[(16 + 12) * 720 + 9 + 2], 0u);
  clock.advance_to(clock.now_ns() + 300'000'000);  // past half a cursor blink
  EXPECT_EQ(hub.poll(console).damage, (std::vector<Rect>{{9, 16, 9, 16}}));
  pixels = render(hub.info());
  EXPECT_EQ(pixels[(16 + 13) * 720 + 9 + 2], 0u) << "cursor off";
}

// Line compare splits the screen: from scan line 200 the rows come from address 0 again, while
// the top part starts at the start address.
TEST_F(VgaRenderTest, TextSplitScreen) {
  text_mode();
  load_glyph(0xdb, std::vector<uint8_t>(16, 0xff));  // a full block
  d.mmio_write(0xb8000, 2, 0x0edb);                  // address 0: row 0, column 0
  crtc(0x0c, 0x00);
  crtc(0x0d, 80);  // the top part starts at row 1 of memory
  crtc(0x18, 200);
  crtc(0x07, 0x0f);  // line compare bit 8 clear (VDE bit 8 kept)
  crtc(0x09, 0x0f);  // 16 scan lines, line compare bit 9 clear
  auto update = hub.poll(console);
  ASSERT_EQ(update.info.mode, DisplayMode::kText);
  auto pixels = render(update.info);
  EXPECT_EQ(pixels[0], 0u) << "the top part does not show address 0";
  EXPECT_EQ(pixels[200 * 720 + 3], 0xffff55u) << "the split part starts with address 0";
  EXPECT_EQ(pixels[216 * 720 + 3], 0u);
}

TEST_F(VgaRenderTest, Mode13hPixelsThroughTheDac) {
  d.port_write(0x3c2, 1, 0x63);
  seq(1, 0x01);
  seq(2, 0x0f);
  seq(4, 0x0e);  // chain-4
  crtc(0x01, 79);
  crtc(0x07, 0x1f);
  crtc(0x09, 0x41);  // each line twice
  crtc(0x12, 0x8f);
  crtc(0x13, 40);
  crtc(0x17, 0xa3);  // byte mode off, no CGA banks
  gc(5, 0x40);
  gc(6, 0x05);  // graphics, A0000 64 KiB
  attr(0x10, 0x41);
  dac(7, 0x3f, 0x00, 0x00);
  screen_on();
  d.mmio_write(0xa0000 + 199 * 320 + 319, 1, 7);
  auto update = hub.poll(console);
  ASSERT_EQ(update.info, (DisplayInfo{DisplayMode::kGraphics, 320, 200, 0, 0}));
  auto pixels = render(update.info);
  EXPECT_EQ(pixels[199 * 320 + 319], 0xff0000u);
  EXPECT_EQ(pixels[0], 0u);
  d.mmio_write(0xa0000 + 100 * 320, 1, 7);  // page 7 of VRAM: lines 96-108
  auto damage = hub.poll(console).damage;
  ASSERT_EQ(damage.size(), 1u);
  EXPECT_LE(damage[0].y, 100u);
  EXPECT_GT(damage[0].y + damage[0].height, 100u);
  EXPECT_LT(damage[0].height, 20u);
}

// Mode X: 13h's timing with chain-4 off; the guest picks a pixel's plane with the map mask, and
// pixel x of a line is plane x & 3 at offset x / 4. A start address flips the page.
TEST_F(VgaRenderTest, ModeXPlanesAndPageFlip) {
  d.port_write(0x3c2, 1, 0xe3);
  seq(1, 0x01);
  seq(4, 0x06);  // chain-4 off
  crtc(0x01, 79);
  crtc(0x07, 0x3e);
  crtc(0x09, 0x41);
  crtc(0x12, 0xdf);  // 480 lines, each twice: 320x240
  crtc(0x13, 40);
  crtc(0x14, 0x00);
  crtc(0x17, 0xe3);
  gc(5, 0x40);
  gc(6, 0x05);
  gc(8, 0xff);
  attr(0x10, 0x41);
  dac(9, 0x3f, 0x3f, 0x3f);
  screen_on();
  seq(2, 0x02);                                       // plane 1
  d.mmio_write(0xa0000 + 5 * 80, 1, 9);               // pixel (1, 5)
  seq(2, 0x08);                                       // plane 3
  d.mmio_write(0xa0000 + 0x4b00 + 2 * 80 + 2, 1, 9);  // page 2 (offset 0x4b00): pixel (11, 2)
  auto update = hub.poll(console);
  ASSERT_EQ(update.info, (DisplayInfo{DisplayMode::kGraphics, 320, 240, 0, 0}));
  auto pixels = render(update.info);
  EXPECT_EQ(pixels[5 * 320 + 1], 0xffffffu);
  EXPECT_EQ(pixels[5 * 320 + 0], 0u);
  crtc(0x0c, 0x4b);
  crtc(0x0d, 0x00);
  pixels = render(hub.poll(console).info);
  EXPECT_EQ(pixels[2 * 320 + 11], 0xffffffu);
  EXPECT_EQ(pixels[5 * 320 + 1], 0u);
}

// Mode 12h: 640x480, 16 colours in four planes, drawn through the attribute palette; then the
// picture panned left by three dots.
TEST_F(VgaRenderTest, Planar16ColourPixelsAndPanning) {
  d.port_write(0x3c2, 1, 0xe3);
  seq(1, 0x01);
  seq(2, 0x0f);
  seq(4, 0x06);
  crtc(0x01, 79);
  crtc(0x07, 0x3e);  // VDE bits 8 and 9 (0x1df)
  crtc(0x09, 0x40);
  crtc(0x12, 0xdf);
  crtc(0x13, 40);
  crtc(0x17, 0xe3);
  gc(5, 0x02);  // write mode 2: the CPU byte is a colour
  gc(6, 0x05);
  gc(8, 0x80);  // leftmost pixel only
  attr(0x10, 0x01);
  attr(0x12, 0x0f);
  attr(0x09, 0x3a);
  dac(0x3a, 0x3f, 0x3f, 0x00);
  screen_on();
  d.mmio_read(0xa0000 + 479 * 80 + 1, 1);         // load the latches
  d.mmio_write(0xa0000 + 479 * 80 + 1, 1, 0x09);  // pixel (8, 479) is colour 9
  auto update = hub.poll(console);
  ASSERT_EQ(update.info, (DisplayInfo{DisplayMode::kGraphics, 640, 480, 0, 0}));
  auto pixels = render(update.info);
  EXPECT_EQ(pixels[479 * 640 + 8], 0xffff00u);
  EXPECT_EQ(pixels[479 * 640 + 9], 0u);
  attr(0x13, 3);
  screen_on();
  pixels = render(hub.poll(console).info);
  EXPECT_EQ(pixels[479 * 640 + 5], 0xffff00u);
}

// Mode 4: two bits a pixel in odd/even memory at B8000, odd lines in the second 8 KiB bank.
TEST_F(VgaRenderTest, Cga4ColourLinesFromTwoBanks) {
  d.port_write(0x3c2, 1, 0x63);
  seq(1, 0x09);
  seq(2, 0x03);
  seq(4, 0x02);
  crtc(0x01, 39);
  crtc(0x07, 0x1f);
  crtc(0x09, 0xc1);  // double scan, two scan lines a row
  crtc(0x12, 0x8f);
  crtc(0x13, 40);
  crtc(0x17, 0xa2);  // row scan bit 0 selects the bank
  gc(5, 0x30);
  gc(6, 0x0f);
  gc(8, 0xff);
  attr(0x10, 0x01);
  attr(0x12, 0x03);
  for (uint8_t i = 0; i < 4; ++i) attr(i, static_cast<uint8_t>(0x10 + i));
  dac(0x11, 0x3f, 0, 0);
  dac(0x12, 0, 0x3f, 0);
  dac(0x13, 0, 0, 0x3f);
  screen_on();
  d.mmio_write(0xb8000 + 0x2000 + 80 + 1, 1, 0xe4);  // line 3, pixels 4-7: colours 3, 2, 1, 0
  auto update = hub.poll(console);
  ASSERT_EQ(update.info, (DisplayInfo{DisplayMode::kGraphics, 320, 200, 0, 0}));
  auto pixels = render(update.info);
  EXPECT_EQ(pixels[3 * 320 + 4], 0x0000ffu);
  EXPECT_EQ(pixels[3 * 320 + 5], 0x00ff00u);
  EXPECT_EQ(pixels[3 * 320 + 6], 0xff0000u);
  EXPECT_EQ(pixels[3 * 320 + 7], 0u);
  EXPECT_EQ(pixels[2 * 320 + 4], 0u) << "line 2 is in the first bank";
}

TEST_F(VgaRenderTest, VbeModeAtTheVirtualOffset) {
  dispi(4, 0);
  dispi(1, 640);
  dispi(2, 480);
  dispi(3, 32);
  dispi(4, 0x41);  // enabled, linear framebuffer
  dispi(6, 800);   // virtual width
  dispi(9, 10);    // y offset
  auto update = hub.poll(console);
  ASSERT_EQ(update.info, (DisplayInfo{DisplayMode::kGraphics, 640, 480, 0, 0}));
  uint64_t pixel = (10 + 5) * 800 * 4 + 7 * 4;  // (7, 5) of the picture
  vram.write(pixel, 4, 0x00123456);
  auto pixels = render(update.info);
  EXPECT_EQ(pixels[5 * 640 + 7], 0x123456u);
  EXPECT_EQ(hub.poll(console).damage.size(), 1u);
  // 16 bpp, 5:6:5.
  dispi(4, 0);
  dispi(3, 16);
  dispi(4, 0x41);
  vram.write(0, 2, 0xf800 | 0x001f);
  pixels = render(hub.poll(console).info);
  EXPECT_EQ(pixels[0], 0xf800f8u);
}

}  // namespace
}  // namespace hvmd::test
