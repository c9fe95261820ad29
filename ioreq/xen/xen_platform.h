// XenPlatform: every call the Xen transport makes into the hypervisor, behind one narrow interface.
// libxen_platform.cc implements it with libxendevicemodel, libxenforeignmemory and libxenevtchn;
// the tests implement it with a simulated hypervisor (shared pages in-process, threads posting
// requests as Xen does, a pipe standing in for the event-channel device).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include <xen/hvm/ioreq.h>
#include <xen/xen.h>

#include "dm/io_request.h"
#include "dm/result.h"

namespace hvmd::xen {

struct IoreqPages {
  shared_iopage_t* sync = nullptr;        // one ioreq_t slot per vCPU
  buffered_iopage_t* buffered = nullptr;  // the buffered-write ring
};

enum class ShutdownReason { kPoweroff, kReboot };

class XenPlatform {
 public:
  virtual ~XenPlatform() = default;

  // Ioreq server lifecycle. create_server asks for buffered ioreqs (atomic pointer updates).
  virtual Result<void> create_server() = 0;
  virtual Result<IoreqPages> map_pages() = 0;
  virtual Result<uint32_t> buffered_remote_port() = 0;
  virtual Result<unsigned> vcpu_count() = 0;
  virtual Result<void> set_server_enabled(bool enabled) = 0;
  virtual void destroy_server() = 0;
  // Claims (or releases) an inclusive range of ports or guest-physical addresses.
  virtual Result<void> map_range(IoKind kind, uint64_t first, uint64_t last, bool claim) = 0;
  virtual Result<void> map_pci(PciAddress address, bool claim) = 0;

  // Event channels, with xenevtchn's semantics: a pending port is masked until unmasked.
  virtual int event_fd() = 0;
  virtual Result<uint32_t> bind(uint32_t remote_port) = 0;
  // Pending local ports, as many as fit in ports (the evtchn device hands out every pending port
  // in one read); 0 at once when none is pending (never blocks). Each stays masked until unmasked.
  virtual size_t pending(std::span<uint32_t> ports) = 0;
  // Unmasks a batch of ports in one call (one write to the evtchn device).
  virtual void unmask(std::span<const uint32_t> local_ports) = 0;
  virtual void notify(uint32_t local_port) = 0;
  // Releases a port bind() returned (a PV backend whose frontend went).
  virtual void unbind(uint32_t local_port) = 0;

  // Guest memory by frame number: a mapping of count pages, or nullptr if any is not RAM.
  virtual void* map_guest(uint64_t first_gfn, uint64_t count) = 0;
  virtual void unmap_guest(void* address, uint64_t count) = 0;
  // Tells Xen the device model wrote these guest pages (needed while migrating), several
  // ranges in one call.
  struct PageRange {
    uint64_t first_gfn;
    uint64_t count;
    bool operator==(const PageRange&) const = default;
  };
  virtual void modified_memory(std::span<const PageRange> ranges) = 0;

  // Device memory (VRAM, ROMs): fresh pages for the domain outside its RAM, which only works
  // during setup (it needs an unrestricted handle, closed by end_setup before the guest runs);
  // moving pages within the domain's memory map (a BAR placed, moved or removed); and the pages
  // the guest wrote in a range since the last call (one range per domain: the VRAM).
  virtual Result<void> populate(uint64_t first_gfn, uint64_t count) = 0;
  virtual Result<void> relocate(uint64_t from_gfn, uint64_t to_gfn, uint64_t count) = 0;
  virtual Result<void> dirty_pages(uint64_t first_gfn, uint64_t count,
                                   std::vector<uint64_t>& bitmap) = 0;
  virtual void end_setup() = 0;

  // Passthrough. These are domctls and physdev ops, which only the unrestricted libxenctrl
  // handle can make (the device-model handle is restricted to dm_ops). end_setup closes that
  // handle unless keep_passthrough() was called before: then it stays open for the guest's BAR
  // moves and interrupt programming at run time, and these calls are all hvmd makes with it
  // (populate is refused after set-up all the same). The handle itself cannot be restricted to
  // the domain, which is the price of runtime passthrough; without a passthrough device it goes.
  virtual void keep_passthrough() = 0;
  // count frames from first_mfn (host-physical) appear at first_gfn in the guest, or go.
  virtual Result<void> memory_mapping(uint64_t first_gfn, uint64_t first_mfn, uint64_t count,
                                      bool add) = 0;
  virtual Result<void> ioport_mapping(uint32_t first_guest_port, uint32_t first_host_port,
                                      uint32_t count, bool add) = 0;
  // A pirq (Xen picks it) for a machine IRQ, or for MSI/MSI-X vector entry of a host function
  // (table_base: host-physical address of its MSI-X table, 0 for MSI); unmap_pirq frees it.
  virtual Result<int> map_pirq(unsigned machine_irq) = 0;
  virtual Result<int> map_pirq_msi(PciAddress host_function, unsigned entry,
                                   uint64_t table_base) = 0;
  virtual Result<void> unmap_pirq(int pirq) = 0;
  // Xen drives pin (0 = INTA#) of guest_function from the pirq, and EOIs it itself.
  virtual Result<void> bind_pt_intx(int pirq, PciAddress guest_function, unsigned pin) = 0;
  virtual Result<void> unbind_pt_intx(int pirq, PciAddress guest_function, unsigned pin) = 0;
  // The pirq delivers guest vector gvec as gflags say (destination, modes, unmasked; the
  // XEN_DOMCTL_VMSI_X86_* layout); gtable: the guest address of the MSI-X table, 0 for MSI.
  virtual Result<void> update_msi_irq(uint32_t gvec, int pirq, uint32_t gflags,
                                      uint64_t gtable) = 0;
  virtual Result<void> unbind_msi_irq(uint32_t gvec, int pirq, uint32_t gflags) = 0;

  // Interrupts and domain control.
  virtual void set_isa_irq_level(unsigned irq, bool level) = 0;
  virtual void set_pci_intx_level(PciAddress device, unsigned pin, bool level) = 0;
  virtual void set_pci_link_route(unsigned link, unsigned isa_irq) = 0;
  virtual void inject_msi(uint64_t address, uint32_t data) = 0;
  virtual void shutdown(ShutdownReason reason) = 0;
};

}  // namespace hvmd::xen
