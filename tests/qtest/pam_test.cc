// Black-box: the BIOS image (-bios) at the top of 4 GiB and its low alias, and the i440FX PAM
// registers routing 0xc0000-0xfffff to RAM or to the ROM side, as firmware shadows itself.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>

#include "tests/qtest/qtest_client.h"

namespace hvmd::test {
namespace {

constexpr uint8_t kHostBridge = 0x00;
constexpr uint8_t kPam0 = 0x59;  // bits 5:4: 0xf0000-0xfffff
constexpr uint8_t kPam5 = 0x5e;  // bits 1:0: 0xe0000-0xe3fff; 5:4: 0xe4000-0xe7fff
constexpr uint8_t kReadOnly = 0x1, kWriteOnly = 0x2, kReadWrite = 0x3;
constexpr size_t kImageSize = 128 * 1024;  // the whole image is the low alias, 0xe0000-0xfffff

// A BIOS image whose every byte tells where it is.
uint8_t image_byte(size_t i) {
  return static_cast<uint8_t>(i * 7 + (i >> 8) + 1);
}

class PamTest : public ::testing::Test {
 protected:
  static std::string write_image(size_t size) {
    std::string path = testing::TempDir() + "pam-bios-" + std::to_string(getpid()) + "-" +
                       std::to_string(size) + ".bin";
    std::ofstream out(path, std::ios::binary);
    for (size_t i = 0; i < size; ++i) out.put(static_cast<char>(image_byte(i)));
    return path;
  }
  ~PamTest() override { unlink(path_.c_str()); }

  std::vector<uint8_t> image(size_t offset, size_t length) {
    std::vector<uint8_t> out;
    for (size_t i = 0; i < length; ++i) out.push_back(image_byte(offset + i));
    return out;
  }
  void set_pam(uint8_t reg, uint8_t value) { qt.pci_config_write(kHostBridge, reg, 1, value); }

  std::string path_ = write_image(kImageSize);
  QtestClient qt{std::vector<std::string>{"-bios", path_}};
};

TEST_F(PamTest, BiosAtTheTopOfFourGibAndItsLowAlias) {
  // The reset vector: the image's last 16 bytes, at 0xfffffff0 and at 0xffff0.
  EXPECT_EQ(qt.memread(0xfffffff0, 16), image(kImageSize - 16, 16));
  EXPECT_EQ(qt.memread(0xffff0, 16), image(kImageSize - 16, 16));
  EXPECT_EQ(qt.memread(0xfffe0000, 16), image(0, 16));
  EXPECT_EQ(qt.memread(0xe0000, 16), image(0, 16));
  EXPECT_EQ(qt.readl(0xe4000), qt.readl(0xfffe4000));
  // Below the image nothing answers.
  EXPECT_EQ(qt.readl(0xfffdfffc), 0xffffffffu);
  // ROM: writes are dropped, high and low.
  qt.writel(0xfffffff0, 0);
  qt.writel(0xffff0, 0);
  EXPECT_EQ(qt.memread(0xfffffff0, 4), image(kImageSize - 16, 4));
  EXPECT_EQ(qt.memread(0xffff0, 4), image(kImageSize - 16, 4));
  // The option-ROM area below the flash alias holds no ROM (reads zeros, as QEMU's pc.rom) and
  // takes no writes until the PAM makes it RAM.
  qt.writel(0xc0000, 0x11223344);
  EXPECT_EQ(qt.readl(0xc0000), 0u);
  EXPECT_EQ(qt.readl(0xdfffc), 0u);
}

// What SeaBIOS does: make the segment RAM, copy the ROM down, make it read-only.
TEST_F(PamTest, FirmwareShadowsItself) {
  set_pam(kPam0, kReadWrite << 4);
  EXPECT_EQ(qt.readl(0xf0000), 0u) << "RAM, never written";
  std::vector<uint8_t> rom = qt.memread(0xffff0000, 0x10000);
  ASSERT_EQ(rom, image(0x10000, 0x10000));
  qt.memwrite(0xf0000, rom);
  EXPECT_EQ(qt.memread(0xf0000, 0x10000), rom);
  // Patch a byte of the shadow copy while it is writable, then lock it.
  qt.memwrite(0xf1234, {0x5a});
  set_pam(kPam0, kReadOnly << 4);
  EXPECT_EQ(qt.memread(0xf1234, 1)[0], 0x5a) << "reads come from the RAM copy";
  qt.memwrite(0xf1234, {0xa5});
  qt.writel(0xffff0, 0xdeadbeef);
  EXPECT_EQ(qt.memread(0xf1234, 1)[0], 0x5a) << "writes to read-only RAM are dropped";
  EXPECT_EQ(qt.memread(0xffff0, 4), image(kImageSize - 16, 4));
  // The flash itself never changed.
  EXPECT_EQ(qt.memread(0xffff1234, 1), image(0x11234, 1));
  // Back to the PCI side: the ROM answers again and the RAM copy waits underneath.
  set_pam(kPam0, 0);
  EXPECT_EQ(qt.memread(0xf1234, 1), image(0x11234, 1));
  set_pam(kPam0, kReadOnly << 4);
  EXPECT_EQ(qt.memread(0xf1234, 1)[0], 0x5a);
}

// Write-enable alone: reads still come from the ROM while writes fill the RAM beneath.
TEST_F(PamTest, WriteOnlyReadsRomAndWritesRam) {
  set_pam(kPam0, kWriteOnly << 4);
  qt.writel(0xf8000, 0xcafef00d);
  EXPECT_EQ(qt.memread(0xf8000, 4), image(0x18000, 4));
  set_pam(kPam0, kReadOnly << 4);
  EXPECT_EQ(qt.readl(0xf8000), 0xcafef00du);
}

// Each 16 KiB segment below 0xf0000 has its own field; neighbours are untouched.
TEST_F(PamTest, SegmentsAreIndependent) {
  set_pam(kPam5, kReadWrite);  // 0xe0000-0xe3fff only
  qt.writel(0xe0000, 0x01020304);
  qt.writel(0xe3ffc, 0x05060708);
  qt.writel(0xe4000, 0x090a0b0c);  // still ROM: dropped
  EXPECT_EQ(qt.readl(0xe0000), 0x01020304u);
  EXPECT_EQ(qt.readl(0xe3ffc), 0x05060708u);
  EXPECT_EQ(qt.memread(0xe4000, 4), image(0x4000, 4));
  // An access straddling the boundary takes each byte from its own segment.
  std::vector<uint8_t> straddle = qt.memread(0xe3ffe, 4);
  EXPECT_EQ(straddle[0], 0x06);
  EXPECT_EQ(straddle[1], 0x05);
  EXPECT_EQ(straddle[2], image_byte(0x4000));
  EXPECT_EQ(straddle[3], image_byte(0x4001));
  // The option-ROM area's segments become RAM the same way (PAM1 low nibble: 0xc0000).
  set_pam(0x5a, kReadWrite);
  qt.writel(0xc0000, 0x11223344);
  EXPECT_EQ(qt.readl(0xc0000), 0x11223344u);
  EXPECT_EQ(qt.readl(0xc4000), 0u);
  qt.writel(0xc4000, 0x55);
  EXPECT_EQ(qt.readl(0xc4000), 0u);
}

// A machine reset puts the PAM back at its power-on value: the ROM answers, so the reset vector
// is the flash's again; the RAM keeps the shadow copy.
TEST_F(PamTest, ResetRoutesTheBiosAreaToTheRomAgain) {
  set_pam(kPam0, kReadWrite << 4);
  qt.writel(0xffff0, 0x12345678);
  EXPECT_TRUE(qt.qmp("system_reset").contains("return"));
  EXPECT_EQ(qt.pci_config_read(kHostBridge, kPam0, 1), 0u);
  EXPECT_EQ(qt.memread(0xffff0, 4), image(kImageSize - 16, 4));
  set_pam(kPam0, kReadOnly << 4);
  EXPECT_EQ(qt.readl(0xffff0), 0x12345678u);
}

// A BIOS smaller than the 128 KiB alias lands at the top of both windows; a larger one shows
// only its last 128 KiB below 1 MiB.
TEST(Bios, AliasIsTheImagesLastBytes) {
  std::string path = testing::TempDir() + "bios-256k-" + std::to_string(getpid()) + ".bin";
  {
    std::ofstream out(path, std::ios::binary);
    for (size_t i = 0; i < 256 * 1024; ++i) out.put(static_cast<char>(image_byte(i)));
  }
  {
    QtestClient qt({"-bios", path});
    EXPECT_EQ(qt.memread(0xfffc0000, 4),
              (std::vector<uint8_t>{image_byte(0), image_byte(1), image_byte(2), image_byte(3)}));
    EXPECT_EQ(qt.memread(0xe0000, 1)[0], image_byte(0x20000));
    EXPECT_EQ(qt.memread(0xfffff, 1)[0], image_byte(0x3ffff));
  }
  unlink(path.c_str());
}

TEST(Bios, BadImagesAreOneLineErrors) {
  std::string path = testing::TempDir() + "bios-odd-" + std::to_string(getpid()) + ".bin";
  {
    std::ofstream out(path, std::ios::binary);
    out << "not a whole number of 64 KiB blocks";
  }
  for (const std::string& bios : {path, std::string("/nonexistent/bios.bin")}) {
    RunResult r =
        run_hvmd({"-accel", "qtest", "-qtest", "stdio", "-display", "none", "-bios", bios});
    EXPECT_EQ(r.status, 1) << r.stderr_text;
    EXPECT_NE(r.stderr_text.find(bios), std::string::npos) << r.stderr_text;
    EXPECT_EQ(std::count(r.stderr_text.begin(), r.stderr_text.end(), '\n'), 1) << r.stderr_text;
  }
  unlink(path.c_str());
}

}  // namespace
}  // namespace hvmd::test
