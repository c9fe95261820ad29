// hvmd-pci bind and unbind against a fake sysfs tree whose FakeKernel moves driver links as the
// PCI core does: the writes, their order, the saved original driver and its restoration.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "passthrough/cli/cli.h"
#include "tests/pci_cli/fake_sysfs.h"

namespace hvmd::pcicli::test {
namespace {

struct Run {
  int rc;
  std::string out, err;
  std::vector<SysfsWrite> writes;
};

Run run(FakeSysfs& fs, FakeKernel* kernel, std::vector<std::string> args) {
  args.insert(args.begin(), {"--sysfs-root", fs.root(), "--state-dir", fs.state_dir()});
  std::ostringstream out, err;
  Run r;
  SysfsTree::WriteHook hook = [&](const SysfsWrite& w) {
    r.writes.push_back(w);
    if (kernel) (*kernel)(w);
  };
  r.rc = run_cli(args, out, err, hook);
  r.out = out.str();
  r.err = err.str();
  return r;
}

std::vector<std::pair<std::string, std::string>> pairs(const std::vector<SysfsWrite>& ws) {
  std::vector<std::pair<std::string, std::string>> out;
  for (auto& w : ws) out.emplace_back(w.path, w.value);
  return out;
}

using Writes = std::vector<std::pair<std::string, std::string>>;
const std::string kDev = "sys/bus/pci/devices/";
const std::string kDrv = "sys/bus/pci/drivers/";

FakeDevice nic(const std::string& bdf, const std::string& driver, const std::string& group) {
  FakeDevice d;
  d.bdf = bdf;
  d.vendor = 0x8086;
  d.device = 0x10d3;
  d.class_code = 0x020000;
  d.driver = driver;
  if (!group.empty()) d.group = group;
  return d;
}

TEST(HvmdPciBind, BindToVfioAndBackRestoresTheOriginalDriver) {
  FakeSysfs fs;
  fs.add_driver("vfio-pci");
  fs.add_device(nic("0000:00:05.0", "e1000e", "2"));
  FakeKernel kernel(fs, "e1000e");

  auto b = run(fs, &kernel, {"bind", "0000:00:05.0", "--to", "vfio"});
  ASSERT_EQ(b.rc, 0) << b.err;
  EXPECT_EQ(pairs(b.writes), (Writes{{kDev + "0000:00:05.0/driver_override", "vfio-pci"},
                                     {kDrv + "e1000e/unbind", "0000:00:05.0"},
                                     {"sys/bus/pci/drivers_probe", "0000:00:05.0"}}));
  EXPECT_EQ(fs.driver_of("0000:00:05.0"), "vfio-pci");
  EXPECT_EQ(b.out, "0000:00:05.0: e1000e -> vfio-pci\n");
  auto state = nlohmann::json::parse(fs.read("state/0000:00:05.0.json"));
  EXPECT_EQ(state["driver"], "e1000e");
  EXPECT_EQ(state["driver_override"], "");
  EXPECT_EQ(state["target"], "vfio-pci");

  // check now says ready.
  EXPECT_EQ(run(fs, nullptr, {"check", "0000:00:05.0"}).rc, 0);

  auto u = run(fs, &kernel, {"unbind", "0000:00:05.0"});
  ASSERT_EQ(u.rc, 0) << u.err;
  EXPECT_EQ(pairs(u.writes), (Writes{{kDrv + "vfio-pci/unbind", "0000:00:05.0"},
                                     {kDev + "0000:00:05.0/driver_override", "\n"},
                                     {kDrv + "e1000e/bind", "0000:00:05.0"}}));
  EXPECT_EQ(fs.driver_of("0000:00:05.0"), "e1000e");
  EXPECT_FALSE(std::filesystem::exists(fs.state_dir() + "/0000:00:05.0.json"));
  EXPECT_EQ(u.out, "0000:00:05.0: vfio-pci -> e1000e\n");
}

TEST(HvmdPciBind, WithGroupMovesCompanionsAndUnbindBringsThemBack) {
  FakeSysfs fs;
  fs.add_driver("vfio-pci");
  fs.add_device(nic("0000:01:00.0", "nouveau", "7"));
  fs.add_device(nic("0000:01:00.1", "snd_hda_intel", "7"));
  FakeDevice port = nic("0000:00:01.0", "pcieport", "7");
  port.class_code = 0x060400;
  fs.add_device(port);
  FakeKernel kernel(fs);

  // Without --with-group: the device alone, and a warning naming the companion.
  auto alone = run(fs, &kernel, {"bind", "0000:01:00.0", "--to", "vfio"});
  ASSERT_EQ(alone.rc, 0) << alone.err;
  EXPECT_NE(alone.out.find("warning: IOMMU group 7 is not viable while 0000:01:00.1 is bound to "
                           "snd_hda_intel: add --with-group"),
            std::string::npos)
      << alone.out;
  EXPECT_EQ(fs.driver_of("0000:01:00.1"), "snd_hda_intel");

  auto b = run(fs, &kernel, {"--json", "bind", "0000:01:00.0", "--to", "vfio", "--with-group"});
  ASSERT_EQ(b.rc, 0) << b.err;
  EXPECT_EQ(pairs(b.writes), (Writes{{kDev + "0000:01:00.1/driver_override", "vfio-pci"},
                                     {kDrv + "snd_hda_intel/unbind", "0000:01:00.1"},
                                     {"sys/bus/pci/drivers_probe", "0000:01:00.1"}}));
  auto j = nlohmann::json::parse(b.out);
  EXPECT_EQ(j["ok"], true);
  EXPECT_EQ(j["devices"][0]["note"], "already bound");
  EXPECT_EQ(j["devices"][1]["from"], "snd_hda_intel");
  EXPECT_EQ(fs.driver_of("0000:01:00.1"), "vfio-pci");
  EXPECT_EQ(fs.driver_of("0000:00:01.0"), "pcieport") << "bridges stay with their driver";
  EXPECT_EQ(run(fs, nullptr, {"check", "0000:01:00.0"}).rc, 0);

  auto u = run(fs, &kernel, {"unbind", "0000:01:00.0"});
  ASSERT_EQ(u.rc, 0) << u.err;
  EXPECT_EQ(fs.driver_of("0000:01:00.0"), "nouveau");
  EXPECT_EQ(fs.driver_of("0000:01:00.1"), "snd_hda_intel");
  EXPECT_TRUE(std::filesystem::is_empty(fs.state_dir()));
}

TEST(HvmdPciBind, HalfDoneGroupBindIsUndoneByUnbind) {
  FakeSysfs fs;
  fs.add_driver("vfio-pci");
  fs.add_device(nic("0000:01:00.0", "nouveau", "7"));
  fs.add_device(nic("0000:01:00.1", "snd_hda_intel", "7"));
  FakeKernel kernel(fs);
  kernel.refuse_bdf = "0000:01:00.1";
  auto b = run(fs, &kernel, {"bind", "0000:01:00.0", "--to", "vfio", "--with-group"});
  EXPECT_EQ(b.rc, 3);
  EXPECT_NE(b.err.find("0000:01:00.1 did not bind to vfio-pci"), std::string::npos) << b.err;
  EXPECT_EQ(fs.driver_of("0000:01:00.0"), "vfio-pci");
  EXPECT_EQ(fs.driver_of("0000:01:00.1"), "");
  auto state = nlohmann::json::parse(fs.read("state/0000:01:00.0.json"));
  EXPECT_EQ(state["companions"], nlohmann::json({"0000:01:00.1"}));

  FakeKernel plain(fs);
  auto u = run(fs, &plain, {"unbind", "0000:01:00.0"});
  ASSERT_EQ(u.rc, 0) << u.err;
  EXPECT_EQ(fs.driver_of("0000:01:00.0"), "nouveau");
  EXPECT_EQ(fs.driver_of("0000:01:00.1"), "snd_hda_intel");
  EXPECT_TRUE(std::filesystem::is_empty(fs.state_dir()));
}

TEST(HvmdPciBind, PcibackUsesItsSlotList) {
  FakeSysfs fs;
  fs.make_xen_dom0();
  fs.add_driver("pciback");
  fs.add_device(nic("0000:00:05.0", "e1000e", ""));
  FakeKernel kernel(fs, "e1000e");
  auto b = run(fs, &kernel, {"bind", "00:05.0", "--to", "pciback"});
  ASSERT_EQ(b.rc, 0) << b.err;
  EXPECT_EQ(pairs(b.writes), (Writes{{kDev + "0000:00:05.0/driver_override", "pciback"},
                                     {kDrv + "e1000e/unbind", "0000:00:05.0"},
                                     {kDrv + "pciback/new_slot", "0000:00:05.0"},
                                     {kDrv + "pciback/bind", "0000:00:05.0"}}));
  EXPECT_EQ(run(fs, nullptr, {"check", "0000:00:05.0"}).rc, 0);
  auto u = run(fs, &kernel, {"unbind", "00:05.0"});
  ASSERT_EQ(u.rc, 0) << u.err;
  EXPECT_EQ(pairs(u.writes), (Writes{{kDrv + "pciback/unbind", "0000:00:05.0"},
                                     {kDrv + "pciback/remove_slot", "0000:00:05.0"},
                                     {kDev + "0000:00:05.0/driver_override", "\n"},
                                     {kDrv + "e1000e/bind", "0000:00:05.0"}}));
  EXPECT_EQ(fs.driver_of("0000:00:05.0"), "e1000e");
}

TEST(HvmdPciBind, ADeviceWithNoDriverGoesBackToNone) {
  FakeSysfs fs;
  fs.add_driver("vfio-pci");
  fs.add_device(nic("0000:00:06.0", "", "3"));
  FakeKernel kernel(fs);
  auto b = run(fs, &kernel, {"bind", "0000:00:06.0", "--to", "vfio"});
  ASSERT_EQ(b.rc, 0) << b.err;
  EXPECT_EQ(pairs(b.writes), (Writes{{kDev + "0000:00:06.0/driver_override", "vfio-pci"},
                                     {"sys/bus/pci/drivers_probe", "0000:00:06.0"}}));
  auto u = run(fs, &kernel, {"unbind", "0000:00:06.0"});
  ASSERT_EQ(u.rc, 0) << u.err;
  EXPECT_EQ(fs.driver_of("0000:00:06.0"), "");
  EXPECT_EQ(pairs(u.writes), (Writes{{kDrv + "vfio-pci/unbind", "0000:00:06.0"},
                                     {kDev + "0000:00:06.0/driver_override", "\n"}}));
}

TEST(HvmdPciBind, FailuresExitThreeWithOneLine) {
  FakeSysfs fs;
  fs.add_device(nic("0000:00:05.0", "e1000e", "2"));
  // vfio-pci not loaded: nothing is written.
  auto r = run(fs, nullptr, {"bind", "0000:00:05.0", "--to", "vfio"});
  EXPECT_EQ(r.rc, 3);
  EXPECT_EQ(r.err,
            "hvmd-pci: bind 0000:00:05.0: vfio-pci is not loaded: run modprobe vfio-pci first\n");
  EXPECT_TRUE(r.writes.empty());

  // The driver refuses the device: the bind says so, and unbind still restores.
  fs.add_driver("vfio-pci");
  FakeKernel refusing(fs, "e1000e");
  refusing.refuse_probe = true;
  r = run(fs, &refusing, {"bind", "0000:00:05.0", "--to", "vfio"});
  EXPECT_EQ(r.rc, 3);
  EXPECT_EQ(r.err,
            "hvmd-pci: bind 0000:00:05.0: 0000:00:05.0 did not bind to vfio-pci (its driver is "
            "now none; see dmesg)\n");
  FakeKernel kernel(fs, "e1000e");
  auto u = run(fs, &kernel, {"unbind", "0000:00:05.0"});
  EXPECT_EQ(u.rc, 0) << u.err;
  EXPECT_EQ(fs.driver_of("0000:00:05.0"), "e1000e");

  // A bridge is refused.
  FakeDevice port = nic("0000:00:01.0", "pcieport", "");
  port.class_code = 0x060400;
  fs.add_device(port);
  r = run(fs, &kernel, {"bind", "0000:00:01.0", "--to", "vfio"});
  EXPECT_EQ(r.rc, 3);
  EXPECT_NE(r.err.find("is a bridge"), std::string::npos);
  EXPECT_TRUE(r.writes.empty());

  // A write the "kernel" refuses (the attribute is missing): the path is named.
  std::filesystem::remove(fs.root() + "/sys/bus/pci/drivers_probe");
  r = run(fs, &kernel, {"bind", "0000:00:05.0", "--to", "vfio"});
  EXPECT_EQ(r.rc, 3);
  EXPECT_NE(r.err.find("drivers_probe"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1);
}

TEST(HvmdPciBind, UnbindWithoutRecordLeavesHostDriversAlone) {
  FakeSysfs fs;
  fs.add_driver("vfio-pci");
  fs.add_device(nic("0000:00:05.0", "e1000e", "2"));
  FakeKernel kernel(fs, "e1000e");
  auto r = run(fs, &kernel, {"unbind", "0000:00:05.0"});
  EXPECT_EQ(r.rc, 0);
  EXPECT_TRUE(r.writes.empty());
  EXPECT_EQ(fs.driver_of("0000:00:05.0"), "e1000e");

  // Bound to vfio-pci by someone else: unbind hands it to the kernel to probe.
  fs.set_driver("0000:00:05.0", "vfio-pci");
  r = run(fs, &kernel, {"unbind", "0000:00:05.0"});
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(pairs(r.writes), (Writes{{kDrv + "vfio-pci/unbind", "0000:00:05.0"},
                                     {kDev + "0000:00:05.0/driver_override", "\n"},
                                     {"sys/bus/pci/drivers_probe", "0000:00:05.0"}}));
  EXPECT_EQ(fs.driver_of("0000:00:05.0"), "e1000e");
}

TEST(HvmdPciBind, DamagedStateFilesAreRefused) {
  FakeSysfs fs;
  fs.add_driver("vfio-pci");
  fs.add_device(nic("0000:00:05.0", "vfio-pci", "2"));
  FakeKernel kernel(fs, "e1000e");
  for (std::string bad : {"not json", "{\"bdf\":\"0000:00:05.0\",\"driver\":\"../../x\"}",
                          "{\"bdf\":\"0000:00:09.0\",\"driver\":\"e1000e\"}", "[]"}) {
    fs.write_file("state/0000:00:05.0.json", bad);
    auto r = run(fs, &kernel, {"unbind", "0000:00:05.0"});
    EXPECT_EQ(r.rc, 3) << bad;
    EXPECT_NE(r.err.find("state file"), std::string::npos) << r.err;
    EXPECT_TRUE(r.writes.empty()) << bad;
  }
}

}  // namespace
}  // namespace hvmd::pcicli::test
