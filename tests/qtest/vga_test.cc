// Black-box: -device VGA as the VGA BIOS, vga16fb and Linux's bochs DRM driver program it; video
// memory checked through the linear framebuffer (plane p's byte at plane offset o is VRAM byte
// 4 * o + p).
#include <gtest/gtest.h>

#include <unistd.h>

#include <fstream>
#include <iterator>
#include <string>

#include "tests/qtest/qtest_client.h"

namespace hvmd::test {
namespace {

constexpr uint8_t kDevfn = 0x10;  // addr=2
constexpr uint64_t kLfb = 0xe0000000, kMmio = 0xe1000000, kRom = 0xe2000000;
constexpr uint64_t kWindow = 0xa0000;
constexpr uint64_t kVram = 16 << 20;

class VgaTest : public ::testing::Test {
 protected:
  VgaTest() {
    qt.pci_config_write(kDevfn, 0x10, 4, static_cast<uint32_t>(kLfb));
    qt.pci_config_write(kDevfn, 0x18, 4, static_cast<uint32_t>(kMmio));
    qt.pci_config_write(kDevfn, 0x04, 2, 0x0003);
    qt.outb(0x3c2, 0x67);  // colour ports
  }
  void seq(uint8_t i, uint8_t v) { qt.outw(0x3c4, static_cast<uint16_t>(v << 8 | i)); }
  void gc(uint8_t i, uint8_t v) { qt.outw(0x3ce, static_cast<uint16_t>(v << 8 | i)); }
  uint8_t crtc_read(uint16_t base, uint8_t i) {
    qt.outb(base, i);
    return qt.inb(base + 1);
  }
  void dispi(uint16_t i, uint16_t v) {
    qt.outw(0x1ce, i);
    qt.outw(0x1cf, v);
  }
  uint16_t dispi_read(uint16_t i) {
    qt.outw(0x1ce, i);
    return qt.inw(0x1cf);
  }
  uint8_t plane(uint32_t offset, unsigned p) { return qt.memread(kLfb + 4 * offset + p, 1)[0]; }
  void set_planes(uint32_t offset, std::array<uint8_t, 4> bytes) {
    qt.memwrite(kLfb + 4 * offset, {bytes[0], bytes[1], bytes[2], bytes[3]});
  }
  // Planar, 64 KiB at A0000, as mode 12h leaves it.
  void planar() {
    seq(2, 0x0f);
    seq(4, 0x06);
    gc(5, 0x00);
    gc(6, 0x05);
    gc(8, 0xff);
  }
  // QMP screendump as PPM: the header and RGB bytes.
  std::string screendump_ppm() {
    std::string path = testing::TempDir() + "vga-dump-" + std::to_string(getpid()) + ".ppm";
    Json r = qt.qmp("screendump", {{"filename", path}});
    EXPECT_TRUE(r.contains("return")) << r;
    std::ifstream in(path, std::ios::binary);
    std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    unlink(path.c_str());
    return data;
  }
  QtestClient qt{{"-device", "VGA,vgamem_mb=16,addr=2"}};
};

TEST_F(VgaTest, PciIdentityAndFramebufferBar) {
  EXPECT_EQ(qt.pci_config_read(kDevfn, 0x00, 4), 0x11111234u);
  EXPECT_EQ(qt.pci_config_read(kDevfn, 0x08, 4) >> 8, 0x030000u);
  qt.pci_config_write(kDevfn, 0x10, 4, 0xffffffff);
  EXPECT_EQ(qt.pci_config_read(kDevfn, 0x10, 4), static_cast<uint32_t>(~(kVram - 1)) | 0x8)
      << "16 MiB, prefetchable";
  if (access("/usr/share/seabios/vgabios-stdvga.bin", R_OK) == 0) {
    qt.pci_config_write(kDevfn, 0x30, 4, static_cast<uint32_t>(kRom) | 1);
    EXPECT_EQ(qt.memread(kRom, 2), (std::vector<uint8_t>{0x55, 0xaa})) << "the VGA BIOS";
  }
}

TEST_F(VgaTest, CrtcWriteProtectAndColourMonoAliasing) {
  qt.outw(0x3d4, 0x5501);              // CR01 = 0x55
  qt.outw(0x3d4, 0x0011 | 0x80 << 8);  // protect CR00-CR07
  qt.outw(0x3d4, 0x6601);
  EXPECT_EQ(crtc_read(0x3d4, 0x01), 0x55) << "protected";
  qt.outw(0x3d4, 0xff07);
  EXPECT_EQ(crtc_read(0x3d4, 0x07), 0x10) << "only the line-compare bit of CR07";
  qt.outw(0x3d4, 0x770c);
  EXPECT_EQ(crtc_read(0x3d4, 0x0c), 0x77) << "CR08 and above stay writable";
  EXPECT_EQ(qt.inb(0x3b5), 0xff) << "mono ports silent in colour mode";
  qt.outb(0x3c2, 0x66);  // mono
  EXPECT_EQ(crtc_read(0x3b4, 0x0c), 0x77);
  EXPECT_EQ(qt.inb(0x3d5), 0xff);
  EXPECT_EQ(qt.inb(0x3cc), 0x66);
}

TEST_F(VgaTest, AttributeFlipFlopDacAndRetrace) {
  qt.inb(0x3da);
  qt.outb(0x3c0, 0x05);
  qt.outb(0x3c0, 0x3a);  // palette 5
  qt.outb(0x3c0, 0x26);  // an index again (with palette source)
  EXPECT_EQ(qt.inb(0x3c0), 0x26);
  qt.outb(0x3c0, 0x05);  // data for index 6
  qt.inb(0x3da);         // back to index
  qt.outb(0x3c0, 0x05);
  EXPECT_EQ(qt.inb(0x3c1), 0x3a);
  qt.inb(0x3da);
  qt.outb(0x3c0, 0x06);
  EXPECT_EQ(qt.inb(0x3c1), 0x05);
  // DAC: three 6-bit components, then the next entry.
  qt.outb(0x3c8, 0x10);
  for (uint8_t v : {0xff, 0x01, 0x02, 0x03, 0x04, 0x05}) qt.outb(0x3c9, v);
  EXPECT_EQ(qt.inb(0x3c8), 0x12);
  qt.outb(0x3c7, 0x10);
  EXPECT_EQ(qt.inb(0x3c7) & 3, 3) << "DAC state: reading";
  std::vector<uint8_t> read;
  for (int i = 0; i < 6; ++i) read.push_back(qt.inb(0x3c9));
  EXPECT_EQ(read, (std::vector<uint8_t>{0x3f, 0x01, 0x02, 0x03, 0x04, 0x05}));
  // The retrace bit toggles, so both "wait for retrace" and "wait for its end" finish.
  uint8_t a = qt.inb(0x3da), b = qt.inb(0x3da);
  EXPECT_NE(a & 0x08, b & 0x08);
}

TEST_F(VgaTest, PlanarWriteModesAndLatches) {
  planar();
  set_planes(100, {0x0f, 0xf0, 0x33, 0xcc});
  // Write mode 0 with set/reset on planes 0 and 2 (set on 0, reset on 2), bit mask 0xf0: the
  // latches (loaded by a read) keep the low nibble.
  qt.memread(kWindow + 100, 1);
  gc(0, 0x01);
  gc(1, 0x05);
  gc(8, 0xf0);
  qt.memwrite(kWindow + 100, {0xaa});
  EXPECT_EQ(plane(100, 0), 0xff);  // set/reset 1 | latch 0x0f
  EXPECT_EQ(plane(100, 1), 0xa0);  // CPU data 0xaa, low nibble from latch 0xf0 -> 0x0
  EXPECT_EQ(plane(100, 2), 0x03);  // set/reset 0 | latch 0x33 low nibble
  EXPECT_EQ(plane(100, 3), 0xac);
  // Write mode 1 copies the latches: here to offset 200.
  gc(1, 0x00);
  gc(8, 0xff);
  gc(5, 0x01);
  qt.memread(kWindow + 100, 1);
  qt.memwrite(kWindow + 200, {0x00});
  EXPECT_EQ(qt.memread(kLfb + 800, 4), (std::vector<uint8_t>{0xff, 0xa0, 0x03, 0xac}));
  // Write mode 2: the CPU byte's low bits are a colour, XORed with the latches, bit mask 0x0f.
  set_planes(300, {0x00, 0xff, 0x00, 0xff});
  gc(5, 0x02);
  gc(3, 0x18);  // XOR
  gc(8, 0x0f);
  qt.memread(kWindow + 300, 1);
  qt.memwrite(kWindow + 300, {0x05});  // colour 0101
  EXPECT_EQ(qt.memread(kLfb + 1200, 4), (std::vector<uint8_t>{0x0f, 0xff, 0x0f, 0xff}));
  // Write mode 3: set/reset colour, bit mask ANDed with the CPU byte rotated right by 4.
  set_planes(400, {0x00, 0x00, 0x00, 0x00});
  gc(5, 0x03);
  gc(3, 0x04);  // rotate 4, no logical op
  gc(0, 0x0a);
  gc(8, 0xff);
  qt.memread(kWindow + 400, 1);
  qt.memwrite(kWindow + 400, {0x3c});  // rotated: 0xc3
  EXPECT_EQ(qt.memread(kLfb + 1600, 4), (std::vector<uint8_t>{0x00, 0xc3, 0x00, 0xc3}));
  // The map mask keeps planes out of every write.
  seq(2, 0x01);
  gc(5, 0x00);
  gc(3, 0x00);
  gc(1, 0x00);
  qt.memwrite(kWindow + 400, {0x77});
  EXPECT_EQ(qt.memread(kLfb + 1600, 4), (std::vector<uint8_t>{0x77, 0xc3, 0x00, 0xc3}));
}

TEST_F(VgaTest, PlanarReadModes) {
  planar();
  set_planes(10, {0x11, 0x22, 0x44, 0x88});
  gc(4, 0x02);
  EXPECT_EQ(qt.memread(kWindow + 10, 1)[0], 0x44) << "read mode 0: the read map's plane";
  // Read mode 1: the pixels whose colour matches colour compare (0100) in the planes colour
  // don't care selects.
  gc(5, 0x08);
  gc(2, 0x04);
  gc(7, 0x0f);
  EXPECT_EQ(qt.memread(kWindow + 10, 1)[0], 0x44);
  gc(7, 0x03);  // only planes 0 and 1 must be 0
  EXPECT_EQ(qt.memread(kWindow + 10, 1)[0], 0xcc);
  gc(7, 0x00);
  EXPECT_EQ(qt.memread(kWindow + 10, 1)[0], 0xff);
}

TEST_F(VgaTest, Chain4AndOddEvenWindows) {
  // Mode 13h: chain-4, byte a of the window is VRAM byte a.
  seq(2, 0x0f);
  seq(4, 0x0e);
  gc(5, 0x40);
  gc(6, 0x05);
  qt.memwrite(kWindow + 0x1235, {0x5a});
  EXPECT_EQ(qt.memread(kLfb + 0x1235, 1)[0], 0x5a);
  EXPECT_EQ(qt.memread(kWindow + 0x1235, 1)[0], 0x5a);
  // Text: odd/even at B8000; characters in plane 0, attributes in plane 1.
  seq(2, 0x03);
  seq(4, 0x02);
  gc(5, 0x10);
  gc(6, 0x0e);
  qt.memwrite(kWindow + 0x18000 + 6, {'H', 0x1f});
  EXPECT_EQ(plane(6, 0), 'H');
  EXPECT_EQ(plane(6, 1), 0x1f);
  EXPECT_EQ(qt.memread(kWindow + 0x18000 + 6, 2), (std::vector<uint8_t>{'H', 0x1f}));
  EXPECT_EQ(qt.memread(kWindow, 1)[0], 0xff) << "A0000 is outside the B8000 map";
}

TEST_F(VgaTest, VbeModeSetLinearFramebufferAndBanks) {
  dispi(0, 0xb0c0);
  EXPECT_EQ(dispi_read(0), 0xb0c0);
  dispi(0, 0xb0c5);
  EXPECT_EQ(dispi_read(0), 0xb0c5);
  dispi(0, 0xb0c9);
  EXPECT_EQ(dispi_read(0), 0xb0c5) << "unknown IDs ignored";
  dispi(4, 0x02);  // GETCAPS
  EXPECT_EQ(dispi_read(1), 2560);
  EXPECT_EQ(dispi_read(2), 1600);
  EXPECT_EQ(dispi_read(3), 32);
  EXPECT_EQ(dispi_read(10), kVram >> 16);
  // 1024x768x32, linear framebuffer.
  dispi(4, 0);
  dispi(1, 1024);
  dispi(2, 768);
  dispi(3, 32);
  dispi(4, 0x41);
  EXPECT_EQ(dispi_read(4), 0x41);
  EXPECT_EQ(dispi_read(6), 1024);
  EXPECT_EQ(dispi_read(7), kVram / 4096);
  qt.writel(kLfb + (3 * 1024 + 2) * 4, 0x00c0ffee);
  // The same pixel through bank 0 of the window, then bank 2.
  EXPECT_EQ(qt.readl(kWindow + (3 * 1024 + 2) * 4), 0x00c0ffeeu);
  dispi(5, 2);
  qt.writel(kWindow + 8, 0x11223344);
  EXPECT_EQ(qt.readl(kLfb + 0x20000 + 8), 0x11223344u);
  dispi(5, kVram >> 16);  // past the end: ignored
  EXPECT_EQ(dispi_read(5), 2);
  // Offsets and virtual widths that would reach past VRAM are refused.
  dispi(9, 0x3000);
  EXPECT_EQ(dispi_read(9), 0);
  dispi(6, 0xffff);
  EXPECT_EQ(dispi_read(6), 1024);
  dispi(9, 100);
  EXPECT_EQ(dispi_read(9), 100);
  // The mode is fixed while enabled; a mode bigger than VRAM does not enable.
  dispi(1, 640);
  EXPECT_EQ(dispi_read(1), 1024);
  dispi(4, 0);
  dispi(1, 2560);
  dispi(2, 1600);
  dispi(3, 32);  // 16000 KiB: fits in 16 MiB
  dispi(4, 0x01);
  EXPECT_EQ(dispi_read(4), 0x01);
  EXPECT_EQ(qt.readl(kLfb + (3 * 1024 + 2) * 4), 0u) << "enabling cleared memory";
}

TEST_F(VgaTest, VbeEnableRefusesAModeBiggerThanVram) {
  QtestClient small({"-device", "VGA,vgamem_mb=1,addr=2"});
  small.outw(0x1ce, 1);
  small.outw(0x1cf, 1024);
  small.outw(0x1ce, 2);
  small.outw(0x1cf, 768);
  small.outw(0x1ce, 3);
  small.outw(0x1cf, 32);
  small.outw(0x1ce, 4);
  small.outw(0x1cf, 0x41);
  EXPECT_EQ(small.inw(0x1cf), 0) << "3 MiB of pixels in 1 MiB of VRAM";
}

// A VBE mode set as Linux's bochs driver does it through BAR2, a pixel through the linear
// framebuffer, and the picture as QMP's screendump writes it.
TEST_F(VgaTest, ScreendumpShowsTheVbeFramebuffer) {
  EXPECT_TRUE(qt.qmp("screendump", {{"filename", "/dev/null"}}).contains("error"))
      << "a blank display has no picture";
  auto dispi_mmio = [&](uint16_t index, uint16_t value) {  // writew, as the driver does
    char line[64];
    snprintf(line, sizeof(line), "writew 0x%llx 0x%x",
             static_cast<unsigned long long>(kMmio + 0x500 + 2 * index), value);
    EXPECT_EQ(qt.command(line), "OK");
  };
  dispi_mmio(4, 0);
  dispi_mmio(3, 32);
  dispi_mmio(1, 320);
  dispi_mmio(2, 200);
  dispi_mmio(5, 0);
  dispi_mmio(6, 320);
  dispi_mmio(8, 0);
  dispi_mmio(9, 0);
  dispi_mmio(4, 0x41);
  qt.writel(kLfb + (199 * 320 + 10) * 4, 0x00336699);
  std::string ppm = screendump_ppm();
  std::string header = "P6\n320 200\n255\n";
  ASSERT_EQ(ppm.size(), header.size() + 320 * 200 * 3);
  EXPECT_EQ(ppm.substr(0, header.size()), header);
  size_t at = header.size() + (199 * 320 + 10) * 3;
  EXPECT_EQ(ppm.substr(at, 3), std::string("\x33\x66\x99"));
  EXPECT_EQ(ppm.substr(at + 3, 3), std::string(3, '\0'));
  EXPECT_TRUE(
      qt.qmp("screendump", {{"filename", "/dev/null"}, {"format", "bmp"}}).contains("error"));
}

// Absolute pointer positions reach the PS/2 mouse as motion across the picture shown: here a
// 320x200 VBE mode, so the full range is 320 pixels wide.
TEST_F(VgaTest, AbsolutePointerFollowsTheDisplaySize) {
  dispi(4, 0);
  dispi(1, 320);
  dispi(2, 200);
  dispi(3, 8);
  dispi(4, 0x41);
  qt.outb(0x64, 0x60);
  qt.outb(0x60, 0x43);  // keyboard and mouse interrupts, translation
  qt.outb(0x64, 0xd4);
  qt.outb(0x60, 0xf4);  // mouse reporting on
  EXPECT_EQ(qt.inb(0x60), 0xfa);
  auto abs = [&](int x, int y) {
    Json r = qt.qmp("input-send-event",
                    {{"events",
                      {{{"type", "abs"}, {"data", {{"axis", "x"}, {"value", x}}}},
                       {{"type", "abs"}, {"data", {{"axis", "y"}, {"value", y}}}}}}});
    ASSERT_TRUE(r.contains("return")) << r;
  };
  abs(0, 0);
  std::vector<uint8_t> packet;
  for (int i = 0; i < 3; ++i) packet.push_back(qt.inb(0x60));
  abs(1028, 0);  // pixel 10 of 320
  packet.clear();
  for (int i = 0; i < 3; ++i) packet.push_back(qt.inb(0x60));
  EXPECT_EQ(packet, (std::vector<uint8_t>{0x08, 10, 0}));
}

TEST_F(VgaTest, MmioBarReachesTheVgaPortsAndDispi) {
  qt.writel(kMmio + 0x500 + 2 * 0, 0xb0c4);
  EXPECT_EQ(dispi_read(0), 0xb0c4);
  dispi(1, 800);
  EXPECT_EQ(qt.readl(kMmio + 0x500 + 2 * 1) & 0xffff, 800u);
  // 0x3c4/0x3c5 at 0x404/0x405.
  qt.memwrite(kMmio + 0x404, {0x02, 0x0b});
  qt.outb(0x3c4, 0x02);
  EXPECT_EQ(qt.inb(0x3c5), 0x0b);
}

}  // namespace
}  // namespace hvmd::test
