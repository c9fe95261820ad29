// Black-box: fw_cfg as SeaBIOS reads it, through the data port and by DMA.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <optional>

#include "tests/qtest/qtest_client.h"

namespace hvmd::test {
namespace {

constexpr uint16_t kSelector = 0x510, kData = 0x511, kDmaHigh = 0x514, kDmaLow = 0x518;
constexpr uint32_t kDmaError = 1, kDmaRead = 2, kDmaSkip = 4, kDmaSelect = 8;
constexpr uint64_t kDescriptor = 0x1000, kBuffer = 0x2000;

std::vector<uint8_t> read_item(QtestClient& qt, uint16_t key, size_t length) {
  qt.outw(kSelector, key);
  std::vector<uint8_t> out;
  for (size_t i = 0; i < length; ++i) out.push_back(qt.inb(kData));
  return out;
}

uint32_t be32(const uint8_t* p) {
  return uint32_t(p[0]) << 24 | p[1] << 16 | p[2] << 8 | p[3];
}

// The selector of a named file, from the directory (item 0x19).
int find_file(QtestClient& qt, const std::string& name, uint32_t* size = nullptr) {
  auto count_bytes = read_item(qt, 0x19, 4);
  uint32_t count = be32(count_bytes.data());
  for (uint32_t i = 0; i < count; ++i) {
    std::vector<uint8_t> entry;
    for (int b = 0; b < 64; ++b) entry.push_back(qt.inb(kData));
    std::string entry_name(reinterpret_cast<const char*>(entry.data() + 8));
    if (entry_name == name) {
      if (size) *size = be32(entry.data());
      return entry[4] << 8 | entry[5];
    }
  }
  return -1;
}

// One DMA operation as SeaBIOS issues it; returns the control word written back.
uint32_t dma(QtestClient& qt, uint32_t control, uint32_t length, uint64_t address) {
  std::vector<uint8_t> d(16);
  for (int i = 0; i < 4; ++i) d[i] = uint8_t(control >> (24 - 8 * i));
  for (int i = 0; i < 4; ++i) d[4 + i] = uint8_t(length >> (24 - 8 * i));
  for (int i = 0; i < 8; ++i) d[8 + i] = uint8_t(address >> (56 - 8 * i));
  qt.memwrite(kDescriptor, d);
  qt.outl(kDmaHigh, 0);
  qt.outl(kDmaLow, __builtin_bswap32(static_cast<uint32_t>(kDescriptor)));
  return be32(qt.memread(kDescriptor, 4).data());
}

TEST(FwCfg, SignatureIdRamAndCpus) {
  QtestClient qt({"-m", "256", "-smp", "2"});
  auto signature = read_item(qt, 0x0000, 4);
  EXPECT_EQ(std::string(signature.begin(), signature.end()), "QEMU");
  EXPECT_EQ(read_item(qt, 0x0001, 4), (std::vector<uint8_t>{3, 0, 0, 0}));  // + DMA
  EXPECT_EQ(read_item(qt, 0x0003, 8), (std::vector<uint8_t>{0, 0, 0, 0x10, 0, 0, 0, 0}));
  EXPECT_EQ(read_item(qt, 0x0005, 2), (std::vector<uint8_t>{2, 0}));
  // Past the end of an item, and an item that does not exist: zeros.
  qt.outw(kSelector, 0x0000);
  for (int i = 0; i < 4; ++i) qt.inb(kData);
  EXPECT_EQ(qt.inb(kData), 0);
  EXPECT_EQ(read_item(qt, 0x3333, 2), (std::vector<uint8_t>{0, 0}));
  // The DMA interface announces itself.
  EXPECT_EQ(qt.inb(kDmaHigh), 'Q');
}

TEST(FwCfg, E820ByDmaMatchesTheRamSize) {
  QtestClient qt({"-m", "256"});
  uint32_t size = 0;
  int key = find_file(qt, "etc/e820", &size);
  ASSERT_GE(key, 0x20);
  ASSERT_EQ(size, 20u);  // one RAM entry: all of it is below the PCI hole
  uint32_t control = uint32_t(key) << 16 | kDmaSelect | kDmaRead;
  EXPECT_EQ(dma(qt, control, size, kBuffer), 0u);
  auto e820 = qt.memread(kBuffer, size);
  uint64_t address, length;
  uint32_t type;
  std::memcpy(&address, e820.data(), 8);
  std::memcpy(&length, e820.data() + 8, 8);
  std::memcpy(&type, e820.data() + 16, 4);
  EXPECT_EQ(address, 0u);
  EXPECT_EQ(length, 256u << 20);
  EXPECT_EQ(type, 1u);
}

TEST(FwCfg, UserFilesSerialConsoleAndDmaEdges) {
  QtestClient qt({"-fw_cfg", "name=opt/hvmd/greeting,string=hello", "-serial", "null"});
  uint32_t size = 0;
  int key = find_file(qt, "opt/hvmd/greeting", &size);
  ASSERT_GE(key, 0x20);
  EXPECT_EQ(size, 5u);
  // Skip two bytes, then read past the end: the rest is zero-filled.
  qt.memwrite(kBuffer, std::vector<uint8_t>(8, 0xee));
  EXPECT_EQ(dma(qt, uint32_t(key) << 16 | kDmaSelect | kDmaSkip, 2, 0), 0u);
  EXPECT_EQ(dma(qt, kDmaRead, 8, kBuffer), 0u);
  EXPECT_EQ(qt.memread(kBuffer, 8), (std::vector<uint8_t>{'l', 'l', 'o', 0, 0, 0, 0, 0}));
  // With a serial port and no display, SeaBIOS is told to use COM1 as its console.
  int sercon = find_file(qt, "etc/sercon-port", &size);
  ASSERT_GE(sercon, 0x20);
  EXPECT_EQ(read_item(qt, uint16_t(sercon), 2), (std::vector<uint8_t>{0xf8, 0x03}));
  // DMA aimed outside guest RAM fails with the error bit and writes nothing anywhere.
  EXPECT_EQ(dma(qt, uint32_t(key) << 16 | kDmaSelect | kDmaRead, 5, 0xfe000000) & kDmaError,
            kDmaError);
  // Writing is not offered.
  EXPECT_EQ(dma(qt, uint32_t(key) << 16 | kDmaSelect | 0x10, 5, kBuffer) & kDmaError, kDmaError);
  // A descriptor outside RAM is ignored; the device carries on.
  qt.outl(kDmaHigh, __builtin_bswap32(0x10));
  qt.outl(kDmaLow, 0);
  EXPECT_EQ(read_item(qt, 0x0000, 1), std::vector<uint8_t>{'Q'});
}

TEST(FwCfg, BootorderListsBootindexDevicesInOrder) {
  QtestClient qt({"-device", "pci-testdev,addr=5,bootindex=2", "-device",
                  "pci-testdev,addr=6.0,bootindex=1", "-device", "pci-testdev,addr=7"});
  uint32_t size = 0;
  int key = find_file(qt, "bootorder", &size);
  ASSERT_GE(key, 0x20);
  auto bytes = read_item(qt, uint16_t(key), size);
  EXPECT_EQ(std::string(bytes.begin(), bytes.end()),
            "/pci@i0cf8/pci1b36,5@6\n/pci@i0cf8/pci1b36,5@5\n");
  EXPECT_EQ(run_hvmd({"-accel", "qtest", "-device", "pci-testdev,bootindex=x"}).status, 1);
}

// The contents of a named file, or nullopt when the directory does not list it.
std::optional<std::vector<uint8_t>> read_file(QtestClient& qt, const std::string& name) {
  uint32_t size = 0;
  int key = find_file(qt, name, &size);
  if (key < 0) return std::nullopt;
  return read_item(qt, static_cast<uint16_t>(key), size);
}

// Values checked against qemu-system-x86_64 7.2 with the same options.
TEST(FwCfg, NographicOnlyForNographicAndGraphicsOff) {
  constexpr uint16_t kNographic = 0x0004;
  for (auto [args, expected] : std::vector<std::pair<std::vector<std::string>, uint8_t>>{
           {{}, 0},
           {{"-display", "none"}, 0},
           {{"-vnc", "none"}, 0},
           {{"-nographic"}, 1},
           {{"-machine", "pc,graphics=off"}, 1},
           {{"-machine", "graphics=on"}, 0}}) {
    QtestClient qt(args);
    EXPECT_EQ(read_item(qt, kNographic, 2), (std::vector<uint8_t>{expected, 0}))
        << (args.empty() ? "" : args.back());
  }
}

TEST(FwCfg, BootFailWaitIsAlwaysThere) {
  {
    QtestClient qt;
    EXPECT_EQ(read_file(qt, "etc/boot-fail-wait"), (std::vector<uint8_t>{0xff, 0xff, 0xff, 0xff}));
    EXPECT_EQ(read_file(qt, "etc/boot-menu-wait"), std::nullopt);
    EXPECT_EQ(read_item(qt, 0x000e, 2), (std::vector<uint8_t>{0, 0}));  // BOOT_MENU
  }
  {
    QtestClient qt({"-boot", "reboot-timeout=5000"});
    EXPECT_EQ(read_file(qt, "etc/boot-fail-wait"), (std::vector<uint8_t>{0x88, 0x13, 0, 0}));
  }
  {
    QtestClient qt({"-boot", "reboot-timeout=-1"});
    EXPECT_EQ(read_file(qt, "etc/boot-fail-wait"), (std::vector<uint8_t>{0xff, 0xff, 0xff, 0xff}));
  }
}

TEST(FwCfg, BootMenuAndItsWait) {
  {
    QtestClient qt({"-boot", "menu=on,splash-time=1234"});
    EXPECT_EQ(read_item(qt, 0x000e, 2), (std::vector<uint8_t>{1, 0}));
    EXPECT_EQ(read_file(qt, "etc/boot-menu-wait"), (std::vector<uint8_t>{0xd2, 0x04}));
  }
  {
    // QEMU sends the wait whenever splash-time= is given; the menu stays off.
    QtestClient qt({"-boot", "splash-time=0"});
    EXPECT_EQ(read_item(qt, 0x000e, 2), (std::vector<uint8_t>{0, 0}));
    EXPECT_EQ(read_file(qt, "etc/boot-menu-wait"), (std::vector<uint8_t>{0, 0}));
  }
}

TEST(FwCfg, StrictBootEndsTheListWithHalt) {
  QtestClient qt({"-boot", "strict=on", "-device", "pci-testdev,bootindex=1"});
  auto order = read_file(qt, "bootorder");
  ASSERT_TRUE(order);
  std::string text(order->begin(), order->end());
  EXPECT_NE(text.find("\nHALT"), std::string::npos) << text;
  QtestClient plain({"-boot", "strict=on"});
  EXPECT_EQ(read_file(plain, "bootorder"), std::nullopt);  // nothing listed: no HALT either
}

TEST(FwCfg, BadBootOptionsAreOneLineErrors) {
  for (const char* bad : {"menu=maybe", "splash-time=70000", "splash-time=-3", "reboot-timeout=-5",
                          "reboot-timeout=70000", "strict=x", "frob=1", "splash=logo.jpg"}) {
    RunResult r = run_hvmd({"-accel", "qtest", "-qtest", "stdio", "-boot", bad});
    EXPECT_EQ(r.status, 1) << bad;
    EXPECT_EQ(std::count(r.stderr_text.begin(), r.stderr_text.end(), '\n'), 1) << r.stderr_text;
    EXPECT_NE(r.stderr_text.find("-boot"), std::string::npos) << bad << ": " << r.stderr_text;
  }
}

TEST(FwCfg, BadFileOptionsAreErrors) {
  for (const char* bad : {"name=x", "name=a,string=1,file=/dev/null", "file=/dev/null",
                          "name=opt/this-name-is-far-too-long-for-the-fw-cfg-directory-entry,"
                          "string=x",
                          "name=opt/x,file=/nonexistent/file"}) {
    RunResult r = run_hvmd({"-accel", "qtest", "-qtest", "stdio", "-fw_cfg", bad});
    EXPECT_EQ(r.status, 1) << bad;
    EXPECT_NE(r.stderr_text.find("fw_cfg"), std::string::npos) << bad << ": " << r.stderr_text;
  }
}

}  // namespace
}  // namespace hvmd::test
