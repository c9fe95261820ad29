// HostFunction: one real PCI function of the host as the passthrough device sees it, whatever
// the way in: sysfs under pciback (Xen), VFIO (the kvm runner), or a software function in tests.
// Config space is the seam's HostConfigAccess (reads and writes of the real registers); BARs and
// the expansion ROM are regions with a size, a type and a host address (or a host mapping);
// trapped BAR accesses (the MSI-X page, sub-page BARs, anything the transport would not map) are
// forwarded through region_read/region_write.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dm/host_passthrough.h"
#include "dm/io_request.h"
#include "dm/pci/config_registers.h"
#include "dm/result.h"

namespace hvmd::passthrough {

enum class RegionKind { kNone, kIo, kMemory32, kMemory64 };

struct HostRegion {
  RegionKind kind = RegionKind::kNone;
  uint64_t size = 0;
  bool prefetchable = false;
  // Host-physical address of a memory region, first port of an I/O region (what Xen maps);
  // 0 when the host does not say.
  uint64_t host_address = 0;
  // The region mapped into hvmd (VFIO's mmap), what a memory-slot transport maps; nullptr when
  // there is none.
  void* mapping = nullptr;
};

inline constexpr int kRomRegion = 6;  // regions 0-5 are the BARs
inline constexpr int kRegionCount = 7;

class HostFunction : public pci::HostConfigAccess {
 public:
  // "SSSS:BB:DD.F" of the host function.
  virtual std::string name() const = 0;
  virtual PciAddress host_address() const = 0;
  // Bytes of config space the host gives: 256 through sysfs under Xen (qemu-xen's limit), 4096
  // where extended space is reachable. HostConfigAccess covers the first 256.
  virtual uint32_t config_size() const = 0;
  // Extended config space (reg >= 256, reg + size <= config_size()); all-ones where absent.
  virtual uint32_t extended_read(uint32_t /*reg*/, unsigned /*size*/) { return ~0u; }
  virtual void extended_write(uint32_t /*reg*/, unsigned /*size*/, uint32_t /*value*/) {}

  virtual HostRegion region(int index) const = 0;
  // A trapped access to region index, offset + size within it.
  virtual uint64_t region_read(int index, uint64_t offset, unsigned size) = 0;
  virtual void region_write(int index, uint64_t offset, unsigned size, uint64_t value) = 0;
  // The expansion ROM's image (empty when the function has none).
  virtual Result<std::vector<uint8_t>> read_rom() = 0;

  // The INTx line a transport binds (machine IRQ for Xen, eventfds for VFIO); an irq of 0 and no
  // trigger fd: none.
  virtual HostIntx intx() const = 0;
  // MSI or MSI-X on the host function with count vectors (0: off): Xen's pirqs work only once the
  // capability is enabled in the hardware; VFIO arms one eventfd per vector.
  virtual Result<void> set_msi(bool msix, unsigned count) = 0;
  // The eventfd a vector signals (VFIO), -1 where the hypervisor delivers it directly.
  virtual int vector_fd(bool /*msix*/, unsigned /*vector*/) const { return -1; }
  // Vectors arrive on eventfds that exist only once set_msi enabled them (VFIO): the device
  // enables the capability before it routes a vector, so the transport gets the eventfd.
  virtual bool eventfd_vectors() const { return false; }
  // Function-level reset if the host offers one (VFIO_DEVICE_RESET); under Xen libxl resets.
  virtual Result<void> reset() = 0;
};

}  // namespace hvmd::passthrough
