// Black-box: the PIIX3 UHCI controller (-usb) with a usb-tablet (-usbdevice tablet), driven as
// Linux's uhci-hcd and usbhid drive them: reset, frame list, run, port reset, enumeration with
// GET_DESCRIPTOR / SET_ADDRESS / SET_CONFIGURATION through TDs in guest memory, the HID report
// descriptor, and interrupt IN transfers that return the tablet's report after QMP abs events.
// Then the hostile schedules: queue and TD loops, MaxLen beyond the limit, a data stage larger
// than the TD's buffer, a bad PID, links and buffers outside RAM.
#include <gtest/gtest.h>

#include <chrono>

#include "tests/qtest/usb_driver.h"

namespace hvmd::test {
namespace {

using namespace usb;

constexpr uint8_t kGetDescriptor = 6, kSetAddress = 5, kSetConfiguration = 9;

void abs_move(QtestClient& qt, int x, int y) {
  Json r =
      qt.qmp("input-send-event", {{"events",
                                   {{{"type", "abs"}, {"data", {{"axis", "x"}, {"value", x}}}},
                                    {{"type", "abs"}, {"data", {{"axis", "y"}, {"value", y}}}}}}});
  ASSERT_TRUE(r.contains("return")) << r;
}

// The tablet on root port 1, reset and enabled, still at address 0.
struct TabletFixture : ::testing::Test {
  QtestClient qt{{"-usb", "-usbdevice", "tablet"}};
  UhciDriver uhci{qt};
  void SetUp() override {
    uhci.init();
    ASSERT_EQ(uhci.inw(kPortsc1) & (kPortCcs | kPortCsc), kPortCcs | kPortCsc)
        << "the tablet is connected";
    uhci.reset_port(1);
    ASSERT_EQ(uhci.inw(kPortsc1) & (kPortCcs | kPortPe | kPortCsc), kPortCcs | kPortPe);
  }
  // usbcore's sequence up to a configured device at address.
  void enumerate(uint8_t address) {
    auto first = uhci.control(0, 0x80, kGetDescriptor, 0x0100, 0, 64);
    ASSERT_TRUE(first.completed);
    ASSERT_EQ(first.data.size(), 18u);
    ASSERT_TRUE(uhci.control(0, 0x00, kSetAddress, address, 0, 0).completed);
    ASSERT_TRUE(uhci.control(address, 0x00, kSetConfiguration, 1, 0, 0).completed);
  }
};

TEST_F(TabletFixture, EnumeratesAsLinuxDoes) {
  // First GET_DESCRIPTOR(DEVICE) with wLength 64: the 18 bytes, the last packet short.
  auto device = uhci.control(0, 0x80, kGetDescriptor, 0x0100, 0, 64);
  ASSERT_TRUE(device.completed);
  ASSERT_EQ(device.data.size(), 18u);
  EXPECT_EQ(device.data[0], 18);
  EXPECT_EQ(device.data[1], 1);  // DEVICE
  EXPECT_EQ(device.data[7], 8);  // bMaxPacketSize0
  EXPECT_EQ(device.data[8] | device.data[9] << 8, 0x0627);
  EXPECT_EQ(device.data[17], 1);  // one configuration
  // wLength truncates: 8 bytes asked, 8 given.
  auto head = uhci.control(0, 0x80, kGetDescriptor, 0x0100, 0, 8);
  ASSERT_TRUE(head.completed);
  EXPECT_EQ(head.data, std::vector<uint8_t>(device.data.begin(), device.data.begin() + 8));

  ASSERT_TRUE(uhci.control(0, 0x00, kSetAddress, 5, 0, 0).completed);
  // The old address answers no more: the SETUP times out three times and the TD stops.
  auto gone = uhci.control(0, 0x80, kGetDescriptor, 0x0100, 0, 18);
  EXPECT_FALSE(gone.completed);
  EXPECT_TRUE(gone.stopped_status & kTdTimeout);
  EXPECT_TRUE(uhci.inw(kSts) & kStsErrInt);
  uhci.outw(kSts, kStsErrInt | kStsInt);

  auto config = uhci.control(5, 0x80, kGetDescriptor, 0x0200, 0, 9);
  ASSERT_TRUE(config.completed);
  unsigned total = config.data[2] | config.data[3] << 8;
  ASSERT_EQ(total, 34u);
  auto all = uhci.control(5, 0x80, kGetDescriptor, 0x0200, 0, static_cast<uint16_t>(total));
  ASSERT_EQ(all.data.size(), total);
  EXPECT_EQ(all.data[9 + 5], 3) << "interface class HID";
  EXPECT_EQ(all.data[18 + 1], 0x21) << "HID descriptor";
  unsigned report_length = all.data[18 + 7] | all.data[18 + 8] << 8;
  EXPECT_EQ(all.data[27 + 2], 0x81) << "endpoint 1 IN";
  EXPECT_EQ(all.data[27 + 3], 3) << "interrupt";

  // String descriptors: languages, then the product in UTF-16LE.
  auto langs = uhci.control(5, 0x80, kGetDescriptor, 0x0300, 0, 255);
  EXPECT_EQ(langs.data, (std::vector<uint8_t>{4, 3, 0x09, 0x04}));
  auto product = uhci.control(5, 0x80, kGetDescriptor, 0x0302, 0x0409, 255);
  ASSERT_GE(product.data.size(), 4u);
  EXPECT_EQ(product.data[0], product.data.size());
  EXPECT_EQ(product.data[2], 'H');

  ASSERT_TRUE(uhci.control(5, 0x00, kSetConfiguration, 1, 0, 0).completed);
  auto current = uhci.control(5, 0x80, 8 /* GET_CONFIGURATION */, 0, 0, 1);
  EXPECT_EQ(current.data, std::vector<uint8_t>{1});
  // An unknown configuration value is refused with a STALL.
  auto bad = uhci.control(5, 0x00, kSetConfiguration, 7, 0, 0);
  EXPECT_FALSE(bad.completed);
  EXPECT_TRUE(bad.stopped_status & kTdStalled);

  // usbhid: SET_IDLE 0, then the report descriptor through the interface.
  ASSERT_TRUE(uhci.control(5, 0x21, 0x0a, 0, 0, 0).completed);
  auto report =
      uhci.control(5, 0x81, kGetDescriptor, 0x2200, 0, static_cast<uint16_t>(report_length));
  ASSERT_EQ(report.data.size(), report_length);
  EXPECT_EQ(report.data[0], 0x05);  // Usage Page (Generic Desktop)
  // Logical maximum 0x7fff for X and Y.
  bool found = false;
  for (size_t i = 0; i + 2 < report.data.size(); ++i)
    found |= report.data[i] == 0x26 && report.data[i + 1] == 0xff && report.data[i + 2] == 0x7f;
  EXPECT_TRUE(found);
}

TEST_F(TabletFixture, InterruptInReturnsAbsoluteReportsAfterInput) {
  enumerate(3);
  // Nothing happened: the endpoint NAKs and the TD stays active.
  auto idle = uhci.interrupt_in(3, 1, 8, false, 5);
  EXPECT_TRUE(idle.control & kTdActive);
  EXPECT_TRUE(idle.control & kTdNak);
  EXPECT_TRUE(qt.irq_level(kIrq)) << "enumeration's IOCs";
  uhci.outw(kSts, 0x1f);
  EXPECT_FALSE(qt.irq_level(kIrq));

  abs_move(qt, 0x4000, 0x2000);
  // Drain what the move queued; the last report holds the position.
  std::vector<uint8_t> last;
  bool toggle = true;
  for (int i = 0; i < 4; ++i) {
    auto r = uhci.interrupt_in(3, 1, 8, toggle, 5);
    toggle = !toggle;
    if (r.control & kTdActive) break;
    ASSERT_EQ(r.actual(), 6u) << "a short packet: the 6-byte report";
    last = r.data;
    EXPECT_TRUE(uhci.inw(kSts) & kStsInt);
    EXPECT_TRUE(qt.irq_level(kIrq)) << "IOC / short packet interrupt on INTD -> PIRQA";
    uhci.outw(kSts, kStsInt);
    EXPECT_FALSE(qt.irq_level(kIrq)) << uhci.inw(kSts);
  }
  EXPECT_EQ(last, (std::vector<uint8_t>{0, 0x00, 0x40, 0x00, 0x20, 0}));

  // A button press (with the position, as VNC sends it) shows as bit 0 of byte 0.
  Json r = qt.qmp("input-send-event",
                  {{"events",
                    {{{"type", "btn"}, {"data", {{"down", true}, {"button", "left"}}}},
                     {{"type", "abs"}, {"data", {{"axis", "x"}, {"value", 0x4000}}}},
                     {{"type", "abs"}, {"data", {{"axis", "y"}, {"value", 0x2000}}}}}}});
  ASSERT_TRUE(r.contains("return")) << r;
  auto press = uhci.interrupt_in(3, 1, 8, toggle, 5);
  ASSERT_FALSE(press.control & kTdActive);
  EXPECT_EQ(press.data, (std::vector<uint8_t>{1, 0x00, 0x40, 0x00, 0x20, 0}));

  // A TD with room for only 4 bytes: the 6-byte report is babble, and stays queued.
  abs_move(qt, 0x7fff, 0);
  auto babble = uhci.interrupt_in(3, 1, 4, !toggle, 5);
  EXPECT_TRUE(babble.control & kTdBabble);
  EXPECT_TRUE(babble.control & kTdStalled);
  EXPECT_TRUE(uhci.inw(kSts) & kStsErrInt);
  auto after = uhci.interrupt_in(3, 1, 8, !toggle, 5);
  ASSERT_FALSE(after.control & kTdActive);
  EXPECT_EQ(after.data, (std::vector<uint8_t>{1, 0xff, 0x7f, 0x00, 0x00, 0}));

  // GET_REPORT returns the current state on the control pipe.
  auto current = uhci.control(3, 0xa1, 0x01, 0x0100, 0, 6);
  EXPECT_EQ(current.data, (std::vector<uint8_t>{1, 0xff, 0x7f, 0x00, 0x00, 0}));

  // A button event alone (a QMP client's click) reaches the tablet at its last position.
  Json release =
      qt.qmp("input-send-event",
             {{"events", {{{"type", "btn"}, {"data", {{"down", false}, {"button", "left"}}}}}}});
  ASSERT_TRUE(release.contains("return")) << release;
  auto up = uhci.interrupt_in(3, 1, 8, toggle, 5);
  ASSERT_FALSE(up.control & kTdActive);
  EXPECT_EQ(up.data, (std::vector<uint8_t>{0, 0xff, 0x7f, 0x00, 0x00, 0}));
}

TEST_F(TabletFixture, EndpointHaltAndStatus) {
  enumerate(4);
  // SET_FEATURE(ENDPOINT_HALT) on 0x81: GET_STATUS says halted and IN transactions STALL.
  ASSERT_TRUE(uhci.control(4, 0x02, 3, 0, 0x81, 0).completed);
  auto status = uhci.control(4, 0x82, 0, 0, 0x81, 2);
  EXPECT_EQ(status.data, (std::vector<uint8_t>{1, 0}));
  abs_move(qt, 1, 2);
  auto stalled = uhci.interrupt_in(4, 1, 8, false, 3);
  EXPECT_TRUE(stalled.control & kTdStalled);
  ASSERT_TRUE(uhci.control(4, 0x02, 1, 0, 0x81, 0).completed);  // CLEAR_FEATURE
  auto report = uhci.interrupt_in(4, 1, 8, false, 5);
  EXPECT_FALSE(report.control & kTdActive);
  EXPECT_EQ(report.actual(), 6u);
  // Remote wake-up: GET_STATUS(device) follows SET_FEATURE(DEVICE_REMOTE_WAKEUP).
  EXPECT_EQ(uhci.control(4, 0x80, 0, 0, 0, 2).data, (std::vector<uint8_t>{0, 0}));
  ASSERT_TRUE(uhci.control(4, 0x00, 3, 1, 0, 0).completed);
  EXPECT_EQ(uhci.control(4, 0x80, 0, 0, 0, 2).data, (std::vector<uint8_t>{2, 0}));
  // An endpoint the device does not have: STALL.
  EXPECT_TRUE(uhci.control(4, 0x82, 0, 0, 0x83, 2).stopped_status & kTdStalled);
}

TEST_F(TabletFixture, DataStageLargerThanTheTdIsBabble) {
  // GET_DESCRIPTOR with 4-byte data TDs: the device sends 8-byte packets, more than the room.
  auto r = uhci.control(0, 0x80, kGetDescriptor, 0x0100, 0, 18, {}, 4);
  EXPECT_FALSE(r.completed);
  EXPECT_TRUE(r.stopped_status & kTdBabble);
  // The pipe recovers at the next SETUP.
  EXPECT_EQ(uhci.control(0, 0x80, kGetDescriptor, 0x0100, 0, 18).data.size(), 18u);
  // wLength far beyond the descriptor: the reply is still the descriptor's own length.
  EXPECT_EQ(uhci.control(0, 0x80, kGetDescriptor, 0x0100, 0, 0x400).data.size(), 18u);
}

// Each hostile schedule: hvmd answers promptly, the controller reports what hardware would.
struct HostileTest : TabletFixture {
  // Steps 100 frames and checks hvmd took well under a second of host time for them.
  void step_100_frames() {
    auto start = std::chrono::steady_clock::now();
    qt.clock_step(100'000'000);
    auto took = std::chrono::steady_clock::now() - start;
    EXPECT_LT(took, std::chrono::seconds(5));
  }
};

TEST_F(HostileTest, QueueHeadLoopIsBoundedPerFrame) {
  enumerate(2);
  // The interrupt queue links to itself and holds a TD that NAKs forever.
  uhci.write_td(kTds, kTerminate, kTdActive | kTdErrors3, token(kPidIn, 2, 1, false, 8),
                static_cast<uint32_t>(kBuffers));
  uhci.write_qh(kQhInterrupt, static_cast<uint32_t>(kQhInterrupt) | kQhLink,
                static_cast<uint32_t>(kTds));
  uint16_t before = uhci.inw(kFrnum);
  step_100_frames();
  EXPECT_EQ((uhci.inw(kFrnum) - before) & 0x7ff, 100) << "every frame ran and ended";
  EXPECT_FALSE(uhci.inw(kSts) & kStsHalted);
  // A queue whose TD links to itself depth first (an IN to an address nobody has, timing out),
  // then a frame-list TD that links to itself.
  uhci.write_td(kTds + 0x40, static_cast<uint32_t>(kTds + 0x40) | kDepth, kTdActive | kTdErrors3,
                token(kPidIn, 9, 0, false, 8), static_cast<uint32_t>(kBuffers));
  uhci.write_qh(kQhInterrupt, static_cast<uint32_t>(kQhInterrupt) | kQhLink,
                static_cast<uint32_t>(kTds + 0x40));
  step_100_frames();
  EXPECT_FALSE(uhci.inw(kSts) & kStsHalted);
  std::vector<uint8_t> entry(4);
  UhciDriver::put32(entry, 0, static_cast<uint32_t>(kTds + 0x80));
  qt.memwrite(kFrameList + 4 * (uhci.inw(kFrnum) & 0x3ff), entry);
  uhci.write_td(kTds + 0x80, static_cast<uint32_t>(kTds + 0x80), 0, 0, 0);  // inactive, to itself
  step_100_frames();
  EXPECT_FALSE(uhci.inw(kSts) & kStsHalted);
}

TEST_F(HostileTest, BadPidHaltsWithProcessError) {
  uhci.write_td(kTds, kTerminate, kTdActive, 0x55 | (7u << 21), static_cast<uint32_t>(kBuffers));
  uhci.write_qh(kQh, static_cast<uint32_t>(kQhInterrupt) | kQhLink, static_cast<uint32_t>(kTds));
  qt.clock_step(2'000'000);
  uint16_t sts = uhci.inw(kSts);
  EXPECT_TRUE(sts & kStsHcpe);
  EXPECT_TRUE(sts & kStsHalted);
  EXPECT_FALSE(uhci.inw(kCmd) & kCmdRun);
  EXPECT_TRUE(qt.irq_level(kIrq)) << "process errors always interrupt";
  // A halted controller's frame counter stands: no timer runs.
  uint16_t frame = uhci.inw(kFrnum);
  qt.clock_step(10'000'000);
  EXPECT_EQ(uhci.inw(kFrnum), frame);
}

TEST_F(HostileTest, MaxLenBeyondLimitHaltsWithProcessError) {
  uhci.write_td(kTds, kTerminate, kTdActive, token(kPidIn, 0, 0, false, 0x600),
                static_cast<uint32_t>(kBuffers));
  uhci.write_qh(kQh, static_cast<uint32_t>(kQhInterrupt) | kQhLink, static_cast<uint32_t>(kTds));
  qt.clock_step(2'000'000);
  EXPECT_TRUE(uhci.inw(kSts) & kStsHcpe);
}

TEST_F(HostileTest, LinksAndBuffersOutsideRamAreHostSystemErrors) {
  // A queue element outside RAM.
  uhci.write_qh(kQh, static_cast<uint32_t>(kQhInterrupt) | kQhLink, 0xfebf0000);
  qt.clock_step(2'000'000);
  EXPECT_TRUE(uhci.inw(kSts) & kStsHse);
  EXPECT_TRUE(uhci.inw(kSts) & kStsHalted);
  EXPECT_TRUE(qt.irq_level(kIrq));
  // Restart with a TD whose buffer is outside RAM: an IN that would write there.
  uhci.outw(kSts, 0x3f);
  uhci.write_qh(kQh, static_cast<uint32_t>(kQhInterrupt) | kQhLink, kTerminate);
  uhci.outw(kCmd, kCmdRun);
  auto device = uhci.control(0, 0x80, kGetDescriptor, 0x0100, 0, 18);
  ASSERT_EQ(device.data.size(), 18u) << "running again";
  uhci.write_td(kTds, kTerminate, kTdActive, token(kPidSetup, 0, 0, false, 8), 0xfffffff0);
  uhci.write_qh(kQh, static_cast<uint32_t>(kQhInterrupt) | kQhLink, static_cast<uint32_t>(kTds));
  qt.clock_step(2'000'000);
  EXPECT_TRUE(uhci.inw(kSts) & kStsHse);
  // A frame list outside RAM.
  uhci.outw(kSts, 0x3f);
  qt.outl(kIoBase + kFlbase, 0xfec00000);
  uhci.outw(kCmd, kCmdRun);
  qt.clock_step(2'000'000);
  EXPECT_TRUE(uhci.inw(kSts) & kStsHse);
}

TEST(UhciTest, HotPlugAndUnplugOnPortTwo) {
  // libxl's usbversion=1 form: the controller at the first free slot, its bus usb.0.
  QtestClient qt({"-device", "piix3-usb-uhci,id=usb"});
  UhciDriver uhci(qt, kFirstFreeDevfn);
  uhci.init();
  EXPECT_EQ(uhci.inw(kPortsc1 + 2) & (kPortCcs | kPortCsc), 0);
  Json r = qt.qmp("device_add",
                  {{"driver", "usb-tablet"}, {"id", "tab"}, {"bus", "usb.0"}, {"port", "2"}});
  ASSERT_TRUE(r.contains("return")) << r;
  EXPECT_EQ(uhci.inw(kPortsc1 + 2) & (kPortCcs | kPortCsc), kPortCcs | kPortCsc);
  uhci.reset_port(2);
  EXPECT_EQ(uhci.control(0, 0x80, kGetDescriptor, 0x0100, 0, 18).data.size(), 18u);
  // The port is taken; a port that does not exist is named.
  r = qt.qmp("device_add", {{"driver", "usb-kbd"}, {"bus", "usb.0"}, {"port", "2"}});
  EXPECT_TRUE(r.contains("error")) << r;
  r = qt.qmp("device_add", {{"driver", "usb-kbd"}, {"bus", "usb.0"}, {"port", "3"}});
  ASSERT_TRUE(r.contains("error")) << r;
  EXPECT_NE(r["error"]["desc"].get<std::string>().find("port 3"), std::string::npos) << r;

  r = qt.qmp("device_del", {{"id", "tab"}});
  ASSERT_TRUE(r.contains("return")) << r;
  bool deleted = false;
  for (int i = 0; i < 20 && !deleted; ++i) {
    for (const auto& e : qt.events())
      deleted |= e["event"] == "DEVICE_DELETED" && e["data"].value("device", "") == "tab";
    if (!deleted) qt.qmp("query-status");
  }
  EXPECT_TRUE(deleted);
  uint16_t port = uhci.inw(kPortsc1 + 2);
  EXPECT_FALSE(port & kPortCcs);
  EXPECT_TRUE(port & kPortCsc);
  EXPECT_FALSE(port & kPortPe);
  EXPECT_TRUE(port & kPortPec) << "the port was disabled by the disconnect";
  // The device at address 0 is gone: transfers time out.
  EXPECT_TRUE(uhci.control(0, 0x80, kGetDescriptor, 0x0100, 0, 18).stopped_status & kTdTimeout);
}

TEST(UhciTest, CommandLineErrorsNameTheValue) {
  auto r = run_hvmd({"-usbdevice", "host:1234:5678", "-accel", "qtest", "-qtest", "stdio"});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.stderr_text.find("host:1234:5678"), std::string::npos) << r.stderr_text;
  r = run_hvmd({"-device", "usb-tablet,bus=usb.0,port=9", "-accel", "qtest", "-qtest", "stdio"});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.stderr_text.find("usb.0"), std::string::npos) << r.stderr_text;
}

}  // namespace
}  // namespace hvmd::test
