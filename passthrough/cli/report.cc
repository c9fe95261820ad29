#include "passthrough/cli/report.h"

#include <cinttypes>
#include <cstdio>

namespace hvmd::pcicli {
namespace {

std::string hex(uint64_t v, int digits = 0) {
  char buf[24];
  snprintf(buf, sizeof buf, "%0*" PRIx64, digits, v);
  return buf;
}

std::string pin_name(uint8_t pin) {
  if (pin >= 1 && pin <= 4) return std::string(1, static_cast<char>('A' + pin - 1));
  return "";
}

std::string bar_kind(const Resource& r) {
  if (r.io()) return "I/O";
  std::string k = (r.flags & kResMem64) ? "memory 64-bit" : "memory 32-bit";
  k += (r.flags & kResPrefetch) ? " prefetchable" : " non-prefetchable";
  return k;
}

std::string reset_text(const DeviceInfo& d) {
  std::string methods;
  for (auto& m : d.reset_methods) methods += (methods.empty() ? "" : " ") + m;
  std::string t;
  if (d.reset_method_file) {
    t = methods.empty() ? "none" : methods;
  } else {
    t = d.reset_file ? "available (this kernel does not say which)" : "none";
  }
  std::string caps;
  if (d.config.pcie_flr || d.config.af_flr) caps += "FLR";
  if (d.config.pm)
    caps += std::string(caps.empty() ? "" : ", ") +
            (d.config.pm_no_soft_reset ? "PM (no soft reset: D3hot keeps state)" : "PM D3hot");
  if (!caps.empty()) t += "; config space offers " + caps;
  return t;
}

std::string interrupts_text(const DeviceInfo& d) {
  std::string t;
  auto add = [&](const std::string& s) { t += (t.empty() ? "" : "; ") + s; };
  if (d.config.int_pin) {
    std::string pin = pin_name(d.config.int_pin);
    add("INTx pin " + (pin.empty() ? "invalid (0x" + hex(d.config.int_pin, 2) + ")" : pin) +
        (d.irq && *d.irq ? " (irq " + std::to_string(*d.irq) + ")" : ""));
  }
  if (auto& m = d.config.msi) {
    add("MSI " + std::to_string(m->vectors) + (m->vectors == 1 ? " vector" : " vectors") +
        (m->is_64bit ? ", 64-bit" : ", 32-bit") + (m->per_vector_mask ? ", maskable" : ""));
  }
  if (auto& x = d.config.msix) {
    add("MSI-X " + std::to_string(x->table_size) + " vectors (table BAR" +
        std::to_string(x->table_bar) + "+0x" + hex(x->table_offset) + ", PBA BAR" +
        std::to_string(x->pba_bar) + "+0x" + hex(x->pba_offset) +
        (x->table_shares_page_with_pba() ? ", sharing a page" : "") + ")");
  }
  return t.empty() ? "none" : t;
}

std::string caps_text(const DeviceInfo& d) {
  std::string t;
  for (auto& c : d.config.caps) {
    t += (t.empty() ? "" : " ") + cap_name(static_cast<uint8_t>(c.id)) + "@0x" + hex(c.offset, 2);
  }
  if (!d.config.ext_caps.empty()) {
    t += (t.empty() ? "" : "; ") + std::string("extended");
    for (auto& c : d.config.ext_caps) t += " " + ext_cap_name(c.id) + "@0x" + hex(c.offset, 3);
  }
  return t.empty() ? "none" : t;
}

std::string ids(const DeviceInfo& d) {
  return hex(d.vendor, 4) + ":" + hex(d.device, 4);
}

std::string title(const DeviceInfo& d, const PciNames& names) {
  return names.class_name(d.class_code) + ": " + names.vendor(d.vendor) + " " +
         names.device(d.vendor, d.device);
}

nlohmann::json finding_json(const Finding& f) {
  return {{"code", f.code},
          {"severity", severity_name(f.severity)},
          {"text", f.text},
          {"action", f.action}};
}

nlohmann::json path_json(const PathVerdict& p) {
  nlohmann::json findings = nlohmann::json::array();
  for (auto& f : p.findings) findings.push_back(finding_json(f));
  return {{"state", path_state_name(p.state)}, {"summary", p.summary}, {"findings", findings}};
}

nlohmann::json opt_string(const std::string& s) {
  return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(s);
}

std::string pad(std::string s, size_t width) {
  if (s.size() < width) s.resize(width, ' ');
  return s + " ";
}

}  // namespace

nlohmann::json host_json(const HostInfo& host) {
  return {{"iommu", host.iommu_groups > 0},
          {"iommu_groups", host.iommu_groups},
          {"xen", host.xen},
          {"xen_dom0", host.xen_dom0},
          {"pciback_loaded", host.pciback_loaded},
          {"vfio_pci_loaded", host.vfio_pci_loaded},
          {"dmar_read", host.dmar_read},
          {"cmdline", host.cmdline}};
}

nlohmann::json device_json(const DeviceInfo& d, const Assessment& a, const PciNames& names) {
  nlohmann::json j;
  j["bdf"] = d.bdf;
  j["vendor_id"] = hex(d.vendor, 4);
  j["device_id"] = hex(d.device, 4);
  j["subsystem"] = hex(d.subsys_vendor, 4) + ":" + hex(d.subsys_device, 4);
  j["class"] = hex(d.class_code, 6);
  j["revision"] = d.revision;
  j["vendor"] = names.vendor(d.vendor);
  j["device"] = names.device(d.vendor, d.device);
  j["class_name"] = names.class_name(d.class_code);
  j["bridge"] = d.bridge();
  j["driver"] = opt_string(d.driver);
  j["driver_override"] = opt_string(d.driver_override);
  j["iommu_group"] = d.iommu_group ? nlohmann::json(*d.iommu_group) : nlohmann::json(nullptr);
  j["group"] = nlohmann::json::array();
  for (auto& m : d.group) {
    j["group"].push_back({{"bdf", m.bdf}, {"driver", opt_string(m.driver)}, {"bridge", m.bridge}});
  }
  j["reset"] = {{"methods", d.reset_methods}, {"reset_method_file", d.reset_method_file},
                {"reset_file", d.reset_file}, {"flr", d.config.pcie_flr || d.config.af_flr},
                {"pm", d.config.pm},          {"pm_no_soft_reset", d.config.pm_no_soft_reset}};
  j["bars"] = nlohmann::json::array();
  for (auto& r : d.resources.bars) {
    j["bars"].push_back({{"index", r.index},
                         {"type", r.io() ? "io" : "memory"},
                         {"bits", (r.flags & kResMem64) ? 64 : 32},
                         {"prefetchable", (r.flags & kResPrefetch) != 0},
                         {"start", "0x" + hex(r.start)},
                         {"size", r.size()},
                         {"sub_page", r.mem() && r.size() < kPageSize}});
  }
  j["rom"] = d.resources.rom ? nlohmann::json{{"start", "0x" + hex(d.resources.rom->start)},
                                              {"size", d.resources.rom->size()},
                                              {"readable", d.rom_file}}
                             : nlohmann::json(nullptr);
  nlohmann::json irq = {{"intx", nullptr}, {"msi", nullptr}, {"msix", nullptr}};
  if (d.config.int_pin) {
    std::string pin = pin_name(d.config.int_pin);
    irq["intx"] = {{"pin", pin.empty() ? nlohmann::json(nullptr) : nlohmann::json(pin)},
                   {"pin_register", d.config.int_pin},
                   {"irq", d.irq ? nlohmann::json(*d.irq) : nlohmann::json(nullptr)}};
  }
  if (auto& m = d.config.msi) {
    irq["msi"] = {{"offset", m->offset},
                  {"vectors", m->vectors},
                  {"64bit", m->is_64bit},
                  {"maskable", m->per_vector_mask}};
  }
  if (auto& x = d.config.msix) {
    irq["msix"] = {{"offset", x->offset},
                   {"table_size", x->table_size},
                   {"table_bar", x->table_bar},
                   {"table_offset", x->table_offset},
                   {"pba_bar", x->pba_bar},
                   {"pba_offset", x->pba_offset},
                   {"table_shares_page_with_pba", x->table_shares_page_with_pba()}};
  }
  j["interrupts"] = irq;
  j["capabilities"] = nlohmann::json::array();
  for (auto& c : d.config.caps) {
    j["capabilities"].push_back(
        {{"id", c.id}, {"name", cap_name(static_cast<uint8_t>(c.id))}, {"offset", c.offset}});
  }
  j["extended_capabilities"] = nlohmann::json::array();
  for (auto& c : d.config.ext_caps) {
    j["extended_capabilities"].push_back(
        {{"id", c.id}, {"name", ext_cap_name(c.id)}, {"offset", c.offset}});
  }
  j["rmrrs"] = nlohmann::json::array();
  for (auto& r : d.rmrrs) {
    j["rmrrs"].push_back({{"base", "0x" + hex(r.base)}, {"limit", "0x" + hex(r.limit)}});
  }
  j["config_size"] = d.config.size;
  j["page_shares"] = nlohmann::json::array();
  for (auto& s : d.page_shares) {
    j["page_shares"].push_back({{"bar", s.bar},
                                {"other", s.other_bdf},
                                {"other_bar", s.other_bar},
                                {"page", "0x" + hex(s.page)}});
  }
  j["vfio"] = path_json(a.vfio);
  j["xen"] = path_json(a.xen);
  j["warnings"] = nlohmann::json::array();
  for (auto& w : a.warnings) j["warnings"].push_back(finding_json(w));
  j["next"] = a.next;
  j["assignable"] = a.ready();
  return j;
}

nlohmann::json bind_json(const BindResult& r, const std::string& command) {
  nlohmann::json moves = nlohmann::json::array();
  for (auto& m : r.moves) {
    moves.push_back(
        {{"bdf", m.bdf}, {"from", opt_string(m.from)}, {"to", opt_string(m.to)}, {"note", m.note}});
  }
  return {{"command", command},
          {"ok", r.ok},
          {"error", opt_string(r.error)},
          {"devices", moves},
          {"warnings", r.warnings}};
}

std::string host_text(const HostInfo& host) {
  std::string t = "host: IOMMU ";
  t += host.iommu_groups ? "on (" + std::to_string(host.iommu_groups) + " groups)" : "off";
  t += ", ";
  t += host.xen_dom0 ? "Xen dom0" : host.xen ? "Xen guest" : "not Xen";
  t += ", vfio-pci ";
  t += host.vfio_pci_loaded ? "loaded" : "not loaded";
  t += ", pciback ";
  t += host.pciback_loaded ? "loaded" : "not loaded";
  return t + "\n";
}

std::string list_header() {
  return pad("BDF", 12) + pad("ID", 9) + pad("driver", 12) + pad("group", 5) + pad("VFIO", 11) +
         pad("Xen", 11) + "name\n";
}

std::string list_line(const HostInfo& host, const DeviceInfo& d, const Assessment& a,
                      const PciNames& names) {
  std::string t =
      pad(d.bdf, 12) + pad(ids(d), 9) + pad(d.driver.empty() ? "-" : d.driver, 12) +
      pad(d.iommu_group.value_or("-"), 5) + pad(path_state_name(a.vfio.state), 11) +
      pad(a.xen.state == PathState::kNotApplicable ? "-" : path_state_name(a.xen.state), 11) +
      title(d, names) + "\n";
  const PathVerdict& primary = host.xen_dom0 ? a.xen : a.vfio;
  if (primary.state != PathState::kReady && !primary.summary.empty()) {
    t += "    why: " + primary.summary + "\n";
  }
  return t;
}

std::string check_text(const DeviceInfo& d, const Assessment& a, const PciNames& names) {
  std::string t = d.bdf + "  " + ids(d) + "  " + title(d, names) + "\n";
  auto row = [&](const std::string& label, const std::string& value) {
    t += "  " + pad(label, 14) + value + "\n";
  };
  row("subsystem", hex(d.subsys_vendor, 4) + ":" + hex(d.subsys_device, 4) + ", revision " +
                       hex(d.revision, 2) + ", class " + hex(d.class_code, 6));
  std::string driver = d.driver.empty() ? "none" : d.driver;
  if (!d.driver_override.empty()) driver += " (driver_override " + d.driver_override + ")";
  row("driver", driver);
  if (d.iommu_group) {
    std::string members;
    for (auto& m : d.group) {
      members += (members.empty() ? "" : ", ") + m.bdf + " (" +
                 (m.driver.empty() ? std::string("no driver") : m.driver) +
                 (m.bridge ? ", bridge" : "") + ")";
    }
    row("IOMMU group", *d.iommu_group + ": " + (members.empty() ? "no members listed" : members));
  } else {
    row("IOMMU group", "none");
  }
  row("reset", reset_text(d));
  if (d.resources.bars.empty()) row("BARs", d.resource_read ? "none" : "unknown (no resource)");
  for (auto& r : d.resources.bars) {
    row("BAR" + std::to_string(r.index),
        bar_kind(r) + ", " + size_text(r.size()) + " at 0x" + hex(r.start) +
            (r.mem() && r.size() < kPageSize ? " (smaller than a page)" : ""));
  }
  if (d.resources.rom) {
    row("ROM", size_text(d.resources.rom->size()) + " at 0x" + hex(d.resources.rom->start) +
                   (d.rom_file ? "" : " (no sysfs rom file)"));
  } else {
    row("ROM", "none");
  }
  for (auto& r : d.rmrrs) {
    row("RMRR", "0x" + hex(r.base) + "-0x" + hex(r.limit) + " (firmware-reserved DMA memory)");
  }
  row("interrupts", interrupts_text(d));
  row("capabilities", d.config_read ? caps_text(d) : "unknown (config unreadable)");
  t += pad("VFIO", 6) + path_state_name(a.vfio.state) + ": " + a.vfio.summary + "\n";
  for (auto& f : a.vfio.findings) {
    if (f.text != a.vfio.summary) t += "         also: " + f.text + "\n";
  }
  t += pad("Xen", 6) + path_state_name(a.xen.state) + ": " + a.xen.summary + "\n";
  for (auto& f : a.xen.findings) {
    if (f.text != a.xen.summary) t += "         also: " + f.text + "\n";
  }
  for (auto& w : a.warnings) {
    t += "warning: " + w.text + "\n";
    if (!w.action.empty()) t += "         " + w.action + "\n";
  }
  if (!a.next.empty()) {
    t += "next:\n";
    int n = 1;
    for (auto& step : a.next) t += "  " + std::to_string(n++) + ". " + step + "\n";
  }
  return t;
}

std::string bind_text(const BindResult& r) {
  std::string t;
  for (auto& m : r.moves) {
    t += m.bdf + ": " + (m.from.empty() ? std::string("no driver") : m.from) + " -> " +
         (m.to.empty() ? std::string("no driver") : m.to);
    if (!m.note.empty()) t += " (" + m.note + ")";
    t += "\n";
  }
  for (auto& w : r.warnings) t += "warning: " + w + "\n";
  return t;
}

}  // namespace hvmd::pcicli
