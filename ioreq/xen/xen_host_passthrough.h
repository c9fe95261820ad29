// HostPassthrough under Xen: BAR regions become p2m mappings of the host's frames or ports
// (memory_mapping, ioport_mapping), INTx becomes a pirq Xen binds to the guest's pin and EOIs
// itself, and each MSI/MSI-X vector becomes a pirq bound to the guest vector the guest programmed.
// Needs XenPlatform::keep_passthrough() before end_setup for anything done after set-up.
#pragma once

#include <map>
#include <tuple>

#include "dm/host_passthrough.h"
#include "ioreq/xen/xen_platform.h"

namespace hvmd::xen {

class XenHostPassthrough final : public HostPassthrough {
 public:
  explicit XenHostPassthrough(XenPlatform& platform) : platform_(platform) {}

  // The gflags word of update_msi_irq for an x86 MSI message: destination, redirection hint,
  // destination mode, delivery mode, trigger mode and whether the vector is unmasked.
  static uint32_t msi_gflags(const MsiMessage& message, bool masked);

  Result<void> map_mmio(uint64_t guest_address, const HostMmioRegion& region, uint64_t offset,
                        uint64_t length) override;
  Result<void> unmap_mmio(uint64_t guest_address, const HostMmioRegion& region, uint64_t offset,
                          uint64_t length) override;
  Result<void> map_ports(uint32_t guest_port, uint32_t host_port, uint32_t count) override;
  Result<void> unmap_ports(uint32_t guest_port, uint32_t host_port, uint32_t count) override;
  Result<void> bind_intx(const HostIntx& host, PciAddress guest_function, unsigned pin) override;
  Result<void> unbind_intx(const HostIntx& host, PciAddress guest_function, unsigned pin) override;
  Result<void> route_msi(const HostMsiVector& vector, const MsiMessage& message,
                         bool masked) override;
  Result<void> unroute_msi(const HostMsiVector& vector) override;

 private:
  Result<void> mmio(uint64_t guest_address, const HostMmioRegion& region, uint64_t offset,
                    uint64_t length, bool add);
  Result<void> ports(uint32_t guest_port, uint32_t host_port, uint32_t count, bool add);

  // A vector is known by its host function, its kind and its entry.
  using VectorKey = std::tuple<uint16_t, uint8_t, uint8_t, bool, unsigned>;
  static VectorKey key(const HostMsiVector& v) {
    return {v.host_function.segment, v.host_function.bus, v.host_function.devfn, v.msix, v.entry};
  }
  struct BoundVector {
    int pirq;
    bool bound = false;  // update_msi_irq succeeded: gvec and gflags are what Xen holds
    uint32_t gvec = 0;
    uint32_t gflags = 0;
  };
  using IntxKey = std::tuple<uint16_t, uint8_t, uint8_t, unsigned>;

  XenPlatform& platform_;
  std::map<VectorKey, BoundVector> vectors_;
  std::map<IntxKey, int> intx_pirqs_;
};

}  // namespace hvmd::xen
