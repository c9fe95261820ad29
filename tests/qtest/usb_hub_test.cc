// Black-box: a usb-hub on UHCI root port 2 with a usb-kbd behind its port 3, enumerated as
// Linux's hub driver does it: the hub's descriptors, SET_CONFIGURATION, the hub descriptor,
// port power, the status-change bitmap on the interrupt endpoint, GET_STATUS of the port, port
// reset with its change bit, then the keyboard at address 0 behind the hub, its boot protocol
// and LED output report, and a key press as a boot report.
#include <gtest/gtest.h>

#include "tests/qtest/usb_driver.h"

namespace hvmd::test {
namespace {

using namespace usb;

constexpr uint8_t kGetStatus = 0, kClearFeature = 1, kSetFeature = 3, kGetDescriptor = 6,
                  kSetAddress = 5, kSetConfiguration = 9;
constexpr uint16_t kPortPower = 8, kPortReset = 4, kCPortConnection = 16, kCPortReset = 20;

std::vector<uint8_t> port_status(UhciDriver& uhci, uint8_t hub, uint16_t port) {
  return uhci.control(hub, 0xa3, kGetStatus, 0, port, 4).data;
}

TEST(UsbHubTest, EnumeratesHubThenKeyboardBehindIt) {
  QtestClient qt({"-device", "piix3-usb-uhci,id=usb,addr=1.2", "-device",
                  "usb-hub,bus=usb.0,port=2", "-device", "usb-kbd,bus=usb.0.2,port=3,id=kbd"});
  UhciDriver uhci(qt);
  uhci.init();
  EXPECT_FALSE(uhci.inw(kPortsc1) & kPortCcs) << "port 1 is empty";
  uhci.reset_port(2);
  auto device = uhci.control(0, 0x80, kGetDescriptor, 0x0100, 0, 18);
  ASSERT_EQ(device.data.size(), 18u);
  EXPECT_EQ(device.data[4], 9) << "hub class";
  ASSERT_TRUE(uhci.control(0, 0x00, kSetAddress, 1, 0, 0).completed);
  // Behind an unconfigured hub nothing answers at address 0.
  EXPECT_TRUE(uhci.control(0, 0x80, kGetDescriptor, 0x0100, 0, 18).stopped_status & kTdTimeout);
  ASSERT_TRUE(uhci.control(1, 0x00, kSetConfiguration, 1, 0, 0).completed);

  auto hub = uhci.control(1, 0xa0, kGetDescriptor, 0x2900, 0, 64);
  ASSERT_GE(hub.data.size(), 7u);
  EXPECT_EQ(hub.data[1], 0x29);
  EXPECT_EQ(hub.data[2], 8) << "eight ports";
  for (uint16_t port = 1; port <= 8; ++port)
    ASSERT_TRUE(uhci.control(1, 0x23, kSetFeature, kPortPower, port, 0).completed);

  // The status-change endpoint: port 3 changed (bit 3).
  auto change = uhci.interrupt_in(1, 1, 2, false, 5);
  ASSERT_FALSE(change.control & kTdActive);
  EXPECT_EQ(change.data, (std::vector<uint8_t>{0x08, 0x00}));
  // Port 3: connected and powered, connection changed.
  EXPECT_EQ(port_status(uhci, 1, 3), (std::vector<uint8_t>{0x01, 0x01, 0x01, 0x00}));
  EXPECT_EQ(port_status(uhci, 1, 4), (std::vector<uint8_t>{0x00, 0x01, 0x00, 0x00}));
  ASSERT_TRUE(uhci.control(1, 0x23, kClearFeature, kCPortConnection, 3, 0).completed);
  ASSERT_TRUE(uhci.control(1, 0x23, kSetFeature, kPortReset, 3, 0).completed);
  // Reset done: enabled, reset changed.
  EXPECT_EQ(port_status(uhci, 1, 3), (std::vector<uint8_t>{0x03, 0x01, 0x10, 0x00}));
  ASSERT_TRUE(uhci.control(1, 0x23, kClearFeature, kCPortReset, 3, 0).completed);
  EXPECT_TRUE(uhci.interrupt_in(1, 1, 2, true, 3).control & kTdActive) << "no change: NAK";
  // A port that does not exist is refused.
  EXPECT_TRUE(port_status(uhci, 1, 9).empty());

  // The keyboard, at address 0 behind the hub.
  auto kbd = uhci.control(0, 0x80, kGetDescriptor, 0x0100, 0, 18);
  ASSERT_EQ(kbd.data.size(), 18u);
  ASSERT_TRUE(uhci.control(0, 0x00, kSetAddress, 2, 0, 0).completed);
  auto config = uhci.control(2, 0x80, kGetDescriptor, 0x0200, 0, 34);
  ASSERT_EQ(config.data.size(), 34u);
  EXPECT_EQ(config.data[9 + 6], 1) << "boot interface subclass";
  EXPECT_EQ(config.data[9 + 7], 1) << "keyboard protocol";
  ASSERT_TRUE(uhci.control(2, 0x00, kSetConfiguration, 1, 0, 0).completed);
  // SeaBIOS and the BIOS-era drivers: SET_PROTOCOL(boot), SET_IDLE.
  ASSERT_TRUE(uhci.control(2, 0x21, 0x0b, 0, 0, 0).completed);
  EXPECT_EQ(uhci.control(2, 0xa1, 0x03, 0, 0, 1).data, std::vector<uint8_t>{0});
  ASSERT_TRUE(uhci.control(2, 0x21, 0x0a, 0, 0, 0).completed);
  // LEDs: SET_REPORT(output) with Num Lock and Caps Lock.
  ASSERT_TRUE(uhci.control(2, 0x21, 0x09, 0x0200, 0, 1, {0x03}).completed);

  Json r = qt.qmp("input-send-event",
                  {{"events",
                    {{{"type", "key"},
                      {"data", {{"down", true}, {"key", {{"type", "qcode"}, {"data", "shift"}}}}}},
                     {{"type", "key"},
                      {"data", {{"down", true}, {"key", {{"type", "qcode"}, {"data", "a"}}}}}}}}});
  ASSERT_TRUE(r.contains("return")) << r;
  std::vector<uint8_t> last;
  bool toggle = false;
  for (int i = 0; i < 4; ++i) {
    auto report = uhci.interrupt_in(2, 1, 8, toggle, 5);
    toggle = !toggle;
    if (report.control & kTdActive) break;
    last = report.data;
  }
  // Left shift (modifier bit 1) and 'a' (usage 4).
  EXPECT_EQ(last, (std::vector<uint8_t>{0x02, 0, 0x04, 0, 0, 0, 0, 0}));

  // device_del of the keyboard: a connection change on the hub's port 3.
  r = qt.qmp("device_del", {{"id", "kbd"}});
  ASSERT_TRUE(r.contains("return")) << r;
  auto gone = port_status(uhci, 1, 3);
  ASSERT_EQ(gone.size(), 4u);
  EXPECT_FALSE(gone[0] & 1) << "not connected";
  EXPECT_TRUE(gone[2] & 1) << "connection changed";
}

}  // namespace
}  // namespace hvmd::test
