// DATA SET MANAGEMENT with TRIM (ACS-2 7.10): the host sends, by DMA, blocks of 512 bytes of LBA
// range entries, and the drive forgets those sectors. The medium discards them when the drive
// was given discard=unmap (a hole in the image file, BLKDISCARD on a block device) and
// otherwise keeps the data; either way the command succeeds. Everything in it is the guest's:
// the block count (at most 65535 blocks, fetched a buffer at a time), every entry's sector and
// length (each range must lie on the medium, or the command aborts there, the ranges before it
// discarded), and the PRD table (walked by the bus-master engine's checks).
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "devices/ide/ide_channel.h"
#include "devices/ide/ide_regs.h"
#include "dm/log.h"

namespace hvmd::devices::ide {

bool IdeChannel::start_data_set_management() {
  IdeDrive& drive = current();
  // Only TRIM exists; a drive with discard_granularity=0 does not offer it.
  if (!drive.trim || feature_ != kDsmTrim) return false;
  uint32_t blocks = uint32_t{hob_sector_count_} << 8 | sector_count_;
  if (blocks == 0) return false;  // reserved by ACS-2
  if (!drive.medium || drive.medium->read_only() || drive.read_only_requested) {
    fail(kErrorAbort);
    return true;
  }
  lba48_ = true;
  // Data to the device from a buffer, by DMA: what trim_waiting() recognises. The count stays in
  // the task file until the engine starts.
  transfer_ = {.source = Source::kBuffer,
               .to_host = false,
               .atapi = false,
               .dma = true,
               .unit = unit_,
               .offset = 0,
               .remaining = 0,
               .block = 0};
  phase_ = Phase::kDmaWaiting;
  status_ = kStatusDrdy | kStatusDsc | kStatusDrq;
  if (bm_command_ & kBmCommandStart) start_trim();
  return true;
}

bool IdeChannel::trim_waiting() const {
  // No other ATA command moves a buffer to the device by DMA.
  return phase_ == Phase::kDmaWaiting && transfer_.source == Source::kBuffer && transfer_.dma &&
         !transfer_.to_host && !transfer_.atapi;
}

void IdeChannel::start_trim() {
  uint32_t blocks = uint32_t{hob_sector_count_} << 8 | sector_count_;
  if (blocks == 0) {
    fail(kErrorAbort);  // the guest cleared the count before starting the engine
    return;
  }
  trim_ = {.bytes_left = uint64_t{blocks} * kSectorSize, .entries = 0};
  phase_ = Phase::kDmaRunning;
  status_ = kStatusBsy | kStatusDrdy;
  trim_next_chunk();
}

void IdeChannel::trim_next_chunk() {
  if (trim_.bytes_left == 0) {
    // As any DMA command ends: the engine stays active while the table has room left.
    if (prd_end_ && prd_left_ == 0) bm_status_ &= static_cast<uint8_t>(~kBmStatusActive);
    complete();
    return;
  }
  auto length = static_cast<uint32_t>(std::min<uint64_t>(trim_.bytes_left, kBufferBytes));
  PrdResult result = prd_transfer({buffer(), length});
  if (result == PrdResult::kShort) return dma_short_table();
  if (result == PrdResult::kFault) return dma_fault();
  trim_.bytes_left -= length;
  trim_.entries = length / kDsmEntryBytes;
  trim_chunk_entries();
}

// The entries of the buffer, discarded in one request up to the first that is out of range
// (then the command aborts once those before it are done).
void IdeChannel::trim_chunk_entries() {
  IdeDrive& drive = drives_[transfer_.unit];
  BlockBackend* medium = drive.medium.get();
  uint64_t sectors = drive.sectors();
  std::vector<BlockBackend::Range> ranges;
  bool bad = false;
  for (uint32_t i = 0; i < trim_.entries; ++i) {
    uint64_t raw;
    std::memcpy(&raw, buffer() + size_t{i} * kDsmEntryBytes, sizeof(raw));
    uint64_t lba = raw & ((uint64_t{1} << kDsmLbaBits) - 1);
    uint64_t count = raw >> kDsmLbaBits;
    if (count == 0) continue;  // an unused entry
    if (lba >= sectors || count > sectors - lba) {
      HVMD_GUEST_LOG("ide: TRIM of sectors %#llx+%llu outside the disk",
                     static_cast<unsigned long long>(lba), static_cast<unsigned long long>(count));
      bad = true;
      break;
    }
    ranges.push_back({lba * kSectorSize, count * kSectorSize});
  }
  if (!medium) return medium_error(ENOMEDIUM);
  medium->discard(std::move(ranges), [this, bad](int error) {
    if (error) return medium_error(error);
    if (bad) {
      bm_status_ &= static_cast<uint8_t>(~kBmStatusActive);
      fail(kErrorAbort);
      return;
    }
    trim_next_chunk();
  });
}

}  // namespace hvmd::devices::ide
