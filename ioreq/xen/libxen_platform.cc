#include "ioreq/xen/libxen_platform.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

// Not every libxen header has an extern "C" guard of its own.
extern "C" {
#include <xendevicemodel.h>
#include <xenevtchn.h>
#include <xenforeignmemory.h>
}
#include <xen/sched.h>

#include "dm/log.h"
#include "ioreq/xen/xenctrl_calls.h"

namespace hvmd::xen {
namespace {

constexpr const char* kPrivcmd = "/dev/xen/privcmd";

// Stable ABI values from the tools-only parts of Xen's public headers (xen/hvm/hvm_op.h,
// xen/memory.h), which need GNU C extensions to include.
constexpr int kBufioreqAtomic = 2;            // kBufioreqAtomic
constexpr unsigned kResourceIoreqServer = 0;  // XENMEM_resource_ioreq_server
constexpr unsigned long kFrameBufioreq = 0;   // kFrameBufioreq
constexpr size_t kPageSize = 4096;

Error call_error(const char* call) {
  return make_error("%s: %s", call, strerror(errno));
}

class LibxenPlatform final : public XenPlatform {
 public:
  explicit LibxenPlatform(uint32_t domid) : domid_(static_cast<domid_t>(domid)) {}
  ~LibxenPlatform() override {
    if (resource_) xenforeignmemory_unmap_resource(fmem_, resource_);
    if (legacy_pages_) xenforeignmemory_unmap(fmem_, legacy_pages_, 2);
    if (evtchn_) xenevtchn_close(evtchn_);
    hvmd_xc_close(xc_);
    if (fmem_) xenforeignmemory_close(fmem_);
    if (dmod_) xendevicemodel_close(dmod_);
  }

  Result<void> open() {
    // Unrestricted, for populating device memory while the machine is built; closed after.
    xc_ = hvmd_xc_open();
    if (!xc_) return call_error("xc_interface_open");
    dmod_ = xendevicemodel_open(nullptr, 0);
    if (!dmod_) return call_error("xendevicemodel_open");
    fmem_ = xenforeignmemory_open(nullptr, 0);
    if (!fmem_) return call_error("xenforeignmemory_open");
    evtchn_ = xenevtchn_open(nullptr, 0);
    if (!evtchn_) return call_error("xenevtchn_open");
    // xenevtchn_pending reads the device; blocking, it would stall the device thread once the
    // last pending port has been taken.
    int fd = xenevtchn_fd(evtchn_);
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) return call_error("fcntl(evtchn)");
    // From here on these handles can only reach this domain.
    if (xendevicemodel_restrict(dmod_, domid_) < 0) return call_error("xendevicemodel_restrict");
    if (xenforeignmemory_restrict(fmem_, domid_) < 0)
      return call_error("xenforeignmemory_restrict");
    if (xenevtchn_restrict(evtchn_, domid_) < 0) return call_error("xenevtchn_restrict");
    return ok();
  }

  Result<void> create_server() override {
    if (xendevicemodel_create_ioreq_server(dmod_, domid_, kBufioreqAtomic, &id_) < 0)
      return call_error("xendevicemodel_create_ioreq_server");
    created_ = true;
    return ok();
  }

  Result<IoreqPages> map_pages() override {
    // Preferred: the server's frames as a resource (frame 0 buffered ring, frame 1 vCPU slots).
    void* address = nullptr;
    resource_ =
        xenforeignmemory_map_resource(fmem_, domid_, kResourceIoreqServer, id_, kFrameBufioreq, 2,
                                      &address, PROT_READ | PROT_WRITE, 0);
    if (resource_) {
      return IoreqPages{
          reinterpret_cast<shared_iopage_t*>(static_cast<uint8_t*>(address) + kPageSize),
          static_cast<buffered_iopage_t*>(address)};
    }
    // Older Xen or kernels: Xen places the pages in the guest's physmap and we map them there.
    xen_pfn_t sync_gfn = 0, buffered_gfn = 0;
    if (xendevicemodel_get_ioreq_server_info(dmod_, domid_, id_, &sync_gfn, &buffered_gfn,
                                             nullptr) < 0)
      return call_error("xendevicemodel_get_ioreq_server_info");
    xen_pfn_t frames[2] = {buffered_gfn, sync_gfn};
    int errors[2] = {0, 0};
    legacy_pages_ = xenforeignmemory_map(fmem_, domid_, PROT_READ | PROT_WRITE, 2, frames, errors);
    if (!legacy_pages_ || errors[0] || errors[1])
      return call_error("xenforeignmemory_map (ioreq pages)");
    return IoreqPages{
        reinterpret_cast<shared_iopage_t*>(static_cast<uint8_t*>(legacy_pages_) + kPageSize),
        static_cast<buffered_iopage_t*>(legacy_pages_)};
  }

  Result<uint32_t> buffered_remote_port() override {
    evtchn_port_t port = 0;
    if (xendevicemodel_get_ioreq_server_info(dmod_, domid_, id_, nullptr, nullptr, &port) < 0)
      return call_error("xendevicemodel_get_ioreq_server_info");
    return port;
  }

  Result<unsigned> vcpu_count() override {
    unsigned vcpus = 0;
    if (xendevicemodel_nr_vcpus(dmod_, domid_, &vcpus) < 0)
      return call_error("xendevicemodel_nr_vcpus");
    return vcpus;
  }

  Result<void> set_server_enabled(bool enabled) override {
    if (xendevicemodel_set_ioreq_server_state(dmod_, domid_, id_, enabled) < 0)
      return call_error("xendevicemodel_set_ioreq_server_state");
    return ok();
  }

  void destroy_server() override {
    if (created_) xendevicemodel_destroy_ioreq_server(dmod_, domid_, id_);
    created_ = false;
  }

  Result<void> map_range(IoKind kind, uint64_t first, uint64_t last, bool claim) override {
    int is_mmio = kind == IoKind::kMmio ? 1 : 0;
    int rc = claim ? xendevicemodel_map_io_range_to_ioreq_server(dmod_, domid_, id_, is_mmio, first,
                                                                 last)
                   : xendevicemodel_unmap_io_range_from_ioreq_server(dmod_, domid_, id_, is_mmio,
                                                                     first, last);
    if (rc < 0)
      return call_error(claim ? "xendevicemodel_map_io_range" : "xendevicemodel_unmap_io_range");
    return ok();
  }

  Result<void> map_pci(PciAddress a, bool claim) override {
    int rc = claim ? xendevicemodel_map_pcidev_to_ioreq_server(dmod_, domid_, id_, a.segment, a.bus,
                                                               a.device(), a.function())
                   : xendevicemodel_unmap_pcidev_from_ioreq_server(dmod_, domid_, id_, a.segment,
                                                                   a.bus, a.device(), a.function());
    if (rc < 0)
      return call_error(claim ? "xendevicemodel_map_pcidev" : "xendevicemodel_unmap_pcidev");
    return ok();
  }

  int event_fd() override { return xenevtchn_fd(evtchn_); }

  Result<uint32_t> bind(uint32_t remote_port) override {
    xenevtchn_port_or_error_t port = xenevtchn_bind_interdomain(evtchn_, domid_, remote_port);
    if (port < 0) return call_error("xenevtchn_bind_interdomain");
    return static_cast<uint32_t>(port);
  }

  void unbind(uint32_t local_port) override { xenevtchn_unbind(evtchn_, local_port); }

  // xenevtchn_pending and xenevtchn_unmask read and write one port per call on the evtchn device,
  // whose read returns every pending port and whose write unmasks every port written: the same
  // calls with a whole batch cost one system call each instead of one per port.
  size_t pending(std::span<uint32_t> ports) override {
    ssize_t n = read(xenevtchn_fd(evtchn_), ports.data(), ports.size_bytes());
    if (n <= 0) return 0;  // EAGAIN: nothing pending (the fd is non-blocking)
    return static_cast<size_t>(n) / sizeof(uint32_t);
  }

  void unmask(std::span<const uint32_t> ports) override {
    if (ports.empty()) return;
    if (write(xenevtchn_fd(evtchn_), ports.data(), ports.size_bytes()) < 0)
      HVMD_WARN("cannot unmask %zu event channels: %s", ports.size(), strerror(errno));
  }
  void notify(uint32_t port) override { xenevtchn_notify(evtchn_, port); }

  void* map_guest(uint64_t first_gfn, uint64_t count) override {
    std::vector<xen_pfn_t> frames(count);
    std::vector<int> errors(count);
    for (uint64_t i = 0; i < count; ++i) frames[i] = first_gfn + i;
    void* address = xenforeignmemory_map2(fmem_, domid_, nullptr, PROT_READ | PROT_WRITE, 0, count,
                                          frames.data(), errors.data());
    if (!address) return nullptr;
    for (int e : errors) {
      if (e) {  // a page that is not RAM (a hole, MMIO): the caller maps smaller
        xenforeignmemory_unmap(fmem_, address, count);
        return nullptr;
      }
    }
    return address;
  }

  void unmap_guest(void* address, uint64_t count) override {
    xenforeignmemory_unmap(fmem_, address, count);
  }

  void modified_memory(std::span<const PageRange> ranges) override {
    std::vector<xen_dm_op_modified_memory_extent> extents;
    extents.reserve(ranges.size());
    for (const PageRange& r : ranges)
      extents.push_back({.nr = static_cast<uint32_t>(r.count), .pad = 0, .first_pfn = r.first_gfn});
    // Xen may process part of the list and report the rest as still to do; the call repeats
    // until all is done, so a failure here is a hypervisor error, logged (it cannot be retried
    // later: the pages are the guest's, written already).
    if (xendevicemodel_modified_memory_bulk(dmod_, domid_, extents.data(),
                                            static_cast<uint32_t>(extents.size())) < 0)
      HVMD_WARN("xendevicemodel_modified_memory_bulk: %s", strerror(errno));
  }

  Result<void> populate(uint64_t first_gfn, uint64_t count) override {
    if (!xc_ || setup_over_)
      return make_error("device memory can only be populated while hvmd sets up");
    if (hvmd_xc_populate(xc_, domid_, first_gfn, count) < 0)
      return call_error("xc_domain_populate_physmap_exact");
    return ok();
  }

  Result<void> relocate(uint64_t from_gfn, uint64_t to_gfn, uint64_t count) override {
    if (xendevicemodel_relocate_memory(dmod_, domid_, static_cast<uint32_t>(count), from_gfn,
                                       to_gfn) < 0)
      return call_error("xendevicemodel_relocate_memory");
    return ok();
  }

  Result<void> dirty_pages(uint64_t first_gfn, uint64_t count,
                           std::vector<uint64_t>& bitmap) override {
    static_assert(sizeof(unsigned long) == sizeof(uint64_t));
    bitmap.assign((count + 63) / 64, 0);
    if (xendevicemodel_track_dirty_vram(dmod_, domid_, first_gfn, static_cast<uint32_t>(count),
                                        reinterpret_cast<unsigned long*>(bitmap.data())) < 0)
      return call_error("xendevicemodel_track_dirty_vram");
    return ok();
  }

  void end_setup() override {
    setup_over_ = true;
    if (keep_passthrough_) return;
    hvmd_xc_close(xc_);
    xc_ = nullptr;
  }

  void keep_passthrough() override { keep_passthrough_ = true; }

  Result<void> memory_mapping(uint64_t first_gfn, uint64_t first_mfn, uint64_t count,
                              bool add) override {
    HVMD_TRY(need_privilege());
    if (hvmd_xc_memory_mapping(xc_, domid_, first_gfn, first_mfn, count, add) < 0)
      return call_error("xc_domain_memory_mapping");
    return ok();
  }

  Result<void> ioport_mapping(uint32_t first_guest_port, uint32_t first_host_port, uint32_t count,
                              bool add) override {
    HVMD_TRY(need_privilege());
    if (hvmd_xc_ioport_mapping(xc_, domid_, first_guest_port, first_host_port, count, add) < 0)
      return call_error("xc_domain_ioport_mapping");
    return ok();
  }

  Result<int> map_pirq(unsigned machine_irq) override {
    HVMD_TRY(need_privilege());
    int pirq = 0;
    if (hvmd_xc_map_pirq(xc_, domid_, static_cast<int>(machine_irq), &pirq) < 0)
      return call_error("xc_physdev_map_pirq");
    return pirq;
  }

  Result<int> map_pirq_msi(PciAddress host, unsigned entry, uint64_t table_base) override {
    HVMD_TRY(need_privilege());
    // The call names bus and devfn only: segment 0.
    if (host.segment != 0) return make_error("MSI of a host function outside PCI segment 0");
    int pirq = 0;
    if (hvmd_xc_map_pirq_msi(xc_, domid_, host.bus, host.devfn, static_cast<int>(entry), table_base,
                             &pirq) < 0)
      return call_error("xc_physdev_map_pirq_msi");
    return pirq;
  }

  Result<void> unmap_pirq(int pirq) override {
    HVMD_TRY(need_privilege());
    if (hvmd_xc_unmap_pirq(xc_, domid_, pirq) < 0) return call_error("xc_physdev_unmap_pirq");
    return ok();
  }

  Result<void> bind_pt_intx(int pirq, PciAddress guest, unsigned pin) override {
    return pt_intx(pirq, guest, pin, true);
  }
  Result<void> unbind_pt_intx(int pirq, PciAddress guest, unsigned pin) override {
    return pt_intx(pirq, guest, pin, false);
  }

  Result<void> update_msi_irq(uint32_t gvec, int pirq, uint32_t gflags, uint64_t gtable) override {
    HVMD_TRY(need_privilege());
    if (hvmd_xc_update_msi(xc_, domid_, gvec, static_cast<uint32_t>(pirq), gflags, gtable) < 0)
      return call_error("xc_domain_update_msi_irq");
    return ok();
  }

  Result<void> unbind_msi_irq(uint32_t gvec, int pirq, uint32_t gflags) override {
    HVMD_TRY(need_privilege());
    if (hvmd_xc_unbind_msi(xc_, domid_, gvec, static_cast<uint32_t>(pirq), gflags) < 0)
      return call_error("xc_domain_unbind_msi_irq");
    return ok();
  }

  void set_isa_irq_level(unsigned irq, bool level) override {
    xendevicemodel_set_isa_irq_level(dmod_, domid_, static_cast<uint8_t>(irq), level);
  }
  void set_pci_intx_level(PciAddress d, unsigned pin, bool level) override {
    xendevicemodel_set_pci_intx_level(dmod_, domid_, d.segment, d.bus, d.device(),
                                      static_cast<uint8_t>(pin), level);
  }
  void set_pci_link_route(unsigned link, unsigned isa_irq) override {
    xendevicemodel_set_pci_link_route(dmod_, domid_, static_cast<uint8_t>(link),
                                      static_cast<uint8_t>(isa_irq));
  }
  void inject_msi(uint64_t address, uint32_t data) override {
    xendevicemodel_inject_msi(dmod_, domid_, address, data);
  }
  void shutdown(ShutdownReason reason) override {
    xendevicemodel_shutdown(
        dmod_, domid_, reason == ShutdownReason::kReboot ? SHUTDOWN_reboot : SHUTDOWN_poweroff);
  }

 private:
  Result<void> need_privilege() const {
    if (!xc_)
      return make_error("passthrough needs Xen's privileged interface, closed after set-up");
    return ok();
  }

  Result<void> pt_intx(int pirq, PciAddress guest, unsigned pin, bool bind) {
    HVMD_TRY(need_privilege());
    // The domctl carries the pirq in a byte.
    if (pirq < 0 || pirq > UINT8_MAX || pin > 3 || guest.segment != 0)
      return make_error("INTx pirq %d, pin %u: out of the range Xen's call carries", pirq, pin);
    if (hvmd_xc_bind_pt_intx(xc_, domid_, static_cast<uint8_t>(pirq), guest.bus, guest.device(),
                             static_cast<uint8_t>(pin), bind) < 0)
      return call_error(bind ? "xc_domain_bind_pt_pci_irq" : "xc_domain_unbind_pt_irq");
    return ok();
  }

  domid_t domid_;
  hvmd_xc* xc_ = nullptr;
  xendevicemodel_handle* dmod_ = nullptr;
  xenforeignmemory_handle* fmem_ = nullptr;
  xenevtchn_handle* evtchn_ = nullptr;
  xenforeignmemory_resource_handle* resource_ = nullptr;
  void* legacy_pages_ = nullptr;
  ioservid_t id_ = 0;
  bool created_ = false;
  bool setup_over_ = false;
  bool keep_passthrough_ = false;
};

}  // namespace

Result<std::unique_ptr<XenPlatform>> open_libxen_platform(uint32_t domid) {
  if (access(kPrivcmd, R_OK | W_OK) != 0)
    return make_error("Xen is not running: cannot open %s: %s", kPrivcmd, strerror(errno));
  auto platform = std::make_unique<LibxenPlatform>(domid);
  HVMD_TRY(platform->open());
  return std::unique_ptr<XenPlatform>(std::move(platform));
}

}  // namespace hvmd::xen
