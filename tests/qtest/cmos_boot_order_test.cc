// Black-box: the boot order a pc BIOS reads from CMOS (0x3d: first and second device, 0x38 bits
// 7:4 the third and bit 0 "no floppy signature check"), each value checked against
// qemu-system-x86_64 7.2 started with the same -boot and -no-fd-bootchk.
#include <gtest/gtest.h>

#include "tests/qtest/qtest_client.h"

namespace hvmd::test {
namespace {

constexpr uint16_t kCmosIndex = 0x70, kCmosData = 0x71;
constexpr uint8_t kBootOrder12 = 0x3d, kBootOrder3 = 0x38;

uint8_t cmos(QtestClient& qt, uint8_t index) {
  qt.outb(kCmosIndex, index);
  return qt.inb(kCmosData);
}

struct Case {
  std::vector<std::string> args;
  uint8_t order12, order3;
};

TEST(CmosBootOrder, MatchesQemuForEachForm) {
  const Case cases[] = {
      {{}, 0x12, 0x30},  // c, a, d: disk, floppy, CD-ROM
      {{"-no-fd-bootchk"}, 0x12, 0x31},
      {{"-boot", "c"}, 0x02, 0x00},
      {{"-boot", "c", "-no-fd-bootchk"}, 0x02, 0x01},
      {{"-boot", "order=dca"}, 0x23, 0x10},
      {{"-boot", "order=n"}, 0x04, 0x00},
      {{"-boot", "a"}, 0x01, 0x00},
      {{"-boot", "cdn", "-no-fd-bootchk"}, 0x32, 0x41},
      {{"-boot", "once=d"}, 0x03, 0x00},
      {{"-boot", "order=c,once=d"}, 0x03, 0x00},
  };
  for (const Case& c : cases) {
    QtestClient qt(c.args);
    std::string what = c.args.empty() ? "(none)" : c.args.back();
    EXPECT_EQ(cmos(qt, kBootOrder12), c.order12) << what;
    EXPECT_EQ(cmos(qt, kBootOrder3), c.order3) << what;
  }
}

TEST(CmosBootOrder, OnceRevertsAtTheFirstReset) {
  QtestClient qt({"-boot", "order=dc,once=n"});
  EXPECT_EQ(cmos(qt, kBootOrder12), 0x04);
  qt.qmp("system_reset");
  EXPECT_EQ(cmos(qt, kBootOrder12), 0x23);
  EXPECT_EQ(cmos(qt, kBootOrder3), 0x00);
  // A guest that writes the bytes itself keeps them over later resets: the revert is one-off.
  qt.outb(kCmosIndex, kBootOrder12);
  qt.outb(kCmosData, 0x01);
  qt.qmp("system_reset");
  EXPECT_EQ(cmos(qt, kBootOrder12), 0x01);
}

TEST(CmosBootOrder, OnceRevertsToTheDefaultWithoutOrder) {
  QtestClient qt({"-boot", "once=d", "-no-fd-bootchk"});
  EXPECT_EQ(cmos(qt, kBootOrder12), 0x03);
  EXPECT_EQ(cmos(qt, kBootOrder3), 0x01);
  // The guest's reboot (reset control register 0xcf9) reverts too.
  qt.outb(0xcf9, 0x06);
  EXPECT_EQ(cmos(qt, kBootOrder12), 0x12);
  EXPECT_EQ(cmos(qt, kBootOrder3), 0x31);
}

TEST(CmosBootOrder, BadOrdersAreOneLineErrors) {
  for (auto [value, needle] :
       std::vector<std::pair<const char*, const char*>>{{"order=cadn", "too many"},
                                                        {"order=e", "'e'"},
                                                        {"order=cc", "twice"},
                                                        {"once=x", "'x'"},
                                                        {"once=", "once="}}) {
    RunResult r = run_hvmd({"-accel", "qtest", "-qtest", "stdio", "-boot", value});
    EXPECT_EQ(r.status, 1) << value;
    EXPECT_EQ(std::count(r.stderr_text.begin(), r.stderr_text.end(), '\n'), 1) << r.stderr_text;
    EXPECT_NE(r.stderr_text.find(needle), std::string::npos) << r.stderr_text;
  }
}

}  // namespace
}  // namespace hvmd::test
