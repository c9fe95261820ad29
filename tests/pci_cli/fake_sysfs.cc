#include "tests/pci_cli/fake_sysfs.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace hvmd::pcicli::test {
namespace fs = std::filesystem;

ConfigBuilder::ConfigBuilder(uint16_t vendor, uint16_t device, uint32_t class_code, size_t size)
    : b_(size, 0) {
  put16(0x00, vendor);
  put16(0x02, device);
  put32(0x08, class_code << 8 | 0x01);  // revision 1
}

void ConfigBuilder::put16(size_t at, uint16_t v) {
  b_.at(at) = v & 0xff;
  b_.at(at + 1) = v >> 8;
}
void ConfigBuilder::put32(size_t at, uint32_t v) {
  put16(at, v & 0xffff);
  put16(at + 2, v >> 16);
}

ConfigBuilder& ConfigBuilder::int_pin(uint8_t pin) {
  b_.at(0x3d) = pin;
  return *this;
}
ConfigBuilder& ConfigBuilder::header_type(uint8_t type) {
  b_.at(0x0e) = type;
  return *this;
}

uint8_t ConfigBuilder::place(uint8_t id, uint8_t at, uint8_t len) {
  if (at == 0) at = next_free_;
  next_free_ = static_cast<uint8_t>(at + ((len + 3) & ~3));
  b_.at(0x06) |= 0x10;  // status: capability list
  if (last_cap_ == 0) {
    b_.at(0x34) = at;
  } else {
    b_.at(last_cap_ + 1) = at;
  }
  b_.at(at) = id;
  b_.at(at + 1) = 0;
  last_cap_ = at;
  return at;
}

ConfigBuilder& ConfigBuilder::msi(bool is64, bool maskable, unsigned mmc, uint8_t at) {
  at = place(0x05, at, is64 ? (maskable ? 24 : 14) : (maskable ? 20 : 10));
  put16(at + 2, static_cast<uint16_t>((is64 ? 0x80 : 0) | (maskable ? 0x100 : 0) | (mmc & 7) << 1));
  return *this;
}
ConfigBuilder& ConfigBuilder::msix(unsigned vectors, unsigned table_bar, uint32_t table_off,
                                   unsigned pba_bar, uint32_t pba_off, uint8_t at) {
  at = place(0x11, at, 12);
  put16(at + 2, static_cast<uint16_t>((vectors - 1) & 0x7ff));
  put32(at + 4, table_off | table_bar);
  put32(at + 8, pba_off | pba_bar);
  return *this;
}
ConfigBuilder& ConfigBuilder::pcie(bool flr, uint8_t at) {
  at = place(0x10, at, 60);
  put16(at + 2, 0x0002);  // version 2, endpoint
  put32(at + 4, flr ? 1u << 28 : 0);
  return *this;
}
ConfigBuilder& ConfigBuilder::pm(bool no_soft_reset, uint8_t at) {
  at = place(0x01, at, 8);
  put16(at + 2, 0x0003);
  put16(at + 4, no_soft_reset ? 0x0008 : 0);
  return *this;
}
ConfigBuilder& ConfigBuilder::raw_cap(uint8_t id, uint8_t at, uint8_t next) {
  b_.at(0x06) |= 0x10;
  if (b_.at(0x34) == 0) b_.at(0x34) = at;
  b_.at(at) = id;
  b_.at(at + 1) = next;
  return *this;
}
ConfigBuilder& ConfigBuilder::ext_cap(uint16_t id, uint16_t at, uint16_t next) {
  put32(at, static_cast<uint32_t>(id) | 1u << 16 | static_cast<uint32_t>(next) << 20);
  return *this;
}

FakeSysfs::FakeSysfs() {
  char tmpl[] = "/tmp/hvmd-pci-test.XXXXXX";
  if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
  root_ = tmpl;
  fs::create_directories(root_ + "/sys/bus/pci/devices");
  fs::create_directories(root_ + "/sys/bus/pci/drivers");
  fs::create_directories(root_ + "/sys/kernel/iommu_groups");
  fs::create_directories(root_ + "/sys/devices/pci0000:00");
  fs::create_directories(root_ + "/proc");
  write_file("sys/bus/pci/drivers_probe", "");
  write_file("proc/cmdline", "BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro quiet\n");
  write_file("proc/cpuinfo", "processor\t: 0\nvendor_id\t: GenuineIntel\n");
}

FakeSysfs::~FakeSysfs() {
  std::error_code ec;
  fs::remove_all(root_, ec);
}

void FakeSysfs::write_file(const std::string& rel, const std::string& content) {
  fs::path p = fs::path(root_) / rel;
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary | std::ios::trunc) << content;
}

void FakeSysfs::write_bytes(const std::string& rel, const std::vector<uint8_t>& content) {
  write_file(rel, std::string(content.begin(), content.end()));
}

void FakeSysfs::symlink_to(const std::string& rel, const std::string& target) {
  fs::path p = fs::path(root_) / rel;
  fs::create_directories(p.parent_path());
  std::error_code ec;
  fs::remove(p, ec);
  fs::create_symlink(target, p);
}

std::string FakeSysfs::read(const std::string& rel) const {
  std::ifstream in(fs::path(root_) / rel, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void FakeSysfs::add_driver(const std::string& name) {
  for (const char* f : {"bind", "unbind", "new_id", "remove_id"}) {
    write_file("sys/bus/pci/drivers/" + name + "/" + f, "");
  }
  if (name == "pciback") {
    write_file("sys/bus/pci/drivers/pciback/new_slot", "");
    write_file("sys/bus/pci/drivers/pciback/remove_slot", "");
  }
}

std::string FakeSysfs::driver_of(const std::string& bdf) const {
  std::error_code ec;
  auto target = fs::read_symlink(fs::path(root_) / "sys/bus/pci/devices" / bdf / "driver", ec);
  return ec ? "" : target.filename().string();
}

void FakeSysfs::set_driver(const std::string& bdf, const std::string& driver) {
  std::string link = "sys/devices/pci0000:00/" + bdf + "/driver";
  std::error_code ec;
  fs::remove(fs::path(root_) / link, ec);
  if (!driver.empty()) {
    if (!fs::exists(fs::path(root_) / "sys/bus/pci/drivers" / driver)) add_driver(driver);
    symlink_to(link, "../../../bus/pci/drivers/" + driver);
  }
}

void FakeSysfs::add_device(const FakeDevice& d) {
  // As in sysfs: the device folder lives under /sys/devices, /sys/bus/pci/devices links to it.
  std::string dir = "sys/devices/pci0000:00/" + d.bdf;
  auto hex = [](unsigned v, int digits) {
    char buf[16];
    snprintf(buf, sizeof buf, "0x%0*x", digits, v);
    return std::string(buf) + "\n";
  };
  write_file(dir + "/vendor", hex(d.vendor, 4));
  write_file(dir + "/device", hex(d.device, 4));
  write_file(dir + "/subsystem_vendor", hex(d.vendor, 4));
  write_file(dir + "/subsystem_device", hex(0x1100, 4));
  write_file(dir + "/class", hex(d.class_code, 6));
  write_file(dir + "/revision", hex(1, 2));
  write_file(dir + "/driver_override", "(null)\n");
  write_file(dir + "/irq", std::to_string(d.irq.value_or(0)) + "\n");
  write_bytes(dir + "/config", d.config.empty()
                                   ? ConfigBuilder(d.vendor, d.device, d.class_code).bytes()
                                   : d.config);
  std::string resource = d.resource;
  if (resource.empty()) {
    for (int i = 0; i < 13; ++i)
      resource += "0x0000000000000000 0x0000000000000000 0x0000000000000000\n";
  }
  write_file(dir + "/resource", resource);
  if (d.reset_method) write_file(dir + "/reset_method", *d.reset_method + "\n");
  if (d.reset_file) write_file(dir + "/reset", "");
  symlink_to("sys/bus/pci/devices/" + d.bdf, "../../../devices/pci0000:00/" + d.bdf);
  set_driver(d.bdf, d.driver);
  if (d.group) {
    symlink_to(dir + "/iommu_group", "../../../kernel/iommu_groups/" + *d.group);
    symlink_to("sys/kernel/iommu_groups/" + *d.group + "/devices/" + d.bdf,
               "../../../../devices/pci0000:00/" + d.bdf);
  }
}

void FakeSysfs::add_fixture(const std::string& name, const std::string& driver) {
  std::string bdf = name;
  for (auto& c : bdf) {
    if (c == '_') c = ':';
  }
  unsigned v[6] = {};
  std::string ids = read_fixture_text(name + ".ids");
  if (sscanf(ids.c_str(), "%x %x %x %x %x %x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6) {
    throw std::runtime_error("bad fixture ids " + name);
  }
  FakeDevice d;
  d.bdf = bdf;
  d.vendor = static_cast<uint16_t>(v[0]);
  d.device = static_cast<uint16_t>(v[1]);
  d.class_code = v[4];
  d.config = read_fixture_bytes(name + ".config");
  d.resource = read_fixture_text(name + ".resource");
  d.driver = driver;
  add_device(d);
}

void FakeSysfs::set_cmdline(const std::string& cmdline) {
  write_file("proc/cmdline", cmdline + "\n");
}

void FakeSysfs::set_cpu_vendor(const std::string& vendor) {
  write_file("proc/cpuinfo", "processor\t: 0\nvendor_id\t: " + vendor + "\n");
}

void FakeSysfs::make_xen_dom0() {
  write_file("sys/hypervisor/type", "xen\n");
  write_file("proc/xen/capabilities", "control_d\n");
}

void FakeKernel::operator()(const SysfsWrite& w) {
  const std::string devices = "sys/bus/pci/devices/";
  const std::string drivers = "sys/bus/pci/drivers/";
  auto trim = [](std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
  };
  std::string bdf = trim(w.value);
  if (w.path.rfind(devices, 0) == 0) return;  // driver_override: the file holds it already
  if (w.path == "sys/bus/pci/drivers_probe") {
    if (refuse_probe || bdf == refuse_bdf || !fs_.driver_of(bdf).empty()) return;
    std::string ovr = trim(fs_.read(devices + bdf + "/driver_override"));
    std::string pick = ovr.empty() || ovr == "(null)" ? native_ : ovr;
    if (!pick.empty()) fs_.set_driver(bdf, pick);
    return;
  }
  if (w.path.rfind(drivers, 0) != 0) return;
  std::string rest = w.path.substr(drivers.size());
  std::string driver = rest.substr(0, rest.find('/'));
  std::string op = rest.substr(rest.find('/') + 1);
  if (op == "unbind" && fs_.driver_of(bdf) == driver) fs_.set_driver(bdf, "");
  if (op == "bind" && fs_.driver_of(bdf).empty()) fs_.set_driver(bdf, driver);
}

std::string read_fixture_text(const std::string& file) {
  std::string path = HVMD_PCI_FIXTURES "/";  // appended: GCC 12 warns falsely on string + literal
  path += file;
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("missing fixture " + file);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<uint8_t> read_fixture_bytes(const std::string& file) {
  std::string s = read_fixture_text(file);
  return {s.begin(), s.end()};
}

}  // namespace hvmd::pcicli::test
