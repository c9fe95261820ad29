// Bus-master DMA (SFF-8038i): the engine walks the guest's PRD table, each entry a 32-bit
// address and a byte count (0 meaning 64 KiB), the last one flagged end-of-table. Data moves
// through the channel's buffer a chunk at a time: a chunk is read from the medium and scattered
// to guest RAM, or gathered from guest RAM and written to the medium.
//
// The outcomes the bus-master status reports (as the SFF-8038i programming interface and guest
// drivers expect): a table larger than the transfer leaves ACTIVE set with INTERRUPT; exactly the
// transfer's size clears ACTIVE and sets INTERRUPT; a shorter table stops the engine with neither,
// and the command ends without an interrupt. A table entry or buffer outside guest RAM is a bus
// error: ERROR, and the command fails.
#include <algorithm>
#include <cerrno>
#include <cstring>

#include "devices/ide/ide_channel.h"
#include "devices/ide/ide_regs.h"
#include "dm/log.h"

namespace hvmd::devices::ide {

void IdeChannel::start_dma() {
  phase_ = Phase::kDmaRunning;
  status_ = kStatusBsy | kStatusDrdy;
  dma_next_chunk();
}

void IdeChannel::dma_next_chunk() {
  // A reply in the buffer moves in one go, without medium I/O.
  if (transfer_.source == Source::kBuffer && transfer_.remaining > 0) {
    auto length = static_cast<uint32_t>(transfer_.remaining);
    PrdResult result = prd_transfer({buffer() + transfer_.buffer_pos, length});
    if (result == PrdResult::kShort) return dma_short_table();
    if (result == PrdResult::kFault) return dma_fault();
    transfer_.buffer_pos += length;
    transfer_.remaining = 0;
  }
  if (transfer_.remaining == 0) return dma_finished();

  auto length = static_cast<uint32_t>(std::min<uint64_t>(transfer_.remaining, kBufferBytes));
  BlockBackend* medium = begin_medium_io(Phase::kDmaRunning);
  if (!medium) return;
  if (transfer_.to_host) {
    medium->read(transfer_.offset, {buffer(), length},
                 [this, length](int error) { dma_chunk_read(error, length); });
    return;
  }
  PrdResult result = prd_transfer({buffer(), length});
  if (result == PrdResult::kShort) return dma_short_table();
  if (result == PrdResult::kFault) return dma_fault();
  medium->write(transfer_.offset, {buffer(), length},
                [this, length](int error) { dma_chunk_written(error, length); });
}

void IdeChannel::dma_chunk_read(int error, uint32_t length) {
  if (error) return medium_error(error);
  PrdResult result = prd_transfer({buffer(), length});
  if (result == PrdResult::kShort) return dma_short_table();
  if (result == PrdResult::kFault) return dma_fault();
  transfer_.offset += length;
  transfer_.remaining -= length;
  dma_next_chunk();
}

void IdeChannel::dma_chunk_written(int error, uint32_t length) {
  if (error) return medium_error(error);
  transfer_.offset += length;
  transfer_.remaining -= length;
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
