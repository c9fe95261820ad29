// Black-box: the start-up forms QEMU-style test programs use (issue 17), each compared with
// qemu-system-x86_64 7.2 given the same options: -machine none, -global, -rtc, -cdrom, -vga,
// -cpu, -accel fallbacks, --preconfig with x-exit-preconfig, and the errors for bad values.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>

#include "tests/qtest/qtest_client.h"

namespace hvmd::test {
namespace {

void expect_one_line_error(const std::vector<std::string>& extra, const std::string& needle) {
  std::vector<std::string> args = {"-accel", "qtest", "-qtest", "stdio"};
  args.insert(args.end(), extra.begin(), extra.end());
  RunResult r = run_hvmd(args);
  EXPECT_EQ(r.status, 1) << r.stderr_text;
  EXPECT_EQ(std::count(r.stderr_text.begin(), r.stderr_text.end(), '\n'), 1) << r.stderr_text;
  EXPECT_NE(r.stderr_text.find(needle), std::string::npos) << r.stderr_text;
}

uint8_t cmos(QtestClient& qt, uint8_t index) {
  qt.outb(0x70, index);
  return qt.inb(0x71);
}

TEST(QemuForms, MachineNoneServesQmpAndQtestWithNoDevices) {
  QtestClient qt({"-machine", "none"});
  EXPECT_EQ(qt.qmp("query-status")["return"]["status"], "running");
  EXPECT_EQ(cmos(qt, 0x3d), 0xffu);                     // no RTC
  EXPECT_EQ(qt.pci_config_read(0, 0, 4), 0xffffffffu);  // no host bridge
  qt.outw(0x510, 0);                                    // no fw_cfg
  EXPECT_EQ(qt.inb(0x511), 0xffu);
  // Nothing can be added: there is no bus.
  EXPECT_TRUE(qt.qmp("device_add", {{"driver", "pci-testdev"}}).contains("error"));
}

TEST(QemuForms, MachineNoneRefusesWhatNeedsABoard) {
  expect_one_line_error({"-machine", "none", "-device", "pci-testdev"}, "No 'PCI' bus");
  expect_one_line_error({"-machine", "none", "-device", "isa-debugcon"}, "no bus");
  expect_one_line_error({"-machine", "none", "-smp", "2"}, "'none' is 1");
}

// The serial port's line status register (0x60 when idle) answers where the port is.
TEST(QemuForms, GlobalIsEveryDevicesDefault) {
  {
    QtestClient qt({"-global", "isa-serial.iobase=0x2f8", "-serial", "null"});
    EXPECT_EQ(qt.inb(0x2fd), 0x60u);
    EXPECT_EQ(qt.inb(0x3fd), 0xffu);
  }
  {
    // The device's own property wins; the long form works too.
    QtestClient qt({"-global", "driver=isa-serial,property=iobase,value=0x2f8", "-device",
                    "isa-serial,iobase=0x3e8"});
    EXPECT_EQ(qt.inb(0x3ed), 0x60u);
    EXPECT_EQ(qt.inb(0x2fd), 0xffu);
  }
  {
    // QEMU only warns about a driver it does not have (tests set board devices' properties).
    QtestClient qt({"-global", "isa-fdc.driveA=", "-global", "PIIX4_PM.disable_s3=1"});
    EXPECT_EQ(qt.qmp("query-status")["return"]["status"], "running");
  }
}

TEST(QemuForms, GlobalErrorsAsQemuGivesThem) {
  expect_one_line_error({"-global", "isa-serial.nosuch=1", "-serial", "null"},
                        "can't apply global isa-serial.nosuch=1");
  expect_one_line_error({"-global", "isa-serial.iobase=zz", "-serial", "null"}, "zz");
  expect_one_line_error({"-global", "ide-hd"}, "Invalid parameter 'ide-hd'");
  expect_one_line_error({"-global", ".x=1"}, "Invalid parameter '.x'");
  expect_one_line_error({"-global", "ide-hd.=1"}, "Invalid parameter 'ide-hd.'");
}

// RTC registers in BCD: seconds 0x00, minutes 0x02, hours 0x04, day 0x07, month 0x08, year 0x09,
// century 0x32. Under qtest the clock stands still until the test steps it.
TEST(QemuForms, RtcBaseDate) {
  QtestClient qt({"-rtc", "base=2006-06-17T16:01:21,clock=vm,driftfix=slew"});
  EXPECT_EQ(cmos(qt, 0x00), 0x21u);
  EXPECT_EQ(cmos(qt, 0x02), 0x01u);
  EXPECT_EQ(cmos(qt, 0x04), 0x16u);
  EXPECT_EQ(cmos(qt, 0x07), 0x17u);
  EXPECT_EQ(cmos(qt, 0x08), 0x06u);
  EXPECT_EQ(cmos(qt, 0x09), 0x06u);
  QtestClient date_only({"-rtc", "base=1999-12-31"});
  EXPECT_EQ(cmos(date_only, 0x04), 0x00u);
  EXPECT_EQ(cmos(date_only, 0x07), 0x31u);
  EXPECT_EQ(cmos(date_only, 0x09), 0x99u);
}

TEST(QemuForms, RtcLocaltimeAddsTheHostsOffset) {
  // A zone five hours east of UTC with no daylight saving: the hour is UTC's plus five.
  const char* old = getenv("TZ");
  std::string saved = old ? old : "";
  setenv("TZ", "XXX-5", 1);
  QtestClient local({"-rtc", "base=localtime"});
  QtestClient utc({"-rtc", "base=utc"});
  if (old)
    setenv("TZ", saved.c_str(), 1);
  else
    unsetenv("TZ");
  auto hour = [](uint8_t bcd) { return (bcd >> 4) * 10 + (bcd & 15); };
  int local_hour = hour(cmos(local, 0x04)), utc_hour = hour(cmos(utc, 0x04));
  // The two started within a second of each other; an hour boundary between them is the one
  // way the difference can be six.
  int diff = (local_hour - utc_hour + 24) % 24;
  EXPECT_TRUE(diff == 5 || diff == 6) << local_hour << " " << utc_hour;
}

TEST(QemuForms, RtcErrors) {
  expect_one_line_error({"-rtc", "base=bogus"}, "2006-06-17");
  expect_one_line_error({"-rtc", "base=2006-13-17"}, "base=2006-13-17");
  expect_one_line_error({"-rtc", "clock=bogus"}, "clock=bogus");
  expect_one_line_error({"-rtc", "driftfix=bad"}, "driftfix=bad");
  expect_one_line_error({"-rtc", "frob=1"}, "frob");
}

TEST(QemuForms, CdromIsTheSecondaryMaster) {
  char path[] = "/tmp/hvmd-cdrom-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(ftruncate(fd, 2048 * 16), 0);
  close(fd);
  QtestClient qt({"-cdrom", path});
  Json block = qt.qmp("query-block")["return"];
  bool found = false;
  for (const Json& b : block)
    if (b["device"] == "ide1-cd0") found = b.contains("inserted");
  EXPECT_TRUE(found) << block.dump();
  unlink(path);
}

TEST(QemuForms, VgaCards) {
  QtestClient none({"-vga", "none"});
  EXPECT_EQ(none.pci_config_read(0x10, 0, 4), 0xffffffffu);
  QtestClient std_vga({"-vga", "std"});
  EXPECT_EQ(std_vga.pci_config_read(0x10, 0, 4), 0x11111234u);
  QtestClient cirrus({"-vga", "cirrus"});
  EXPECT_EQ(cirrus.pci_config_read(0x10, 0, 4), 0x00b81013u);
  expect_one_line_error({"-vga", "qxl"}, "qxl");
}

TEST(QemuForms, CpuModelsAreAcceptedOrNamed) {
  for (const char* model :
       {"qemu64", "host", "max", "Skylake-Client-v2,+x2apic,-hle", "Haswell-noTSX-IBRS", "kvm64"}) {
    QtestClient qt({"-cpu", model});
    EXPECT_EQ(qt.qmp("query-status")["return"]["status"], "running") << model;
  }
  expect_one_line_error({"-cpu", "nosuch"}, "unable to find CPU model 'nosuch'");
}

TEST(QemuForms, AccelFallbacks) {
  // libqtest appends -accel qtest after the test's own list: qtest serves the test.
  QtestClient colon({"-accel", "kvm:tcg"});
  EXPECT_EQ(colon.qmp("query-status")["return"]["status"], "running");
  QtestClient several({"-accel", "kvm", "-accel", "tcg"});
  EXPECT_EQ(several.qmp("query-status")["return"]["status"], "running");
  // tcg alone cannot run: hvmd says why.
  RunResult r = run_hvmd({"-accel", "tcg"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.stderr_text.find("'tcg': hvmd has no software CPU emulation"), std::string::npos)
      << r.stderr_text;
  expect_one_line_error({"-accel", "hax"}, "'hax'");
}

TEST(QemuForms, PreconfigWaitsForExitPreconfig) {
  QtestClient qt({"--preconfig"});
  EXPECT_EQ(qt.qmp("query-status")["return"]["status"], "prelaunch");
  EXPECT_EQ(qt.qmp("x-exit-preconfig"), Json({{"return", Json::object()}}));
  EXPECT_EQ(qt.qmp("query-status")["return"]["status"], "running");
  Json again = qt.qmp("x-exit-preconfig");
  EXPECT_EQ(again["error"]["desc"], "The command is permitted only before machine initialization");
  EXPECT_TRUE(qt.qmp("x-exit-preconfig", {{"x", 1}}).contains("error"));
  // Under -S the machine stays in prelaunch until cont.
  QtestClient paused({"--preconfig", "-S"});
  EXPECT_EQ(paused.qmp("x-exit-preconfig"), Json({{"return", Json::object()}}));
  EXPECT_EQ(paused.qmp("query-status")["return"]["status"], "prelaunch");
}

TEST(QemuForms, PflashIsRefused) {
  expect_one_line_error({"-drive", "if=pflash,format=raw,file=/dev/null"}, "if=pflash");
}

}  // namespace
}  // namespace hvmd::test
