// ATA command execution: which commands each kind of drive accepts, sector addressing (CHS,
// LBA28, LBA48) with range checks, the start of PIO and DMA data phases, and the non-data
// commands. A command a drive does not implement ends with ABRT, as on real drives; ATAPI drives
// refuse every disk command (the CVE-2015-6855 class).
#include <algorithm>
#include <cerrno>
#include <cstring>

#include "devices/ide/ide_channel.h"
#include "devices/ide/ide_regs.h"
#include "dm/log.h"

namespace hvmd::devices::ide {

namespace {

bool is_lba48(uint8_t command) {
  switch (command) {
    case cmd::kReadSectorsExt:
    case cmd::kReadDmaExt:
    case cmd::kReadMultipleExt:
    case cmd::kWriteSectorsExt:
    case cmd::kWriteDmaExt:
    case cmd::kWriteMultipleExt:
    case cmd::kReadVerifyExt:
    case cmd::kReadNativeMaxExt:
    case cmd::kFlushCacheExt:
      return true;
  }
  return false;
}

enum class SectorOp { kPioRead, kPioWrite, kDmaRead, kDmaWrite, kVerify, kSeek };

bool sector_op(uint8_t command, SectorOp* op, bool* multiple) {
  *multiple = false;
  switch (command) {
    case cmd::kReadMultiple:
    case cmd::kReadMultipleExt:
      *multiple = true;
      [[fallthrough]];
    case cmd::kReadSectors:
    case cmd::kReadSectorsNoRetry:
    case cmd::kReadSectorsExt:
      *op = SectorOp::kPioRead;
      return true;
    case cmd::kWriteMultiple:
    case cmd::kWriteMultipleExt:
      *multiple = true;
      [[fallthrough]];
    case cmd::kWriteSectors:
    case cmd::kWriteSectorsNoRetry:
    case cmd::kWriteSectorsExt:
      *op = SectorOp::kPioWrite;
      return true;
    case cmd::kReadDma:
    case cmd::kReadDmaNoRetry:
    case cmd::kReadDmaExt:
      *op = SectorOp::kDmaRead;
      return true;
    case cmd::kWriteDma:
    case cmd::kWriteDmaNoRetry:
    case cmd::kWriteDmaExt:
      *op = SectorOp::kDmaWrite;
      return true;
    case cmd::kReadVerify:
    case cmd::kReadVerifyNoRetry:
    case cmd::kReadVerifyExt:
      *op = SectorOp::kVerify;
      return true;
    case cmd::kSeek:
      *op = SectorOp::kSeek;
      return true;
  }
  return false;
}

// Commands every drive kind answers the same way: power management is a no-op for an emulated
// drive, always active.
bool is_power_command(uint8_t command) {
  switch (command) {
    case cmd::kStandbyImmediate:
    case cmd::kIdleImmediate:
    case cmd::kStandby:
    case cmd::kIdle:
    case cmd::kSleep:
      return true;
  }
  return false;
}

}  // namespace

void IdeChannel::execute(uint8_t command) {
  HVMD_DEBUG("ide: unit %u command 0x%02x (status 0x%02x, device control 0x%02x)", unit_, command,
             status_, control_);
  clear_irq();
  if (command == cmd::kExecuteDiagnostic) {
    execute_diagnostic();
    return;
  }
  IdeDrive& drive = current();
  if (!drive.present()) return;  // nobody is there to answer
  // A new command ends whatever the last one left waiting (a DRQ phase, a DMA not started).
  transfer_ = {};
  transfer_.unit = unit_;
  phase_ = Phase::kIdle;
  error_ = 0;
  if (command == cmd::kCheckPowerMode) {
    sector_count_ = kPowerModeActive;
    complete();
    return;
  }
  if (is_power_command(command)) {
    complete();
    return;
  }
  if (command == cmd::kSetFeatures) {
    set_features();
    return;
  }
  if (!drive.is_cdrom()) {
    if (!execute_disk_command(command)) abort_command();
    return;
  }
  switch (command) {
    case cmd::kPacket:
      start_packet();
      return;
    case cmd::kIdentifyPacket:
      build_identify_packet(drive);
      start_pio_in(kSectorSize);
      return;
    case cmd::kDeviceReset:
      quiesce();
      set_signature(unit_);
      error_ = 0x01;
      status_ = 0;
      return;
    case cmd::kIdentify:
      // The signature tells the host this is a packet device.
      set_signature(unit_);
      abort_command();
      return;
    case cmd::kFlushCache:
      complete();
      return;
  }
  abort_command();
}

bool IdeChannel::execute_disk_command(uint8_t command) {
  IdeDrive& drive = current();
  switch (command) {
    case cmd::kIdentify:
      build_identify(drive);
      start_pio_in(kSectorSize);
      return true;
    case cmd::kSetMultipleMode: {
      uint8_t count = sector_count_;
      // 0 disables multiple mode; otherwise a power of two up to the limit IDENTIFY reports.
      if (count > kMaxMultipleSectors || (count & (count - 1)) != 0) return false;
      drive.multiple_sectors = count;
      complete();
      return true;
    }
    case cmd::kInitializeParameters: {
      if (sector_count_ == 0) return false;
      drive.translation =
          drive.translated(static_cast<uint8_t>((device_ & 0x0f) + 1), sector_count_);
      complete();
      return true;
    }
    case cmd::kFlushCache:
    case cmd::kFlushCacheExt:
      flush();
      return true;
    case cmd::kDataSetManagement:
      return start_data_set_management();
    case cmd::kReadNativeMax:
    case cmd::kReadNativeMaxExt: {
      bool ext = command == cmd::kReadNativeMaxExt;
      uint64_t max = drive.sectors() - 1;
      if (!ext) max = std::min<uint64_t>(max, 0x0fffffff);
      write_lba(max, ext);
      complete();
      return true;
    }
  }
  if (command >= cmd::kRecalibrate && command <= cmd::kRecalibrate + 0x0f) {
    complete();
    return true;
  }
  return start_sector_command(command);
}

bool IdeChannel::start_sector_command(uint8_t command) {
  SectorOp op;
  bool multiple;
  if (!sector_op(command, &op, &multiple)) return false;
  IdeDrive& drive = current();
  bool lba48 = is_lba48(command);
  uint64_t lba = 0;
  uint32_t count = 0;
  if (!read_lba(&lba, &count, lba48) || lba >= drive.sectors() || count > drive.sectors() - lba) {
    HVMD_GUEST_LOG("ide: command %#x for sectors outside the disk", command);
    fail(kErrorIdNotFound | kErrorAbort);
    return true;
  }
  if (multiple && drive.multiple_sectors == 0) return false;  // SET MULTIPLE MODE first
  bool writes = op == SectorOp::kPioWrite || op == SectorOp::kDmaWrite;
  if (writes && (!drive.medium || drive.medium->read_only() || drive.read_only_requested)) {
    fail(kErrorAbort);
    return true;
  }
  lba48_ = lba48;
  if (op == SectorOp::kVerify || op == SectorOp::kSeek) {
    write_lba(op == SectorOp::kSeek ? lba : lba + count - 1, lba48);
    complete();
    return true;
  }
  uint32_t block_sectors = multiple ? drive.multiple_sectors : 1;
  transfer_ = {.source = Source::kMedium,
               .to_host = !writes,
               .atapi = false,
               .dma = op == SectorOp::kDmaRead || op == SectorOp::kDmaWrite,
               .unit = unit_,
               .offset = lba * kSectorSize,
               .remaining = uint64_t{count} * kSectorSize,
               .block = block_sectors * kSectorSize};
  switch (op) {
    case SectorOp::kPioRead:
      pio_next_medium_block();
      break;
    case SectorOp::kPioWrite:
      start_pio_out(
          static_cast<uint32_t>(std::min<uint64_t>(transfer_.remaining, transfer_.block)));
      break;
    default:
      phase_ = Phase::kDmaWaiting;
      status_ = kStatusDrdy | kStatusDsc | kStatusDrq;
      if (bm_command_ & kBmCommandStart) start_dma();
      break;
  }
  return true;
}

// The sector address and count of a command from the task file.
bool IdeChannel::read_lba(uint64_t* lba, uint32_t* count, bool lba48) {
  if (lba48) {
    *lba = uint64_t{hob_lba_high_} << 40 | uint64_t{hob_lba_mid_} << 32 |
           uint64_t{hob_lba_low_} << 24 | uint64_t{lba_high_} << 16 | uint64_t{lba_mid_} << 8 |
           lba_low_;
    uint32_t n = uint32_t{hob_sector_count_} << 8 | sector_count_;
    *count = n == 0 ? 65536 : n;
    return true;
  }
  *count = sector_count_ == 0 ? 256 : sector_count_;
  if (device_ & kDeviceLba) {
    *lba = uint64_t{device_ & 0x0fu} << 24 | uint64_t{lba_high_} << 16 | uint64_t{lba_mid_} << 8 |
           lba_low_;
    return true;
  }
  // CHS through the current translation (INITIALIZE DEVICE PARAMETERS, or the default).
  const Geometry& chs = current().translation;
  unsigned cylinder = unsigned{lba_high_} << 8 | lba_mid_;
  unsigned head = device_ & 0x0f;
  unsigned sector = lba_low_;
  if (sector == 0 || sector > chs.sectors || head >= chs.heads) return false;
  *lba = (uint64_t{cylinder} * chs.heads + head) * chs.sectors + (sector - 1);
  return true;
}

// Puts a sector address back into the task file, in the addressing mode the command used.
void IdeChannel::write_lba(uint64_t lba, bool lba48) {
  if (lba48) {
    lba_low_ = static_cast<uint8_t>(lba);
    lba_mid_ = static_cast<uint8_t>(lba >> 8);
    lba_high_ = static_cast<uint8_t>(lba >> 16);
    hob_lba_low_ = static_cast<uint8_t>(lba >> 24);
    hob_lba_mid_ = static_cast<uint8_t>(lba >> 32);
    hob_lba_high_ = static_cast<uint8_t>(lba >> 40);
    return;
  }
  if (device_ & kDeviceLba) {
    lba_low_ = static_cast<uint8_t>(lba);
    lba_mid_ = static_cast<uint8_t>(lba >> 8);
    lba_high_ = static_cast<uint8_t>(lba >> 16);
    device_ = static_cast<uint8_t>((device_ & 0xf0) | ((lba >> 24) & 0x0f));
    return;
  }
  const Geometry& chs = current().translation;
  if (chs.heads == 0 || chs.sectors == 0) return;
  uint64_t per_cylinder = uint64_t{chs.heads} * chs.sectors;
  uint64_t cylinder = lba / per_cylinder;
  uint64_t rest = lba % per_cylinder;
  lba_mid_ = static_cast<uint8_t>(cylinder);
  lba_high_ = static_cast<uint8_t>(cylinder >> 8);
  device_ = static_cast<uint8_t>((device_ & 0xf0) | (rest / chs.sectors));
  lba_low_ = static_cast<uint8_t>(rest % chs.sectors + 1);
}

void IdeChannel::set_features() {
  IdeDrive& drive = current();
  switch (feature_) {
    case kFeatureEnableWriteCache:
      drive.write_cache = true;
      break;
    case kFeatureDisableWriteCache:
      // What the cache held must be on the medium before the drive says it has none.
      drive.write_cache = false;
      flush();
      return;
    case kFeatureSetTransferMode:
      if (!valid_transfer_mode(sector_count_)) {
        abort_command();
        return;
      }
      drive.transfer_mode = sector_count_;
      break;
    case kFeatureEnableReadLookAhead:
    case kFeatureDisableReadLookAhead:
    case kFeatureEnableReverting:
    case kFeatureDisableReverting:
    case kFeatureEnableApm:
    case kFeatureDisableApm:
      break;
    default:
      abort_command();
      return;
  }
  complete();
}

void IdeChannel::flush() {
  BlockBackend* medium = drives_[transfer_.unit].medium.get();
  if (!medium) {
    complete();
    return;
  }
  phase_ = Phase::kBusy;
  status_ = kStatusBsy | kStatusDrdy;
  medium->flush([this](int error) {
    if (error) {
      HVMD_HOST_LOG("ide: flush failed: %s", strerror(error));
      fail(kErrorAbort);
      return;
    }
    complete();
  });
}

void IdeChannel::complete(uint8_t extra_status, bool interrupt) {
  phase_ = Phase::kIdle;
  status_ = kStatusDrdy | kStatusDsc | extra_status;
  if (interrupt) set_irq();
}

void IdeChannel::abort_command() {
  if (drives_[transfer_.unit].is_cdrom()) sector_count_ = kReasonIo | kReasonCommand;
  fail(kErrorAbort);
}

void IdeChannel::fail(uint8_t error) {
  phase_ = Phase::kIdle;
  error_ = error;
  status_ = kStatusDrdy | kStatusDsc | kStatusErr;
  set_irq();
}

void IdeChannel::medium_error(int error) {
  HVMD_HOST_LOG("ide: medium I/O failed: %s", strerror(error));
  if (transfer_.dma) bm_status_ &= static_cast<uint8_t>(~kBmStatusActive);
  if (transfer_.atapi) {
    if (error == ENOMEDIUM) {
      atapi_check_condition(sense::kNotReady, sense::kAscMediumNotPresent);
    } else {
      atapi_check_condition(sense::kMediumError, sense::kAscReadError);
    }
    return;
  }
  fail(transfer_.to_host && error != ENOMEDIUM ? kErrorUncorrectable | kErrorAbort : kErrorAbort);
}

// The register values a drive leaves after reset or diagnostics: how hosts tell disks from
// packet devices.
void IdeChannel::set_signature(unsigned unit) {
  sector_count_ = 1;
  lba_low_ = 1;
  if (drives_[unit & 1].is_cdrom()) {
    lba_mid_ = 0x14;
    lba_high_ = 0xeb;
  } else {
    lba_mid_ = 0;
    lba_high_ = 0;
  }
  device_ = static_cast<uint8_t>(unit ? kDeviceSlave : 0);
}

void IdeChannel::execute_diagnostic() {
  if (!drives_[0].present() && !drives_[1].present()) return;
  quiesce();
  phase_ = Phase::kIdle;
  transfer_ = {};
  unit_ = 0;
  set_signature(0);
  error_ = 0x01;  // device 0 passed, device 1 passed or absent
  status_ = drives_[0].is_cdrom() ? 0 : kStatusDrdy | kStatusDsc;
  set_irq();
}

void IdeChannel::soft_reset_drives() {
  phase_ = Phase::kIdle;
  transfer_ = {};
  unit_ = 0;
  set_signature(0);
  error_ = 0x01;
  status_ = drives_[0].is_cdrom() ? 0 : kStatusDrdy | kStatusDsc;
}

}  // namespace hvmd::devices::ide
