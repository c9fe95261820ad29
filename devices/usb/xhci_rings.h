// xHCI rings in guest memory: the producer-consumer rings software fills (the command ring and
// each endpoint's transfer ring), read with their cycle bit and link TRBs, and the event ring the
// controller fills (an interrupter's Event Ring Segment Table).
//
// Rings are guest memory and hostile. A fetch follows at most kMaxLinksPerFetch link TRBs before it
// finds a TRB (a ring of links only is an error, not a hang); a TRB or segment table outside RAM
// is an error the controller reports as a host system error. The event ring never writes outside
// the segments the table described when it was set up (each 16..4096 TRBs, at most 2^ERSTMax).
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "devices/usb/xhci_regs.h"

#include "dm/guest_memory.h"

namespace hvmd::devices::usb::xhci {

struct Trb {
  uint64_t parameter = 0;
  uint32_t status = 0;
  uint32_t control = 0;
  uint8_t type() const;
};

// A ring software produces: where the controller reads next, and the cycle state it expects.
struct RingState {
  uint64_t dequeue = 0;
  bool cycle = false;
  template <class V>
  void describe(V& v) {
    v("dequeue", dequeue);
    v("cycle", cycle);
  }
};

enum class FetchResult { kTrb, kEmpty, kLinkLoop, kNotRam };

// The next TRB at ring.dequeue (following link TRBs, toggling the cycle state where a link says
// so); its address in at. The caller moves ring.dequeue past it (advance) once it is consumed.
FetchResult fetch_trb(GuestMemory& memory, RingState& ring, Trb& trb, uint64_t& at);
inline void advance(RingState& ring, uint64_t at) {
  ring.dequeue = at + 16;
}

// One interrupter's event ring.
struct EventRingState {
  uint64_t erstba = 0;
  uint32_t erstsz = 0;
  uint64_t erdp = 0;  // as software wrote it (pointer and DESI; EHB kept in `busy`)
  bool busy = false;  // ERDP.EHB
  // Where the next event goes: segment and TRB index, the producer cycle state.
  bool valid = false;
  uint32_t segment = 0;
  uint32_t index = 0;
  bool cycle = true;
  bool full = false;  // an Event Ring Full event was written; nothing more until ERDP moves
  // Each segment's base and size, from the table at set-up (segments of them).
  uint32_t segments = 0;
  std::array<uint64_t, 1u << kErstMaxLog2> bases{};
  std::array<uint32_t, 1u << kErstMaxLog2> sizes{};
  template <class V>
  void describe(V& v) {
    v("ERSTBA", erstba);
    v("ERSTSZ", erstsz);
    v("ERDP", erdp);
    v("EHB", busy);
    v("valid", valid);
    v("segment", segment);
    v("index", index);
    v("cycle", cycle);
    v("full", full);
    v("segments", segments);
    v("segment bases", bases);
    v("segment sizes", sizes);
  }
  // A loaded state describes a ring this code could have set up.
  bool consistent() const;
};

class EventRing : public EventRingState {
 public:
  // ERSTBA written: reads the segment table. false: the table is unusable (logged).
  bool setup(GuestMemory& memory);
  // Writes an event. kWritten, kDropped (no ring, or full: the event is lost), or kNotRam.
  enum class Post { kWritten, kDropped, kNotRam };
  Post post(GuestMemory& memory, const Trb& event);
  // Software moved ERDP.
  void dequeue_written(uint64_t erdp);
  // Whether events are waiting beyond software's dequeue pointer.
  bool pending() const;
  uint64_t enqueue_address() const;
  void clear() { static_cast<EventRingState&>(*this) = EventRingState{}; }

 private:
  void next_position(uint32_t& segment, uint32_t& index, bool& cycle) const;
  bool write(GuestMemory& memory, uint64_t address, Trb event, bool cycle);
};

}  // namespace hvmd::devices::usb::xhci
