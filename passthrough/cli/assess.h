// Whether a device can be given to a guest through each path — VFIO (hvmd's kvm runner) and Xen
// (pciback; libxl assigns it) — and, when not, why, in words a user acts on, with the next step.
#pragma once

#include <string>
#include <vector>

#include "passthrough/cli/inventory.h"

namespace hvmd::pcicli {

enum class Severity {
  kBlocker,  // the path cannot work until the host changes (firmware, kernel, hardware)
  kFixable,  // hvmd-pci bind or a modprobe fixes it
  kWarning,  // works, with a caveat the user should know
};
const char* severity_name(Severity s);

struct Finding {
  std::string code;  // stable identifier for scripts ("iommu-off", "group-not-viable", ...)
  Severity severity = Severity::kBlocker;
  std::string text;    // what is wrong, naming the cause
  std::string action;  // what to do about it ("" when nothing can be done)
};

enum class PathState { kReady, kNeedsSetup, kBlocked, kNotApplicable };
const char* path_state_name(PathState s);

struct PathVerdict {
  std::string name;  // "vfio" or "xen"
  PathState state = PathState::kBlocked;
  std::string summary;  // one line
  std::vector<Finding> findings;
};

struct Assessment {
  PathVerdict vfio, xen;
  std::vector<Finding> warnings;  // apply to both paths (reset, BAR pages, config)
  std::vector<std::string> next;  // the next steps in order
  bool ready() const { return vfio.state == PathState::kReady || xen.state == PathState::kReady; }
};

Assessment assess(const HostInfo& host, const DeviceInfo& dev);

// "intel_iommu=off" when the kernel command line turns the IOMMU off, "" otherwise.
std::string iommu_disabled_by(const std::string& cmdline);

}  // namespace hvmd::pcicli
