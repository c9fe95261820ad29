// The passthrough device types users name: `xen-pci-passthrough` (hostaddr=SSSS:BB:DD.F
// [,permissive=on][,rombar=0], the device libxl adds over QMP for a pciback device) and, where the
// runner can give VFIO devices, `vfio-pci`. The daemon registers them with what its transport
// offers.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "dm/host_passthrough.h"
#include "dm/machine.h"
#include "passthrough/host_function.h"

namespace hvmd::passthrough {

// Where host functions come from. Host files must be opened while hvmd still has its privileges
// (sysfs checks the opener's capabilities; the sandbox forbids read-write opens): once sealed,
// only functions opened before can be given to a guest, and anything else is refused with a line
// saying so, never attempted.
class PassthroughHosts {
 public:
  // transport: the runner's HostPassthrough, or nullptr (qtest: every BAR trapped, interrupts
  // not bound).
  PassthroughHosts(std::string sysfs_root, HostPassthrough* transport)
      : sysfs_root_(std::move(sysfs_root)), transport_(transport) {}
  HostPassthrough* transport() const { return transport_; }
  void seal() { sealed_ = true; }
  // Opens the pciback function at address, or hands out one opened before (by its address).
  Result<std::unique_ptr<HostFunction>> open_sysfs(PciAddress address, const std::string& root);
  // A function the caller opened (tests: a SoftFunction), handed out by its address.
  void provide(std::unique_ptr<HostFunction> function) { opened_.push_back(std::move(function)); }
  const std::string& sysfs_root() const { return sysfs_root_; }

 private:
  std::string sysfs_root_;
  HostPassthrough* transport_;
  bool sealed_ = false;
  std::vector<std::unique_ptr<HostFunction>> opened_;
};

void register_passthrough_devices(DeviceRegistry& registry, PassthroughHosts& hosts);

// True when the -device list names a passthrough device (the Xen runner then keeps the
// privileged handle the p2m and pirq calls need).
bool names_passthrough_device(const std::vector<SubOptions>& devices);

}  // namespace hvmd::passthrough
