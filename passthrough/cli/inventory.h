// What the host says about PCI passthrough, read from sysfs and procfs through a SysfsTree: the
// host (IOMMU, Xen, the modules that bind devices) and each function (IDs, driver, IOMMU group,
// reset methods, BARs, capabilities).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "passthrough/cli/pci_config.h"
#include "passthrough/cli/sysfs_tree.h"

namespace hvmd::pcicli {

// Paths under the root (a real host's /).
inline constexpr const char* kPciDevices = "sys/bus/pci/devices";
inline constexpr const char* kPciDrivers = "sys/bus/pci/drivers";
inline constexpr const char* kPciDriversProbe = "sys/bus/pci/drivers_probe";
inline constexpr const char* kIommuGroups = "sys/kernel/iommu_groups";
inline constexpr const char* kHypervisorType = "sys/hypervisor/type";
inline constexpr const char* kXenCapabilities = "proc/xen/capabilities";
inline constexpr const char* kKernelCmdline = "proc/cmdline";
inline constexpr const char* kCpuInfo = "proc/cpuinfo";
inline constexpr const char* kVfioDriver = "vfio-pci";
inline constexpr const char* kPcibackDriver = "pciback";
inline constexpr const char* kPciStubDriver = "pci-stub";
inline constexpr size_t kMaxDevices = 4096;
inline constexpr uint64_t kPageSize = 4096;

// A PCI address, normalised to "dddd:bb:dd.f".
struct Bdf {
  uint16_t domain = 0;
  uint8_t bus = 0, dev = 0, fn = 0;
  std::string text() const;
};
// Accepts "dddd:bb:dd.f" and "bb:dd.f" (domain 0), hex in either case.
std::optional<Bdf> parse_bdf(const std::string& s);

// A firmware-reserved memory range (VT-d RMRR) a device DMAs to on its own.
struct RmrrRange {
  std::string bdf;
  uint64_t base = 0, limit = 0;
};

struct HostInfo {
  size_t iommu_groups = 0;       // entries of /sys/kernel/iommu_groups
  std::string cmdline;           // /proc/cmdline
  std::string cpu_vendor;        // "GenuineIntel", "AuthenticAMD" or ""
  bool xen = false;              // running on Xen (/sys/hypervisor/type)
  bool xen_dom0 = false;         // ... as the control domain (/proc/xen/capabilities)
  bool pciback_loaded = false;   // /sys/bus/pci/drivers/pciback
  bool vfio_pci_loaded = false;  // /sys/bus/pci/drivers/vfio-pci
  bool dmar_read = false;        // the ACPI DMAR table was readable (root, Intel, not dom0)
  std::vector<RmrrRange> rmrrs;  // from DMAR, resolved to devices
};

struct GroupMember {
  std::string bdf;
  std::string driver;  // "" when unbound
  uint32_t class_code = 0;
  bool bridge = false;
};

// A memory BAR of this device that shares a 4 KiB page with a BAR of another device.
struct PageShare {
  unsigned bar = 0;
  std::string other_bdf;
  unsigned other_bar = 0;
  uint64_t page = 0;  // the shared page's address
};

struct DeviceInfo {
  std::string bdf;
  uint16_t vendor = 0, device = 0, subsys_vendor = 0, subsys_device = 0;
  uint32_t class_code = 0;
  uint8_t revision = 0;
  std::string driver;           // "" when unbound
  std::string driver_override;  // "" when unset
  std::optional<std::string> iommu_group;
  std::vector<GroupMember> group;  // every member, this device included
  bool reset_method_file = false;
  std::vector<std::string> reset_methods;  // from reset_method ("flr", "pm", "bus", ...)
  bool reset_file = false;                 // sysfs `reset` exists: the kernel has some method
  std::optional<unsigned> irq;
  ConfigInfo config;
  bool config_read = false;
  ResourceTable resources;
  bool resource_read = false;
  bool rom_file = false;
  std::vector<PageShare> page_shares;
  std::vector<RmrrRange> rmrrs;  // the host's RMRRs naming this device
  bool bridge() const;
};

HostInfo read_host(const SysfsTree& tree);
// Sorted BDFs of every device under /sys/bus/pci/devices (at most kMaxDevices).
std::vector<std::string> list_devices(const SysfsTree& tree);
bool device_exists(const SysfsTree& tree, const std::string& bdf);
// Every device's BARs, read once, to compare BAR pages across devices.
struct DeviceResources {
  std::string bdf;
  ResourceTable table;
};
std::vector<DeviceResources> read_all_resources(const SysfsTree& tree,
                                                const std::vector<std::string>& all);
// One device; `others` (from read_all_resources) may be empty to skip the page-sharing check.
DeviceInfo read_device(const SysfsTree& tree, const std::string& bdf,
                       const std::vector<DeviceResources>& others);
// The host's RMRRs that name bdf.
std::vector<RmrrRange> rmrrs_for(const HostInfo& host, const std::string& bdf);
std::string device_driver(const SysfsTree& tree, const std::string& bdf);
std::string device_path(const std::string& bdf, const std::string& attribute = "");
bool is_bridge_class(uint32_t class_code);

}  // namespace hvmd::pcicli
