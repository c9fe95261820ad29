// bind and unbind: moves a device (and, when asked, its IOMMU-group companions) to vfio-pci or
// pciback through driver_override, remembering the driver it had in a small state file so that
// unbind gives it back. Every write goes through the SysfsTree, in this order per device:
//   bind:   driver_override <- target; drivers/OLD/unbind <- BDF;
//           vfio:    drivers_probe <- BDF
//           pciback: drivers/pciback/new_slot <- BDF; drivers/pciback/bind <- BDF
//   unbind: drivers/CUR/unbind <- BDF; [pciback: drivers/pciback/remove_slot <- BDF];
//           driver_override <- saved value (or "\n", which clears it);
//           drivers/ORIG/bind <- BDF (or drivers_probe <- BDF when nothing was saved)
#pragma once

#include <string>
#include <vector>

#include "passthrough/cli/sysfs_tree.h"

namespace hvmd::pcicli {

enum class BindTarget { kVfio, kPciback };
const char* target_driver(BindTarget t);

struct DeviceMove {
  std::string bdf;
  std::string from;  // driver before ("" = none)
  std::string to;    // driver after ("" = none)
  std::string note;  // "already bound", "no saved state: the kernel chose", ...
};

struct BindResult {
  bool ok = false;
  std::string error;  // one sentence when !ok
  std::vector<DeviceMove> moves;
  std::vector<std::string> warnings;
};

// The saved state of one device: what to restore. Stored as DIR/BDF.json.
struct SavedDriver {
  std::string bdf;
  std::string driver;                   // "" = it had none
  std::string driver_override;          // "" = unset
  std::string target;                   // what hvmd-pci bound it to
  std::vector<std::string> companions;  // bound along with it (--with-group)
};

class Binder {
 public:
  Binder(SysfsTree& tree, std::string state_dir) : tree_(tree), state_dir_(std::move(state_dir)) {}

  BindResult bind(const std::string& bdf, BindTarget target, bool with_group);
  BindResult unbind(const std::string& bdf);

  // State file access (public for tests and for `check`, which shows what was saved).
  bool load_state(const std::string& bdf, SavedDriver& out, std::string& error) const;
  std::string state_path(const std::string& bdf) const;

 private:
  std::string save_state(const SavedDriver& s);
  std::string move_to(const std::string& bdf, BindTarget target, DeviceMove& move);
  std::string restore(const std::string& bdf, DeviceMove& move);

  SysfsTree& tree_;
  std::string state_dir_;
};

}  // namespace hvmd::pcicli
