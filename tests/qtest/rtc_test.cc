// Black-box: the MC146818 RTC and CMOS as firmware and an OS driver use them, on qtest's virtual
// clock so every update cycle and interrupt lands at a known time.
#include <gtest/gtest.h>

#include "tests/qtest/qtest_client.h"

namespace hvmd::test {
namespace {

constexpr uint16_t kIndex = 0x70, kData = 0x71;
constexpr unsigned kIrq = 8;
constexpr uint8_t kSec = 0, kSecAlarm = 1, kMin = 2, kMinAlarm = 3, kHour = 4, kHourAlarm = 5,
                  kDay = 7, kMonth = 8, kYear = 9, kA = 0x0a, kB = 0x0b, kC = 0x0c, kD = 0x0d,
                  kCentury = 0x32;
constexpr uint8_t kSet = 0x80, kPie = 0x40, kAie = 0x20, kUie = 0x10, kBinary = 0x04, k24h = 0x02;
constexpr int64_t kSecond = 1'000'000'000;

uint8_t cmos_read(QtestClient& qt, uint8_t index) {
  qt.outb(kIndex, index);
  return qt.inb(kData);
}
void cmos_write(QtestClient& qt, uint8_t index, uint8_t value) {
  qt.outb(kIndex, index);
  qt.outb(kData, value);
}

// Sets 1999-12-31 23:59:58 in BCD, 24-hour mode, as a BIOS setup screen would.
void set_end_of_century(QtestClient& qt) {
  cmos_write(qt, kB, kSet | k24h);
  cmos_write(qt, kSec, 0x58);
  cmos_write(qt, kMin, 0x59);
  cmos_write(qt, kHour, 0x23);
  cmos_write(qt, kDay, 0x31);
  cmos_write(qt, kMonth, 0x12);
  cmos_write(qt, kYear, 0x99);
  cmos_write(qt, kCentury, 0x19);
  cmos_write(qt, kB, k24h);
}

class RtcTest : public ::testing::Test {
 protected:
  RtcTest() { EXPECT_EQ(qt.command("irq_intercept_in ioapic"), "OK"); }
  QtestClient qt;
};

TEST_F(RtcTest, SetTimeAndRollOverTheCentury) {
  EXPECT_EQ(cmos_read(qt, kD), 0x80);  // valid RAM and time
  set_end_of_century(qt);
  EXPECT_EQ(cmos_read(qt, kSec), 0x58);
  EXPECT_EQ(cmos_read(qt, kHour), 0x23);
  qt.clock_step(2 * kSecond);
  EXPECT_EQ(cmos_read(qt, kSec), 0x00);
  EXPECT_EQ(cmos_read(qt, kMin), 0x00);
  EXPECT_EQ(cmos_read(qt, kHour), 0x00);
  EXPECT_EQ(cmos_read(qt, kDay), 0x01);
  EXPECT_EQ(cmos_read(qt, kMonth), 0x01);
  EXPECT_EQ(cmos_read(qt, kYear), 0x00);
  EXPECT_EQ(cmos_read(qt, kCentury), 0x20);
  // While SET is on, the clock holds still.
  cmos_write(qt, kB, kSet | k24h);
  qt.clock_step(5 * kSecond);
  EXPECT_EQ(cmos_read(qt, kSec), 0x00);
}

TEST_F(RtcTest, BinaryAndTwelveHourModes) {
  set_end_of_century(qt);
  cmos_write(qt, kB, kBinary);                 // binary, 12-hour
  EXPECT_EQ(cmos_read(qt, kHour), 0x80 | 11);  // 11 PM
  EXPECT_EQ(cmos_read(qt, kMin), 59);
  cmos_write(qt, kHour, 0x80 | 12);  // 12 PM is noon
  cmos_write(qt, kB, k24h);
  EXPECT_EQ(cmos_read(qt, kHour), 0x12);
  cmos_write(qt, kB, 0);        // BCD, 12-hour
  cmos_write(qt, kHour, 0x12);  // 12 AM is midnight
  cmos_write(qt, kB, k24h);
  EXPECT_EQ(cmos_read(qt, kHour), 0x00);
}

TEST_F(RtcTest, UpdateInProgressLeadsEachSecond) {
  set_end_of_century(qt);  // the second starts now
  qt.clock_step(kSecond - 300'000);
  EXPECT_EQ(cmos_read(qt, kA) & 0x80, 0);
  qt.clock_step(100'000);  // 200 us before the update
  EXPECT_EQ(cmos_read(qt, kA) & 0x80, 0x80);
  qt.clock_step(300'000);
  EXPECT_EQ(cmos_read(qt, kA) & 0x80, 0);
  EXPECT_EQ(cmos_read(qt, kSec), 0x59);
}

TEST_F(RtcTest, UpdateEndedInterrupt) {
  set_end_of_century(qt);
  cmos_read(qt, kC);
  cmos_write(qt, kB, k24h | kUie);
  EXPECT_FALSE(qt.irq_level(kIrq));
  qt.clock_step(kSecond);
  EXPECT_TRUE(qt.irq_level(kIrq));
  EXPECT_EQ(cmos_read(qt, kC), 0x90);  // IRQF | UF
  EXPECT_FALSE(qt.irq_level(kIrq));
  EXPECT_EQ(cmos_read(qt, kC), 0x00);
}

TEST_F(RtcTest, AlarmWithDontCareFields) {
  set_end_of_century(qt);
  cmos_write(qt, kSecAlarm, 0x01);
  cmos_write(qt, kMinAlarm, 0xc0);   // any minute
  cmos_write(qt, kHourAlarm, 0xc0);  // any hour
  cmos_read(qt, kC);
  cmos_write(qt, kB, k24h | kAie);
  qt.clock_step(2 * kSecond);  // :59, then :00
  EXPECT_FALSE(qt.irq_level(kIrq));
  qt.clock_step(kSecond);  // :01
  EXPECT_TRUE(qt.irq_level(kIrq));
  EXPECT_EQ(cmos_read(qt, kC) & 0xa0, 0xa0);  // IRQF | AF
}

TEST_F(RtcTest, PeriodicInterruptAtTheProgrammedRate) {
  cmos_write(qt, kA, 0x2f);  // 2 Hz
  cmos_read(qt, kC);
  cmos_write(qt, kB, k24h | kPie);
  qt.clock_step(kSecond / 2 - 1000);
  EXPECT_FALSE(qt.irq_level(kIrq));
  qt.clock_step(1000);
  EXPECT_TRUE(qt.irq_level(kIrq));
  EXPECT_EQ(cmos_read(qt, kC) & 0xc0, 0xc0);  // IRQF | PF
  cmos_write(qt, kB, k24h);                   // off again
  qt.clock_step(kSecond);
  EXPECT_FALSE(qt.irq_level(kIrq));
}

// Register A's divider at 11x holds the chain in reset: time stops and no update cycle runs.
// Released, the chain starts half way through a second, so the first update (and its UIP lead
// of 8 cycles of 32.768 kHz) comes 500 ms later. This is how firmware and QEMU's tests set time.
TEST_F(RtcTest, DividerResetStopsTimeAndTheFirstUpdateIsHalfASecondLater) {
  constexpr int64_t kUipLead = 8 * kSecond / 32768;
  cmos_write(qt, kB, k24h | kUie);
  cmos_write(qt, kA, 0x76);  // divider in reset, 64 Hz rate (PIE off)
  cmos_write(qt, kHour, 0x02);
  cmos_write(qt, kMin, 0x04);
  cmos_write(qt, kSec, 0x58);
  cmos_read(qt, kC);
  qt.clock_step(3 * kSecond);
  EXPECT_EQ(cmos_read(qt, kSec), 0x58) << "time stands still in divider reset";
  EXPECT_EQ(cmos_read(qt, kA), 0x76) << "no UIP";
  EXPECT_EQ(cmos_read(qt, kC), 0x00) << "no update cycles, so no UF";
  EXPECT_FALSE(qt.irq_level(kIrq));
  // A write in reset sets the time at once (the chain is not running to delay it).
  cmos_write(qt, kMin, 0x05);
  EXPECT_EQ(cmos_read(qt, kMin), 0x05);

  cmos_write(qt, kA, 0x26);
  qt.clock_step(kSecond / 2 - kUipLead - 1);
  EXPECT_EQ(cmos_read(qt, kA) & 0x80, 0);
  EXPECT_EQ(cmos_read(qt, kSec), 0x58);
  qt.clock_step(1);
  EXPECT_EQ(cmos_read(qt, kA) & 0x80, 0x80) << "UIP leads the first update";
  EXPECT_FALSE(qt.irq_level(kIrq));
  qt.clock_step(kUipLead);
  EXPECT_EQ(cmos_read(qt, kA), 0x26);
  EXPECT_EQ(cmos_read(qt, kSec), 0x59);
  EXPECT_EQ(cmos_read(qt, kMin), 0x05);
  EXPECT_TRUE(qt.irq_level(kIrq)) << "the update-ended interrupt of the first update";
  EXPECT_EQ(cmos_read(qt, kC), 0x90);
  // From then on, one update a second.
  qt.clock_step(kSecond - 1);
  EXPECT_EQ(cmos_read(qt, kSec), 0x59);
  qt.clock_step(1);
  EXPECT_EQ(cmos_read(qt, kSec), 0x00);
  EXPECT_EQ(cmos_read(qt, kMin), 0x06);
}

// The periodic interrupt comes from the rate bits alone, whatever the divider (QEMU keeps it
// running for every divider value; libqos's RTC test programs 0x0d, divider 000, and steps to
// the next timer until the interrupt arrives).
TEST_F(RtcTest, PeriodicInterruptForAnyDividerSetting) {
  for (uint8_t divider : {0x00, 0x10, 0x20, 0x70}) {
    cmos_write(qt, kB, k24h);
    cmos_read(qt, kC);
    cmos_write(qt, kA, divider | 0x0d);  // 8 Hz
    cmos_write(qt, kB, k24h | kPie);
    int64_t start = qt.clock_step(1);
    int64_t now = start;
    for (int steps = 0; steps < 100 && !qt.irq_level(kIrq); ++steps) now = qt.clock_step();
    ASSERT_TRUE(qt.irq_level(kIrq)) << int{divider};
    EXPECT_LE(now - start, kSecond / 8) << int{divider};
    EXPECT_EQ(now % (kSecond / 8), 0) << "edges at multiples of the period";
    EXPECT_EQ(cmos_read(qt, kC) & 0xc0, 0xc0) << int{divider};
  }
}

// The chain runs on while the rate changes: the new rate's next edge, not a full new period
// from the write.
TEST_F(RtcTest, PeriodicRateChangeKeepsThePhase) {
  cmos_write(qt, kA, 0x2f);  // 2 Hz
  cmos_read(qt, kC);
  cmos_write(qt, kB, k24h | kPie);
  qt.clock_step(kSecond / 10);
  cmos_write(qt, kA, 0x2d);  // 8 Hz: next edge at 125 ms
  qt.clock_step(kSecond / 8 - kSecond / 10 - 1);
  EXPECT_FALSE(qt.irq_level(kIrq));
  qt.clock_step(1);
  EXPECT_TRUE(qt.irq_level(kIrq));
  EXPECT_EQ(cmos_read(qt, kC) & 0xc0, 0xc0);
  // Rate 0 stops it.
  cmos_write(qt, kA, 0x20);
  qt.clock_step(kSecond);
  EXPECT_EQ(cmos_read(qt, kC) & 0x40, 0);
}

// Data sheet: UF is set at the end of every update cycle and AF whenever the alarm matches,
// enabled or not (software polls them); IRQF and the interrupt follow flag AND enable, also when
// the enable comes after the flag.
TEST_F(RtcTest, FlagsWithoutEnablesAndLateEnables) {
  set_end_of_century(qt);
  cmos_write(qt, kSecAlarm, 0xff);  // any value with bits 7:6 set is "don't care"
  cmos_write(qt, kMinAlarm, 0xc0);
  cmos_write(qt, kHourAlarm, 0xd5);
  cmos_read(qt, kC);
  qt.clock_step(kSecond);
  EXPECT_FALSE(qt.irq_level(kIrq));
  EXPECT_EQ(cmos_read(qt, kC), 0x30) << "UF and AF, no IRQF";
  qt.clock_step(kSecond);
  EXPECT_FALSE(qt.irq_level(kIrq));
  cmos_write(qt, kB, k24h | kAie);  // the pending AF now interrupts
  EXPECT_TRUE(qt.irq_level(kIrq));
  EXPECT_EQ(cmos_read(qt, kC), 0xb0);
  EXPECT_FALSE(qt.irq_level(kIrq));
}

// The hours alarm in 12-hour mode compares the PM bit too: 0x82 is 2 PM, not 2 AM.
TEST_F(RtcTest, TwelveHourAlarmMatchesAmPm) {
  cmos_write(qt, kMinAlarm, 0xc0);
  cmos_write(qt, kSecAlarm, 0xc0);
  cmos_write(qt, kB, 0);  // BCD, 12-hour
  cmos_write(qt, kA, 0x76);
  cmos_write(qt, kHourAlarm, 0x82);
  cmos_write(qt, kHour, 0x01);  // 1 AM
  cmos_write(qt, kMin, 0x59);
  cmos_write(qt, kSec, 0x00);
  cmos_write(qt, kA, 0x26);
  qt.clock_step(60 * kSecond);
  EXPECT_EQ(cmos_read(qt, kHour), 0x02);
  EXPECT_EQ(cmos_read(qt, kC) & 0x20, 0) << "2 AM is not the 2 PM alarm";
  cmos_write(qt, kA, 0x76);
  cmos_write(qt, kHour, 0x81);  // 1 PM
  cmos_write(qt, kMin, 0x59);
  cmos_write(qt, kSec, 0x00);
  cmos_read(qt, kC);
  cmos_write(qt, kA, 0x26);
  qt.clock_step(60 * kSecond);
  EXPECT_EQ(cmos_read(qt, kHour), 0x82);
  EXPECT_EQ(cmos_read(qt, kC) & 0x20, 0x20);
}

TEST(Cmos, MemorySizeBytesAndNvram) {
  QtestClient qt({"-m", "4096", "-smp", "2"});
  // 3 GiB below the PCI hole: 0xffff KiB of extended memory, (3 GiB - 16 MiB) / 64 KiB above 16.
  EXPECT_EQ(cmos_read(qt, 0x15) | cmos_read(qt, 0x16) << 8, 640);
  EXPECT_EQ(cmos_read(qt, 0x17) | cmos_read(qt, 0x18) << 8, 0xffff);
  EXPECT_EQ(cmos_read(qt, 0x34) | cmos_read(qt, 0x35) << 8, 0xbf00);
  // 1 GiB above 4 GiB in 64 KiB units.
  EXPECT_EQ(cmos_read(qt, 0x5b) | cmos_read(qt, 0x5c) << 8 | cmos_read(qt, 0x5d) << 16, 0x4000);
  EXPECT_EQ(cmos_read(qt, 0x5f), 1);
  EXPECT_EQ(cmos_read(qt, 0x10), 0) << "no floppy drives";
  // NVRAM keeps what the OS writes, across a reset too; bit 7 of the index is the NMI mask.
  cmos_write(qt, 0x40, 0xa5);
  qt.outb(kIndex, 0x80 | 0x40);
  EXPECT_EQ(qt.inb(kData), 0xa5);
  qt.qmp("system_reset");
  EXPECT_EQ(cmos_read(qt, 0x40), 0xa5);
}

TEST(Cmos, BootOrderForTheBios) {
  QtestClient qt({"-boot", "order=dcn"});
  EXPECT_EQ(cmos_read(qt, 0x3d), 0x23);  // CD first, then disk
  EXPECT_EQ(cmos_read(qt, 0x38), 0x40);  // network third; floppy signature checked (as QEMU)
  EXPECT_EQ(run_hvmd({"-accel", "qtest", "-boot", "order=cdaz"}).status, 1);
}

}  // namespace
}  // namespace hvmd::test
