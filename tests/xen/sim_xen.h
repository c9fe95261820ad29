// A simulated hypervisor for the Xen transport's tests. It implements XenPlatform for the device
// model side and, for the test, the hypervisor side: vCPU threads post requests into the shared
// page and block until the response, exactly as Xen's ioreq_send/wait_for_io do; buffered writes
// go into the ring as ioreq_send_buffered writes them (two slots for 8 bytes, pointer rebasing in
// atomic mode). Event channels are a pipe carrying one pending port per 4-byte record (what
// xenevtchn_pending returns) and an eventfd per port for the kick back to the vCPU.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "ioreq/xen/xen_platform.h"

namespace hvmd::test {

class SimXen final : public xen::XenPlatform {
 public:
  static constexpr uint32_t kFirstRemotePort = 100;
  // Ports a PV frontend in the guest allocates (bindable like Xen's interdomain channels).
  static constexpr uint32_t kFirstFrontendPort = 500;
  static constexpr uint32_t kLastFrontendPort = 599;
  SimXen(unsigned vcpus, uint64_t ram_bytes);
  ~SimXen() override;

  // --- hypervisor side, called from vCPU threads ---
  // Posts a synchronous request for vcpu and waits for the device model's answer (the data).
  uint64_t access(unsigned vcpu, uint8_t type, uint64_t addr, unsigned size, bool is_read,
                  uint64_t data, uint32_t count = 1, bool data_is_ptr = false, bool df = false);
  // Appends a buffered write (size 1, 2, 4 or 8) and kicks the buffered port.
  void buffered_write(uint8_t type, uint32_t addr, unsigned size, uint64_t data);
  uint8_t* ram() { return ram_.data(); }

  // What the device model told the hypervisor.
  struct RangeCall {
    IoKind kind;
    uint64_t first, last;
    bool claim;
  };
  std::vector<RangeCall> range_calls() const;
  std::set<std::pair<uint64_t, uint64_t>> claimed(IoKind kind) const;
  std::set<uint8_t> claimed_pci() const;
  bool enabled() const { return enabled_; }
  size_t live_guest_mappings() const { return live_mappings_; }
  std::vector<std::pair<uint64_t, uint32_t>> msis() const;
  // Shutdown requests, each with whether a vCPU's request was still in progress at the time.
  std::vector<std::pair<xen::ShutdownReason, bool>> shutdowns() const;
  // Notifications the device model sent on a frontend's port since the last call; whether the
  // port is bound now.
  uint64_t take_frontend_kicks(uint32_t remote_port);
  bool frontend_bound(uint32_t remote_port) const {
    return local_of_remote_.count(remote_port) != 0;
  }
  // The device model's event-channel calls, each one system call on the real device (read of
  // the pending ports, write of ports to unmask, the notify ioctl), and the ports delivered.
  struct ChannelCounts {
    uint64_t pending_reads = 0, ports_delivered = 0, unmask_calls = 0, notifies = 0;
  };
  ChannelCounts channel_counts() const;
  // Synchronous requests posted and not yet answered (READY or INPROCESS in their slots).
  unsigned requests_waiting() const;
  // Kicks of the device model's ports so far (a vCPU kicks just after marking its request READY).
  uint64_t device_model_kicks() const { return device_model_kicks_.load(); }

  // --- XenPlatform (device model side) ---
  Result<void> create_server() override;
  Result<xen::IoreqPages> map_pages() override;
  Result<uint32_t> buffered_remote_port() override { return kFirstRemotePort + vcpus_; }
  Result<unsigned> vcpu_count() override { return vcpus_; }
  Result<void> set_server_enabled(bool enabled) override;
  void destroy_server() override { destroyed_ = true; }
  Result<void> map_range(IoKind kind, uint64_t first, uint64_t last, bool claim) override;
  Result<void> map_pci(PciAddress address, bool claim) override;
  int event_fd() override { return pending_pipe_[0]; }
  Result<uint32_t> bind(uint32_t remote_port) override;
  size_t pending(std::span<uint32_t> ports) override;
  void unmask(std::span<const uint32_t> local_ports) override;
  void notify(uint32_t local_port) override;
  void unbind(uint32_t local_port) override;
  void* map_guest(uint64_t first_gfn, uint64_t count) override;
  void unmap_guest(void* address, uint64_t count) override;
  void modified_memory(std::span<const PageRange> ranges) override;
  void set_isa_irq_level(unsigned, bool) override {}
  void set_pci_intx_level(PciAddress, unsigned, bool) override {}
  void set_pci_link_route(unsigned, unsigned) override {}
  void inject_msi(uint64_t address, uint32_t data) override;
  void shutdown(xen::ShutdownReason reason) override;
  Result<void> populate(uint64_t first_gfn, uint64_t count) override;
  Result<void> relocate(uint64_t from_gfn, uint64_t to_gfn, uint64_t count) override;
  Result<void> dirty_pages(uint64_t first_gfn, uint64_t count,
                           std::vector<uint64_t>& bitmap) override;
  void end_setup() override { setup_over_ = true; }
  void keep_passthrough() override { keep_passthrough_ = true; }
  Result<void> memory_mapping(uint64_t first_gfn, uint64_t first_mfn, uint64_t count,
                              bool add) override;
  Result<void> ioport_mapping(uint32_t first_guest_port, uint32_t first_host_port, uint32_t count,
                              bool add) override;
  Result<int> map_pirq(unsigned machine_irq) override;
  Result<int> map_pirq_msi(PciAddress host_function, unsigned entry, uint64_t table_base) override;
  Result<void> unmap_pirq(int pirq) override;
  Result<void> bind_pt_intx(int pirq, PciAddress guest_function, unsigned pin) override;
  Result<void> unbind_pt_intx(int pirq, PciAddress guest_function, unsigned pin) override;
  Result<void> update_msi_irq(uint32_t gvec, int pirq, uint32_t gflags, uint64_t gtable) override;
  Result<void> unbind_msi_irq(uint32_t gvec, int pirq, uint32_t gflags) override;

  // --- passthrough, as the hypervisor saw it ---
  // Every passthrough call, one line each ("memory_mapping gfn=0x... mfn=0x... count=2 add").
  // Pirqs are handed out from kFirstPirq up.
  static constexpr int kFirstPirq = 40;
  std::vector<std::string> passthrough_calls() const;
  std::set<int> mapped_pirqs() const;

  // --- device memory, seen from the guest ---
  // Pages populated outside RAM; a guest write at gpa lands there (and is logged dirty) when a
  // populated block sits at gpa, as a placed BAR would be reached without an ioreq.
  bool guest_write_direct(uint64_t gpa, uint8_t value);
  struct Relocation {
    uint64_t from, to, count;
    bool operator==(const Relocation&) const = default;
  };
  std::vector<Relocation> relocations() const { return relocations_; }
  std::vector<std::pair<uint64_t, uint64_t>> modified() const;  // (first gfn, count) as sent
  std::set<uint64_t> modified_pages() const;
  unsigned modified_calls() const;

 private:
  void kick_device_model(uint32_t remote_port);

  unsigned vcpus_;
  std::vector<uint8_t> ram_;
  shared_iopage_t* sync_page_ = nullptr;
  buffered_iopage_t* buffered_page_ = nullptr;
  int pending_pipe_[2] = {-1, -1};
  // Event-channel delivery as Linux's evtchn device does it: a port handed to the device model
  // is masked until it unmasks it; kicks meanwhile only set it pending, and the unmask delivers
  // it again.
  struct PortState {
    bool masked = false;
    bool pending = false;
  };
  mutable std::mutex evtchn_lock_;
  std::map<uint32_t, PortState> port_state_;  // by local port
  ChannelCounts counts_;
  void deliver_locked(uint32_t local_port);
  std::map<uint32_t, uint32_t> local_of_remote_;
  std::map<uint32_t, int> kick_fd_;
  std::atomic<uint64_t> device_model_kicks_{0};  // local port -> eventfd the vCPU waits on
  std::atomic<bool> enabled_{false};
  bool destroyed_ = false;
  std::atomic<size_t> live_mappings_{0};
  std::mutex buffered_lock_;
  mutable std::mutex log_lock_;
  std::vector<std::pair<xen::ShutdownReason, bool>> shutdowns_;
  // Pages populated outside RAM, by the gfn they sit at now: relocation moves them one by one
  // (any sub-range, as XENMEM_add_to_physmap's gmfn range does); their bytes stay where hvmd
  // mapped them.
  struct PopulatedPage {
    uint8_t* bytes;
    bool dirty;
  };
  std::vector<std::unique_ptr<uint8_t[]>> populated_storage_;
  std::map<uint64_t, PopulatedPage> populated_;
  std::vector<Relocation> relocations_;
  bool setup_over_ = false;
  bool keep_passthrough_ = false;
  Result<void> record_passthrough(const char* format, ...) __attribute__((format(printf, 2, 3)));
  std::vector<std::string> passthrough_calls_;
  std::set<int> pirqs_;
  int next_pirq_ = kFirstPirq;
  std::vector<RangeCall> range_calls_;
  std::set<uint8_t> pci_;
  std::vector<std::pair<uint64_t, uint32_t>> msis_;
  std::vector<std::pair<uint64_t, uint64_t>> modified_;
  unsigned modified_calls_ = 0;
};

}  // namespace hvmd::test
