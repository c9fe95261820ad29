// Bus-master DMA (SFF-8038i): the engine walks the guest's PRD table, each entry a 32-bit
// address and a byte count (0 meaning 64 KiB), the last one flagged end-of-table. Data moves
// straight between the medium and guest RAM, or through the channel's buffer (replies, and
// memory the transport cannot pin).
//
// The outcomes the bus-master status reports (as the SFF-8038i programming interface and guest
// drivers expect): a table larger than the transfer leaves ACTIVE set with INTERRUPT; exactly the
// transfer's size clears ACTIVE and sets INTERRUPT; a shorter table stops the engine with neither,
// and the command ends without an interrupt. A table entry or buffer outside guest RAM is a bus
// error: ERROR, and the command fails.
//
// Medium transfers move in chunks of up to 1 MiB, several in flight: each chunk's PRD pieces are
// pinned guest RAM (GuestMemory::pin) read or written by the block layer with one vectored
// request, no copy in between. Pieces are checked against RAM before any byte moves; a fault or
// a short table stops new chunks, and the command ends once those in flight are back. Where the
// transport cannot pin (it has no stable mapping to lend), a chunk goes through the channel's
// buffer instead, as before.
#include <algorithm>
#include <cerrno>
#include <cstring>

#include "devices/ide/ide_channel.h"
#include "devices/ide/ide_dma.h"
#include "devices/ide/ide_regs.h"
#include "dm/log.h"

namespace hvmd::devices::ide {

namespace {
constexpr uint64_t kPageBytes = 4096;
}  // namespace

IdeChannel::DmaInFlight& IdeChannel::dma_state() {
  if (!dma_) dma_ = std::make_unique<DmaInFlight>();
  return *dma_;
}

void IdeChannel::start_dma() {
  phase_ = Phase::kDmaRunning;
  status_ = kStatusBsy | kStatusDrdy;
  DmaInFlight& dma = dma_state();
  dma.stop = DmaInFlight::Stop::kNone;
  dma.error = 0;
  dma_next_chunk();
}

// Starts chunks until DmaInFlight::kMaxChunks are in flight or the transfer is all handed over,
// and ends the command once the last one is back. Runs again after every completion.
void IdeChannel::dma_next_chunk() {
  using Stop = DmaInFlight::Stop;
  // A reply in the buffer moves in one go, without medium I/O.
  if (transfer_.source == Source::kBuffer && transfer_.remaining > 0) {
    auto length = static_cast<uint32_t>(transfer_.remaining);
    PrdResult result = prd_transfer({buffer() + transfer_.buffer_pos, length});
    if (result == PrdResult::kShort) return dma_short_table();
    if (result == PrdResult::kFault || result == PrdResult::kCopy) return dma_fault();
    transfer_.buffer_pos += length;
    transfer_.remaining = 0;
  }
  DmaInFlight& dma = dma_state();
  while (dma.stop == Stop::kNone && transfer_.remaining > 0 && !dma.bounce_in_flight &&
         dma.in_flight < DmaInFlight::kMaxChunks) {
    BlockBackend* medium = drives_[transfer_.unit].medium.get();
    if (!medium) {  // the tray was opened under the command
      dma.stop = Stop::kError;
      dma.error = ENOMEDIUM;
      break;
    }
    DmaChunk* chunk = nullptr;
    for (DmaChunk& c : dma.chunks)
      if (!c.busy) chunk = &c;
    if (!chunk) break;  // cannot happen: in_flight counts the busy chunks
    uint64_t length = std::min<uint64_t>(transfer_.remaining, DmaInFlight::kChunkBytes);
    PrdResult result = prd_pin(*chunk, length);
    if (result == PrdResult::kShort) dma.stop = Stop::kShort;
    if (result == PrdResult::kFault) dma.stop = Stop::kFault;
    if (result == PrdResult::kCopy) {
      // Guest memory the transport cannot pin: through the channel's buffer, one chunk at a
      // time once nothing else is in flight.
      if (dma.in_flight == 0) dma_bounce_chunk(*medium);
      break;
    }
    if (result != PrdResult::kDone) break;
    uint64_t moved = 0;
    for (const iovec& v : chunk->iov) moved += v.iov_len;
    chunk->busy = true;
    chunk->to_host = transfer_.to_host;
    ++dma.in_flight;
    uint64_t offset = transfer_.offset;
    transfer_.offset += moved;
    transfer_.remaining -= moved;
    auto done = [this, chunk](int error) { dma_chunk_done(*chunk, error); };
    if (transfer_.to_host) {
      medium->readv(offset, chunk->iov, std::move(done));
    } else {
      medium->writev(offset, chunk->iov, std::move(done));
    }
  }
  if (dma.in_flight > 0) return;
  switch (dma.stop) {
    case Stop::kError:
      return medium_error(dma.error);
    case Stop::kShort:
      return dma_short_table();
    case Stop::kFault:
      return dma_fault();
    case Stop::kNone:
      if (transfer_.remaining == 0) return dma_finished();
      return;  // a bounce chunk is on its way
  }
}

void IdeChannel::dma_chunk_done(DmaChunk& chunk, int error) {
  DmaInFlight& dma = dma_state();
  for (const DmaChunk::Pin& pin : chunk.pins) {
    if (chunk.to_host && !error) memory_.mark_dirty(pin.gpa, pin.view.size());
    memory_.unpin(pin.gpa, pin.view);
  }
  chunk.pins.clear();
  chunk.iov.clear();
  chunk.busy = false;
  --dma.in_flight;
  if (error && dma.stop != DmaInFlight::Stop::kError) {
    dma.stop = DmaInFlight::Stop::kError;  // the first failure is the one reported
    dma.error = error;
  }
  dma_next_chunk();
}

// Walks the PRD table for up to `length` bytes, pinning each piece of guest RAM it names into
// chunk. kDone: the chunk holds at least some bytes (it may end early at kMaxSegments). kShort,
// kFault: the table ended or named memory that is not RAM before the chunk got any further.
// kCopy: RAM the transport cannot pin; the walk is rewound for the buffered path.
IdeChannel::PrdResult IdeChannel::prd_pin(DmaChunk& chunk, uint64_t length) {
  const uint32_t saved_next = prd_next_, saved_address = prd_address_, saved_left = prd_left_,
                 saved_entries = prd_entries_;
  const bool saved_end = prd_end_;
  auto give_up = [&](PrdResult result) {
    for (const DmaChunk::Pin& pin : chunk.pins) memory_.unpin(pin.gpa, pin.view);
    chunk.pins.clear();
    chunk.iov.clear();
    if (result == PrdResult::kCopy) {
      prd_next_ = saved_next;
      prd_address_ = saved_address;
      prd_left_ = saved_left;
      prd_entries_ = saved_entries;
      prd_end_ = saved_end;
    }
    return result;
  };
  chunk.pins.clear();
  chunk.iov.clear();
  uint64_t done = 0;
  while (done < length) {
    if (prd_left_ == 0) {
      // The table is bounded twice: by its end-of-table flag and by the 64 KiB it may occupy.
      if (prd_end_ || prd_entries_ >= kMaxPrdEntries) return give_up(PrdResult::kShort);
      uint32_t entry[2];
      if (!memory_.read(prd_next_, entry, sizeof(entry))) {
        HVMD_GUEST_LOG("ide: PRD entry at %#x is not in guest RAM", prd_next_);
        return give_up(PrdResult::kFault);
      }
      prd_next_ += sizeof(entry);
      ++prd_entries_;
      prd_address_ = entry[0] & ~1u;  // bit 0 of the address and the count is always zero
      uint32_t count = entry[1] & 0xfffe;
      prd_left_ = count == 0 ? 0x10000 : count;
      prd_end_ = entry[1] & kPrdEndOfTable;
    }
    uint64_t n = std::min<uint64_t>(prd_left_, length - done);
    std::span<uint8_t> view = memory_.pin(prd_address_, n);
    if (view.empty()) {
      // Not one mapping (a RAM region's end, a transport mapping in buckets): a page at a time.
      n = std::min<uint64_t>(n, kPageBytes - (prd_address_ & (kPageBytes - 1)));
      view = memory_.pin(prd_address_, n);
    }
    if (view.empty()) {
      if (memory_.map(prd_address_, n).empty()) {
        HVMD_GUEST_LOG("ide: DMA buffer %#x+%#llx is not in guest RAM", prd_address_,
                       static_cast<unsigned long long>(n));
        return give_up(PrdResult::kFault);
      }
      return give_up(PrdResult::kCopy);
    }
    bool joins =
        !chunk.iov.empty() &&
        static_cast<uint8_t*>(chunk.iov.back().iov_base) + chunk.iov.back().iov_len == view.data();
    if (!joins && chunk.iov.size() >= DmaInFlight::kMaxSegments) {
      memory_.unpin(prd_address_, view);
      break;  // the chunk is full; the next one goes on from here
    }
    chunk.pins.push_back({prd_address_, view});
    if (joins) {
      chunk.iov.back().iov_len += view.size();
    } else {
      chunk.iov.push_back({view.data(), view.size()});
    }
    prd_address_ += static_cast<uint32_t>(n);
    prd_left_ -= static_cast<uint32_t>(n);
    done += n;
  }
  return PrdResult::kDone;
}

// The buffered path: one chunk read into the channel's buffer and scattered along the table, or
// gathered and written, with nothing else in flight.
void IdeChannel::dma_bounce_chunk(BlockBackend& medium) {
  DmaInFlight& dma = dma_state();
  auto length = static_cast<uint32_t>(std::min<uint64_t>(transfer_.remaining, kBufferBytes));
  if (!transfer_.to_host) {
    PrdResult result = prd_transfer({buffer(), length});
    if (result != PrdResult::kDone) {
      dma.stop =
          result == PrdResult::kShort ? DmaInFlight::Stop::kShort : DmaInFlight::Stop::kFault;
      return;
    }
  }
  dma.bounce_in_flight = true;
  ++dma.in_flight;
  auto done = [this, length](int error) { dma_bounce_done(error, length); };
  if (transfer_.to_host) {
    medium.read(transfer_.offset, {buffer(), length}, std::move(done));
  } else {
    medium.write(transfer_.offset, {buffer(), length}, std::move(done));
  }
}

void IdeChannel::dma_bounce_done(int error, uint32_t length) {
  DmaInFlight& dma = dma_state();
  dma.bounce_in_flight = false;
  --dma.in_flight;
  if (error) {
    dma.stop = DmaInFlight::Stop::kError;
    dma.error = error;
  } else if (transfer_.to_host) {
    PrdResult result = prd_transfer({buffer(), length});
    if (result == PrdResult::kShort) dma.stop = DmaInFlight::Stop::kShort;
    if (result == PrdResult::kFault || result == PrdResult::kCopy)
      dma.stop = DmaInFlight::Stop::kFault;
  }
  if (dma.stop == DmaInFlight::Stop::kNone) {
    transfer_.offset += length;
    transfer_.remaining -= length;
  }
  dma_next_chunk();
}

IdeChannel::PrdResult IdeChannel::prd_transfer(std::span<uint8_t> data) {
  size_t done = 0;
  while (done < data.size()) {
    if (prd_left_ == 0) {
      // The table is bounded twice: by its end-of-table flag and by the 64 KiB it may occupy.
      if (prd_end_ || prd_entries_ >= kMaxPrdEntries) return PrdResult::kShort;
      uint32_t entry[2];
      if (!memory_.read(prd_next_, entry, sizeof(entry))) {
        HVMD_GUEST_LOG("ide: PRD entry at %#x is not in guest RAM", prd_next_);
        return PrdResult::kFault;
      }
      prd_next_ += sizeof(entry);
      ++prd_entries_;
      prd_address_ = entry[0] & ~1u;  // bit 0 of the address and the count is always zero
      uint32_t count = entry[1] & 0xfffe;
      prd_left_ = count == 0 ? 0x10000 : count;
      prd_end_ = entry[1] & kPrdEndOfTable;
    }
    size_t n = std::min<size_t>(prd_left_, data.size() - done);
    bool moved = transfer_.to_host ? memory_.write(prd_address_, data.data() + done, n)
                                   : memory_.read(prd_address_, data.data() + done, n);
    if (!moved) {
      HVMD_GUEST_LOG("ide: DMA buffer %#x+%zu is not in guest RAM", prd_address_, n);
      return PrdResult::kFault;
    }
    prd_address_ += static_cast<uint32_t>(n);
    prd_left_ -= static_cast<uint32_t>(n);
    done += n;
  }
  return PrdResult::kDone;
}

void IdeChannel::dma_finished() {
  // The engine stays active while the table has room left (the guest stops it).
  if (prd_end_ && prd_left_ == 0) bm_status_ &= static_cast<uint8_t>(~kBmStatusActive);
  if (transfer_.atapi) {
    atapi_done();
    return;
  }
  write_lba(transfer_.offset / kSectorSize, lba48_);
  if (!transfer_.to_host && !drives_[transfer_.unit].write_cache) {
    flush();
    return;
  }
  complete();
}

void IdeChannel::dma_short_table() {
  HVMD_GUEST_LOG("ide: PRD table shorter than the transfer; command ended");
  bm_status_ &= static_cast<uint8_t>(~kBmStatusActive);
  phase_ = Phase::kIdle;
  status_ = kStatusDrdy | kStatusDsc;
  if (transfer_.atapi) sector_count_ = kReasonIo | kReasonCommand;
}

void IdeChannel::dma_fault() {
  bm_status_ = static_cast<uint8_t>((bm_status_ | kBmStatusError) & ~kBmStatusActive);
  if (transfer_.atapi) {
    atapi_check_condition(sense::kMediumError, sense::kAscReadError);
  } else {
    fail(kErrorAbort);
  }
}

}  // namespace hvmd::devices::ide
