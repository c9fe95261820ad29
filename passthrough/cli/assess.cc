#include "passthrough/cli/assess.h"

#include <cinttypes>
#include <cstdio>

namespace hvmd::pcicli {
namespace {

// Drivers that do no DMA of their own, so a group member bound to one does not spoil the group
// (the kernel's driver_managed_dma list for the drivers a user meets here).
bool dma_safe_driver(const std::string& driver) {
  return driver.empty() || driver == kVfioDriver || driver == kPciStubDriver ||
         driver == "pcieport" || driver == kPcibackDriver;
}

bool has_word(const std::string& cmdline, const std::string& word) {
  size_t pos = 0;
  while ((pos = cmdline.find(word, pos)) != std::string::npos) {
    bool start = pos == 0 || cmdline[pos - 1] == ' ';
    size_t end = pos + word.size();
    if (start && (end == cmdline.size() || cmdline[end] == ' ')) return true;
    pos = end;
  }
  return false;
}

std::string hex_addr(uint64_t v) {
  char buf[24];
  snprintf(buf, sizeof buf, "0x%" PRIx64, v);
  return buf;
}

Finding iommu_off(const HostInfo& host) {
  Finding f{"iommu-off", Severity::kBlocker, "", ""};
  std::string by = iommu_disabled_by(host.cmdline);
  bool intel = host.cpu_vendor == "GenuineIntel";
  bool amd = host.cpu_vendor == "AuthenticAMD";
  if (!by.empty()) {
    f.text = "the IOMMU is off: the kernel command line has " + by;
    f.action = "remove " + by + " from the kernel command line and reboot";
    return f;
  }
  bool asked = has_word(host.cmdline, "intel_iommu=on") || has_word(host.cmdline, "amd_iommu=on");
  std::string firmware = intel ? "VT-d" : amd ? "AMD-Vi (\"IOMMU\" or \"SVM\")" : "VT-d / AMD-Vi";
  if (asked) {
    f.text =
        "the IOMMU is off although the kernel asked for it: the firmware does not offer one "
        "(no /sys/kernel/iommu_groups entries)";
    f.action = "enable " + firmware + " in the firmware setup and reboot";
    return f;
  }
  f.text = "the IOMMU is off in the firmware or the kernel (no /sys/kernel/iommu_groups entries)";
  std::string param = intel ? "intel_iommu=on"
                      : amd ? "amd_iommu=on"
                            : "intel_iommu=on (Intel) "
                              "or amd_iommu=on (AMD)";
  f.action = "enable " + firmware + " in the firmware setup and boot with " + param;
  return f;
}

std::string rmrr_text(const std::vector<RmrrRange>& rmrrs) {
  std::string t;
  for (auto& r : rmrrs) t += (t.empty() ? "" : ", ") + hex_addr(r.base) + "-" + hex_addr(r.limit);
  return t;
}

bool has_blocker(const PathVerdict& p) {
  for (auto& f : p.findings) {
    if (f.severity == Severity::kBlocker) return true;
  }
  return false;
}

void add(PathVerdict& p, Finding f) {
  p.findings.push_back(std::move(f));
}

PathState state_of(const PathVerdict& p) {
  bool fixable = false;
  for (auto& f : p.findings) {
    if (f.severity == Severity::kBlocker) return PathState::kBlocked;
    if (f.severity == Severity::kFixable) fixable = true;
  }
  return fixable ? PathState::kNeedsSetup : PathState::kReady;
}

std::string first_problem(const PathVerdict& p) {
  for (auto& f : p.findings) {
    if (f.severity == Severity::kBlocker) return f.text;
  }
  for (auto& f : p.findings) {
    if (f.severity == Severity::kFixable) return f.text;
  }
  return "";
}

PathVerdict assess_vfio(const HostInfo& host, const DeviceInfo& dev) {
  PathVerdict p{"vfio", PathState::kBlocked, "", {}};
  if (dev.bridge()) {
    add(p, {"bridge", Severity::kBlocker,
            "it is a bridge: it routes for other devices and is not given to a guest", ""});
  } else if (host.xen_dom0) {
    add(p, {"xen-owns-iommu", Severity::kBlocker,
            "this is a Xen dom0: Xen owns the IOMMU, so dom0 has no IOMMU groups for VFIO",
            "use the Xen path (pciback) instead"});
  } else if (host.iommu_groups == 0) {
    add(p, iommu_off(host));
  } else if (!dev.iommu_group) {
    add(p, {"no-iommu-group", Severity::kBlocker,
            "the device is in no IOMMU group (the IOMMU does not cover it)",
            "check the firmware's IOMMU settings for this slot"});
  }
  if (p.findings.empty() && !dev.rmrrs.empty()) {
    // Linux's VT-d driver lets USB and graphics devices keep their RMRR; any other device with
    // one is refused ("ineligible for IOMMU domain attach due to platform RMRR requirement").
    uint32_t base_class = dev.class_code >> 16;
    bool relaxable = base_class == 0x03 || (dev.class_code >> 8) == 0x0c03;
    std::string text =
        "the firmware reserves memory for the device's own DMA (RMRR " + rmrr_text(dev.rmrrs) + ")";
    if (relaxable) {
      add(p, {"rmrr", Severity::kWarning,
              text + ": allowed for USB and graphics, but the device may still reach that memory "
                     "behind the guest's back",
              ""});
    } else {
      add(p, {"rmrr", Severity::kBlocker,
              text + ": Linux refuses such a device to VFIO (\"ineligible for IOMMU domain attach "
                     "due to platform RMRR requirement\")",
              "try another slot, or a firmware update or option that drops the RMRR"});
    }
  }
  if (!has_blocker(p)) {
    if (!host.vfio_pci_loaded) {
      add(p, {"vfio-pci-missing", Severity::kFixable, "the vfio-pci module is not loaded",
              "modprobe vfio-pci"});
    }
    if (dev.driver != kVfioDriver) {
      std::string text = dev.driver.empty()
                             ? std::string("the device is bound to no driver (vfio-pci needed)")
                             : "the device is in use by the " + dev.driver + " driver";
      add(p,
          {"driver-in-use", Severity::kFixable, text, "hvmd-pci bind " + dev.bdf + " --to vfio"});
    }
    std::vector<std::string> bad;
    for (auto& m : dev.group) {
      if (m.bdf == dev.bdf || m.bridge || dma_safe_driver(m.driver)) continue;
      bad.push_back(m.bdf + " (bound to " + m.driver + ")");
    }
    if (!bad.empty()) {
      std::string list;
      for (auto& b : bad) list += (list.empty() ? "" : ", ") + b;
      add(p, {"group-not-viable", Severity::kFixable,
              "IOMMU group " + *dev.iommu_group + " is not viable: " + list +
                  " shares it and is driven by the host",
              "hvmd-pci bind " + dev.bdf + " --to vfio --with-group (or unbind the companion)"});
    }
  }
  p.state = state_of(p);
  if (p.state == PathState::kReady) {
    p.summary = "bound to vfio-pci, IOMMU group " + dev.iommu_group.value_or("?") + " viable";
  } else {
    p.summary = first_problem(p);
  }
  return p;
}

PathVerdict assess_xen(const HostInfo& host, const DeviceInfo& dev) {
  PathVerdict p{"xen", PathState::kBlocked, "", {}};
  if (!host.xen_dom0) {
    p.state = PathState::kNotApplicable;
    p.summary = host.xen ? "this is a Xen guest, not dom0" : "this host is not a Xen dom0";
    return p;
  }
  if (dev.bridge()) {
    add(p, {"bridge", Severity::kBlocker,
            "it is a bridge: it routes for other devices and is not given to a guest", ""});
  } else {
    if (!host.pciback_loaded) {
      add(p, {"pciback-missing", Severity::kFixable,
              "xen-pciback is not loaded (libxl assigns only devices bound to pciback)",
              "modprobe xen-pciback"});
    }
    if (dev.driver != kPcibackDriver) {
      std::string text = dev.driver.empty()
                             ? std::string("the device is bound to no driver (pciback needed)")
                             : "the device is in use by the " + dev.driver + " driver";
      add(p, {"driver-in-use", Severity::kFixable, text,
              "hvmd-pci bind " + dev.bdf + " --to pciback (or xl pci-assignable-add " + dev.bdf +
                  ")"});
    }
    if (!dev.rmrrs.empty()) {
      add(p, {"rmrr", Severity::kWarning,
              "the firmware reserves memory for the device's own DMA (RMRR " +
                  rmrr_text(dev.rmrrs) + "), which must stay out of the guest's RAM",
              "if xl create reports an RDM conflict, add rdm = \"strategy=host,policy=relaxed\" "
              "to the guest's config"});
    }
  }
  p.state = state_of(p);
  p.summary = p.state == PathState::kReady
                  ? "bound to pciback; name it in the guest's pci = [ \"" + dev.bdf + "\" ]"
                  : first_problem(p);
  return p;
}

std::vector<Finding> common_warnings(const DeviceInfo& dev) {
  std::vector<Finding> w;
  bool has_reset = dev.reset_method_file ? !dev.reset_methods.empty() : dev.reset_file;
  if (!has_reset && !dev.bridge()) {  // a bridge is never assigned: its reset does not matter
    w.push_back({"no-reset", Severity::kWarning,
                 "the device has no reset method (no FLR, PM or bus reset): its state carries "
                 "over from one guest to the next, and libxl logs \"The kernel doesn't support "
                 "reset from sysfs\"",
                 "give it only to one trusted guest, or power-cycle the host between guests"});
  }
  for (auto& s : dev.page_shares) {
    w.push_back({"bar-shares-page", Severity::kWarning,
                 "BAR" + std::to_string(s.bar) + " shares the 4 KiB page at " + hex_addr(s.page) +
                     " with " + s.other_bdf + " BAR" + std::to_string(s.other_bar) +
                     ": a guest could reach the other device (Xen does not security-support this)",
                 "assign both devices to the same guest, or move the BARs apart (the kernel's "
                 "pci=resource_alignment=12@" +
                     dev.bdf + ")"});
  }
  if (!dev.config_read) {
    w.push_back({"config-unreadable", Severity::kWarning,
                 "the config space could not be read, so capabilities are unknown",
                 "run hvmd-pci as root"});
  } else if (!dev.config.cap_chain_problem.empty()) {
    w.push_back({"capabilities", Severity::kWarning, dev.config.cap_chain_problem,
                 dev.config.size <= kCfgHeaderSize ? "run hvmd-pci as root" : ""});
  }
  if (!dev.config.ext_chain_problem.empty()) {
    w.push_back({"ext-capabilities", Severity::kWarning, dev.config.ext_chain_problem, ""});
  }
  for (auto& problem : dev.resources.problems) {
    w.push_back({"resource", Severity::kWarning, problem, ""});
  }
  return w;
}

}  // namespace

const char* severity_name(Severity s) {
  switch (s) {
    case Severity::kBlocker:
      return "blocker";
    case Severity::kFixable:
      return "fixable";
    case Severity::kWarning:
      return "warning";
  }
  return "?";
}

const char* path_state_name(PathState s) {
  switch (s) {
    case PathState::kReady:
      return "ready";
    case PathState::kNeedsSetup:
      return "needs-setup";
    case PathState::kBlocked:
      return "blocked";
    case PathState::kNotApplicable:
      return "not-applicable";
  }
  return "?";
}

std::string iommu_disabled_by(const std::string& cmdline) {
  for (const char* word : {"intel_iommu=off", "amd_iommu=off", "iommu=off"}) {
    if (has_word(cmdline, word)) return word;
  }
  return "";
}

Assessment assess(const HostInfo& host, const DeviceInfo& dev) {
  Assessment a;
  a.vfio = assess_vfio(host, dev);
  a.xen = assess_xen(host, dev);
  a.warnings = common_warnings(dev);
  // Next steps: the host's path first (Xen on a dom0, VFIO elsewhere).
  const PathVerdict& primary = host.xen_dom0 ? a.xen : a.vfio;
  if (primary.state == PathState::kReady) {
    a.next.push_back(host.xen_dom0
                         ? "put \"" + dev.bdf + "\" in the guest's pci = [ ... ] and xl create it"
                         : "pass it to hvmd: -device vfio-pci,host=" + dev.bdf);
    for (auto& f : primary.findings) {  // only warnings remain on a ready path
      if (!f.action.empty()) a.next.push_back(f.action);
    }
    if (host.xen_dom0) {
      // Dom0 cannot see Xen's IOMMU; the toolstack can.
      a.next.push_back(
          "xl info must list hvm_directio in virt_caps (Xen's IOMMU is on); otherwise xl create "
          "refuses with \"passthrough not supported on this platform\": enable VT-d / AMD-Vi in "
          "the firmware");
    }
  } else {
    for (auto& f : primary.findings) {
      if (!f.action.empty()) a.next.push_back(f.action);
    }
  }
  return a;
}

}  // namespace hvmd::pcicli
