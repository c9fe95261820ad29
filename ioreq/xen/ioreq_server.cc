#include "ioreq/xen/ioreq_server.h"

#include <sys/epoll.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>

#include "dm/log.h"

namespace hvmd::xen {
namespace {

// ioreq_t keeps state (bits 0-3), data_is_ptr (4), dir (5) and df (6) in the byte before type.
constexpr size_t kFlagsOffset = offsetof(ioreq_t, type) - 1;
static_assert(sizeof(ioreq_t) == 32 && kFlagsOffset == 30, "ioreq_t layout changed");
constexpr uint8_t kStateMask = 0x0f;
constexpr uint8_t kDataIsPtr = 1 << 4;
constexpr uint8_t kDirRead = 1 << 5;
constexpr uint8_t kDf = 1 << 6;

uint8_t* flags_of(ioreq_t* slot) {
  return reinterpret_cast<uint8_t*>(slot) + kFlagsOffset;
}

uint8_t load_state(ioreq_t* slot) {
  return __atomic_load_n(flags_of(slot), __ATOMIC_ACQUIRE) & kStateMask;
}

// Publishes a new state after everything written before it (release), as Xen reads the response
// fields once it sees IORESP_READY.
void store_state(ioreq_t* slot, uint8_t state) {
  uint8_t* flags = flags_of(slot);
  uint8_t value = (__atomic_load_n(flags, __ATOMIC_RELAXED) & ~kStateMask) | state;
  __atomic_store_n(flags, value, __ATOMIC_RELEASE);
}

// buf_ioreq_t: type (byte 0), then pad:1 dir:1 size:2 addr:20 packed from bit 8, data in 4..7.
struct BufferedSlot {
  uint8_t type;
  bool is_read;
  unsigned size;
  uint32_t addr;
  uint32_t data;
};
static_assert(sizeof(buf_ioreq_t) == 8, "buf_ioreq_t layout changed");

BufferedSlot decode(const volatile buf_ioreq_t* slot) {
  uint32_t words[2];
  const volatile uint32_t* raw = reinterpret_cast<const volatile uint32_t*>(slot);
  words[0] = raw[0];
  words[1] = raw[1];
  return {static_cast<uint8_t>(words[0]), ((words[0] >> 9) & 1) != 0, 1u << ((words[0] >> 10) & 3),
          (words[0] >> 12) & 0xfffff, words[1]};
}

std::optional<IoKind> kind_of(uint8_t type) {
  switch (type) {
    case IOREQ_TYPE_PIO:
      return IoKind::kPort;
    case IOREQ_TYPE_COPY:
      return IoKind::kMmio;
    case IOREQ_TYPE_PCI_CONFIG:
      return IoKind::kPciConfig;
    default:
      return std::nullopt;
  }
}

}  // namespace

std::vector<Interval> merge_ranges(std::vector<Interval> ranges) {
  std::sort(ranges.begin(), ranges.end(),
            [](const Interval& a, const Interval& b) { return a.first < b.first; });
  std::vector<Interval> out;
  for (const Interval& r : ranges) {
    // Adjacent ranges merge too: Xen only forwards an access wholly inside one range.
    if (!out.empty() && r.first <= out.back().last + 1)
      out.back().last = std::max(out.back().last, r.last);
    else
      out.push_back(r);
  }
  return out;
}

IoreqServer::IoreqServer(XenPlatform& platform, Dispatcher& dispatcher, MapCache& memory,
                         EventLoop& loop)
    : platform_(platform), dispatcher_(dispatcher), memory_(memory), loop_(loop) {}

IoreqServer::~IoreqServer() {
  stop();
}

Result<void> IoreqServer::start() {
  HVMD_TRY(platform_.create_server());
  auto pages = platform_.map_pages();
  if (!pages) return pages.error();
  pages_ = *pages;
  auto buffered = platform_.buffered_remote_port();
  if (!buffered) return buffered.error();
  auto vcpus = platform_.vcpu_count();
  if (!vcpus) return vcpus.error();
  // The pages' event-channel ports are meaningful only once the server is enabled.
  HVMD_TRY(platform_.set_server_enabled(true));
  for (unsigned v = 0; v < *vcpus; ++v) {
    auto port = platform_.bind(pages_.sync->vcpu_ioreq[v].vp_eport);
    if (!port)
      return make_error("cannot bind the event channel of vCPU %u: %s", v,
                        port.error().message.c_str());
    vcpu_ports_.push_back(*port);
  }
  auto port = platform_.bind(*buffered);
  if (!port)
    return make_error("cannot bind the buffered ioreq event channel: %s",
                      port.error().message.c_str());
  buffered_port_ = *port;
  started_ = true;
  dispatcher_.set_listener(this);
  for (const auto& m : dispatcher_.mappings())
    if (m.sequence && m.memory) memory_changed(*m.memory, m.offset, m.length, m.base, true);
  sync_ranges(IoKind::kPort);
  sync_ranges(IoKind::kMmio);
  for (PciAddress a : dispatcher_.pci_addresses()) HVMD_TRY(platform_.map_pci(a, true));
  return loop_.watch(platform_.event_fd(), EPOLLIN, [this](uint32_t) { process_events(); });
}

void IoreqServer::stop() {
  if (!started_) return;
  started_ = false;
  dispatcher_.set_listener(nullptr);
  loop_.unwatch(platform_.event_fd());
  platform_.destroy_server();
}

Result<void> IoreqServer::set_enabled(bool enabled) {
  return platform_.set_server_enabled(enabled);
}

// A wake-up costs one read (every pending port), one write (unmask them all) and one notify per
// completed synchronous request: the least the interface allows. The ports are unmasked before
// the requests are served, so a request posted after its slot was looked at raises its port
// again and is served on the next wake-up; a request served before its own kick arrived leaves
// a kick that finds nothing (a spurious kick, ignored). A read that filled the buffer may have
// left ports behind, so only then is the device read again.
void IoreqServer::process_events() {
  std::array<uint32_t, kPortsPerRead> ports;
  for (unsigned reads = 0; reads < kReadsPerWake; ++reads) {
    size_t n = platform_.pending(ports);
    if (n == 0) return;
    platform_.unmask(std::span<const uint32_t>(ports.data(), n));
    serve_all();
    if (n < ports.size()) return;
  }
}

// The buffered ring and every vCPU's slot, whichever ports were kicked: a kick only says where
// to look first, and looking everywhere costs a few loads where another wake-up costs syscalls.
void IoreqServer::serve_all() {
  drain_buffered();
  for (unsigned v = 0; v < vcpu_ports_.size(); ++v) handle_vcpu(v);
}

void IoreqServer::handle_vcpu(unsigned vcpu) {
  // Buffered writes were issued before this request; they must land first.
  drain_buffered();
  ioreq_t* slot = &pages_.sync->vcpu_ioreq[vcpu];
  if (load_state(slot) != STATE_IOREQ_READY) return;  // spurious kick: nothing to do
  // Acquire above orders these reads after the state Xen published.
  uint8_t flags = *flags_of(slot);
  IoRequest request;
  request.addr = slot->addr;
  request.data = slot->data;
  request.count = slot->count;
  request.size = static_cast<uint8_t>(slot->size <= 8 ? slot->size : 0);
  request.is_write = !(flags & kDirRead);
  request.df = (flags & kDf) != 0;
  request.data_is_ptr = (flags & kDataIsPtr) != 0;
  uint8_t type = slot->type;
  store_state(slot, STATE_IOREQ_INPROCESS);
  execute(request, type);
  if (!request.is_write && !request.data_is_ptr) slot->data = request.data;
  store_state(slot, STATE_IORESP_READY);
  platform_.notify(vcpu_ports_[vcpu]);
}

void IoreqServer::execute(IoRequest& request, uint8_t type) {
  if (type == IOREQ_TYPE_INVALIDATE) {
    memory_.invalidate();
    return;
  }
  if (type == IOREQ_TYPE_TIMEOFFSET) {
    // Xen sends the change of the guest's clock offset each time the guest sets its RTC.
    rtc_offset_ += static_cast<int64_t>(request.data);
    if (time_offset_) time_offset_(rtc_offset_);
    return;
  }
  auto kind = kind_of(type);
  if (!kind) {
    HVMD_GUEST_LOG("ignored ioreq of unknown type %u", type);
    return;
  }
  request.kind = *kind;
  dispatcher_.handle(request);
}

// Consumer side of Xen's buffered ring (atomic mode): Xen may rebase both pointers by a multiple
// of the slot count while we read, so the read pointer is read twice around the write pointer.
void IoreqServer::drain_buffered() {
  if (!pages_.buffered) return;
  auto* ring = pages_.buffered;
  for (unsigned handled = 0; handled < kMaxBufferedPerPass;) {
    uint32_t read = __atomic_load_n(&ring->read_pointer, __ATOMIC_ACQUIRE);
    uint32_t write = __atomic_load_n(&ring->write_pointer, __ATOMIC_ACQUIRE);
    if (__atomic_load_n(&ring->read_pointer, __ATOMIC_ACQUIRE) != read) continue;
    if (read == write) return;
    BufferedSlot slot = decode(&ring->buf_ioreq[read % IOREQ_BUFFER_SLOT_NUM]);
    uint64_t data = slot.data;
    uint32_t used = 1;
    if (slot.size == 8) {
      if (read + 1 == write) {
        HVMD_GUEST_LOG("buffered 8-byte write without its second half");
        return;
      }
      data |= uint64_t{decode(&ring->buf_ioreq[(read + 1) % IOREQ_BUFFER_SLOT_NUM]).data} << 32;
      used = 2;
    }
    IoRequest request{.addr = slot.addr,
                      .data = data,
                      .size = static_cast<uint8_t>(slot.size),
                      .is_write = !slot.is_read};
    if (slot.is_read) {
      HVMD_GUEST_LOG("buffered ioreq is a read; dropped");
    } else {
      execute(request, slot.type);
    }
    __atomic_fetch_add(&ring->read_pointer, used, __ATOMIC_RELEASE);
    handled += used;
  }
}

void IoreqServer::sync_ranges(IoKind kind) {
  if (!started_) return;
  std::vector<Interval> wanted;
  for (const auto& m : dispatcher_.mappings())
    if (m.sequence && m.kind == kind &&
        !(m.memory && device_memory_ && device_memory_->placed(*m.memory, m.offset, m.base)))
      wanted.push_back({m.base, m.base + m.length - 1});
  wanted = merge_ranges(std::move(wanted));
  auto& claimed = kind == IoKind::kPort ? claimed_ports_ : claimed_mmio_;
  // Release what is no longer wanted exactly, then claim what is new: Xen's rangesets merge and
  // split, so the same intervals must go back as came in.
  for (const Interval& old : claimed)
    if (std::find(wanted.begin(), wanted.end(), old) == wanted.end())
      (void)platform_.map_range(kind, old.first, old.last, false);
  for (const Interval& now : wanted) {
    if (std::find(claimed.begin(), claimed.end(), now) != claimed.end()) continue;
    if (auto claimed_ok = platform_.map_range(kind, now.first, now.last, true); !claimed_ok)
      HVMD_WARN("cannot claim %#llx-%#llx from Xen: %s", static_cast<unsigned long long>(now.first),
                static_cast<unsigned long long>(now.last), claimed_ok.error().message.c_str());
  }
  claimed = std::move(wanted);
}

void IoreqServer::ports_changed(uint64_t, uint64_t, bool) {
  sync_ranges(IoKind::kPort);
}
void IoreqServer::mmio_changed(uint64_t, uint64_t, bool) {
  sync_ranges(IoKind::kMmio);
}
void IoreqServer::memory_changed(DeviceMemory& memory, uint64_t offset, uint64_t length,
                                 uint64_t base, bool mapped) {
  if (!started_ || !device_memory_) return;
  device_memory_->place(memory, offset, length, base, mapped);
  if (mapped) return;
  // The pages this mapping held may be what another mapping of the same memory was refused for
  // (a framebuffer BAR while a banked window held some of VRAM): that one may move in now.
  for (const auto& m : dispatcher_.mappings())
    if (m.sequence && m.memory == &memory && !device_memory_->placed(memory, m.offset, m.base))
      device_memory_->place(memory, m.offset, m.length, m.base, true);
}

void IoreqServer::pci_changed(PciAddress address, bool mapped) {
  if (!started_) return;
  if (auto r = platform_.map_pci(address, mapped); !r)
    HVMD_WARN("cannot %s PCI %02x:%02x.%x with Xen: %s", mapped ? "claim" : "release", address.bus,
              address.device(), address.function(), r.error().message.c_str());
}

}  // namespace hvmd::xen
