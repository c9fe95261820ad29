// Black-box: the qtest protocol itself, including lines a broken or hostile client sends.
#include <gtest/gtest.h>

#include "tests/qtest/qtest_client.h"

namespace hvmd::test {
namespace {

TEST(QtestProtocol, ClockStepAndSet) {
  QtestClient qt;
  EXPECT_EQ(qt.clock_step(1000), 1000);
  EXPECT_EQ(qt.clock_step(500), 1500);
  // Without a length, time moves to the next timer: the RTC's next update, within a second.
  int64_t next = qt.clock_step();
  EXPECT_GT(next, 1500);
  EXPECT_LE(next, 1500 + 1'000'000'000);
  std::string later = std::to_string(next + 5000);
  EXPECT_EQ(qt.command("clock_set " + later), "OK " + later);
  // The virtual clock never runs backwards: QEMU answers FAIL with the time it stays at, and so
  // does a step that does not move it.
  EXPECT_EQ(qt.command("clock_set 10"), "FAIL " + later);
  EXPECT_EQ(qt.command("clock_step 0"), "FAIL " + later);
}

// A test loop stepping to the next timer until something happens must end when nothing is
// armed: with the RTC's divider held in reset (time stopped) the board has no timer at all, and
// QEMU answers FAIL with the unchanged time (libqtest then aborts instead of looping forever).
TEST(QtestProtocol, ClockStepWithNothingArmedFails) {
  QtestClient qt;
  qt.outb(0x70, 0x0a);
  qt.outb(0x71, 0x70);  // divider in reset, no periodic rate
  std::string now = std::to_string(qt.clock_step(1000));
  EXPECT_EQ(qt.command("clock_step"), "FAIL " + now);
  EXPECT_EQ(qt.command("clock_step"), "FAIL " + now);
  // Out of reset the update timer is armed again: the step reaches it, 500 ms on.
  qt.outb(0x71, 0x20);
  EXPECT_EQ(qt.command("clock_step"), "OK " + std::to_string(1000 + 500'000'000));
}

TEST(QtestProtocol, GuestRamRoundTrip) {
  QtestClient qt({"-m", "64"});
  qt.memwrite(0x1000, {0xde, 0xad, 0xbe, 0xef, 0x01});
  EXPECT_EQ(qt.memread(0x1000, 5), (std::vector<uint8_t>{0xde, 0xad, 0xbe, 0xef, 0x01}));
  EXPECT_EQ(qt.readl(0x1000), 0xefbeaddeu);
  qt.writel(0x2000, 0x11223344);
  EXPECT_EQ(qt.command("readq 0x2000"), "OK 0x0000000011223344");
  EXPECT_EQ(qt.command("memset 0x3000 4 0x5a"), "OK");
  EXPECT_EQ(qt.command("b64read 0x3000 4"), "OK WlpaWg==");
  EXPECT_EQ(qt.command("b64write 0x4000 3 AQID"), "OK");
  EXPECT_EQ(qt.memread(0x4000, 3), (std::vector<uint8_t>{1, 2, 3}));
  // RAM ends at -m; the last byte is there, the next one is not RAM (nothing claims it).
  qt.memwrite(64 * 1024 * 1024 - 1, {0x77});
  EXPECT_EQ(qt.memread(64 * 1024 * 1024 - 1, 1), std::vector<uint8_t>{0x77});
  EXPECT_EQ(qt.readl(64 * 1024 * 1024), 0xffffffffu);
  // The legacy VGA window is not RAM.
  qt.writel(0xa0000, 0x12345678);
  EXPECT_EQ(qt.readl(0xa0000), 0xffffffffu);
}

TEST(QtestProtocol, UnclaimedPortsAndMmio) {
  QtestClient qt;
  EXPECT_EQ(qt.inb(0x1234), 0xffu);
  EXPECT_EQ(qt.inw(0x1234), 0xffffu);
  EXPECT_EQ(qt.inl(0x1234), 0xffffffffu);
  EXPECT_EQ(qt.command("readq 0xfe000000"), "OK 0xffffffffffffffff");
  EXPECT_EQ(qt.command("endianness"), "OK little");
}

TEST(QtestProtocol, BadLinesFailWithoutHarm) {
  QtestClient qt;
  const char* bad[] = {
      "frobnicate 1 2",         // unknown command
      "outb",                   // missing arguments
      "outb 0x10000 1",         // port out of range
      "inb zzz",                // not a number
      "inl -1",                 // negative
      "read 0 0",               // empty read
      "read 0 0x100000000000",  // absurd size
      "write 0 4 zz",           // data without 0x
      "write 0 4 0xzzzz",       // not hex
      "b64write 0 4 !!!!",      // not base64
      "memset 0 4 0x100",       // value out of range
      "clock_step -5",          // negative time
      "clock_step 1 2",         // extra argument
      "irq_intercept_in /machine/nothing",
      "set_irq_in ioapic unnamed-gpio-in 99 1",
  };
  for (const char* line : bad) EXPECT_TRUE(qt.command(line).starts_with("FAIL")) << line;
  // Still serving.
  EXPECT_EQ(qt.pci_config_read(0, 0, 2), 0x8086u);
  EXPECT_TRUE(qt.qmp("query-status").contains("return"));
}

TEST(QtestProtocol, IrqInterceptReportsPinChanges) {
  QtestClient qt;
  EXPECT_EQ(qt.command("irq_intercept_in ioapic"), "OK");
  EXPECT_EQ(qt.command("set_irq_in ioapic unnamed-gpio-in 10 1"), "OK");
  EXPECT_TRUE(qt.irq_level(10));
  EXPECT_EQ(qt.command("set_irq_in ioapic unnamed-gpio-in 10 0"), "OK");
  EXPECT_FALSE(qt.irq_level(10));
}

TEST(QtestProtocol, ExitsCleanlyOnSigterm) {
  QtestClient qt;
  EXPECT_EQ(qt.terminate(), 0);
}

TEST(QtestProtocol, ExitsWhenTheTestProgramGoesAway) {
  QtestClient qt;
  EXPECT_EQ(qt.qmp("quit")["return"], Json::object());
  EXPECT_EQ(qt.wait_exit(), 0);
}

}  // namespace
}  // namespace hvmd::test
