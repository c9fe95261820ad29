// Fake /sys and /proc trees for hvmd-pci's tests, built in a temporary folder: PCI devices (from
// the recorded fixtures or synthetic config spaces), drivers, IOMMU groups, Xen markers. A
// FakeKernel answers hvmd-pci's writes the way the PCI core does (driver links move).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "passthrough/cli/sysfs_tree.h"

namespace hvmd::pcicli::test {

// A synthetic type-0 config space (256 bytes, or 4096 when extended) built from the PCI spec.
class ConfigBuilder {
 public:
  ConfigBuilder(uint16_t vendor, uint16_t device, uint32_t class_code, size_t size = 256);
  ConfigBuilder& int_pin(uint8_t pin);
  ConfigBuilder& header_type(uint8_t type);
  // Capabilities are chained in the order added, from 0x40 up (or at an explicit offset).
  ConfigBuilder& msi(bool is64, bool maskable, unsigned mmc, uint8_t at = 0);
  ConfigBuilder& msix(unsigned vectors, unsigned table_bar, uint32_t table_off, unsigned pba_bar,
                      uint32_t pba_off, uint8_t at = 0);
  ConfigBuilder& pcie(bool flr, uint8_t at = 0);
  ConfigBuilder& pm(bool no_soft_reset, uint8_t at = 0);
  ConfigBuilder& raw_cap(uint8_t id, uint8_t at, uint8_t next);  // for broken chains
  ConfigBuilder& ext_cap(uint16_t id, uint16_t at, uint16_t next);
  std::vector<uint8_t> bytes() const { return b_; }

 private:
  uint8_t place(uint8_t id, uint8_t at, uint8_t len);
  void put16(size_t at, uint16_t v);
  void put32(size_t at, uint32_t v);
  std::vector<uint8_t> b_;
  uint8_t next_free_ = 0x40;
  uint8_t last_cap_ = 0;  // offset of the last capability added (0: none yet)
};

struct FakeDevice {
  std::string bdf;
  uint16_t vendor = 0x1234, device = 0x11e8;
  uint32_t class_code = 0x00ff00;
  std::vector<uint8_t> config;  // empty: built from the IDs with no capabilities
  std::string resource;         // sysfs resource text; empty: all unused
  std::string driver;           // "" = unbound
  std::optional<std::string> group;
  std::optional<std::string> reset_method;  // nullopt: no reset_method file
  bool reset_file = false;
  std::optional<unsigned> irq;
};

class FakeSysfs {
 public:
  FakeSysfs();
  ~FakeSysfs();
  FakeSysfs(const FakeSysfs&) = delete;
  FakeSysfs& operator=(const FakeSysfs&) = delete;

  const std::string& root() const { return root_; }
  std::string state_dir() const { return root_ + "/state"; }

  void add_device(const FakeDevice& d);
  // A device from shared/fixtures/pci (copied into tests/pci_cli/fixtures): "0000_00_03.0".
  void add_fixture(const std::string& name, const std::string& driver = "");
  void add_driver(const std::string& name);
  void set_cmdline(const std::string& cmdline);
  void set_cpu_vendor(const std::string& vendor);
  void make_xen_dom0();
  // Writes a file (creating its folders) or a symlink under the root.
  void write_file(const std::string& rel, const std::string& content);
  void write_bytes(const std::string& rel, const std::vector<uint8_t>& content);
  void symlink_to(const std::string& rel, const std::string& target);
  std::string read(const std::string& rel) const;
  std::string driver_of(const std::string& bdf) const;
  void set_driver(const std::string& bdf, const std::string& driver);

 private:
  std::string root_;
};

// Plays the kernel's part: driver_override is remembered, unbind drops the driver link,
// drivers_probe binds the override (or the device's native driver), DRIVER/bind binds.
class FakeKernel {
 public:
  FakeKernel(FakeSysfs& fs, std::string native_driver = "") : fs_(fs), native_(native_driver) {}
  void operator()(const SysfsWrite& w);
  bool refuse_probe = false;  // drivers_probe binds nothing (a driver that rejects the device)
  std::string refuse_bdf;     // ... for this device only

 private:
  FakeSysfs& fs_;
  std::string native_;
};

std::vector<uint8_t> read_fixture_bytes(const std::string& file);
std::string read_fixture_text(const std::string& file);

}  // namespace hvmd::pcicli::test
