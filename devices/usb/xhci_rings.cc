#include "devices/usb/xhci_rings.h"

#include "devices/usb/xhci_regs.h"
#include "dm/log.h"

namespace hvmd::devices::usb::xhci {

uint8_t Trb::type() const {
  return static_cast<uint8_t>((control >> kTrbTypeShift) & kTrbTypeMask);
}

namespace {
bool read_trb(GuestMemory& memory, uint64_t at, Trb& trb) {
  uint8_t bytes[kTrbSize];
  if (!memory.read(at, bytes, sizeof(bytes))) return false;
  auto le32 = [&](int i) {
    return uint32_t{bytes[i]} | uint32_t{bytes[i + 1]} << 8 | uint32_t{bytes[i + 2]} << 16 |
           uint32_t{bytes[i + 3]} << 24;
  };
  trb.parameter = le32(0) | uint64_t{le32(4)} << 32;
  trb.status = le32(8);
  trb.control = le32(12);
  return true;
}
}  // namespace

FetchResult fetch_trb(GuestMemory& memory, RingState& ring, Trb& trb, uint64_t& at) {
  for (unsigned links = 0; links <= kMaxLinksPerFetch; ++links) {
    at = ring.dequeue & ~uint64_t{0xf};
    if (!read_trb(memory, at, trb)) return FetchResult::kNotRam;
    if (bool(trb.control & kTrbCycle) != ring.cycle) return FetchResult::kEmpty;
    if (trb.type() != kTrbLink) return FetchResult::kTrb;
    if (trb.control & kTrbToggle) ring.cycle = !ring.cycle;
    ring.dequeue = trb.parameter & ~uint64_t{0xf};
  }
  return FetchResult::kLinkLoop;
}

bool EventRing::setup(GuestMemory& memory) {
  valid = false;
  segments = 0;
  segment = index = 0;
  cycle = true;
  full = false;
  if (erstsz == 0 || erstsz > (1u << kErstMaxLog2)) {
    HVMD_GUEST_LOG("xhci: ERSTSZ %u is not 1..%u: no event ring", erstsz, 1u << kErstMaxLog2);
    return false;
  }
  for (uint32_t i = 0; i < erstsz; ++i) {
    uint8_t entry[16];
    if (!memory.read(erstba + 16 * i, entry, sizeof(entry))) {
      HVMD_GUEST_LOG("xhci: event ring segment table at %#llx is not RAM",
                     static_cast<unsigned long long>(erstba));
      return false;
    }
    uint64_t base = 0;
    for (int b = 7; b >= 0; --b) base = base << 8 | entry[b];
    uint32_t size = entry[8] | uint32_t{entry[9]} << 8;
    base &= ~uint64_t{0x3f};
    if (size < kMinSegmentTrbs || size > kMaxSegmentTrbs) {
      HVMD_GUEST_LOG("xhci: event ring segment %u (%u TRBs at %#llx) unusable", i, size,
                     static_cast<unsigned long long>(base));
      segments = 0;
      return false;
    }
    bases[i] = base;
    sizes[i] = size;
    segments = i + 1;
  }
  valid = true;
  return true;
}

uint64_t EventRing::enqueue_address() const {
  if (!valid) return 0;
  return bases[segment] + uint64_t{index} * kTrbSize;
}

void EventRing::next_position(uint32_t& seg, uint32_t& idx, bool& cyc) const {
  seg = segment;
  idx = index + 1;
  cyc = cycle;
  if (idx >= sizes[seg]) {
    idx = 0;
    if (++seg >= segments) {
      seg = 0;
      cyc = !cyc;
    }
  }
}

bool EventRing::write(GuestMemory& memory, uint64_t address, Trb event, bool cyc) {
  event.control = (event.control & ~kTrbCycle) | (cyc ? kTrbCycle : 0);
  uint32_t words[4] = {static_cast<uint32_t>(event.parameter),
                       static_cast<uint32_t>(event.parameter >> 32), event.status, 0};
  // The cycle bit's dword goes last, so software never sees a half-written event as valid.
  if (!memory.write(address, words, 12)) return false;
  if (!memory.write(address + 12, &event.control, 4)) return false;
  memory.mark_dirty(address, kTrbSize);
  return true;
}

EventRing::Post EventRing::post(GuestMemory& memory, const Trb& event) {
  if (!valid || full) return Post::kDropped;
  uint32_t seg, idx;
  bool cyc;
  next_position(seg, idx, cyc);
  uint64_t next = bases[seg] + uint64_t{idx} * kTrbSize;
  if (next == (erdp & kErdpPointerMask)) {
    // One slot left: it takes the Event Ring Full error, and events stop until software
    // dequeues (xHCI 4.9.4).
    Trb error{.parameter = 0,
              .status = uint32_t{kCcEventRingFull} << 24,
              .control = uint32_t{kEventHostController} << kTrbTypeShift};
    full = true;
    HVMD_GUEST_LOG("xhci: event ring full");
    if (!write(memory, enqueue_address(), error, cycle)) return Post::kNotRam;
    segment = seg;
    index = idx;
    cycle = cyc;
    return Post::kDropped;
  }
  if (!write(memory, enqueue_address(), event, cycle)) return Post::kNotRam;
  segment = seg;
  index = idx;
  cycle = cyc;
  return Post::kWritten;
}

void EventRing::dequeue_written(uint64_t value) {
  uint64_t before = erdp & kErdpPointerMask;
  erdp = value & ~kErdpEhb;
  if ((erdp & kErdpPointerMask) != before) full = false;
}

bool EventRingState::consistent() const {
  if (!valid) return true;
  if (segments == 0 || segments > bases.size() || segment >= segments) return false;
  for (uint32_t i = 0; i < segments; ++i)
    if (sizes[i] < kMinSegmentTrbs || sizes[i] > kMaxSegmentTrbs) return false;
  return index < sizes[segment];
}

bool EventRing::pending() const {
  return valid && (full || enqueue_address() != (erdp & kErdpPointerMask));
}

}  // namespace hvmd::devices::usb::xhci
