// KvmVm: hvmd's board on /dev/kvm. The kernel provides the PIC, IOAPIC, LAPICs and PIT; guest RAM
// and the BIOS are memory slots; one thread per vCPU runs KVM_RUN and turns each port-I/O and
// MMIO exit into a dispatcher access, under the event loop's device lock, so device code never
// runs twice at once. Interrupts go in with KVM_IRQ_LINE (ISA IRQs, PCI INTx after the PIIX3
// routing) and KVM_SIGNAL_MSI; a passed-through function's interrupts go straight from VFIO's
// eventfds to KVM as irqfds (INTx on the ISA IRQ, MSI/MSI-X on GSIs of hvmd's routing table).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "dm/device_memory.h"
#include "dm/dispatcher.h"
#include "dm/event_loop.h"
#include "dm/host_passthrough.h"
#include "dm/interrupts.h"
#include "dm/result.h"
#include "ioreq/kvm/cpu_model.h"
#include "ioreq/kvm/gsi_routing.h"

struct kvm_run;

namespace hvmd::kvm {

// Also the home of device memory (VRAM, ROMs) under KVM: its bytes are host memory KvmVm
// allocates, mapped into the guest as a memory slot wherever the guest places the region (a
// read-only slot for ROMs, a dirty-logged one otherwise), so the guest reaches it without exits.
// Passthrough BARs are memory slots too, over the host region's mmap (VFIO).
class KvmVm final : public InterruptSink,
                    public MappingListener,
                    public DeviceMemoryBacking,
                    public HostPassthrough {
 public:
  // "KVM is not available: cannot open /dev/kvm: ..." where there is no KVM.
  static Result<std::unique_ptr<KvmVm>> create();
  ~KvmVm() override;
  KvmVm(const KvmVm&) = delete;
  KvmVm& operator=(const KvmVm&) = delete;

  // Guest-physical memory backed by host memory (page aligned).
  Result<void> map_memory(uint64_t gpa, uint64_t size, void* host, bool read_only);
  // vCPUs whose CPUID is what KVM supports shaped by `-cpu cpu_model` (cpu_model.h; empty: all
  // KVM supports).
  Result<void> create_vcpus(unsigned count, std::string_view cpu_model = {});
  // The CPUID table create_vcpus() gave the vCPUs (vCPU 0's APIC id).
  const std::vector<CpuidEntry>& cpuid() const { return cpuid_; }
  // Starts the vCPU threads. Each exit is dispatched under device_lock; a guest that cannot go on
  // (triple fault) is reported through on_triple_fault, a KVM failure through on_error.
  void start(Dispatcher& dispatcher, EventLoop& loop, std::mutex& device_lock,
             std::function<void()> on_triple_fault, std::function<void(std::string)> on_error);
  void stop();
  // Back to power-on state: vCPU registers, LAPICs, the PIC/IOAPIC and the PIT (vCPUs stopped).
  Result<void> reset_cpus();

  // InterruptSink.
  void set_isa_irq(unsigned irq, bool level) override;
  void set_pci_intx(PciAddress device, unsigned pin, bool level) override;
  void set_pci_link_route(unsigned link, unsigned isa_irq) override;
  void send_msi(const MsiMessage& message) override;

  // MappingListener: device memory follows the guest's BAR programming; nothing else needs KVM.
  void ports_changed(uint64_t, uint64_t, bool) override {}
  void mmio_changed(uint64_t, uint64_t, bool) override {}
  void pci_changed(PciAddress, bool) override {}
  void memory_changed(DeviceMemory& memory, uint64_t offset, uint64_t length, uint64_t base,
                      bool mapped) override;
  // DeviceMemoryBacking.
  uint8_t* allocate(uint64_t size) override;
  void release(uint8_t* data, uint64_t size) override;
  void sync_dirty(DeviceMemory& memory) override;

  // HostPassthrough. A host region is a memory slot over its host_virtual mapping. KVM cannot
  // give the guest host ports (the BAR stays trapped). INTx is a KVM_IRQFD with a resample fd on
  // the ISA IRQ the guest routed the pin's PIRQ link to (re-bound when the guest re-routes it):
  // VFIO signals the trigger eventfd, KVM asserts the line, and at the guest's EOI KVM lowers it
  // and signals the resample eventfd, on which VFIO unmasks the host line, with no exit to hvmd.
  // Without KVM_CAP_IRQFD_RESAMPLE bind_intx fails and the device delivers INTx itself.
  // An MSI/MSI-X vector gets a GSI with an MSI route carrying the guest's message (the whole
  // table, KVM's default irqchip routes included, set again with KVM_SET_GSI_ROUTING when a
  // message changes) and a KVM_IRQFD from the vector's eventfd to that GSI, so VFIO's interrupt
  // reaches the guest without hvmd. A masked vector's irqfd is detached: the eventfd is then the
  // device's to watch (it records the vector as pending), and re-attaching it on unmask lets KVM
  // deliver an interrupt that came in between (KVM checks the eventfd at assignment).
  // Without KVM_CAP_IRQ_ROUTING or KVM_CAP_IRQFD, or when a call fails (logged once),
  // route_msi fails and the device delivers the vector from its eventfd itself.
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

  uint64_t exits() const { return exits_; }
  // The ISA IRQ each bound INTx's irqfd is assigned to (0: its link is not routed), for tests.
  std::vector<unsigned> intx_irqfd_gsis() const;
  // The GSIs of routed MSI/MSI-X vectors and whether their irqfd is attached, for tests.
  std::vector<std::pair<unsigned, bool>> msi_irqfds() const;

 private:
  struct Vcpu;
  KvmVm() = default;
  void run_vcpu(Vcpu& vcpu);
  bool handle_exit(Vcpu& vcpu);
  Result<unsigned> set_slot(std::optional<unsigned> slot, uint64_t gpa, uint64_t size, void* host,
                            uint32_t flags);
  void remove_slot(unsigned slot);

  struct Placement {
    const uint8_t* data;  // the device memory's host address
    uint64_t offset;      // of the slot's first byte within it
    unsigned slot;
    uint64_t gpa;
    uint64_t size;
  };

  int kvm_fd_ = -1;
  int vm_fd_ = -1;
  size_t run_size_ = 0;
  unsigned next_slot_ = 0;
  std::vector<unsigned> free_slots_;
  std::vector<Placement> placed_;  // device memory in the guest
  struct HostRegion {
    unsigned slot;
    uint64_t gpa;
    uint64_t size;
  };
  std::map<uint64_t, HostRegion> host_regions_;  // passthrough regions, by guest address
  // Host INTx lines as irqfds: the PIRQ link the guest's pin swizzles to, and the ISA IRQ the
  // irqfd is assigned to now (0: none, the link is not routed).
  struct IntxIrqfd {
    int trigger_fd;
    int resample_fd;
    unsigned link;
    unsigned gsi;
  };
  std::vector<IntxIrqfd> intx_irqfds_;
  std::array<unsigned, 4> link_routes_{};  // the guest's PIRQ routes (0: disabled)
  bool irqfd_resample_ = false;
  Result<void> assign_irqfd(IntxIrqfd& irqfd, unsigned gsi);
  void deassign_irqfd(IntxIrqfd& irqfd);
  // Host MSI/MSI-X vectors as irqfds on MSI routes, one per (function, capability, entry).
  struct MsiIrqfd {
    PciAddress function;
    bool msix;
    unsigned entry;
    int fd;         // the vector's eventfd (VFIO makes new ones each time MSI is enabled)
    unsigned gsi;   // its route in gsi_routing_
    bool attached;  // the irqfd is assigned (the vector is unmasked)
  };
  std::vector<MsiIrqfd> msi_irqfds_;
  GsiRouting gsi_routing_;
  bool msi_routing_ = false;  // KVM_CAP_IRQ_ROUTING and KVM_CAP_IRQFD
  bool msi_failure_logged_ = false;
  Result<void> set_gsi_routing();
  Result<void> attach_msi_irqfd(MsiIrqfd& irqfd, bool attach);
  void drop_msi_irqfd(std::vector<MsiIrqfd>::iterator it);
  Error msi_routing_failed(Error error);
  std::vector<std::unique_ptr<Vcpu>> vcpus_;
  std::vector<CpuidEntry> cpuid_;
  IntxRouter router_{[this](unsigned irq, bool level) { set_isa_irq(irq, level); }};
  std::vector<uint8_t> irqchip_snapshot_;  // power-on PIC master, slave, IOAPIC, PIT

  Dispatcher* dispatcher_ = nullptr;
  EventLoop* loop_ = nullptr;
  std::mutex* device_lock_ = nullptr;
  std::function<void()> on_triple_fault_;
  std::function<void(std::string)> on_error_;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> exits_{0};
};

}  // namespace hvmd::kvm
