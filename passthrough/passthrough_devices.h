// The passthrough device types users name: `xen-pci-passthrough` (hostaddr=SSSS:BB:DD.F
// [,permissive=on][,rombar=0], the device libxl adds over QMP for a pciback device) and, where the
// runner can give VFIO devices, `vfio-pci`. The daemon registers them with what its transport
// offers.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "dm/event_loop.h"
#include "dm/host_passthrough.h"
#include "dm/machine.h"
#include "passthrough/fd_watcher.h"
#include "passthrough/host_function.h"
#include "passthrough/vfio_host.h"

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
  // libxl's `pci = [ ... ]` and `xl pci-attach`: libxl adds the device over QMP after hvmd has
  // dropped its privileges, naming a function it bound to pciback beforehand (xl
  // pci-assignable-add). So before the drop every function bound to pciback then is opened here
  // (SYSFS_ROOT/bus/pci/drivers/pciback/SSSS:BB:DD.F), ready for a later device_add; one that
  // fails to open is skipped with a line saying why. Returns how many are ready (the Xen runner
  // keeps the privileged handle and its hypercall ioctl only when there are any).
  size_t open_pciback_functions();
  const std::string& sysfs_root() const { return sysfs_root_; }
  // VFIO for this runner: the guest RAM the devices may DMA to, and where eventfds are watched.
  // Without it there is no vfio-pci type.
  void enable_vfio(std::vector<DmaRange> guest_ram, FdWatcher* watcher) {
    vfio_ = true;
    guest_ram_ = std::move(guest_ram);
    watcher_ = watcher;
  }
  bool vfio() const { return vfio_; }
  FdWatcher* watcher() const { return watcher_; }
  Result<std::unique_ptr<HostFunction>> open_vfio(PciAddress address);

 private:
  std::string sysfs_root_;
  HostPassthrough* transport_;
  bool sealed_ = false;
  std::vector<std::unique_ptr<HostFunction>> opened_;
  bool vfio_ = false;
  std::vector<DmaRange> guest_ram_;
  FdWatcher* watcher_ = nullptr;
  Result<std::unique_ptr<HostFunction>> opened(PciAddress address);
  // The function opened before for address, or opened_.end().
  std::vector<std::unique_ptr<HostFunction>>::iterator find_opened(PciAddress address);
};

// An FdWatcher on the runner's event loop.
class EventLoopWatcher final : public FdWatcher {
 public:
  explicit EventLoopWatcher(EventLoop& loop) : loop_(loop) {}
  Result<void> watch(int fd, std::function<void()> readable) override;
  void unwatch(int fd) override { loop_.unwatch(fd); }

 private:
  EventLoop& loop_;
};

void register_passthrough_devices(DeviceRegistry& registry, PassthroughHosts& hosts);

// True when the -device list names a passthrough device (the Xen runner then keeps the
// privileged handle the p2m and pirq calls need).
bool names_passthrough_device(const std::vector<SubOptions>& devices);

}  // namespace hvmd::passthrough
