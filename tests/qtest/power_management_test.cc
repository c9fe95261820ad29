// Black-box: PIIX4 power management as ACPI firmware and an OS use it: the PM block where PMBA
// puts it, the PM timer, the SCI, ACPI enable through the APM port, and soft-off through PM1_CNT.
#include <gtest/gtest.h>

#include "tests/qtest/qtest_client.h"

namespace hvmd::test {
namespace {

constexpr uint8_t kPmDevfn = 0x0b;   // 00:01.3
constexpr uint16_t kPmBase = 0x600;  // where SeaBIOS puts it
constexpr uint16_t kStatus = kPmBase, kEnable = kPmBase + 2, kControl = kPmBase + 4,
                   kTimer = kPmBase + 8;
constexpr unsigned kSci = 9;
constexpr int64_t kSecond = 1'000'000'000;

void enable_pm_block(QtestClient& qt) {
  qt.pci_config_write(kPmDevfn, 0x40, 4, kPmBase | 1);  // PMBA
  qt.pci_config_write(kPmDevfn, 0x80, 1, 0x01);         // PMREGMISC: PM I/O space on
}

TEST(PowerManagement, IdentityAndBlockFollowsPmba) {
  QtestClient qt;
  EXPECT_EQ(qt.pci_config_read(kPmDevfn, 0x00, 4), 0x71138086u);
  EXPECT_EQ(qt.pci_config_read(kPmDevfn, 0x40, 4), 0x00000001u);  // I/O space indicator
  EXPECT_EQ(qt.pci_config_read(kPmDevfn, 0x58, 4) & (1u << 25), 1u << 25)
      << "no SMM: APMC_EN reads as already set";
  EXPECT_EQ(qt.inl(kTimer), 0xffffffffu) << "nothing decoded before PMREGMISC";
  enable_pm_block(qt);
  EXPECT_EQ(qt.pci_config_read(kPmDevfn, 0x40, 4), kPmBase | 1u);
  EXPECT_NE(qt.inl(kTimer), 0xffffffffu);
  // Moving PMBA moves the block.
  qt.pci_config_write(kPmDevfn, 0x40, 4, 0xb001);
  EXPECT_EQ(qt.inl(kTimer), 0xffffffffu);
  EXPECT_NE(qt.inl(0xb008), 0xffffffffu);
}

TEST(PowerManagement, TimerCountsAt3579545Hz) {
  QtestClient qt;
  enable_pm_block(qt);
  uint32_t before = qt.inl(kTimer);
  qt.clock_step(kSecond);
  uint32_t after = qt.inl(kTimer);
  EXPECT_EQ((after - before) & 0xffffff, 3579545u);
}

TEST(PowerManagement, AcpiEnableAndTimerOverflowSci) {
  QtestClient qt;
  EXPECT_EQ(qt.command("irq_intercept_in ioapic"), "OK");
  enable_pm_block(qt);
  EXPECT_EQ(qt.inw(kControl) & 1, 0);
  qt.outb(0xb2, 0xf1);  // the FADT's ACPI_ENABLE through SMI_CMD
  EXPECT_EQ(qt.inw(kControl) & 1, 1) << "SCI_EN";
  qt.outw(kEnable, 0x0001);    // TMR_EN
  qt.clock_step(3 * kSecond);  // past a flip of the timer's bit 23 (every 2.34 s)
  EXPECT_EQ(qt.inw(kStatus) & 1, 1);
  EXPECT_TRUE(qt.irq_level(kSci));
  qt.outw(kStatus, 0x0001);  // write 1 to clear
  EXPECT_EQ(qt.inw(kStatus) & 1, 0);
  EXPECT_FALSE(qt.irq_level(kSci));
  qt.outb(0xb2, 0xf0);  // ACPI_DISABLE
  EXPECT_EQ(qt.inw(kControl) & 1, 0);
}

TEST(PowerManagement, SoftOffEndsTheMachine) {
  QtestClient qt;
  enable_pm_block(qt);
  qt.outw(kControl, 1u << 10);  // S3 type without SLP_EN: nothing happens
  EXPECT_EQ(qt.qmp("query-status")["return"]["status"], "running");
  qt.outw(kControl, 1u << 13);  // SLP_EN with SLP_TYP 0: soft-off
  EXPECT_EQ(qt.wait_exit(), 0);
}

TEST(PowerManagement, SoftOffWithNoShutdownStops) {
  QtestClient qt({"-no-shutdown"});
  enable_pm_block(qt);
  qt.outw(kControl, 1u << 13);
  Json status = qt.qmp("query-status")["return"];
  EXPECT_EQ(status["status"], "shutdown");
  bool seen = false;
  for (const Json& e : qt.events())
    seen |= e["event"] == "SHUTDOWN" && e["data"]["reason"] == "guest-shutdown";
  EXPECT_TRUE(seen);
}

}  // namespace
}  // namespace hvmd::test
