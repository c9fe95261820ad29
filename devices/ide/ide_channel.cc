// The task-file registers, interrupts, PIO data phases, bus-master registers, reset and state of
// an IDE channel. Commands are in ata_commands.cc, ATAPI packets in atapi.cc, DMA in ide_dma.cc.
#include "devices/ide/ide_channel.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "devices/ide/ide_dma.h"
#include "devices/ide/ide_regs.h"
#include "dm/io_handler.h"
#include "dm/log.h"

namespace hvmd::devices::ide {

IdeChannel::IdeChannel(GuestMemory& memory, IrqLine irq) : memory_(memory), irq_(irq) {}

IdeChannel::~IdeChannel() {
  quiesce();
}

uint8_t* IdeChannel::buffer() {
  // Not zero-filled: untouched pages cost no memory until a transfer uses them.
  if (!buffer_) buffer_.reset(new uint8_t[kBufferBytes]);
  return buffer_.get();
}

void IdeChannel::quiesce() {
  for (auto& drive : drives_)
    if (drive.medium) drive.medium->drain();
}

// --- interrupts ---------------------------------------------------------------------------------

void IdeChannel::set_irq() {
  irq_pending_ = true;
  bm_status_ |= kBmStatusInterrupt;
  update_irq_line();
}

void IdeChannel::clear_irq() {
  irq_pending_ = false;
  update_irq_line();
}

void IdeChannel::update_irq_line() {
  irq_.set(irq_pending_ && !(control_ & kControlNoInterrupt));
}

// --- task file ----------------------------------------------------------------------------------

uint8_t IdeChannel::register_status() const {
  // An absent device 1 behind a present device 0 reads as all zeroes (ATA: device 0 answers).
  return drives_[unit_].present() ? status_ : 0;
}

uint64_t IdeChannel::read_command_block(unsigned offset, unsigned size) {
  // No drive at all: nothing drives the bus. ATA requires the host's pull-down on DD7 so that
  // BSY reads 0 and firmware does not wait for a device that is not there; every register reads
  // 0, as on QEMU. Hosts then find nothing: the 0x55/0xaa written to the sector count and LBA
  // low registers does not read back (Linux's ata_devchk, SeaBIOS's ata_detect).
  if (!has_drives()) return 0;
  if (offset == kRegData) return data_read(size);
  bool hob = control_ & kControlHob;
  switch (offset) {
    case kRegError:
      return hob ? hob_feature_ : error_;
    case kRegSectorCount:
      return hob ? hob_sector_count_ : sector_count_;
    case kRegLbaLow:
      return hob ? hob_lba_low_ : lba_low_;
    case kRegLbaMid:
      return hob ? hob_lba_mid_ : lba_mid_;
    case kRegLbaHigh:
      return hob ? hob_lba_high_ : lba_high_;
    case kRegDevice:
      return device_ | kDeviceObsolete;
    case kRegStatus: {
      uint8_t status = register_status();
      clear_irq();
      return status;
    }
  }
  return all_ones(size);
}

uint8_t IdeChannel::read_alt_status() {
  return has_drives() ? register_status() : 0;  // see read_command_block()
}

void IdeChannel::write_command_block(unsigned offset, unsigned size, uint64_t value) {
  if (offset == kRegData) {
    data_write(size, static_cast<uint32_t>(value));
    return;
  }
  auto byte = static_cast<uint8_t>(value);
  // The task file is shared by both drives; a busy drive ignores writes to it (ATA-6 9.x), except
  // DEVICE RESET, which is how a host recovers a hung packet device.
  bool busy = status_ & kStatusBsy;
  if (busy && !(offset == kRegCommand && byte == cmd::kDeviceReset)) return;
  // Writing any command-block register clears HOB (ATA-6 device control).
  control_ &= static_cast<uint8_t>(~kControlHob);
  switch (offset) {
    case kRegFeature:
      hob_feature_ = feature_;
      feature_ = byte;
      break;
    case kRegSectorCount:
      hob_sector_count_ = sector_count_;
      sector_count_ = byte;
      break;
    case kRegLbaLow:
      hob_lba_low_ = lba_low_;
      lba_low_ = byte;
      break;
    case kRegLbaMid:
      hob_lba_mid_ = lba_mid_;
      lba_mid_ = byte;
      break;
    case kRegLbaHigh:
      hob_lba_high_ = lba_high_;
      lba_high_ = byte;
      break;
    case kRegDevice:
      device_ = byte;
      unit_ = (byte & kDeviceSlave) ? 1 : 0;
      break;
    case kRegCommand:
      execute(byte);
      break;
  }
}

void IdeChannel::write_device_control(uint8_t value) {
  bool was_resetting = control_ & kControlSoftReset;
  bool resetting = value & kControlSoftReset;
  control_ = value;
  if (was_resetting != resetting) HVMD_DEBUG("ide: software reset %s", resetting ? "on" : "off");
  if (!was_resetting && resetting) {
    quiesce();
    phase_ = Phase::kIdle;
    status_ = kStatusBsy;
  } else if (was_resetting && !resetting) {
    soft_reset_drives();
  }
  update_irq_line();
}

// --- PIO ----------------------------------------------------------------------------------------

void IdeChannel::start_pio_in_range(uint32_t begin, uint32_t end) {
  pio_pos_ = begin;
  pio_end_ = end;
  phase_ = Phase::kPioIn;
  status_ = kStatusDrdy | kStatusDsc | kStatusDrq;
  set_irq();
}

void IdeChannel::start_pio_out(uint32_t length) {
  pio_pos_ = 0;
  pio_end_ = length;
  phase_ = Phase::kPioOut;
  status_ = kStatusDrdy | kStatusDsc | kStatusDrq;
}

uint32_t IdeChannel::data_read(unsigned size) {
  if (phase_ != Phase::kPioIn || pio_pos_ >= pio_end_) {
    HVMD_GUEST_LOG("ide: data port read with no data to transfer");
    return static_cast<uint32_t>(all_ones(size));
  }
  uint32_t n = std::min<uint32_t>(size, pio_end_ - pio_pos_);
  uint32_t value = 0;
  std::memcpy(&value, buffer() + pio_pos_, n);
  pio_pos_ += n;
  if (pio_pos_ >= pio_end_) pio_block_done();
  return value;
}

void IdeChannel::data_write(unsigned size, uint32_t value) {
  if ((phase_ != Phase::kPioOut && phase_ != Phase::kPacket) || pio_pos_ >= pio_end_) {
    // The XSA-138 class: data beyond the block the device asked for goes nowhere.
    HVMD_GUEST_LOG("ide: data port write with no transfer pending, dropped");
    return;
  }
  uint32_t n = std::min<uint32_t>(size, pio_end_ - pio_pos_);
  std::memcpy(buffer() + pio_pos_, &value, n);
  pio_pos_ += n;
  if (pio_pos_ >= pio_end_) pio_block_done();
}

void IdeChannel::pio_block_done() {
  if (phase_ == Phase::kPacket) {
    std::memcpy(packet_.data(), buffer(), sizeof(packet_));
    execute_packet();
    return;
  }
  if (transfer_.atapi) {
    atapi_pio_block();
    return;
  }
  if (transfer_.source == Source::kBuffer) {
    transfer_finished();
    return;
  }
  if (phase_ == Phase::kPioIn) {
    if (transfer_.remaining > 0) {
      pio_next_medium_block();
    } else {
      transfer_finished();
    }
    return;
  }
  // PIO out: the block the host wrote goes to the medium.
  uint32_t length = pio_end_;
  if (BlockBackend* medium = begin_medium_io(Phase::kBusy))
    medium->write(transfer_.offset, {buffer(), length},
                  [this, length](int error) { pio_medium_write_done(error, length); });
}

void IdeChannel::pio_next_medium_block() {
  auto length = static_cast<uint32_t>(std::min<uint64_t>(transfer_.remaining, transfer_.block));
  if (BlockBackend* medium = begin_medium_io(Phase::kBusy))
    medium->read(transfer_.offset, {buffer(), length},
                 [this, length](int error) { pio_medium_read_done(error, length); });
}

BlockBackend* IdeChannel::begin_medium_io(Phase phase) {
  phase_ = phase;
  status_ = kStatusBsy | kStatusDrdy;
  BlockBackend* medium = drives_[transfer_.unit].medium.get();
  if (!medium) medium_error(ENOMEDIUM);  // the tray was opened under the command
  return medium;
}

void IdeChannel::pio_medium_read_done(int error, uint32_t length) {
  if (error) {
    medium_error(error);
    return;
  }
  transfer_.offset += length;
  transfer_.remaining -= length;
  if (transfer_.atapi) {
    lba_mid_ = static_cast<uint8_t>(length);
    lba_high_ = static_cast<uint8_t>(length >> 8);
    sector_count_ = kReasonIo;
  } else {
    write_lba(transfer_.offset / kSectorSize, lba48_);
  }
  start_pio_in(length);
}

void IdeChannel::pio_medium_write_done(int error, uint32_t length) {
  if (error) {
    medium_error(error);
    return;
  }
  transfer_.offset += length;
  transfer_.remaining -= length;
  write_lba(transfer_.offset / kSectorSize, lba48_);
  if (transfer_.remaining > 0) {
    start_pio_out(static_cast<uint32_t>(std::min<uint64_t>(transfer_.remaining, transfer_.block)));
    set_irq();
    return;
  }
  // With the write cache off, a write completes only once it is on stable storage.
  if (!drives_[transfer_.unit].write_cache) {
    flush();
    return;
  }
  complete();
}

void IdeChannel::transfer_finished() {
  phase_ = Phase::kIdle;
  status_ = kStatusDrdy | kStatusDsc;
}

// --- bus master ---------------------------------------------------------------------------------

uint64_t IdeChannel::read_bus_master(unsigned offset, unsigned size) {
  uint64_t value = 0;
  for (unsigned i = 0; i < size && offset + i < kBmChannelStride; ++i) {
    unsigned reg = offset + i;
    uint8_t byte = 0;
    if (reg == kBmCommand) byte = bm_command_;
    if (reg == kBmStatus) byte = bm_status_;
    if (reg >= kBmPrdTable) byte = static_cast<uint8_t>(bm_prd_table_ >> (8 * (reg - kBmPrdTable)));
    value |= uint64_t{byte} << (8 * i);
  }
  return value;
}

void IdeChannel::write_bus_master(unsigned offset, unsigned size, uint64_t value) {
  for (unsigned i = 0; i < size && offset + i < kBmChannelStride; ++i) {
    unsigned reg = offset + i;
    auto byte = static_cast<uint8_t>(value >> (8 * i));
    if (reg == kBmCommand) {
      bool was_started = bm_command_ & kBmCommandStart;
      bool start = byte & kBmCommandStart;
      // The direction may not change while the engine runs.
      uint8_t direction =
          was_started ? (bm_command_ & kBmCommandToMemory) : (byte & kBmCommandToMemory);
      if (was_started && !start) {
        // Stopping the engine: what is in flight completes first (as with a real drive the
        // transfer cannot be recalled), then the engine is idle.
        quiesce();
        bm_command_ = direction;
        bm_status_ &= static_cast<uint8_t>(~kBmStatusActive);
      } else if (!was_started && start) {
        bm_command_ = static_cast<uint8_t>(direction | kBmCommandStart);
        bm_status_ |= kBmStatusActive;
        prd_next_ = bm_prd_table_;
        prd_left_ = 0;
        prd_entries_ = 0;
        prd_end_ = false;
        if (phase_ == Phase::kDmaWaiting) trim_waiting() ? start_trim() : start_dma();
      } else {
        bm_command_ = static_cast<uint8_t>(direction | (bm_command_ & kBmCommandStart));
      }
    } else if (reg == kBmStatus) {
      // Error and interrupt are write-1-to-clear, the two DMA-capable bits plain storage.
      uint8_t clear = byte & (kBmStatusError | kBmStatusInterrupt);
      bm_status_ = static_cast<uint8_t>((bm_status_ & ~clear & ~kBmStatusDmaCapable) |
                                        (byte & kBmStatusDmaCapable));
    } else if (reg >= kBmPrdTable) {
      unsigned shift = 8 * (reg - kBmPrdTable);
      bm_prd_table_ = (bm_prd_table_ & ~(0xffu << shift)) | (uint32_t{byte} << shift);
      bm_prd_table_ &= ~(kPrdTableAlign - 1);
    }
  }
}

// --- host-side media ----------------------------------------------------------------------------

void IdeChannel::eject(unsigned unit) {
  IdeDrive& drive = drives_[unit & 1];
  quiesce();
  if (transfer_.unit == (unit & 1) && phase_ != Phase::kIdle) {
    phase_ = Phase::kIdle;
    status_ = kStatusDrdy | kStatusErr;
    error_ = static_cast<uint8_t>(sense::kNotReady << 4 | kErrorAbort);
  }
  drive.medium.reset();
  drive.tray_open = true;
  drive.locked = false;
  drive.media_event = kMediaEventRemoval;
  drive.sense = {sense::kNotReady, sense::kAscMediumNotPresent};
}

void IdeChannel::insert(unsigned unit, std::unique_ptr<BlockBackend> medium) {
  IdeDrive& drive = drives_[unit & 1];
  quiesce();
  drive.medium = std::move(medium);
  drive.tray_open = false;
  drive.media_event = kMediaEventNewMedia;
  drive.unit_attention = true;
}

// --- reset and state ----------------------------------------------------------------------------

void IdeChannel::reset() {
  quiesce();
  for (auto& drive : drives_) drive.reset_settings();
  feature_ = sector_count_ = lba_low_ = lba_mid_ = lba_high_ = 0;
  hob_feature_ = hob_sector_count_ = hob_lba_low_ = hob_lba_mid_ = hob_lba_high_ = 0;
  control_ = 0;
  irq_pending_ = false;
  bm_command_ = 0;
  bm_status_ = 0;
  bm_prd_table_ = 0;
  soft_reset_drives();
  update_irq_line();
}

}  // namespace hvmd::devices::ide
