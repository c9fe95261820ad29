// Black-box: a guest resetting the machine through the PIIX3 reset control register (0xcf9) and
// port 0x92, as firmware and Linux's reboot=pci do.
#include <gtest/gtest.h>

#include "tests/qtest/qtest_client.h"

namespace hvmd::test {
namespace {

constexpr uint8_t kPam1 = 0x59;  // host bridge register reset clears
constexpr uint16_t kResetControl = 0xcf9;
constexpr uint16_t kPortA = 0x92;

bool saw_event(QtestClient& qt, const std::string& name, const std::string& reason) {
  qt.qmp("query-status");  // events sent before this reply are now in events()
  for (const Json& e : qt.events())
    if (e["event"] == name && e["data"]["guest"] == true && e["data"]["reason"] == reason)
      return true;
  return false;
}

TEST(GuestReset, ResetControlRegisterResetsTheDevices) {
  QtestClient qt;
  qt.pci_config_write(0, kPam1, 1, 0x33);
  qt.outb(kResetControl, 0x02);  // hard-reset type selected, no reset yet
  EXPECT_EQ(qt.inb(kResetControl), 0x02);
  EXPECT_EQ(qt.pci_config_read(0, kPam1, 1), 0x33u);
  qt.outb(kResetControl, 0x06);  // RCPU 0->1
  EXPECT_EQ(qt.pci_config_read(0, kPam1, 1), 0x00u);
  EXPECT_EQ(qt.inb(kResetControl), 0x00);
  EXPECT_TRUE(saw_event(qt, "RESET", "guest-reset"));
  // The dword CONFIG_ADDRESS path through 0xcf8 is untouched by the register at 0xcf9.
  EXPECT_EQ(qt.pci_config_read(0, 0x00, 4), 0x12378086u);
}

TEST(GuestReset, PortAFastResetAndA20) {
  QtestClient qt;
  qt.outb(kPortA, 0x02);  // A20 on: kept, no reset
  EXPECT_EQ(qt.inb(kPortA), 0x02);
  EXPECT_FALSE(saw_event(qt, "RESET", "guest-reset"));
  qt.pci_config_write(0, kPam1, 1, 0x11);
  qt.outb(kPortA, 0x03);
  EXPECT_EQ(qt.pci_config_read(0, kPam1, 1), 0x00u);
  EXPECT_TRUE(saw_event(qt, "RESET", "guest-reset"));
}

TEST(GuestReset, NoRebootEndsTheDaemon) {
  QtestClient qt({"-no-reboot"});
  qt.outb(kResetControl, 0x06);
  EXPECT_EQ(qt.wait_exit(), 0);
}

}  // namespace
}  // namespace hvmd::test
