#include "passthrough/cli/inventory.h"

#include "passthrough/cli/rmrr.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>

namespace hvmd::pcicli {
namespace {

// Class codes (base << 16 | sub << 8 | prog-if) of bridges: a host bridge or a PCI-to-PCI bridge
// routes for others and is never given to a guest; a group may hold them without harm.
constexpr uint32_t kClassHostBridge = 0x0600;
constexpr uint32_t kClassPciBridge = 0x0604;
constexpr uint32_t kClassCardBusBridge = 0x0607;
constexpr size_t kMaxConfigBytes = kCfgExtendedSize;
constexpr size_t kMaxResourceBytes = 16 * 1024;

int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Exactly `digits` hex digits at s[pos].
std::optional<unsigned> hex_field(const std::string& s, size_t pos, size_t digits) {
  if (pos + digits > s.size()) return std::nullopt;
  unsigned v = 0;
  for (size_t i = 0; i < digits; ++i) {
    int d = hexval(s[pos + i]);
    if (d < 0) return std::nullopt;
    v = v << 4 | static_cast<unsigned>(d);
  }
  return v;
}

// A sysfs number like "0x8086" or "11"; nullopt when it is not one.
std::optional<uint64_t> number(const std::optional<std::string>& text) {
  if (!text || text->empty() || text->size() > 20) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  unsigned long long v = strtoull(text->c_str(), &end, 0);
  if (errno || !end || *end != '\0' || (*text)[0] == '-') return std::nullopt;
  return v;
}

}  // namespace

std::string Bdf::text() const {
  char buf[16];
  snprintf(buf, sizeof buf, "%04x:%02x:%02x.%x", domain, bus, dev, fn);
  return buf;
}

std::optional<Bdf> parse_bdf(const std::string& s) {
  std::string full = s;
  if (full.size() == 7) full = "0000:" + full;
  if (full.size() != 12 || full[4] != ':' || full[7] != ':' || full[10] != '.') return std::nullopt;
  auto domain = hex_field(full, 0, 4), bus = hex_field(full, 5, 2), dev = hex_field(full, 8, 2),
       fn = hex_field(full, 11, 1);
  if (!domain || !bus || !dev || !fn || *dev > 0x1f || *fn > 7) return std::nullopt;
  return Bdf{static_cast<uint16_t>(*domain), static_cast<uint8_t>(*bus), static_cast<uint8_t>(*dev),
             static_cast<uint8_t>(*fn)};
}

std::string device_path(const std::string& bdf, const std::string& attribute) {
  std::string p = std::string(kPciDevices) + "/" + bdf;
  return attribute.empty() ? p : p + "/" + attribute;
}

bool is_bridge_class(uint32_t class_code) {
  uint32_t cls = class_code >> 8;
  return cls == kClassHostBridge || cls == kClassPciBridge || cls == kClassCardBusBridge;
}

bool DeviceInfo::bridge() const {
  return is_bridge_class(class_code) || (config.header && config.header_type != 0);
}

HostInfo read_host(const SysfsTree& tree) {
  HostInfo host;
  host.iommu_groups = tree.list(kIommuGroups).size();
  host.cmdline = tree.read_line(kKernelCmdline).value_or("");
  if (auto cpuinfo = tree.read_text(kCpuInfo, 16 * 1024)) {
    if (cpuinfo->find("GenuineIntel") != std::string::npos) host.cpu_vendor = "GenuineIntel";
    if (cpuinfo->find("AuthenticAMD") != std::string::npos) host.cpu_vendor = "AuthenticAMD";
    if (cpuinfo->find("HygonGenuine") != std::string::npos) host.cpu_vendor = "AuthenticAMD";
  }
  host.xen = tree.read_line(kHypervisorType).value_or("") == "xen";
  if (host.xen) {
    auto caps = tree.read_line(kXenCapabilities).value_or("");
    host.xen_dom0 = caps.find("control_d") != std::string::npos;
  }
  host.pciback_loaded = tree.is_dir(std::string(kPciDrivers) + "/" + kPcibackDriver);
  host.vfio_pci_loaded = tree.is_dir(std::string(kPciDrivers) + "/" + kVfioDriver);
  if (auto dmar = tree.read_bytes(kDmarTable, kMaxDmarBytes)) {
    host.dmar_read = true;
    for (auto& r : parse_dmar(*dmar).rmrrs) {
      for (auto& scope : r.scopes) {
        std::string bdf = resolve_scope(tree, scope);
        if (!bdf.empty() && host.rmrrs.size() < 1024) host.rmrrs.push_back({bdf, r.base, r.limit});
      }
    }
  }
  return host;
}

std::vector<RmrrRange> rmrrs_for(const HostInfo& host, const std::string& bdf) {
  std::vector<RmrrRange> out;
  for (auto& r : host.rmrrs) {
    if (r.bdf == bdf) out.push_back(r);
  }
  return out;
}

std::vector<std::string> list_devices(const SysfsTree& tree) {
  std::vector<std::string> out;
  for (auto& name : tree.list(kPciDevices, kMaxDevices)) {
    auto bdf = parse_bdf(name);
    if (bdf && bdf->text() == name) out.push_back(name);
  }
  return out;
}

bool device_exists(const SysfsTree& tree, const std::string& bdf) {
  return tree.is_dir(device_path(bdf));
}

std::string device_driver(const SysfsTree& tree, const std::string& bdf) {
  return tree.link_name(device_path(bdf, "driver")).value_or("");
}

namespace {

uint32_t read_class(const SysfsTree& tree, const std::string& bdf) {
  return static_cast<uint32_t>(number(tree.read_line(device_path(bdf, "class"))).value_or(0));
}

// The memory BARs of one device as (bar index, first page, last page).
struct PageSpan {
  unsigned bar;
  uint64_t first, last;
};
std::vector<PageSpan> mem_pages(const ResourceTable& table) {
  std::vector<PageSpan> spans;
  for (auto& r : table.bars) {
    if (!r.mem() || r.start == 0) continue;  // unassigned BARs share nothing yet
    spans.push_back({r.index, r.start / kPageSize, r.end / kPageSize});
  }
  return spans;
}

}  // namespace

std::vector<DeviceResources> read_all_resources(const SysfsTree& tree,
                                                const std::vector<std::string>& all) {
  std::vector<DeviceResources> out;
  for (auto& bdf : all) {
    if (auto text = tree.read_text(device_path(bdf, "resource"), kMaxResourceBytes)) {
      out.push_back({bdf, parse_resource(*text)});
    }
  }
  return out;
}

DeviceInfo read_device(const SysfsTree& tree, const std::string& bdf,
                       const std::vector<DeviceResources>& others) {
  DeviceInfo d;
  d.bdf = bdf;
  if (auto bytes = tree.read_bytes(device_path(bdf, "config"), kMaxConfigBytes)) {
    d.config_read = true;
    d.config = parse_config(*bytes);
  }
  // The sysfs attributes are the kernel's view (quirks applied); the header is the fallback.
  d.vendor = static_cast<uint16_t>(
      number(tree.read_line(device_path(bdf, "vendor"))).value_or(d.config.vendor));
  d.device = static_cast<uint16_t>(
      number(tree.read_line(device_path(bdf, "device"))).value_or(d.config.device));
  d.subsys_vendor = static_cast<uint16_t>(
      number(tree.read_line(device_path(bdf, "subsystem_vendor"))).value_or(0));
  d.subsys_device = static_cast<uint16_t>(
      number(tree.read_line(device_path(bdf, "subsystem_device"))).value_or(0));
  d.class_code = static_cast<uint32_t>(
      number(tree.read_line(device_path(bdf, "class"))).value_or(d.config.class_code) & 0xffffff);
  d.revision = static_cast<uint8_t>(
      number(tree.read_line(device_path(bdf, "revision"))).value_or(d.config.revision));
  d.driver = device_driver(tree, bdf);
  d.driver_override = tree.read_line(device_path(bdf, "driver_override")).value_or("");
  if (d.driver_override == "(null)") d.driver_override.clear();
  if (auto irq = number(tree.read_line(device_path(bdf, "irq"))); irq && *irq < 0x10000) {
    d.irq = static_cast<unsigned>(*irq);
  }

  d.iommu_group = tree.link_name(device_path(bdf, "iommu_group"));
  if (d.iommu_group) {
    std::string members = std::string(kIommuGroups) + "/" + *d.iommu_group + "/devices";
    for (auto& m : tree.list(members, kMaxDevices)) {
      GroupMember member{m, device_driver(tree, m), read_class(tree, m), false};
      member.bridge = is_bridge_class(member.class_code);
      d.group.push_back(std::move(member));
    }
  }

  d.reset_file = tree.exists(device_path(bdf, "reset"));
  if (auto methods = tree.read_line(device_path(bdf, "reset_method"))) {
    d.reset_method_file = true;
    size_t pos = 0;
    while (pos < methods->size() && d.reset_methods.size() < 16) {
      size_t sp = methods->find(' ', pos);
      std::string m = methods->substr(pos, sp == std::string::npos ? std::string::npos : sp - pos);
      if (!m.empty() && m.size() < 32) d.reset_methods.push_back(m);
      if (sp == std::string::npos) break;
      pos = sp + 1;
    }
  }

  if (auto text = tree.read_text(device_path(bdf, "resource"), kMaxResourceBytes)) {
    d.resource_read = true;
    d.resources = parse_resource(*text);
  }
  d.rom_file = tree.exists(device_path(bdf, "rom"));

  // A BAR smaller than a page may share its page with another device's BAR: whoever gets this
  // device could reach the other one's registers through the mapping.
  auto mine = mem_pages(d.resources);
  if (!mine.empty()) {
    for (auto& other : others) {
      if (other.bdf == bdf) continue;
      for (auto& theirs : mem_pages(other.table)) {
        for (auto& m : mine) {
          if (m.first <= theirs.last && theirs.first <= m.last) {
            uint64_t page = (m.first > theirs.first ? m.first : theirs.first) * kPageSize;
            d.page_shares.push_back({m.bar, other.bdf, theirs.bar, page});
          }
        }
      }
      if (d.page_shares.size() > 64) break;
    }
  }
  return d;
}

}  // namespace hvmd::pcicli
