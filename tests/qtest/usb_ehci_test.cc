// Black-box: ich9-usb-ehci1 with its companion UHCIs exactly as libxl starts them for
// usbversion=2, driven as Linux's ehci-hcd and uhci-hcd do: the tablet (dual speed) enumerated at
// high speed through the asynchronous schedule and its reports through the periodic one; a
// full-speed keyboard that stays disabled after the EHCI's port reset, handed to the companion
// with PORT_OWNER and enumerated there; CONFIGFLAG routing; query-usb. Then hostile schedules:
// cyclic queue heads, qTDs and iTDs/siTDs, qTD buffers outside RAM, oversized qTDs.
#include <gtest/gtest.h>

#include <chrono>

#include "tests/qtest/ehci_driver.h"
#include "tests/qtest/usb_driver.h"

namespace hvmd::test {
namespace {

using namespace ehci;

constexpr uint8_t kGetDescriptor = 6, kSetAddress = 5, kSetConfiguration = 9;
constexpr uint8_t kCompanion1 = 0xe8;  // 00:1d.0

std::vector<std::string> libxl_args(std::vector<std::string> extra) {
  std::vector<std::string> args = {
      "-device", "ich9-usb-ehci1,id=usb,addr=0x1d.0x7,multifunction=on",
      "-device", "ich9-usb-uhci1,masterbus=usb.0,firstport=0,addr=0x1d.0,multifunction=on",
      "-device", "ich9-usb-uhci2,masterbus=usb.0,firstport=2,addr=0x1d.1,multifunction=on",
      "-device", "ich9-usb-uhci3,masterbus=usb.0,firstport=4,addr=0x1d.2,multifunction=on"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

TEST(EhciTest, LibxlFormsMakeOneMultiFunctionSlot) {
  QtestClient qt(libxl_args({}));
  EXPECT_EQ(qt.pci_config_read(0xef, 0, 4), 0x293a8086u);
  EXPECT_EQ(qt.pci_config_read(0xe8, 0, 4), 0x29348086u);
  EXPECT_EQ(qt.pci_config_read(0xe9, 0, 4), 0x29358086u);
  EXPECT_EQ(qt.pci_config_read(0xea, 0, 4), 0x29368086u);
  EXPECT_EQ(qt.pci_config_read(0xe8, 0x0e, 1) & 0x80, 0x80u) << "function 0: multi-function";
  EXPECT_EQ(qt.pci_config_read(0xef, 0x60, 1), 0x20u) << "SBRN: USB 2.0";
  EXPECT_EQ(qt.pci_config_read(0xef, 0x3d, 1), 4u) << "INTD#";
  EXPECT_EQ(qt.pci_config_read(0xe8, 0x3d, 1), 1u) << "INTA#";
  EXPECT_EQ(qt.pci_config_read(0xe9, 0x3d, 1), 2u) << "INTB#";
}

TEST(EhciTest, BadCompanionsAreRefusedByName) {
  QtestClient qt({"-device", "ich9-usb-ehci1,id=usb"});
  Json r = qt.qmp("device_add", {{"driver", "ich9-usb-uhci1"}, {"masterbus", "usb.7"}});
  ASSERT_TRUE(r.contains("error")) << r;
  EXPECT_NE(r["error"]["desc"].get<std::string>().find("usb.7"), std::string::npos) << r;
  r = qt.qmp("device_add",
             {{"driver", "ich9-usb-uhci1"}, {"masterbus", "usb.0"}, {"firstport", 3}});
  ASSERT_TRUE(r.contains("error")) << r;
  EXPECT_NE(r["error"]["desc"].get<std::string>().find("firstport=3"), std::string::npos) << r;
}

struct EhciTablet : ::testing::Test {
  QtestClient qt{libxl_args({"-device", "usb-tablet,bus=usb.0,port=1,id=tablet"})};
  EhciDriver ehci{qt};
  void SetUp() override {
    ehci.init();
    uint32_t before = ehci.portsc(1);
    ASSERT_EQ(before & (kPortCcs | kPortOwner), kPortCcs) << std::hex << before;
    ASSERT_EQ(before & kPortLineMask, 2u << 10) << "J state: not low speed";
    uint32_t after = ehci.reset_port(1);
    ASSERT_EQ(after & (kPortCcs | kPortPe | kPortReset), kPortCcs | kPortPe)
        << "a high-speed device ends the reset enabled: " << std::hex << after;
    EXPECT_TRUE(ehci.read(kSts) & kStsPcd) << "CONFIGFLAG brought the tablet's port here";
    ehci.write(kSts, 0x3f);
    EXPECT_FALSE(qt.irq_level(kIrq));
  }
};

TEST_F(EhciTablet, EnumeratesAtHighSpeedAsLinuxDoes) {
  auto device = ehci.control(0, 0x80, kGetDescriptor, 0x0100, 0, 64);
  ASSERT_TRUE(device.completed) << std::hex << device.token;
  ASSERT_EQ(device.data.size(), 18u) << "short packet: the 18 bytes";
  EXPECT_EQ(device.data[2] | device.data[3] << 8, 0x0200) << "bcdUSB 2.0";
  EXPECT_EQ(device.data[7], 64) << "a high-speed default pipe";
  EXPECT_EQ(device.data[8] | device.data[9] << 8, 0x0627);
  EXPECT_TRUE(ehci.read(kSts) & kStsInt) << "IOC";
  EXPECT_TRUE(qt.irq_level(kIrq));
  ehci.write(kSts, kStsInt);
  EXPECT_FALSE(qt.irq_level(kIrq));

  ASSERT_TRUE(ehci.control(0, 0x00, kSetAddress, 7, 0, 0).completed);
  // The old address is gone: no answer, three strikes, halted with a transaction error.
  auto gone = ehci.control(0, 0x80, kGetDescriptor, 0x0100, 0, 18);
  EXPECT_FALSE(gone.completed);
  EXPECT_EQ(gone.token & (kQtdHalted | kQtdXact), kQtdHalted | kQtdXact) << std::hex << gone.token;
  EXPECT_TRUE(ehci.read(kSts) & kStsErr);
  ehci.write(kSts, kStsErr | kStsInt);

  auto qualifier = ehci.control(7, 0x80, kGetDescriptor, 0x0600, 0, 10);
  ASSERT_TRUE(qualifier.completed);
  EXPECT_EQ(qualifier.data.size(), 10u);
  EXPECT_EQ(qualifier.data[7], 8) << "full-speed default pipe, the other speed";
  auto config = ehci.control(7, 0x80, kGetDescriptor, 0x0200, 0, 34);
  ASSERT_EQ(config.data.size(), 34u);
  EXPECT_EQ(config.data[27 + 2], 0x81);
  EXPECT_EQ(config.data[27 + 6], 7) << "10 ms as 2^(7-1) microframes";
  ASSERT_TRUE(ehci.control(7, 0x00, kSetConfiguration, 1, 0, 0).completed);
  EXPECT_EQ(ehci.control(7, 0x80, 8, 0, 0, 1).data, std::vector<uint8_t>{1});

  // usbhid's interrupt IN through the periodic schedule: NAK while idle, the report after input.
  auto idle = ehci.interrupt_in(7, 1, 8, 5);
  EXPECT_TRUE(idle.token & kQtdActive);
  Json r = qt.qmp("input-send-event",
                  {{"events",
                    {{{"type", "abs"}, {"data", {{"axis", "x"}, {"value", 0x1234}}}},
                     {{"type", "abs"}, {"data", {{"axis", "y"}, {"value", 0x2345}}}}}}});
  ASSERT_TRUE(r.contains("return")) << r;
  std::vector<uint8_t> last;
  for (int i = 0; i < 4; ++i) {
    auto report = ehci.interrupt_in(7, 1, 8, 5);
    if (!report.completed) break;
    last = report.data;
  }
  EXPECT_EQ(last, (std::vector<uint8_t>{0, 0x34, 0x12, 0x45, 0x23, 0}));

  // query-usb names it on usb.0 port 1 at 480 Mb/s.
  Json list = qt.qmp("query-usb");
  ASSERT_TRUE(list.contains("return")) << list;
  ASSERT_EQ(list["return"].size(), 1u) << list;
  EXPECT_EQ(list["return"][0]["bus"], "usb.0");
  EXPECT_EQ(list["return"][0]["port"], 1);
  EXPECT_EQ(list["return"][0]["speed"], "480");
  EXPECT_EQ(list["return"][0]["address"], 7);
  EXPECT_EQ(list["return"][0]["id"], "tablet");
  Json text = qt.qmp("x-query-usb");
  EXPECT_NE(text["return"]["human-readable-text"].get<std::string>().find("Port 1, Speed 480 Mb/s"),
            std::string::npos)
      << text;
}

TEST_F(EhciTablet, ClearingConfigFlagHandsEveryPortToTheCompanions) {
  ehci.write(kConfigFlag, 0);
  EXPECT_EQ(ehci.portsc(1) & (kPortOwner | kPortCcs), kPortOwner);
  // The companion sees the tablet connected (a fresh connection: change bit set).
  qt.pci_config_write(kCompanion1, 0x20, 4, usb::kIoBase);
  qt.pci_config_write(kCompanion1, 0x04, 2, 0x0005);
  EXPECT_EQ(qt.inw(usb::kIoBase + usb::kPortsc1) & (usb::kPortCcs | usb::kPortCsc),
            usb::kPortCcs | usb::kPortCsc);
  // And back: CONFIGFLAG routes it here again, disabled until reset.
  ehci.write(kConfigFlag, 1);
  EXPECT_EQ(qt.inw(usb::kIoBase + usb::kPortsc1) & usb::kPortCcs, 0);
  EXPECT_EQ(ehci.portsc(1) & (kPortOwner | kPortCcs | kPortPe), kPortCcs);
  EXPECT_TRUE(ehci.read(kSts) & kStsPcd);
}

// The companion UHCI at 00:1d.0 set up as uhci-hcd does (its ID is not the PIIX3's).
void companion_init(QtestClient& qt, usb::UhciDriver& uhci) {
  qt.pci_config_write(kCompanion1, 0x20, 4, usb::kIoBase);
  qt.pci_config_write(kCompanion1, 0x04, 2, 0x0005);
  uhci.outw(usb::kCmd, usb::kCmdHcReset);
  std::vector<uint8_t> list(4096);
  for (size_t i = 0; i < 1024; ++i)
    usb::UhciDriver::put32(list, i * 4, static_cast<uint32_t>(usb::kQh) | usb::kQhLink);
  qt.memwrite(usb::kFrameList, list);
  uhci.write_qh(usb::kQh, static_cast<uint32_t>(usb::kQhInterrupt) | usb::kQhLink, usb::kTerminate);
  uhci.write_qh(usb::kQhInterrupt, usb::kTerminate, usb::kTerminate);
  qt.outl(usb::kIoBase + usb::kFlbase, static_cast<uint32_t>(usb::kFrameList));
  uhci.outw(usb::kIntr, 0x0f);
  uhci.outw(usb::kCmd, usb::kCmdRun | usb::kCmdConfigure | usb::kCmdMaxPacket64);
}

TEST(EhciTest, FullSpeedDeviceGoesToTheCompanionAndEnumeratesThere) {
  QtestClient qt(libxl_args({"-device", "usb-kbd,bus=usb.0,port=2,usb_version=1"}));
  EhciDriver ehci(qt);
  ehci.init();
  usb::UhciDriver uhci(qt, kCompanion1);
  companion_init(qt, uhci);
  // Routed to the EHCI: the companion's port 2 is empty.
  EXPECT_EQ(uhci.inw(usb::kPortsc1 + 2) & usb::kPortCcs, 0);
  ASSERT_EQ(ehci.portsc(2) & kPortCcs, kPortCcs);
  uint32_t after = ehci.reset_port(2);
  ASSERT_EQ(after & (kPortCcs | kPortPe), kPortCcs) << "full speed: not enabled after reset";
  // ehci-hcd: "port 2 full speed --> companion".
  ehci.set_portsc(2, after | kPortOwner);
  EXPECT_EQ(ehci.portsc(2) & (kPortOwner | kPortCcs), kPortOwner);
  ASSERT_EQ(uhci.inw(usb::kPortsc1 + 2) & (usb::kPortCcs | usb::kPortCsc),
            usb::kPortCcs | usb::kPortCsc);
  uhci.reset_port(2);
  ASSERT_TRUE(uhci.inw(usb::kPortsc1 + 2) & usb::kPortPe);
  auto device = uhci.control(0, 0x80, kGetDescriptor, 0x0100, 0, 18);
  ASSERT_TRUE(device.completed);
  ASSERT_EQ(device.data.size(), 18u);
  EXPECT_EQ(device.data[7], 8) << "full speed";
  ASSERT_TRUE(uhci.control(0, 0x00, kSetAddress, 3, 0, 0).completed);
  ASSERT_TRUE(uhci.control(3, 0x00, kSetConfiguration, 1, 0, 0).completed);
  Json list = qt.qmp("query-usb");
  ASSERT_EQ(list["return"].size(), 1u) << list;
  EXPECT_EQ(list["return"][0]["speed"], "12");
  EXPECT_EQ(list["return"][0]["address"], 3);
  // The EHCI does not answer for it: address 3 through the EHCI is nobody.
  auto nobody = ehci.control(3, 0x80, kGetDescriptor, 0x0100, 0, 18);
  EXPECT_FALSE(nobody.completed);
}

TEST(EhciTest, HotPlugAndUnplugMidEnumeration) {
  QtestClient qt(libxl_args({}));
  EhciDriver ehci(qt);
  ehci.init();
  ehci.write(kSts, 0x3f);
  EXPECT_EQ(ehci.portsc(4) & kPortCcs, 0u);
  Json r = qt.qmp("device_add",
                  {{"driver", "usb-tablet"}, {"bus", "usb.0"}, {"port", "4"}, {"id", "hot"}});
  ASSERT_TRUE(r.contains("return")) << r;
  EXPECT_EQ(ehci.portsc(4) & (kPortCcs | kPortCsc), kPortCcs | kPortCsc);
  EXPECT_TRUE(ehci.read(kSts) & kStsPcd);
  EXPECT_TRUE(qt.irq_level(kIrq)) << "port change interrupt";
  ASSERT_TRUE(ehci.reset_port(4) & kPortPe);
  ASSERT_TRUE(ehci.control(0, 0x00, kSetAddress, 9, 0, 0).completed);
  // Gone between SET_ADDRESS and SET_CONFIGURATION: the transfer finds nobody, the port reads
  // empty with its changes flagged.
  r = qt.qmp("device_del", {{"id", "hot"}});
  ASSERT_TRUE(r.contains("return")) << r;
  EXPECT_EQ(ehci.portsc(4) & (kPortCcs | kPortPe | kPortCsc | kPortPec), kPortCsc | kPortPec);
  EXPECT_FALSE(ehci.control(9, 0x00, kSetConfiguration, 1, 0, 0).completed);
  EXPECT_EQ(qt.qmp("query-usb")["return"].size(), 0u);
  // And back on the same port.
  r = qt.qmp("device_add", {{"driver", "usb-tablet"}, {"bus", "usb.0"}, {"port", "4"}});
  ASSERT_TRUE(r.contains("return")) << r;
  ASSERT_TRUE(ehci.reset_port(4) & kPortPe);
  EXPECT_EQ(ehci.control(0, 0x80, kGetDescriptor, 0x0100, 0, 18).data.size(), 18u);
}

TEST(EhciTest, FrameIndexCountsMicroframesOnlyWhileRunning) {
  QtestClient qt(libxl_args({}));
  EhciDriver ehci(qt);
  ehci.init();
  uint32_t a = ehci.read(kFrindex);
  qt.clock_step(3'000'000);
  uint32_t b = ehci.read(kFrindex);
  EXPECT_EQ((b - a) & 0x3fff, 24u) << "8 microframes per ms";
  ehci.write(kCmd, 0);
  EXPECT_TRUE(ehci.read(kSts) & kStsHalted);
  uint32_t c = ehci.read(kFrindex);
  qt.clock_step(5'000'000);
  EXPECT_EQ(ehci.read(kFrindex), c) << "a halted controller's index stands";
  // The doorbell with the asynchronous schedule off answers at once.
  ehci.write(kCmd, kCmdRun | kCmdDoorbell);
  EXPECT_TRUE(ehci.read(kSts) & kStsIaa);
  EXPECT_FALSE(ehci.read(kCmd) & kCmdDoorbell);
}

TEST_F(EhciTablet, InterruptThresholdDelaysCompletionInterrupts) {
  // ITC 0x40: completions are reported at most every 64 microframes (8 ms).
  ehci.write(kCmd, (ehci.read(kCmd) & ~0xff0000u) | 0x40u << 16);
  ehci.write_qtd(kQtds, kTerminate, qtd_token(kPidSetup, 8, true, false), kBuffers);
  qt.memwrite(kBuffers, {0x80, 6, 0, 1, 0, 0, 18, 0});
  ehci.write_qh(kQh, static_cast<uint32_t>(kHeadQh) | kTypeQh,
                EhciDriver::characteristics(0, 0, 64, true), 0, static_cast<uint32_t>(kQtds), 0);
  ehci.write_qh(kHeadQh, static_cast<uint32_t>(kQh) | kTypeQh, 1u << 15, 0, kTerminate, 0x40);
  ehci.write(kCmd, ehci.read(kCmd) | kCmdAse);
  ehci.write(kSts, 0x3f);
  qt.clock_step(1'000'000);
  ASSERT_FALSE(qt.readl(kQtds + 8) & kQtdActive) << "the SETUP is done";
  unsigned frames = 1;
  while (!(ehci.read(kSts) & kStsInt) && frames < 20) {
    EXPECT_FALSE(qt.irq_level(kIrq));
    qt.clock_step(1'000'000);
    ++frames;
  }
  EXPECT_GE(frames, 7u) << "held back for the threshold";
  EXPECT_LE(frames, 9u);
  EXPECT_TRUE(qt.irq_level(kIrq));
}

// --- hostile schedules ---------------------------------------------------------------------

// Steps frames and checks each costs bounded wall time and hvmd still answers.
void expect_bounded(QtestClient& qt, EhciDriver& ehci, unsigned frames) {
  for (unsigned i = 0; i < frames; ++i) {
    auto start = std::chrono::steady_clock::now();
    qt.clock_step(1'000'000);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::steady_clock::now() - start)
                  .count();
    ASSERT_LT(ms, 2000) << "frame " << i;
  }
  EXPECT_EQ(ehci.read(0) & 0xff, 0x20u) << "still answering";
}

TEST_F(EhciTablet, CyclicQueueHeadsWithoutHeadBitCostBoundedTime) {
  // Three queue heads in a ring, none with the H bit, each with an active qTD to a device that
  // NAKs (the tablet's interrupt endpoint before input, addressed through the async list).
  ASSERT_TRUE(ehci.control(0, 0x00, kSetAddress, 2, 0, 0).completed);
  ASSERT_TRUE(ehci.control(2, 0x00, kSetConfiguration, 1, 0, 0).completed);
  uint64_t qhs[3] = {0x400000, 0x400100, 0x400200};
  for (int i = 0; i < 3; ++i) {
    uint64_t qtd = 0x401000 + 0x100 * i;
    ehci.write_qtd(qtd, kTerminate, qtd_token(kPidIn, 8, true, false), 0x410000);
    ehci.write_qh(qhs[i], static_cast<uint32_t>(qhs[(i + 1) % 3]) | kTypeQh,
                  EhciDriver::characteristics(2, 1, 8, false), 0, static_cast<uint32_t>(qtd), 0);
  }
  ehci.write(kAsync, static_cast<uint32_t>(qhs[0]));
  ehci.write(kCmd, ehci.read(kCmd) | kCmdAse);
  expect_bounded(qt, ehci, 20);
  // A qTD that links to itself, on a device that answers: it completes once, then stands.
  ehci.write_qtd(0x402000, 0x402000, qtd_token(kPidOut, 0, false, true), 0x410000);
  ehci.write_qh(qhs[0], static_cast<uint32_t>(qhs[0]) | kTypeQh,
                EhciDriver::characteristics(2, 0, 64, true), 0, 0x402000, 0);
  expect_bounded(qt, ehci, 5);
  EXPECT_FALSE(qt.readl(0x402000 + 8) & kQtdActive);
  EXPECT_FALSE(ehci.read(kSts) & kStsHalted);
}

TEST_F(EhciTablet, CyclicPeriodicListsCostBoundedTime) {
  // Every frame: an iTD that links to itself (CVE-2015-8558), an siTD ring (CVE-2016-4037),
  // FSTNs and two queue heads that link to each other.
  std::vector<uint8_t> list(4096);
  for (size_t i = 0; i < 1024; ++i) put32(list, i * 4, 0x500000 | (i % 3) << 1);
  qt.memwrite(kFrameList, list);
  std::vector<uint8_t> itd(92);
  put32(itd, 0, 0x500000);                       // itself, type iTD
  put32(itd, 4, 1u << 31 | 1u << 15 | 8 << 16);  // active, IOC
  qt.memwrite(0x500000, itd);
  std::vector<uint8_t> sitd(36);
  put32(sitd, 0, 0x500000 | 2 << 1);  // type QH at the same address: a mixed-up cycle
  put32(sitd, 12, 0x80);
  qt.memwrite(0x500000 + 0x200, sitd);
  ehci.write_qh(0x500000, 0x500100 | kTypeQh, 0, 0x01, kTerminate, 0);
  ehci.write_qh(0x500100, 0x500000 | kTypeQh, 0, 0x01, kTerminate, 0);
  ehci.write(kCmd, ehci.read(kCmd) | kCmdPse);
  expect_bounded(qt, ehci, 10);
  // siTD and FSTN rings.
  for (size_t i = 0; i < 1024; ++i) put32(list, i * 4, 0x600000 | (i & 1 ? 2 : 3) << 1);
  qt.memwrite(kFrameList, list);
  std::vector<uint8_t> ring(36);
  put32(ring, 0, 0x600000 | 2 << 1);
  put32(ring, 12, 0x80 | 1u << 31);
  qt.memwrite(0x600000, ring);
  expect_bounded(qt, ehci, 10);
  EXPECT_EQ(qt.readl(0x600000 + 12) & 0x80, 0u) << "the active siTD ended (nobody answers)";
  EXPECT_FALSE(ehci.read(kSts) & kStsHalted);
}

TEST_F(EhciTablet, QtdBufferOutsideRamIsAHostSystemError) {
  ehci.write_qtd(kQtds, kTerminate, qtd_token(kPidSetup, 8, true, false), 0xf0000000ull);
  ehci.write_qh(kQh, static_cast<uint32_t>(kHeadQh) | kTypeQh,
                EhciDriver::characteristics(0, 0, 64, true), 0, static_cast<uint32_t>(kQtds), 0);
  ehci.write_qh(kHeadQh, static_cast<uint32_t>(kQh) | kTypeQh, 1u << 15, 0, kTerminate, 0x40);
  ehci.write(kCmd, ehci.read(kCmd) | kCmdAse);
  expect_bounded(qt, ehci, 3);
  EXPECT_TRUE(ehci.read(kSts) & kStsHse);
  EXPECT_TRUE(ehci.read(kSts) & kStsHalted);
  EXPECT_TRUE(qt.irq_level(kIrq));
  // A queue head pointer beyond RAM in the upper segment, after a reset: the same.
  ehci.write(kCmd, kCmdReset);
  ehci.write(kSegment, 0x10);
  ehci.write(kAsync, 0x1000);
  ehci.write(kCmd, kCmdRun | kCmdAse);
  expect_bounded(qt, ehci, 2);
  EXPECT_TRUE(ehci.read(kSts) & kStsHse);
}

TEST_F(EhciTablet, OversizedQtdsHaltWithoutMovingData) {
  // 0x7fff bytes (more than five pages), and 0x5000 from an offset that runs past page 4.
  for (uint32_t offset : {0u, 0x800u}) {
    uint32_t bytes = offset ? 0x5000 : 0x7fff;
    ehci.write_qtd(kQtds, kTerminate, qtd_token(kPidIn, bytes, true, false), kBuffers + offset);
    ehci.write_qh(kQh, static_cast<uint32_t>(kHeadQh) | kTypeQh,
                  EhciDriver::characteristics(0, 0, 64, true), 0, static_cast<uint32_t>(kQtds), 0);
    ehci.write_qh(kHeadQh, static_cast<uint32_t>(kQh) | kTypeQh, 1u << 15, 0, kTerminate, 0x40);
    ehci.write(kCmd, ehci.read(kCmd) | kCmdAse);
    expect_bounded(qt, ehci, 2);
    uint32_t token = qt.readl(kQtds + 8);
    EXPECT_EQ(token & (kQtdHalted | kQtdBufferError | kQtdActive), kQtdHalted | kQtdBufferError)
        << std::hex << token;
    EXPECT_TRUE(ehci.read(kSts) & kStsErr);
    ehci.write(kSts, 0x3f);
  }
}

}  // namespace
}  // namespace hvmd::test
