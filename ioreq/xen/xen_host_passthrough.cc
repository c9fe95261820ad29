#include "ioreq/xen/xen_host_passthrough.h"

namespace hvmd::xen {
namespace {

constexpr uint64_t kPageSize = 4096;
constexpr uint64_t kPortSpace = 0x10000;

// The x86 MSI message (Intel SDM vol. 3, 11.11): address bits 19:12 destination, bit 3
// redirection hint, bit 2 destination mode; data bits 7:0 vector, 10:8 delivery mode, 15 trigger.
constexpr unsigned kAddressDestShift = 12;
constexpr uint64_t kAddressRedirectionHint = 1 << 3;
constexpr uint64_t kAddressDestModeLogical = 1 << 2;
constexpr uint32_t kDataVectorMask = 0xff;
constexpr unsigned kDataDeliveryShift = 8;
constexpr uint32_t kDataTriggerLevel = 1 << 15;
// gflags, as xen/domctl.h lays it out (XEN_DOMCTL_VMSI_X86_*); that header is tools-only GNU C.
constexpr uint32_t kGflagsDestMask = 0xff;
constexpr uint32_t kGflagsRedirectionHint = 0x100;
constexpr uint32_t kGflagsDestModeLogical = 0x200;
constexpr unsigned kGflagsDeliveryShift = 12;
constexpr uint32_t kGflagsDeliveryMask = 0x7000;
constexpr uint32_t kGflagsTriggerLevel = 0x8000;
constexpr uint32_t kGflagsUnmasked = 0x10000;

}  // namespace

uint32_t XenHostPassthrough::msi_gflags(const MsiMessage& m, bool masked) {
  uint32_t gflags = static_cast<uint32_t>(m.address >> kAddressDestShift) & kGflagsDestMask;
  if (m.address & kAddressRedirectionHint) gflags |= kGflagsRedirectionHint;
  if (m.address & kAddressDestModeLogical) gflags |= kGflagsDestModeLogical;
  gflags |= (m.data >> kDataDeliveryShift << kGflagsDeliveryShift) & kGflagsDeliveryMask;
  if (m.data & kDataTriggerLevel) gflags |= kGflagsTriggerLevel;
  if (!masked) gflags |= kGflagsUnmasked;
  return gflags;
}

Result<void> XenHostPassthrough::mmio(uint64_t guest_address, const HostMmioRegion& region,
                                      uint64_t offset, uint64_t length, bool add) {
  if ((guest_address | region.host_physical | offset | length) % kPageSize || length == 0 ||
      offset > region.size || length > region.size - offset || region.host_physical == 0)
    return make_error("host region [%#llx+%#llx] cannot be mapped whole pages at %#llx",
                      static_cast<unsigned long long>(offset),
                      static_cast<unsigned long long>(length),
                      static_cast<unsigned long long>(guest_address));
  return platform_.memory_mapping(guest_address / kPageSize,
                                  (region.host_physical + offset) / kPageSize, length / kPageSize,
                                  add);
}

Result<void> XenHostPassthrough::map_mmio(uint64_t guest_address, const HostMmioRegion& region,
                                          uint64_t offset, uint64_t length) {
  return mmio(guest_address, region, offset, length, true);
}

Result<void> XenHostPassthrough::unmap_mmio(uint64_t guest_address, const HostMmioRegion& region,
                                            uint64_t offset, uint64_t length) {
  return mmio(guest_address, region, offset, length, false);
}

Result<void> XenHostPassthrough::ports(uint32_t guest_port, uint32_t host_port, uint32_t count,
                                       bool add) {
  if (count == 0 || guest_port + uint64_t{count} > kPortSpace ||
      host_port + uint64_t{count} > kPortSpace)
    return make_error("ports %#x/%#x, %u of them: outside the port space", guest_port, host_port,
                      count);
  return platform_.ioport_mapping(guest_port, host_port, count, add);
}

Result<void> XenHostPassthrough::map_ports(uint32_t guest_port, uint32_t host_port,
                                           uint32_t count) {
  return ports(guest_port, host_port, count, true);
}

Result<void> XenHostPassthrough::unmap_ports(uint32_t guest_port, uint32_t host_port,
                                             uint32_t count) {
  return ports(guest_port, host_port, count, false);
}

Result<void> XenHostPassthrough::bind_intx(const HostIntx& host, PciAddress guest, unsigned pin) {
  IntxKey k{guest.segment, guest.bus, guest.devfn, pin};
  if (intx_pirqs_.count(k)) return make_error("INTx of that guest pin is bound already");
  auto pirq = platform_.map_pirq(host.machine_irq);
  if (!pirq) return pirq.error();
  if (auto bound = platform_.bind_pt_intx(*pirq, guest, pin); !bound) {
    (void)platform_.unmap_pirq(*pirq);
    return bound.error();
  }
  intx_pirqs_[k] = *pirq;
  return ok();
}

Result<void> XenHostPassthrough::unbind_intx(const HostIntx&, PciAddress guest, unsigned pin) {
  auto it = intx_pirqs_.find({guest.segment, guest.bus, guest.devfn, pin});
  if (it == intx_pirqs_.end()) return ok();
  int pirq = it->second;
  intx_pirqs_.erase(it);
  auto unbound = platform_.unbind_pt_intx(pirq, guest, pin);
  auto unmapped = platform_.unmap_pirq(pirq);
  if (!unbound) return unbound;
  return unmapped;
}

// The first call maps a pirq for the vector; every call (re)binds it to what the guest
// programmed, which Xen accepts for a pirq already bound.
Result<void> XenHostPassthrough::route_msi(const HostMsiVector& vector, const MsiMessage& message,
                                           bool masked) {
  auto it = vectors_.find(key(vector));
  if (it == vectors_.end()) {
    auto pirq = platform_.map_pirq_msi(vector.host_function, vector.entry,
                                       vector.msix ? vector.host_table : 0);
    if (!pirq) return pirq.error();
    it = vectors_.emplace(key(vector), BoundVector{*pirq}).first;
  }
  BoundVector& b = it->second;
  uint32_t gvec = message.data & kDataVectorMask;
  uint32_t gflags = msi_gflags(message, masked);
  HVMD_TRY(platform_.update_msi_irq(gvec, b.pirq, gflags, vector.msix ? vector.guest_table : 0));
  b.bound = true;
  b.gvec = gvec;
  b.gflags = gflags;
  return ok();
}

Result<void> XenHostPassthrough::unroute_msi(const HostMsiVector& vector) {
  auto it = vectors_.find(key(vector));
  if (it == vectors_.end()) return ok();
  BoundVector b = it->second;
  vectors_.erase(it);
  Result<void> unbound;
  if (b.bound) unbound = platform_.unbind_msi_irq(b.gvec, b.pirq, b.gflags);
  auto unmapped = platform_.unmap_pirq(b.pirq);
  if (!unbound) return unbound;
  return unmapped;
}

}  // namespace hvmd::xen
