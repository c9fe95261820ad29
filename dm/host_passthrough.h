// HostPassthrough: what a transport does for a device whose registers and interrupts belong to a
// real host function (PCI passthrough): put a host MMIO region or port range straight into the
// guest's address space, and connect the host function's interrupts to the guest. The Xen
// transport asks the hypervisor (p2m and I/O-port mappings, pirqs); the KVM transport uses memory
// slots over a VFIO mmap. passthrough/ sees only this interface, never a transport.
//
// Every call is a request the transport may refuse (an Error naming why); the caller then keeps
// the region trapped and served through the Dispatcher, or the interrupt emulated.
#pragma once

#include <cstdint>

#include "dm/interrupts.h"
#include "dm/io_request.h"
#include "dm/result.h"

namespace hvmd {

// A host MMIO region (one BAR of the host function). A transport uses the half it understands:
// Xen maps machine frames, so it needs host_physical; KVM maps host memory, so it needs
// host_virtual (an mmap of the VFIO region).
struct HostMmioRegion {
  uint64_t host_physical = 0;
  void* host_virtual = nullptr;
  uint64_t size = 0;
};

// The host function's INTx line. Xen binds the machine IRQ (sysfs `irq`) as a pirq and injects and
// EOIs it itself; an eventfd transport uses the VFIO trigger and resample eventfds.
struct HostIntx {
  unsigned machine_irq = 0;
  int trigger_fd = -1;
  int resample_fd = -1;
};

// One MSI or MSI-X vector of the host function.
struct HostMsiVector {
  bool msix = false;
  unsigned entry = 0;        // MSI-X table index; the vector number for MSI
  PciAddress host_function;  // the physical function (Xen maps its MSI pirqs per function)
  uint64_t host_table = 0;   // MSI-X: host-physical address of the function's table (Xen)
  uint64_t guest_table = 0;  // MSI-X: guest address of the table, where Xen intercepts it
  int trigger_fd = -1;       // the eventfd VFIO signals for this vector (KVM)
  bool operator==(const HostMsiVector&) const = default;
};

class HostPassthrough {
 public:
  virtual ~HostPassthrough() = default;

  // length bytes of region, from offset on, appear at guest_address; all three page aligned.
  // The same arguments undo it. A mapping never overlaps another one of the same device.
  virtual Result<void> map_mmio(uint64_t guest_address, const HostMmioRegion& region,
                                uint64_t offset, uint64_t length) = 0;
  virtual Result<void> unmap_mmio(uint64_t guest_address, const HostMmioRegion& region,
                                  uint64_t offset, uint64_t length) = 0;
  // count host ports from host_port on answer the guest's accesses from guest_port on.
  virtual Result<void> map_ports(uint32_t guest_port, uint32_t host_port, uint32_t count) = 0;
  virtual Result<void> unmap_ports(uint32_t guest_port, uint32_t host_port, uint32_t count) = 0;

  // The host function's INTx drives the guest's pin (0 = INTA#) of guest_function.
  virtual Result<void> bind_intx(const HostIntx& host, PciAddress guest_function, unsigned pin) = 0;
  virtual Result<void> unbind_intx(const HostIntx& host, PciAddress guest_function,
                                   unsigned pin) = 0;
  // The vector delivers message to the guest (masked: held back until unmasked). The first call
  // for a vector binds it; later calls change its message, mask or guest table address.
  virtual Result<void> route_msi(const HostMsiVector& vector, const MsiMessage& message,
                                 bool masked) = 0;
  // The vector is unbound (MSI/MSI-X disabled, device removed). Unbinding an unbound vector is
  // not an error.
  virtual Result<void> unroute_msi(const HostMsiVector& vector) = 0;
};

}  // namespace hvmd
