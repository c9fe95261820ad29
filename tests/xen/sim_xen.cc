#include "tests/xen/sim_xen.h"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace hvmd::test {
namespace {
constexpr size_t kFlagsOffset = 30;
uint8_t* flags_of(ioreq_t* slot) {
  return reinterpret_cast<uint8_t*>(slot) + kFlagsOffset;
}
}  // namespace

SimXen::SimXen(unsigned vcpus, uint64_t ram_bytes) : vcpus_(vcpus), ram_(ram_bytes) {
  void* pages = mmap(nullptr, 2 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (pages == MAP_FAILED) throw std::runtime_error("mmap");
  buffered_page_ = static_cast<buffered_iopage_t*>(pages);
  sync_page_ = reinterpret_cast<shared_iopage_t*>(static_cast<uint8_t*>(pages) + 4096);
  if (pipe2(pending_pipe_, O_CLOEXEC | O_NONBLOCK) < 0) throw std::runtime_error("pipe");
}

SimXen::~SimXen() {
  munmap(buffered_page_, 2 * 4096);
  close(pending_pipe_[0]);
  close(pending_pipe_[1]);
  for (auto& [port, fd] : kick_fd_) close(fd);
}

Result<void> SimXen::create_server() {
  return ok();
}

Result<xen::IoreqPages> SimXen::map_pages() {
  return xen::IoreqPages{sync_page_, buffered_page_};
}

Result<void> SimXen::set_server_enabled(bool enabled) {
  // As Xen does in ioreq_server_enable: the per-vCPU ports appear in the page.
  for (unsigned v = 0; v < vcpus_; ++v) sync_page_->vcpu_ioreq[v].vp_eport = kFirstRemotePort + v;
  enabled_ = enabled;
  return ok();
}

Result<void> SimXen::map_range(IoKind kind, uint64_t first, uint64_t last, bool claim) {
  std::lock_guard guard(log_lock_);
  range_calls_.push_back({kind, first, last, claim});
  return ok();
}

Result<void> SimXen::map_pci(PciAddress address, bool claim) {
  std::lock_guard guard(log_lock_);
  if (claim)
    pci_.insert(address.devfn);
  else
    pci_.erase(address.devfn);
  return ok();
}

Result<uint32_t> SimXen::bind(uint32_t remote_port) {
  bool frontend = remote_port >= kFirstFrontendPort && remote_port <= kLastFrontendPort;
  if (!frontend && (remote_port < kFirstRemotePort || remote_port > kFirstRemotePort + vcpus_))
    return make_error("no such remote port %u", remote_port);
  if (frontend && local_of_remote_.count(remote_port))
    return make_error("port %u already bound", remote_port);
  uint32_t local = remote_port + 1000;
  local_of_remote_[remote_port] = local;
  kick_fd_[local] = eventfd(0, EFD_CLOEXEC | (frontend ? EFD_NONBLOCK : 0));
  return local;
}

void SimXen::unbind(uint32_t local_port) {
  auto fd = kick_fd_.find(local_port);
  if (fd == kick_fd_.end()) throw std::runtime_error("unbind of a port never bound");
  close(fd->second);
  kick_fd_.erase(fd);
  {
    std::lock_guard guard(evtchn_lock_);
    port_state_.erase(local_port);  // a port bound again starts unmasked
  }
  std::erase_if(local_of_remote_, [&](const auto& entry) { return entry.second == local_port; });
}

uint64_t SimXen::take_frontend_kicks(uint32_t remote_port) {
  auto local = local_of_remote_.find(remote_port);
  if (local == local_of_remote_.end()) return 0;
  uint64_t kicks = 0;
  if (read(kick_fd_.at(local->second), &kicks, sizeof(kicks)) != sizeof(kicks)) return 0;
  return kicks;
}

void SimXen::deliver_locked(uint32_t local_port) {
  PortState& state = port_state_[local_port];
  if (state.masked) {
    state.pending = true;
    return;
  }
  state.masked = true;
  if (write(pending_pipe_[1], &local_port, sizeof(local_port)) != sizeof(local_port))
    throw std::runtime_error("pending pipe full");
}

void SimXen::kick_device_model(uint32_t remote_port) {
  uint32_t local = local_of_remote_.at(remote_port);
  std::lock_guard guard(evtchn_lock_);
  deliver_locked(local);
  ++device_model_kicks_;
}

size_t SimXen::pending(std::span<uint32_t> ports) {
  // Every write is one 4-byte record, so the pipe always holds whole records.
  ssize_t n = read(pending_pipe_[0], ports.data(), ports.size_bytes());
  std::lock_guard guard(evtchn_lock_);
  ++counts_.pending_reads;
  if (n <= 0) return 0;
  counts_.ports_delivered += static_cast<uint64_t>(n) / sizeof(uint32_t);
  return static_cast<size_t>(n) / sizeof(uint32_t);
}

void SimXen::unmask(std::span<const uint32_t> local_ports) {
  std::lock_guard guard(evtchn_lock_);
  ++counts_.unmask_calls;
  for (uint32_t port : local_ports) {
    PortState& state = port_state_[port];
    state.masked = false;
    if (state.pending) {
      state.pending = false;
      deliver_locked(port);
    }
  }
}

SimXen::ChannelCounts SimXen::channel_counts() const {
  std::lock_guard guard(evtchn_lock_);
  return counts_;
}

unsigned SimXen::requests_waiting() const {
  unsigned waiting = 0;
  for (unsigned v = 0; v < vcpus_; ++v) {
    uint8_t state = __atomic_load_n(flags_of(&sync_page_->vcpu_ioreq[v]), __ATOMIC_ACQUIRE) & 0xf;
    if (state == STATE_IOREQ_READY || state == STATE_IOREQ_INPROCESS) ++waiting;
  }
  return waiting;
}

void SimXen::notify(uint32_t local_port) {
  {
    std::lock_guard guard(evtchn_lock_);
    ++counts_.notifies;
  }
  uint64_t one = 1;
  if (write(kick_fd_.at(local_port), &one, sizeof(one)) != sizeof(one))
    throw std::runtime_error("kick");
}

uint64_t SimXen::access(unsigned vcpu, uint8_t type, uint64_t addr, unsigned size, bool is_read,
                        uint64_t data, uint32_t count, bool data_is_ptr, bool df) {
  ioreq_t* slot = &sync_page_->vcpu_ioreq[vcpu];
  uint8_t* flags = flags_of(slot);
  if ((__atomic_load_n(flags, __ATOMIC_ACQUIRE) & 0xf) != STATE_IOREQ_NONE)
    throw std::runtime_error("device model set bad IO state");
  slot->addr = addr;
  slot->data = data;
  slot->count = count;
  slot->size = size;
  slot->type = type;
  uint8_t f =
      STATE_IOREQ_READY | (data_is_ptr ? 1 << 4 : 0) | (is_read ? 1 << 5 : 0) | (df ? 1 << 6 : 0);
  __atomic_store_n(flags, f, __ATOMIC_RELEASE);
  uint32_t remote = slot->vp_eport;
  kick_device_model(remote);
  uint64_t kicks;
  if (read(kick_fd_.at(local_of_remote_.at(remote)), &kicks, sizeof(kicks)) != sizeof(kicks))
    throw std::runtime_error("wait");
  uint8_t state = __atomic_load_n(flags, __ATOMIC_ACQUIRE) & 0xf;
  if (state != STATE_IORESP_READY) throw std::runtime_error("response not ready");
  uint64_t result = slot->data;
  __atomic_store_n(flags, uint8_t{STATE_IOREQ_NONE}, __ATOMIC_RELEASE);
  return result;
}

void SimXen::buffered_write(uint8_t type, uint32_t addr, unsigned size, uint64_t data) {
  std::lock_guard guard(buffered_lock_);
  unsigned slots = size == 8 ? 2 : 1;
  auto* ring = buffered_page_;
  // Wait for room, as Xen falls back to a synchronous request when the ring is full; here the
  // test's producer simply waits for the consumer.
  while (__atomic_load_n(&ring->write_pointer, __ATOMIC_ACQUIRE) -
             __atomic_load_n(&ring->read_pointer, __ATOMIC_ACQUIRE) + slots >
         IOREQ_BUFFER_SLOT_NUM)
    usleep(10);
  uint32_t write_pointer = ring->write_pointer;
  uint32_t size_code = size == 1 ? 0 : size == 2 ? 1 : size == 4 ? 2 : 3;
  uint32_t word0 = type | (0u << 9) | size_code << 10 | (addr & 0xfffff) << 12;
  uint32_t* first =
      reinterpret_cast<uint32_t*>(&ring->buf_ioreq[write_pointer % IOREQ_BUFFER_SLOT_NUM]);
  first[0] = word0;
  first[1] = static_cast<uint32_t>(data);
  if (slots == 2) {
    uint32_t* second =
        reinterpret_cast<uint32_t*>(&ring->buf_ioreq[(write_pointer + 1) % IOREQ_BUFFER_SLOT_NUM]);
    second[0] = word0;
    second[1] = static_cast<uint32_t>(data >> 32);
  }
  __atomic_store_n(&ring->write_pointer, write_pointer + slots, __ATOMIC_RELEASE);
  // Atomic mode: once the consumer is past a full lap, rebase both pointers with one 64-bit CAS.
  auto* both = reinterpret_cast<uint64_t*>(ring);
  uint64_t old = __atomic_load_n(both, __ATOMIC_ACQUIRE);
  uint32_t rd = static_cast<uint32_t>(old), wr = static_cast<uint32_t>(old >> 32);
  if (rd >= IOREQ_BUFFER_SLOT_NUM) {
    uint32_t n = rd / IOREQ_BUFFER_SLOT_NUM * IOREQ_BUFFER_SLOT_NUM;
    uint64_t rebased = uint64_t{rd - n} | uint64_t{wr - n} << 32;
    __atomic_compare_exchange_n(both, &old, rebased, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
  }
  kick_device_model(kFirstRemotePort + vcpus_);
}

void* SimXen::map_guest(uint64_t first_gfn, uint64_t count) {
  uint64_t pages = ram_.size() / 4096;
  if (first_gfn >= pages || count > pages - first_gfn) {
    // Populated pages: mappable as populated (contiguous in one allocation).
    auto first = populated_.find(first_gfn);
    if (first == populated_.end()) return nullptr;
    for (uint64_t i = 1; i < count; ++i) {
      auto page = populated_.find(first_gfn + i);
      if (page == populated_.end() || page->second.bytes != first->second.bytes + i * 4096)
        return nullptr;
    }
    ++live_mappings_;
    return first->second.bytes;
  }
  ++live_mappings_;
  return ram_.data() + first_gfn * 4096;
}

Result<void> SimXen::populate(uint64_t first_gfn, uint64_t count) {
  if (setup_over_) return make_error("populate: privileged handle closed");
  for (uint64_t i = 0; i < count; ++i)
    if (populated_.count(first_gfn + i) || first_gfn + i < ram_.size() / 4096)
      return make_error("populate: gfn %#llx is taken",
                        static_cast<unsigned long long>(first_gfn + i));
  auto& storage = populated_storage_.emplace_back(new uint8_t[count * 4096]());
  for (uint64_t i = 0; i < count; ++i)
    populated_[first_gfn + i] = {storage.get() + i * 4096, false};
  return ok();
}

Result<void> SimXen::relocate(uint64_t from_gfn, uint64_t to_gfn, uint64_t count) {
  for (uint64_t i = 0; i < count; ++i) {
    bool source = populated_.count(from_gfn + i) != 0;
    bool target_free =
        !populated_.count(to_gfn + i) || (to_gfn + i >= from_gfn && to_gfn + i < from_gfn + count);
    if (!source || !target_free)
      return make_error("relocate: %llu pages at %#llx cannot move to %#llx",
                        static_cast<unsigned long long>(count),
                        static_cast<unsigned long long>(from_gfn),
                        static_cast<unsigned long long>(to_gfn));
  }
  std::vector<PopulatedPage> moving;
  for (uint64_t i = 0; i < count; ++i) {
    moving.push_back(populated_[from_gfn + i]);
    populated_.erase(from_gfn + i);
  }
  for (uint64_t i = 0; i < count; ++i) populated_[to_gfn + i] = moving[i];
  relocations_.push_back({from_gfn, to_gfn, count});
  return ok();
}

Result<void> SimXen::dirty_pages(uint64_t first_gfn, uint64_t count,
                                 std::vector<uint64_t>& bitmap) {
  bitmap.assign((count + 63) / 64, 0);
  for (uint64_t i = 0; i < count; ++i) {
    auto page = populated_.find(first_gfn + i);
    if (page == populated_.end()) return make_error("dirty_pages: not populated");
    if (page->second.dirty) bitmap[i / 64] |= 1ull << (i % 64);
    page->second.dirty = false;
  }
  return ok();
}

bool SimXen::guest_write_direct(uint64_t gpa, uint8_t value) {
  auto page = populated_.find(gpa / 4096);
  if (page == populated_.end()) return false;
  page->second.bytes[gpa % 4096] = value;
  page->second.dirty = true;
  return true;
}

void SimXen::unmap_guest(void*, uint64_t) {
  --live_mappings_;
}

void SimXen::modified_memory(std::span<const PageRange> ranges) {
  std::lock_guard guard(log_lock_);
  ++modified_calls_;
  for (const PageRange& r : ranges) modified_.push_back({r.first_gfn, r.count});
}

void SimXen::inject_msi(uint64_t address, uint32_t data) {
  std::lock_guard guard(log_lock_);
  msis_.push_back({address, data});
}

void SimXen::shutdown(xen::ShutdownReason reason) {
  bool during_request = false;
  std::atomic_thread_fence(std::memory_order_acquire);
  for (unsigned v = 0; v < vcpus_; ++v)
    during_request |= sync_page_->vcpu_ioreq[v].state == STATE_IOREQ_INPROCESS;
  std::lock_guard guard(log_lock_);
  shutdowns_.push_back({reason, during_request});
}

std::vector<std::pair<xen::ShutdownReason, bool>> SimXen::shutdowns() const {
  std::lock_guard guard(log_lock_);
  return shutdowns_;
}

std::vector<SimXen::RangeCall> SimXen::range_calls() const {
  std::lock_guard guard(log_lock_);
  return range_calls_;
}

std::set<std::pair<uint64_t, uint64_t>> SimXen::claimed(IoKind kind) const {
  std::lock_guard guard(log_lock_);
  std::set<std::pair<uint64_t, uint64_t>> out;
  for (const auto& c : range_calls_) {
    if (c.kind != kind) continue;
    if (c.claim)
      out.insert({c.first, c.last});
    else
      out.erase({c.first, c.last});
  }
  return out;
}

std::set<uint8_t> SimXen::claimed_pci() const {
  std::lock_guard guard(log_lock_);
  return pci_;
}

std::vector<std::pair<uint64_t, uint32_t>> SimXen::msis() const {
  std::lock_guard guard(log_lock_);
  return msis_;
}

std::vector<std::pair<uint64_t, uint64_t>> SimXen::modified() const {
  std::lock_guard guard(log_lock_);
  return modified_;
}

std::set<uint64_t> SimXen::modified_pages() const {
  std::lock_guard guard(log_lock_);
  std::set<uint64_t> pages;
  for (auto [first, count] : modified_)
    for (uint64_t i = 0; i < count; ++i) pages.insert(first + i);
  return pages;
}

unsigned SimXen::modified_calls() const {
  std::lock_guard guard(log_lock_);
  return modified_calls_;
}

}  // namespace hvmd::test

namespace hvmd::test {

// As the real platform: these calls need the privileged handle, which end_setup closes unless
// passthrough kept it.
Result<void> SimXen::record_passthrough(const char* format, ...) {
  if (setup_over_ && !keep_passthrough_)
    return make_error("passthrough needs Xen's privileged interface, closed after set-up");
  char line[160];
  va_list args;
  va_start(args, format);
  vsnprintf(line, sizeof(line), format, args);
  va_end(args);
  std::lock_guard guard(log_lock_);
  passthrough_calls_.push_back(line);
  return ok();
}

Result<void> SimXen::memory_mapping(uint64_t first_gfn, uint64_t first_mfn, uint64_t count,
                                    bool add) {
  return record_passthrough("memory_mapping gfn=%#llx mfn=%#llx count=%llu %s",
                            static_cast<unsigned long long>(first_gfn),
                            static_cast<unsigned long long>(first_mfn),
                            static_cast<unsigned long long>(count), add ? "add" : "remove");
}

Result<void> SimXen::ioport_mapping(uint32_t first_guest_port, uint32_t first_host_port,
                                    uint32_t count, bool add) {
  return record_passthrough("ioport_mapping gport=%#x mport=%#x count=%u %s", first_guest_port,
                            first_host_port, count, add ? "add" : "remove");
}

Result<int> SimXen::map_pirq(unsigned machine_irq) {
  HVMD_TRY(record_passthrough("map_pirq irq=%u -> %d", machine_irq, next_pirq_));
  std::lock_guard guard(log_lock_);
  pirqs_.insert(next_pirq_);
  return next_pirq_++;
}

Result<int> SimXen::map_pirq_msi(PciAddress host, unsigned entry, uint64_t table_base) {
  HVMD_TRY(record_passthrough("map_pirq_msi %02x:%02x.%u entry=%u table=%#llx -> %d", host.bus,
                              host.device(), host.function(), entry,
                              static_cast<unsigned long long>(table_base), next_pirq_));
  std::lock_guard guard(log_lock_);
  pirqs_.insert(next_pirq_);
  return next_pirq_++;
}

Result<void> SimXen::unmap_pirq(int pirq) {
  {
    std::lock_guard guard(log_lock_);
    if (!pirqs_.count(pirq)) return make_error("unmap_pirq: pirq %d is not mapped", pirq);
  }
  HVMD_TRY(record_passthrough("unmap_pirq %d", pirq));
  std::lock_guard guard(log_lock_);
  pirqs_.erase(pirq);
  return ok();
}

Result<void> SimXen::bind_pt_intx(int pirq, PciAddress guest, unsigned pin) {
  return record_passthrough("bind_pt_intx pirq=%d %02x:%02x pin=%u", pirq, guest.bus,
                            guest.device(), pin);
}

Result<void> SimXen::unbind_pt_intx(int pirq, PciAddress guest, unsigned pin) {
  return record_passthrough("unbind_pt_intx pirq=%d %02x:%02x pin=%u", pirq, guest.bus,
                            guest.device(), pin);
}

Result<void> SimXen::update_msi_irq(uint32_t gvec, int pirq, uint32_t gflags, uint64_t gtable) {
  return record_passthrough("update_msi_irq gvec=%#x pirq=%d gflags=%#x gtable=%#llx", gvec, pirq,
                            gflags, static_cast<unsigned long long>(gtable));
}

Result<void> SimXen::unbind_msi_irq(uint32_t gvec, int pirq, uint32_t gflags) {
  return record_passthrough("unbind_msi_irq gvec=%#x pirq=%d gflags=%#x", gvec, pirq, gflags);
}

std::vector<std::string> SimXen::passthrough_calls() const {
  std::lock_guard guard(log_lock_);
  return passthrough_calls_;
}

std::set<int> SimXen::mapped_pirqs() const {
  std::lock_guard guard(log_lock_);
  return pirqs_;
}

}  // namespace hvmd::test
