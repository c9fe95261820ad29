// hvmd-pci list and check against fake sysfs trees: the verdicts and the reasons a user reads.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "passthrough/cli/cli.h"
#include "tests/pci_cli/dmar_builder.h"
#include "tests/pci_cli/fake_sysfs.h"

namespace hvmd::pcicli::test {
namespace {

struct Run {
  int rc;
  std::string out, err;
  nlohmann::json json() const { return nlohmann::json::parse(out); }
};

Run run(const FakeSysfs& fs, std::vector<std::string> args) {
  args.insert(args.begin(), {"--sysfs-root", fs.root(), "--state-dir", fs.state_dir()});
  std::ostringstream out, err;
  int rc = run_cli(args, out, err);
  return {rc, out.str(), err.str()};
}

// A 1 MiB memory BAR0 at base and nothing else (13 lines, as a PCIe device's resource file).
std::string resource_bar0(uint64_t base, uint64_t size, uint64_t flags = 0x40200) {
  char line[128];
  std::string r;
  snprintf(line, sizeof line, "0x%016llx 0x%016llx 0x%016llx\n", (unsigned long long)base,
           (unsigned long long)(base + size - 1), (unsigned long long)flags);
  r += line;
  for (int i = 1; i < 13; ++i) r += "0x0000000000000000 0x0000000000000000 0x0000000000000000\n";
  return r;
}

// The VFIO lab's edu device: 1234:11e8, INTx pin A and one 64-bit MSI, 1 MiB BAR0.
FakeDevice edu(const std::string& bdf, const std::string& driver, const std::string& group) {
  FakeDevice d;
  d.bdf = bdf;
  d.config = ConfigBuilder(0x1234, 0x11e8, 0x00ff00).int_pin(1).msi(true, false, 0).bytes();
  d.resource = resource_bar0(0xfea00000, 0x100000);
  d.driver = driver;
  if (!group.empty()) d.group = group;
  d.irq = 11;
  return d;
}

const nlohmann::json* finding(const nlohmann::json& path, const std::string& code) {
  for (auto& f : path["findings"]) {
    if (f["code"] == code) return &f;
  }
  return nullptr;
}
const nlohmann::json* warning(const nlohmann::json& dev, const std::string& code) {
  for (auto& f : dev["warnings"]) {
    if (f["code"] == code) return &f;
  }
  return nullptr;
}

TEST(HvmdPciCheck, AssignableDeviceIsReadyForVfio) {
  FakeSysfs fs;
  fs.add_driver("vfio-pci");
  fs.add_device(edu("0000:00:03.0", "vfio-pci", "1"));
  auto r = run(fs, {"check", "0000:00:03.0"});
  EXPECT_EQ(r.rc, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("VFIO   ready: bound to vfio-pci, IOMMU group 1 viable"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("IOMMU group    1: 0000:00:03.0 (vfio-pci)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("INTx pin A (irq 11); MSI 1 vector, 64-bit"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("BAR0           memory 32-bit non-prefetchable, 1 MiB at 0xfea00000"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("-device vfio-pci,host=0000:00:03.0"), std::string::npos) << r.out;

  auto j = run(fs, {"--json", "check", "00:03.0"});
  ASSERT_EQ(j.rc, 0);
  auto dev = j.json()["device"];
  EXPECT_EQ(dev["bdf"], "0000:00:03.0");
  EXPECT_EQ(dev["vfio"]["state"], "ready");
  EXPECT_EQ(dev["xen"]["state"], "not-applicable");
  EXPECT_EQ(dev["iommu_group"], "1");
  ASSERT_EQ(dev["group"].size(), 1u);
  EXPECT_EQ(dev["group"][0]["driver"], "vfio-pci");
  EXPECT_EQ(dev["interrupts"]["msi"]["vectors"], 1);
  EXPECT_EQ(dev["interrupts"]["msi"]["64bit"], true);
  EXPECT_EQ(dev["interrupts"]["intx"]["pin"], "A");
  EXPECT_TRUE(dev["interrupts"]["msix"].is_null());
  ASSERT_EQ(dev["bars"].size(), 1u);
  EXPECT_EQ(dev["bars"][0]["size"], 0x100000);
  EXPECT_EQ(dev["assignable"], true);
  EXPECT_TRUE(j.json()["host"]["iommu"].get<bool>());
}

TEST(HvmdPciCheck, CompanionDrivenByTheHostMakesTheGroupNotViable) {
  FakeSysfs fs;
  fs.add_driver("vfio-pci");
  // A GPU and its HDMI audio function share group 7, with the root port (a bridge, harmless).
  FakeDevice gpu = edu("0000:01:00.0", "vfio-pci", "7");
  gpu.class_code = 0x030000;
  fs.add_device(gpu);
  FakeDevice audio = edu("0000:01:00.1", "snd_hda_intel", "7");
  audio.class_code = 0x040300;
  fs.add_device(audio);
  FakeDevice port = edu("0000:00:01.0", "pcieport", "7");
  port.class_code = 0x060400;
  fs.add_device(port);

  auto r = run(fs, {"check", "0000:01:00.0"});
  EXPECT_EQ(r.rc, 2) << r.out;
  EXPECT_NE(r.out.find("IOMMU group 7 is not viable: 0000:01:00.1 (bound to snd_hda_intel) shares "
                       "it and is driven by the host"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("--with-group"), std::string::npos);
  auto dev = run(fs, {"--json", "check", "0000:01:00.0"}).json()["device"];
  EXPECT_EQ(dev["vfio"]["state"], "needs-setup");
  auto* f = finding(dev["vfio"], "group-not-viable");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ((*f)["text"].get<std::string>().find("0000:00:01.0"), std::string::npos)
      << "the bridge must not be named as a spoiler";
  EXPECT_EQ(dev["group"].size(), 3u);

  // With the companion on vfio-pci too, the group is viable.
  fs.set_driver("0000:01:00.1", "vfio-pci");
  EXPECT_EQ(run(fs, {"check", "0000:01:00.0"}).rc, 0);
  // ... and with no driver at all.
  fs.set_driver("0000:01:00.1", "");
  EXPECT_EQ(run(fs, {"check", "0000:01:00.0"}).rc, 0);
}

TEST(HvmdPciCheck, NoIommuNamesFirmwareAndKernelSwitches) {
  FakeSysfs fs;
  fs.add_driver("vfio-pci");
  fs.add_device(edu("0000:00:03.0", "e1000e", ""));
  // No group link and an empty /sys/kernel/iommu_groups.
  fs.add_device([] {
    FakeDevice d;
    d.bdf = "0000:00:04.0";
    return d;
  }());
  auto r = run(fs, {"check", "0000:00:04.0"});
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(
      r.out.find("the IOMMU is off in the firmware or the kernel (no /sys/kernel/iommu_groups "
                 "entries)"),
      std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("enable VT-d in the firmware setup and boot with intel_iommu=on"),
            std::string::npos)
      << r.out;
  auto dev = run(fs, {"--json", "check", "0000:00:04.0"}).json()["device"];
  EXPECT_EQ(dev["vfio"]["state"], "blocked");
  ASSERT_NE(finding(dev["vfio"], "iommu-off"), nullptr);

  fs.set_cpu_vendor("AuthenticAMD");
  r = run(fs, {"check", "0000:00:04.0"});
  EXPECT_NE(r.out.find("amd_iommu=on"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("AMD-Vi"), std::string::npos) << r.out;

  fs.set_cmdline("root=/dev/sda1 intel_iommu=off quiet");
  r = run(fs, {"check", "0000:00:04.0"});
  EXPECT_NE(r.out.find("the kernel command line has intel_iommu=off"), std::string::npos) << r.out;

  fs.set_cmdline("root=/dev/sda1 intel_iommu=on");
  r = run(fs, {"check", "0000:00:04.0"});
  EXPECT_NE(r.out.find("although the kernel asked for it"), std::string::npos) << r.out;

  // list says the same, one reason per device.
  r = run(fs, {"list"});
  EXPECT_EQ(r.rc, 0);
  EXPECT_NE(r.out.find("host: IOMMU off"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("    why: the IOMMU is off although the kernel asked for it"),
            std::string::npos)
      << r.out;
}

TEST(HvmdPciCheck, ResetMethodsAndTheirAbsence) {
  FakeSysfs fs;
  fs.add_driver("vfio-pci");
  fs.add_device(edu("0000:00:03.0", "vfio-pci", "1"));  // edu: no reset at all
  FakeDevice nic = edu("0000:00:05.0", "vfio-pci", "2");
  nic.config = ConfigBuilder(0x8086, 0x10d3, 0x020000).pm(false).pcie(true).bytes();
  nic.reset_method = "flr pm";
  nic.reset_file = true;
  fs.add_device(nic);

  auto none = run(fs, {"--json", "check", "0000:00:03.0"}).json()["device"];
  auto* w = warning(none, "no-reset");
  ASSERT_NE(w, nullptr);
  EXPECT_NE((*w)["text"].get<std::string>().find("no reset method"), std::string::npos);
  EXPECT_EQ(none["assignable"], true) << "no reset is a warning, not a blocker";
  EXPECT_NE(run(fs, {"check", "0000:00:03.0"}).out.find("reset          none"), std::string::npos);

  auto flr = run(fs, {"--json", "check", "0000:00:05.0"}).json()["device"];
  EXPECT_EQ(warning(flr, "no-reset"), nullptr);
  EXPECT_EQ(flr["reset"]["methods"], nlohmann::json({"flr", "pm"}));
  EXPECT_EQ(flr["reset"]["flr"], true);
  EXPECT_NE(run(fs, {"check", "0000:00:05.0"})
                .out.find("reset          flr pm; config space "
                          "offers FLR, PM D3hot"),
            std::string::npos);
}

TEST(HvmdPciCheck, BarSharingAPageIsNamedWithTheOtherDevice) {
  FakeSysfs fs;
  fs.add_driver("vfio-pci");
  FakeDevice a = edu("0000:00:03.0", "vfio-pci", "1");
  a.resource = resource_bar0(0xfebf0000, 0x100);  // 256 bytes
  FakeDevice b = edu("0000:00:04.0", "vfio-pci", "2");
  b.resource = resource_bar0(0xfebf0800, 0x800);  // same page, upper half
  FakeDevice c = edu("0000:00:06.0", "vfio-pci", "3");
  c.resource = resource_bar0(0xfebf1000, 0x1000);  // the next page: no sharing
  fs.add_device(a);
  fs.add_device(b);
  fs.add_device(c);

  auto r = run(fs, {"check", "0000:00:03.0"});
  EXPECT_NE(r.out.find("BAR0 shares the 4 KiB page at 0xfebf0000 with 0000:00:04.0 BAR0"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("(smaller than a page)"), std::string::npos);
  auto dev = run(fs, {"--json", "check", "0000:00:04.0"}).json()["device"];
  ASSERT_EQ(dev["page_shares"].size(), 1u);
  EXPECT_EQ(dev["page_shares"][0]["other"], "0000:00:03.0");
  EXPECT_EQ(dev["page_shares"][0]["page"], "0xfebf0000");
  EXPECT_NE(warning(dev, "bar-shares-page"), nullptr);
  auto alone = run(fs, {"--json", "check", "0000:00:06.0"}).json()["device"];
  EXPECT_TRUE(alone["page_shares"].empty());
  EXPECT_EQ(warning(alone, "bar-shares-page"), nullptr);
}

TEST(HvmdPciCheck, XenDom0WithoutPciback) {
  FakeSysfs fs;
  fs.make_xen_dom0();
  fs.add_device(edu("0000:00:05.0", "e1000e", ""));
  auto r = run(fs, {"check", "0000:00:05.0"});
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.out.find("xen-pciback is not loaded"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("modprobe xen-pciback"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Xen owns the IOMMU"), std::string::npos) << r.out;
  auto dev = run(fs, {"--json", "check", "0000:00:05.0"}).json()["device"];
  EXPECT_EQ(dev["xen"]["state"], "needs-setup");
  EXPECT_NE(finding(dev["xen"], "pciback-missing"), nullptr);
  EXPECT_NE(finding(dev["xen"], "driver-in-use"), nullptr);
  EXPECT_EQ(dev["vfio"]["state"], "blocked");
  EXPECT_EQ(dev["next"][0], "modprobe xen-pciback");

  // Loaded and bound: ready for libxl.
  fs.add_driver("pciback");
  fs.set_driver("0000:00:05.0", "pciback");
  r = run(fs, {"check", "0000:00:05.0"});
  EXPECT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("Xen    ready: bound to pciback"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("xl info must list hvm_directio"), std::string::npos) << r.out;
}

TEST(HvmdPciCheck, DriverInUseAndVfioModuleMissing) {
  FakeSysfs fs;
  fs.add_device(edu("0000:00:05.0", "e1000e", "2"));
  auto dev = run(fs, {"--json", "check", "0000:00:05.0"}).json()["device"];
  EXPECT_EQ(dev["vfio"]["state"], "needs-setup");
  auto* in_use = finding(dev["vfio"], "driver-in-use");
  ASSERT_NE(in_use, nullptr);
  EXPECT_EQ((*in_use)["text"], "the device is in use by the e1000e driver");
  EXPECT_EQ((*in_use)["action"], "hvmd-pci bind 0000:00:05.0 --to vfio");
  auto* missing = finding(dev["vfio"], "vfio-pci-missing");
  ASSERT_NE(missing, nullptr);
  EXPECT_EQ((*missing)["action"], "modprobe vfio-pci");
}

TEST(HvmdPciCheck, RecordedFixturesListAndCheck) {
  FakeSysfs fs;
  fs.add_fixture("0000_00_00.0");
  for (const char* name :
       {"0000_00_01.0", "0000_00_02.0", "0000_00_03.0", "0000_00_04.0", "0000_00_05.0"}) {
    fs.add_fixture(name, "virtio-pci");
  }
  auto r = run(fs, {"--json", "list"});
  ASSERT_EQ(r.rc, 0) << r.err;
  auto devices = r.json()["devices"];
  ASSERT_EQ(devices.size(), 6u);
  EXPECT_EQ(devices[0]["bridge"], true);
  ASSERT_NE(finding(devices[0]["vfio"], "bridge"), nullptr);
  // virtio-net at 00:03.0: five vendor capabilities then MSI-X with 3 vectors in BAR0.
  auto& net = devices[3];
  EXPECT_EQ(net["bdf"], "0000:00:03.0");
  EXPECT_EQ(net["interrupts"]["msix"]["table_size"], 3);
  EXPECT_EQ(net["interrupts"]["msix"]["table_bar"], 0);
  EXPECT_EQ(net["interrupts"]["msix"]["pba_offset"], 0x48000);
  EXPECT_EQ(net["capabilities"].size(), 6u);
  EXPECT_EQ(net["capabilities"][5]["name"], "MSI-X");
  EXPECT_EQ(net["bars"][0]["bits"], 64);
  EXPECT_EQ(net["bars"][0]["size"], 0x80000);
  for (auto& d : devices) {
    EXPECT_EQ(d["vfio"]["state"], "blocked") << d["bdf"];  // no IOMMU on that machine
    EXPECT_TRUE(d["warnings"].is_array());
  }
  auto text = run(fs, {"list"});
  EXPECT_NE(text.out.find("0000:00:03.0 1af4:1041 virtio-pci   -     blocked"), std::string::npos)
      << text.out;
}

TEST(HvmdPciCheck, FirmwareReservedMemoryRmrr) {
  FakeSysfs fs;
  fs.add_driver("vfio-pci");
  FakeDevice usb = edu("0000:00:14.0", "xhci_hcd", "3");
  usb.class_code = 0x0c0330;
  fs.add_device(usb);
  FakeDevice nic = edu("0000:00:1f.6", "e1000e", "9");
  nic.class_code = 0x020000;
  fs.add_device(nic);
  // A NIC behind the root port 00:1c.0, whose secondary bus is 3.
  FakeDevice port = edu("0000:00:1c.0", "pcieport", "10");
  port.class_code = 0x060400;
  port.config = ConfigBuilder(0x8086, 0xa110, 0x060400).header_type(1).bytes();
  port.config[0x19] = 3;
  fs.add_device(port);
  fs.add_device(edu("0000:03:00.0", "igb", "11"));
  fs.add_device(edu("0000:00:03.0", "vfio-pci", "1"));
  DmarBuilder dmar;
  dmar.rmrr(0x7c000000, 0x7c7fffff, {{0, {{0x14, 0}}}, {0, {{0x1f, 6}}}});
  dmar.rmrr(0x7d000000, 0x7d0fffff, {{0, {{0x1c, 0}, {0, 0}}}});
  fs.write_bytes("sys/firmware/acpi/tables/DMAR", dmar.bytes());

  auto nic_json = run(fs, {"--json", "check", "0000:00:1f.6"}).json();
  EXPECT_EQ(nic_json["host"]["dmar_read"], true);
  auto dev = nic_json["device"];
  ASSERT_EQ(dev["rmrrs"].size(), 1u);
  EXPECT_EQ(dev["rmrrs"][0]["base"], "0x7c000000");
  EXPECT_EQ(dev["vfio"]["state"], "blocked");
  auto* f = finding(dev["vfio"], "rmrr");
  ASSERT_NE(f, nullptr);
  EXPECT_NE((*f)["text"].get<std::string>().find("RMRR 0x7c000000-0x7c7fffff"), std::string::npos);
  EXPECT_NE((*f)["text"].get<std::string>().find("Linux refuses such a device to VFIO"),
            std::string::npos);

  // USB keeps its RMRR: a warning, and binding is the next step.
  auto usb_dev = run(fs, {"--json", "check", "0000:00:14.0"}).json()["device"];
  EXPECT_EQ(usb_dev["vfio"]["state"], "needs-setup");
  auto* w = finding(usb_dev["vfio"], "rmrr");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ((*w)["severity"], "warning");

  // Behind the bridge: the scope's second hop is on the port's secondary bus.
  auto behind = run(fs, {"check", "0000:03:00.0"});
  EXPECT_NE(behind.out.find("  RMRR           0x7d000000-0x7d0fffff"), std::string::npos)
      << behind.out;
  // A device no RMRR names is untouched.
  EXPECT_EQ(run(fs, {"check", "0000:00:03.0"}).rc, 0);

  // On a Xen dom0 it is a warning with the xl.cfg knob.
  fs.make_xen_dom0();
  fs.add_driver("pciback");
  fs.set_driver("0000:00:1f.6", "pciback");
  auto xen = run(fs, {"check", "0000:00:1f.6"});
  EXPECT_EQ(xen.rc, 0) << xen.out;
  EXPECT_NE(xen.out.find("rdm = \"strategy=host,policy=relaxed\""), std::string::npos) << xen.out;
}

TEST(HvmdPciCheck, NamesFromTheIdDatabaseOrHex) {
  FakeSysfs fs;
  fs.add_driver("vfio-pci");
  fs.add_device(edu("0000:00:03.0", "vfio-pci", "1"));
  fs.write_file("ids/pci.ids",
                "1234  Test Vendor\n\t11e8  Test Education Device\nC 00  Unclassified device\n"
                "\t00  Non-VGA unclassified device\n\tff  Test class\n");
  auto named = run(fs, {"--json", "--pci-ids", fs.root() + "/ids/pci.ids", "check", "00:03.0"});
  auto dev = named.json()["device"];
  EXPECT_EQ(dev["vendor"], "Test Vendor");
  EXPECT_EQ(dev["device"], "Test Education Device");
  EXPECT_EQ(dev["class_name"], "Test class");
  auto hex = run(fs, {"--json", "--pci-ids", fs.root() + "/ids/missing", "check", "00:03.0"});
  dev = hex.json()["device"];
  EXPECT_EQ(dev["vendor"], "1234");
  EXPECT_EQ(dev["device"], "11e8");
  EXPECT_EQ(dev["class_name"], "00ff");
}

}  // namespace
}  // namespace hvmd::pcicli::test
