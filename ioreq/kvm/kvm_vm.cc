#include "ioreq/kvm/kvm_vm.h"

#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "dm/log.h"
#include "ioreq/kvm/cpu_model.h"

namespace hvmd::kvm {

namespace {

constexpr const char* kKvmDevice = "/dev/kvm";
constexpr int kKvmApiVersion = 12;
// Where KVM keeps its real-mode helpers on Intel: just below the BIOS, as QEMU's pc places them.
constexpr uint64_t kIdentityMapAddress = 0xfeffc000;
constexpr uint64_t kTssAddress = 0xfeffd000;
constexpr int kKickSignal = SIGUSR1;  // interrupts KVM_RUN when a vCPU must stop
constexpr unsigned kMaxCpuidEntries = 256;
constexpr unsigned kIrqchipPicMaster = 0, kIrqchipPicSlave = 1, kIrqchipIoapic = 2;
constexpr uint64_t kPageSize = 4096;

// kvm_cpuid2 ends in a flexible array, which C++ sizes differently from C; the ioctl numbers
// encode the C size of its fixed part.
struct CpuidHeader {
  uint32_t nent;
  uint32_t padding;
};
constexpr unsigned long kGetSupportedCpuid = _IOWR(KVMIO, 0x05, CpuidHeader);
constexpr unsigned long kSetCpuid2 = _IOW(KVMIO, 0x90, CpuidHeader);
// kvm_irq_routing likewise: its entries start at offset 8 in C.
struct RoutingHeader {
  uint32_t nr;
  uint32_t flags;
};
constexpr unsigned long kSetGsiRouting = _IOW(KVMIO, 0x6a, RoutingHeader);
static_assert(kSetGsiRouting == 0x4008ae6a, "KVM_SET_GSI_ROUTING as C encodes it");
static_assert(alignof(kvm_irq_routing_entry) <= sizeof(RoutingHeader));
static_assert(KVM_IRQCHIP_PIC_MASTER == 0 && KVM_IRQCHIP_PIC_SLAVE == 1 && KVM_IRQCHIP_IOAPIC == 2,
              "gsi_routing.cc numbers the irqchips so");

Error os_error(const char* what) {
  return make_error("%s: %s", what, strerror(errno));
}

}  // namespace

struct KvmVm::Vcpu {
  unsigned index = 0;
  int fd = -1;
  kvm_run* run = nullptr;
  std::thread thread;
  // Power-on state, for a guest reset.
  kvm_regs regs{};
  kvm_sregs sregs{};
  kvm_fpu fpu{};
  kvm_lapic_state lapic{};
  kvm_mp_state mp_state{};
};

Result<std::unique_ptr<KvmVm>> KvmVm::create() {
  std::unique_ptr<KvmVm> vm(new KvmVm());
  vm->kvm_fd_ = open(kKvmDevice, O_RDWR | O_CLOEXEC);
  if (vm->kvm_fd_ < 0)
    return make_error("KVM is not available: cannot open %s: %s", kKvmDevice, strerror(errno));
  if (ioctl(vm->kvm_fd_, KVM_GET_API_VERSION, 0) != kKvmApiVersion)
    return make_error("KVM is not available: unexpected API version");
  vm->irqfd_resample_ = ioctl(vm->kvm_fd_, KVM_CHECK_EXTENSION, KVM_CAP_IRQFD_RESAMPLE) > 0;
  vm->msi_routing_ = ioctl(vm->kvm_fd_, KVM_CHECK_EXTENSION, KVM_CAP_IRQ_ROUTING) > 0 &&
                     ioctl(vm->kvm_fd_, KVM_CHECK_EXTENSION, KVM_CAP_IRQFD) > 0;
  for (int cap : {KVM_CAP_IRQCHIP, KVM_CAP_USER_MEMORY, KVM_CAP_READONLY_MEM, KVM_CAP_PIT2,
                  KVM_CAP_SIGNAL_MSI, KVM_CAP_IMMEDIATE_EXIT})
    if (ioctl(vm->kvm_fd_, KVM_CHECK_EXTENSION, cap) <= 0)
      return make_error("KVM is not available: the kernel lacks capability %d", cap);
  vm->vm_fd_ = ioctl(vm->kvm_fd_, KVM_CREATE_VM, 0);
  if (vm->vm_fd_ < 0) return os_error("KVM_CREATE_VM");
  int run_size = ioctl(vm->kvm_fd_, KVM_GET_VCPU_MMAP_SIZE, 0);
  if (run_size <= 0) return os_error("KVM_GET_VCPU_MMAP_SIZE");
  vm->run_size_ = static_cast<size_t>(run_size);
  uint64_t identity_map = kIdentityMapAddress;
  if (ioctl(vm->vm_fd_, KVM_SET_IDENTITY_MAP_ADDR, &identity_map) < 0)
    return os_error("KVM_SET_IDENTITY_MAP_ADDR");
  if (ioctl(vm->vm_fd_, KVM_SET_TSS_ADDR, kTssAddress) < 0) return os_error("KVM_SET_TSS_ADDR");
  if (ioctl(vm->vm_fd_, KVM_CREATE_IRQCHIP, 0) < 0) return os_error("KVM_CREATE_IRQCHIP");
  kvm_pit_config pit{};
  if (ioctl(vm->vm_fd_, KVM_CREATE_PIT2, &pit) < 0) return os_error("KVM_CREATE_PIT2");
  // Snapshot the interrupt controllers and PIT as they power on.
  for (unsigned chip : {kIrqchipPicMaster, kIrqchipPicSlave, kIrqchipIoapic}) {
    kvm_irqchip state{};
    state.chip_id = chip;
    if (ioctl(vm->vm_fd_, KVM_GET_IRQCHIP, &state) < 0) return os_error("KVM_GET_IRQCHIP");
    auto* bytes = reinterpret_cast<uint8_t*>(&state);
    vm->irqchip_snapshot_.insert(vm->irqchip_snapshot_.end(), bytes, bytes + sizeof(state));
  }
  kvm_pit_state2 pit_state{};
  if (ioctl(vm->vm_fd_, KVM_GET_PIT2, &pit_state) < 0) return os_error("KVM_GET_PIT2");
  auto* bytes = reinterpret_cast<uint8_t*>(&pit_state);
  vm->irqchip_snapshot_.insert(vm->irqchip_snapshot_.end(), bytes, bytes + sizeof(pit_state));
  // The signal that kicks a vCPU out of KVM_RUN only has to interrupt the call.
  struct sigaction action {};
  action.sa_handler = [](int) {};
  sigaction(kKickSignal, &action, nullptr);
  return vm;
}

KvmVm::~KvmVm() {
  stop();
  for (auto& vcpu : vcpus_) {
    if (vcpu->run) munmap(vcpu->run, run_size_);
    if (vcpu->fd >= 0) close(vcpu->fd);
  }
  if (vm_fd_ >= 0) close(vm_fd_);
  if (kvm_fd_ >= 0) close(kvm_fd_);
}

Result<void> KvmVm::map_memory(uint64_t gpa, uint64_t size, void* host, bool read_only) {
  auto slot = set_slot(std::nullopt, gpa, size, host, read_only ? KVM_MEM_READONLY : 0);
  if (!slot) return slot.error();
  return ok();
}

// A new slot (slot empty) or a changed one.
Result<unsigned> KvmVm::set_slot(std::optional<unsigned> slot, uint64_t gpa, uint64_t size,
                                 void* host, uint32_t flags) {
  unsigned id = slot.value_or(0);
  if (!slot) {
    if (free_slots_.empty()) {
      id = next_slot_++;
    } else {
      id = free_slots_.back();
      free_slots_.pop_back();
    }
  }
  kvm_userspace_memory_region region{};
  region.slot = id;
  region.flags = flags;
  region.guest_phys_addr = gpa;
  region.memory_size = size;
  region.userspace_addr = reinterpret_cast<uint64_t>(host);
  if (ioctl(vm_fd_, KVM_SET_USER_MEMORY_REGION, &region) < 0) {
    if (!slot) free_slots_.push_back(id);
    return make_error("KVM_SET_USER_MEMORY_REGION at %#llx: %s",
                      static_cast<unsigned long long>(gpa), strerror(errno));
  }
  return id;
}

void KvmVm::remove_slot(unsigned slot) {
  kvm_userspace_memory_region region{};
  region.slot = slot;  // size 0 deletes it
  ioctl(vm_fd_, KVM_SET_USER_MEMORY_REGION, &region);
  free_slots_.push_back(slot);
}

uint8_t* KvmVm::allocate(uint64_t size) {
  uint64_t bytes = (size + 4095) & ~4095ull;
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? nullptr : static_cast<uint8_t*>(p);
}

void KvmVm::release(uint8_t* data, uint64_t size) {
  std::erase_if(placed_, [&](const Placement& p) {
    if (p.data != data) return false;
    remove_slot(p.slot);
    return true;
  });
  munmap(data, (size + 4095) & ~4095ull);
}

void KvmVm::memory_changed(DeviceMemory& memory, uint64_t offset, uint64_t length, uint64_t base,
                           bool mapped) {
  if (memory.backing() != this) return;
  const uint8_t* data = memory.host_data().data();
  if (!mapped) {
    std::erase_if(placed_, [&](const Placement& p) {
      if (p.data != data || p.offset != offset || p.gpa != base) return false;
      remove_slot(p.slot);
      return true;
    });
    return;
  }
  // Whole pages only; anything else (or a clash with RAM or another slot) stays MMIO, served
  // through exits. One memory may sit in several slots at once (a framebuffer BAR and a banked
  // window onto it): KVM lets slots alias host memory.
  if (base % 4096 || offset % 4096 || length % 4096 || length == 0) return;
  uint32_t flags = memory.read_only() ? KVM_MEM_READONLY : KVM_MEM_LOG_DIRTY_PAGES;
  auto slot = set_slot(std::nullopt, base, length, memory.host_data().data() + offset, flags);
  if (!slot) {
    HVMD_WARN("%s at %#llx served as MMIO: %s", memory.name().c_str(),
              static_cast<unsigned long long>(base), slot.error().message.c_str());
    return;
  }
  placed_.push_back({data, offset, *slot, base, length});
}

void KvmVm::sync_dirty(DeviceMemory& memory) {
  if (memory.read_only()) return;  // nothing writes a ROM
  for (const Placement& p : placed_) {
    if (p.data != memory.host_data().data()) continue;
    uint64_t pages = p.size / 4096;
    std::vector<uint64_t> bitmap((pages + 63) / 64);
    kvm_dirty_log log{};
    log.slot = p.slot;
    log.dirty_bitmap = bitmap.data();
    if (ioctl(vm_fd_, KVM_GET_DIRTY_LOG, &log) < 0) {
      memory.dirty().mark_all();
      return;
    }
    for (uint64_t page = 0; page < pages; ++page)
      if (bitmap[page / 64] >> (page % 64) & 1) memory.dirty().mark(p.offset + page * 4096, 4096);
  }
}

Result<void> KvmVm::map_mmio(uint64_t guest_address, const HostMmioRegion& region, uint64_t offset,
                             uint64_t length) {
  if (!region.host_virtual) return make_error("kvm: the host region has no host mapping");
  if ((guest_address | offset | length) % kPageSize || length == 0 || offset > region.size ||
      length > region.size - offset)
    return make_error("kvm: host region [%#llx+%#llx] is not whole pages inside the region",
                      static_cast<unsigned long long>(offset),
                      static_cast<unsigned long long>(length));
  if (host_regions_.count(guest_address))
    return make_error("kvm: a host region is mapped at %#llx already",
                      static_cast<unsigned long long>(guest_address));
  auto slot = set_slot(std::nullopt, guest_address, length,
                       static_cast<uint8_t*>(region.host_virtual) + offset, 0);
  if (!slot) return slot.error();
  host_regions_[guest_address] = {*slot, guest_address, length};
  return ok();
}

Result<void> KvmVm::unmap_mmio(uint64_t guest_address, const HostMmioRegion&, uint64_t,
                               uint64_t length) {
  auto it = host_regions_.find(guest_address);
  if (it == host_regions_.end() || it->second.size != length)
    return make_error("kvm: no host region of %#llx bytes at %#llx",
                      static_cast<unsigned long long>(length),
                      static_cast<unsigned long long>(guest_address));
  remove_slot(it->second.slot);
  host_regions_.erase(it);
  return ok();
}

// A KVM guest's port accesses always exit; the caller keeps such a BAR trapped.
Result<void> KvmVm::map_ports(uint32_t, uint32_t, uint32_t) {
  return make_error("kvm cannot give the guest host I/O ports");
}
Result<void> KvmVm::bind_intx(const HostIntx& host, PciAddress guest_function, unsigned pin) {
  if (host.trigger_fd < 0 || host.resample_fd < 0)
    return make_error("kvm: the host INTx has no trigger and resample eventfds");
  if (!irqfd_resample_) return make_error("kvm: KVM_CAP_IRQFD_RESAMPLE is not available");
  IntxIrqfd irqfd{.trigger_fd = host.trigger_fd,
                  .resample_fd = host.resample_fd,
                  .link = IntxRouter::link_of(guest_function, pin),
                  .gsi = 0};
  if (unsigned route = link_routes_[irqfd.link]; route) HVMD_TRY(assign_irqfd(irqfd, route));
  intx_irqfds_.push_back(irqfd);
  return ok();
}

Result<void> KvmVm::assign_irqfd(IntxIrqfd& irqfd, unsigned gsi) {
  kvm_irqfd request{};
  request.fd = static_cast<uint32_t>(irqfd.trigger_fd);
  request.gsi = gsi;
  request.flags = KVM_IRQFD_FLAG_RESAMPLE;
  request.resamplefd = static_cast<uint32_t>(irqfd.resample_fd);
  if (ioctl(vm_fd_, KVM_IRQFD, &request) < 0) return os_error("KVM_IRQFD (resample)");
  irqfd.gsi = gsi;
  return ok();
}

void KvmVm::deassign_irqfd(IntxIrqfd& irqfd) {
  if (irqfd.gsi == 0) return;
  kvm_irqfd request{};
  request.fd = static_cast<uint32_t>(irqfd.trigger_fd);
  request.gsi = irqfd.gsi;
  request.flags = KVM_IRQFD_FLAG_DEASSIGN;
  if (ioctl(vm_fd_, KVM_IRQFD, &request) < 0)
    HVMD_WARN("KVM_IRQFD deassign of IRQ %u: %s", irqfd.gsi, strerror(errno));
  irqfd.gsi = 0;
}

std::vector<unsigned> KvmVm::intx_irqfd_gsis() const {
  std::vector<unsigned> gsis;
  for (const IntxIrqfd& irqfd : intx_irqfds_) gsis.push_back(irqfd.gsi);
  return gsis;
}
std::vector<std::pair<unsigned, bool>> KvmVm::msi_irqfds() const {
  std::vector<std::pair<unsigned, bool>> out;
  for (const MsiIrqfd& irqfd : msi_irqfds_) out.emplace_back(irqfd.gsi, irqfd.attached);
  return out;
}

// The whole table: KVM replaces what it had with it.
Result<void> KvmVm::set_gsi_routing() {
  std::vector<GsiRoute> table = gsi_routing_.table();
  std::vector<uint8_t> buffer(sizeof(RoutingHeader) + table.size() * sizeof(kvm_irq_routing_entry));
  auto* header = reinterpret_cast<RoutingHeader*>(buffer.data());
  auto* entries = reinterpret_cast<kvm_irq_routing_entry*>(buffer.data() + sizeof(RoutingHeader));
  header->nr = static_cast<uint32_t>(table.size());
  for (size_t i = 0; i < table.size(); ++i) {
    const GsiRoute& route = table[i];
    kvm_irq_routing_entry& e = entries[i];
    e.gsi = route.gsi;
    if (route.kind == GsiRoute::Kind::kIrqchip) {
      e.type = KVM_IRQ_ROUTING_IRQCHIP;
      e.u.irqchip.irqchip = route.irqchip;
      e.u.irqchip.pin = route.pin;
    } else {
      e.type = KVM_IRQ_ROUTING_MSI;
      e.u.msi.address_lo = static_cast<uint32_t>(route.address);
      e.u.msi.address_hi = static_cast<uint32_t>(route.address >> 32);
      e.u.msi.data = route.data;
    }
  }
  if (ioctl(vm_fd_, kSetGsiRouting, header) < 0) return os_error("KVM_SET_GSI_ROUTING");
  return ok();
}

Result<void> KvmVm::attach_msi_irqfd(MsiIrqfd& irqfd, bool attach) {
  if (irqfd.attached == attach) return ok();
  kvm_irqfd request{};
  request.fd = static_cast<uint32_t>(irqfd.fd);
  request.gsi = irqfd.gsi;
  request.flags = attach ? 0 : KVM_IRQFD_FLAG_DEASSIGN;
  if (ioctl(vm_fd_, KVM_IRQFD, &request) < 0)
    return os_error(attach ? "KVM_IRQFD (MSI)" : "KVM_IRQFD deassign (MSI)");
  irqfd.attached = attach;
  return ok();
}

// The vector is no longer KVM's: irqfd detached, GSI freed, the table set without it.
void KvmVm::drop_msi_irqfd(std::vector<MsiIrqfd>::iterator it) {
  if (auto r = attach_msi_irqfd(*it, false); !r) HVMD_WARN("%s", r.error().message.c_str());
  gsi_routing_.remove_msi(it->gsi);
  msi_irqfds_.erase(it);
  if (auto r = set_gsi_routing(); !r) HVMD_WARN("%s", r.error().message.c_str());
}

Error KvmVm::msi_routing_failed(Error error) {
  if (!msi_failure_logged_) {
    msi_failure_logged_ = true;
    HVMD_WARN("kvm: MSI routing failed (%s): hvmd delivers such vectors from their eventfds",
              error.message.c_str());
  }
  return error;
}

Result<void> KvmVm::route_msi(const HostMsiVector& vector, const MsiMessage& message, bool masked) {
  if (!msi_routing_)
    return msi_routing_failed(
        make_error("kvm: KVM_CAP_IRQ_ROUTING or KVM_CAP_IRQFD is not available"));
  if (vector.trigger_fd < 0) return make_error("kvm: the host vector has no eventfd");
  auto it = std::find_if(msi_irqfds_.begin(), msi_irqfds_.end(), [&](const MsiIrqfd& i) {
    return i.function == vector.host_function && i.msix == vector.msix && i.entry == vector.entry;
  });
  if (it == msi_irqfds_.end()) {
    auto gsi = gsi_routing_.add_msi(message.address, message.data);
    if (!gsi) return msi_routing_failed(make_error("kvm: no free GSI for an MSI route"));
    if (auto r = set_gsi_routing(); !r) {
      gsi_routing_.remove_msi(*gsi);
      return msi_routing_failed(r.error());
    }
    it = msi_irqfds_.insert(msi_irqfds_.end(), {.function = vector.host_function,
                                                .msix = vector.msix,
                                                .entry = vector.entry,
                                                .fd = vector.trigger_fd,
                                                .gsi = *gsi,
                                                .attached = false});
    HVMD_DEBUG("kvm: %s vector %u of %02x:%02x.%x on GSI %u (irqfd)", vector.msix ? "MSI-X" : "MSI",
               vector.entry, vector.host_function.bus, vector.host_function.device(),
               vector.host_function.function(), *gsi);
  } else {
    if (it->fd != vector.trigger_fd) {  // re-enabled: VFIO signals a new eventfd
      if (auto r = attach_msi_irqfd(*it, false); !r) HVMD_WARN("%s", r.error().message.c_str());
      it->attached = false;
      it->fd = vector.trigger_fd;
    }
    // An attached irqfd follows the new route as KVM sets the table.
    if (gsi_routing_.set_msi(it->gsi, message.address, message.data))
      if (auto r = set_gsi_routing(); !r) {
        drop_msi_irqfd(it);
        return msi_routing_failed(r.error());
      }
  }
  if (auto r = attach_msi_irqfd(*it, !masked); !r) {
    drop_msi_irqfd(it);
    return msi_routing_failed(r.error());
  }
  return ok();
}

// Nothing can have been mapped by map_ports, so there is nothing to undo.
Result<void> KvmVm::unmap_ports(uint32_t, uint32_t, uint32_t) {
  return ok();
}
Result<void> KvmVm::unbind_intx(const HostIntx& host, PciAddress, unsigned) {
  for (auto it = intx_irqfds_.begin(); it != intx_irqfds_.end(); ++it)
    if (it->trigger_fd == host.trigger_fd) {
      deassign_irqfd(*it);
      intx_irqfds_.erase(it);
      break;
    }
  return ok();
}
Result<void> KvmVm::unroute_msi(const HostMsiVector& vector) {
  auto it = std::find_if(msi_irqfds_.begin(), msi_irqfds_.end(), [&](const MsiIrqfd& i) {
    return i.function == vector.host_function && i.msix == vector.msix && i.entry == vector.entry;
  });
  if (it != msi_irqfds_.end()) drop_msi_irqfd(it);
  return ok();
}

Result<void> KvmVm::create_vcpus(unsigned count, std::string_view cpu_model) {
  // The C layout: the header, then the entries at offset 8. (C++ places kvm_cpuid2::entries, a
  // __DECLARE_FLEX_ARRAY, after an empty struct, at offset 12: it must not be used.)
  std::vector<uint8_t> cpuid_buffer(sizeof(CpuidHeader) +
                                    kMaxCpuidEntries * sizeof(kvm_cpuid_entry2));
  auto* header = reinterpret_cast<CpuidHeader*>(cpuid_buffer.data());
  auto* entries = reinterpret_cast<kvm_cpuid_entry2*>(cpuid_buffer.data() + sizeof(CpuidHeader));
  header->nent = kMaxCpuidEntries;
  if (ioctl(kvm_fd_, kGetSupportedCpuid, header) < 0) return os_error("KVM_GET_SUPPORTED_CPUID");
  // The CPU model shapes the values; the leaves, their order and KVM's flags stay.
  std::vector<CpuidEntry> table(std::min<uint32_t>(header->nent, kMaxCpuidEntries));
  for (size_t e = 0; e < table.size(); ++e) {
    const kvm_cpuid_entry2& k = entries[e];
    table[e] = {k.function, k.index, k.eax, k.ebx, k.ecx, k.edx};
  }
  HVMD_TRY(apply_cpu_model(cpu_model, table));
  for (size_t e = 0; e < table.size(); ++e) {
    kvm_cpuid_entry2& k = entries[e];
    k.eax = table[e].eax;
    k.ebx = table[e].ebx;
    k.ecx = table[e].ecx;
    k.edx = table[e].edx;
  }
  cpuid_ = table;
  for (unsigned i = 0; i < count; ++i) {
    auto vcpu = std::make_unique<Vcpu>();
    vcpu->index = i;
    vcpu->fd = ioctl(vm_fd_, KVM_CREATE_VCPU, i);
    if (vcpu->fd < 0) return os_error("KVM_CREATE_VCPU");
    void* run = mmap(nullptr, run_size_, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu->fd, 0);
    if (run == MAP_FAILED) return os_error("mmap(kvm_run)");
    vcpu->run = static_cast<kvm_run*>(run);
    // Each vCPU sees its own APIC id in CPUID leaf 1.
    for (size_t e = 0; e < table.size(); ++e)
      if (entries[e].function == 1) entries[e].ebx = (entries[e].ebx & 0x00ffffff) | (i << 24);
    if (ioctl(vcpu->fd, kSetCpuid2, header) < 0) return os_error("KVM_SET_CPUID2");
    if (ioctl(vcpu->fd, KVM_GET_REGS, &vcpu->regs) < 0 ||
        ioctl(vcpu->fd, KVM_GET_SREGS, &vcpu->sregs) < 0 ||
        ioctl(vcpu->fd, KVM_GET_FPU, &vcpu->fpu) < 0 ||
        ioctl(vcpu->fd, KVM_GET_LAPIC, &vcpu->lapic) < 0 ||
        ioctl(vcpu->fd, KVM_GET_MP_STATE, &vcpu->mp_state) < 0)
      return os_error("reading the vCPU's power-on state");
    vcpus_.push_back(std::move(vcpu));
  }
  return ok();
}

Result<void> KvmVm::reset_cpus() {
  size_t offset = 0;
  for (int i = 0; i < 3; ++i, offset += sizeof(kvm_irqchip)) {
    kvm_irqchip state;
    std::memcpy(&state, irqchip_snapshot_.data() + offset, sizeof(state));
    if (ioctl(vm_fd_, KVM_SET_IRQCHIP, &state) < 0) return os_error("KVM_SET_IRQCHIP");
  }
  kvm_pit_state2 pit;
  std::memcpy(&pit, irqchip_snapshot_.data() + offset, sizeof(pit));
  if (ioctl(vm_fd_, KVM_SET_PIT2, &pit) < 0) return os_error("KVM_SET_PIT2");
  for (auto& vcpu : vcpus_) {
    if (ioctl(vcpu->fd, KVM_SET_SREGS, &vcpu->sregs) < 0 ||
        ioctl(vcpu->fd, KVM_SET_REGS, &vcpu->regs) < 0 ||
        ioctl(vcpu->fd, KVM_SET_FPU, &vcpu->fpu) < 0 ||
        ioctl(vcpu->fd, KVM_SET_LAPIC, &vcpu->lapic) < 0 ||
        ioctl(vcpu->fd, KVM_SET_MP_STATE, &vcpu->mp_state) < 0)
      return os_error("restoring the vCPU's power-on state");
  }
  return ok();
}

void KvmVm::start(Dispatcher& dispatcher, EventLoop& loop, std::mutex& device_lock,
                  std::function<void()> on_triple_fault,
                  std::function<void(std::string)> on_error) {
  dispatcher_ = &dispatcher;
  loop_ = &loop;
  device_lock_ = &device_lock;
  on_triple_fault_ = std::move(on_triple_fault);
  on_error_ = std::move(on_error);
  stopping_ = false;
  for (auto& vcpu : vcpus_) {
    vcpu->run->immediate_exit = 0;
    vcpu->thread = std::thread([this, v = vcpu.get()] { run_vcpu(*v); });
  }
}

void KvmVm::stop() {
  stopping_ = true;
  for (auto& vcpu : vcpus_) {
    if (!vcpu->thread.joinable()) continue;
    vcpu->run->immediate_exit = 1;
    pthread_kill(vcpu->thread.native_handle(), kKickSignal);
    vcpu->thread.join();
  }
}

void KvmVm::run_vcpu(Vcpu& vcpu) {
  pthread_setname_np(pthread_self(), ("vcpu" + std::to_string(vcpu.index)).c_str());
  while (!stopping_) {
    if (ioctl(vcpu.fd, KVM_RUN, 0) < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      std::lock_guard lock(*device_lock_);
      on_error_(std::string("KVM_RUN: ") + strerror(errno));
      return;
    }
    ++exits_;
    if (!handle_exit(vcpu)) return;
  }
}

bool KvmVm::handle_exit(Vcpu& vcpu) {
  kvm_run& run = *vcpu.run;
  std::lock_guard lock(*device_lock_);
  switch (run.exit_reason) {
    case KVM_EXIT_IO: {
      // The items (one, or a string I/O's count, already split at page ends) are in the shared
      // page; the dispatcher unrolls them.
      IoRequest r{.addr = run.io.port,
                  .count = run.io.count,
                  .size = run.io.size,
                  .kind = IoKind::kPort,
                  .is_write = run.io.direction == KVM_EXIT_IO_OUT,
                  .host_buffer = reinterpret_cast<uint8_t*>(&run) + run.io.data_offset};
      dispatcher_->handle(r);
      break;
    }
    case KVM_EXIT_MMIO: {
      // The dispatcher checks the size (a bad one is logged and reads as all-ones).
      IoRequest r{.addr = run.mmio.phys_addr,
                  .size = static_cast<uint8_t>(std::min<uint32_t>(run.mmio.len, 0xff)),
                  .kind = IoKind::kMmio,
                  .is_write = run.mmio.is_write != 0};
      unsigned bytes = std::min<unsigned>(run.mmio.len, sizeof(r.data));
      if (r.is_write) std::memcpy(&r.data, run.mmio.data, bytes);
      dispatcher_->handle(r);
      if (!r.is_write) std::memcpy(run.mmio.data, &r.data, bytes);
      break;
    }
    case KVM_EXIT_SHUTDOWN:  // a triple fault: on a PC, the machine resets
      on_triple_fault_();
      loop_->after_access();
      return false;
    case KVM_EXIT_INTR:
    case KVM_EXIT_HLT:
      break;
    case KVM_EXIT_FAIL_ENTRY:
      on_error_("KVM cannot enter the guest (hardware reason " +
                std::to_string(run.fail_entry.hardware_entry_failure_reason) + ")");
      return false;
    case KVM_EXIT_INTERNAL_ERROR:
      on_error_("KVM internal error " + std::to_string(run.internal.suberror) +
                " (an instruction KVM cannot emulate)");
      return false;
    default:
      on_error_("unexpected KVM exit " + std::to_string(run.exit_reason));
      return false;
  }
  loop_->after_access();
  return true;
}

void KvmVm::set_isa_irq(unsigned irq, bool level) {
  if (irq >= 16) return;
  kvm_irq_level line{};
  line.irq = irq;
  line.level = level ? 1 : 0;
  ioctl(vm_fd_, KVM_IRQ_LINE, &line);
}

void KvmVm::set_pci_intx(PciAddress device, unsigned pin, bool level) {
  router_.set_pci_intx(device, pin, level);
}

void KvmVm::set_pci_link_route(unsigned link, unsigned isa_irq) {
  router_.set_link_route(link, isa_irq);
  link &= 3;
  if (isa_irq >= 16) isa_irq = 0;  // as the router: disabled
  link_routes_[link] = isa_irq;
  // Host INTx irqfds follow the guest's routing.
  for (IntxIrqfd& irqfd : intx_irqfds_) {
    if (irqfd.link != link || irqfd.gsi == isa_irq) continue;
    deassign_irqfd(irqfd);
    if (isa_irq == 0) continue;
    if (auto r = assign_irqfd(irqfd, isa_irq); !r)
      HVMD_WARN("host INTx on PIRQ link %u not routed to IRQ %u: %s", link, isa_irq,
                r.error().message.c_str());
  }
}

void KvmVm::send_msi(const MsiMessage& message) {
  kvm_msi msi{};
  msi.address_lo = static_cast<uint32_t>(message.address);
  msi.address_hi = static_cast<uint32_t>(message.address >> 32);
  msi.data = message.data;
  ioctl(vm_fd_, KVM_SIGNAL_MSI, &msi);
}

}  // namespace hvmd::kvm
