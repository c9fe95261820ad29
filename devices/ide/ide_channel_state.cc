// An IDE channel's saved state: both drives' settings, the registers and the data of the current
// phase. Every value is checked as guest input would be: positions never point past the buffer
// or the medium, and a command is never restored in the middle of medium I/O (quiesce() runs
// before a save, so none is in flight).
#include <algorithm>
#include <cstring>

#include "devices/ide/ide_channel.h"
#include "devices/ide/ide_regs.h"
#include "dm/log.h"

namespace hvmd::devices::ide {

namespace {
constexpr uint32_t kMaxPrdBytes = 0x10000;  // a PRD entry's count of 0 means 64 KiB
constexpr size_t kPacketBytes = 12;
}  // namespace

template <class V>
void DriveSettings::Sense::describe(V& v) {
  v("sense key", key, AtMost<uint8_t>{0x0f});  // a 4-bit field: refused beyond
  v("additional sense code", asc);
}

template <class V>
void DriveSettings::describe(V& v) {
  v("CHS translation", translation);  // checked in IdeDrive::check()
  v("multiple sectors", multiple_sectors);
  v("write cache", write_cache);
  v("transfer mode", transfer_mode);  // only reported back in IDENTIFY
  v("sense", sense);
  v("unit attention", unit_attention);
  v("tray open", tray_open);
  v("locked", locked);
  v("media event", media_event, AtMost{kMediaEventRemoval});  // refused beyond
  v("eject requested", eject_requested);
}

template <class V>
void ChannelRegisters::Transfer::describe(V& v) {
  // Refused beyond what a command sets up; positions are checked against each other in check().
  v("transfer source", source, AtMost{Source::kMedium});
  v("transfer to host", to_host);
  v("transfer ATAPI", atapi);
  v("transfer DMA", dma);
  v("transfer unit", unit, AtMost{1u});
  v("transfer offset", offset);
  v("transfer remaining", remaining);
  v("transfer block", block, AtMost{static_cast<uint32_t>(IdeChannel::kBufferBytes)});
  v("transfer buffer position", buffer_pos);
  v("transfer buffer end", buffer_end, AtMost{static_cast<uint32_t>(IdeChannel::kBufferBytes)});
}

template <class V>
void ChannelRegisters::describe(V& v) {
  // The task file takes any byte a guest writes.
  for (auto [name, field] : {std::pair{"feature", &feature_},
                             {"sector count", &sector_count_},
                             {"LBA low", &lba_low_},
                             {"LBA mid", &lba_mid_},
                             {"LBA high", &lba_high_},
                             {"HOB feature", &hob_feature_},
                             {"HOB sector count", &hob_sector_count_},
                             {"HOB LBA low", &hob_lba_low_},
                             {"HOB LBA mid", &hob_lba_mid_},
                             {"HOB LBA high", &hob_lba_high_},
                             {"device", &device_},
                             {"device control", &control_},
                             {"status", &status_},
                             {"error", &error_}})
    v(name, *field);
  v("interrupt pending", irq_pending_);
  // Refused: phases with medium I/O in flight (none is at a save) and beyond the last.
  v("phase", phase_, AtMost{Phase::kDmaWaiting});
  v("transfer", transfer_);
  v("LBA48", lba48_);
  v("PIO position", pio_pos_);
  v("PIO end", pio_end_, AtMost{static_cast<uint32_t>(IdeChannel::kBufferBytes)});
  v("packet", packet_);
  // Masked as the bus-master register writes (and the engine) leave them.
  v("bus-master command", bm_command_, Mask<uint8_t>{kBmCommandStart | kBmCommandToMemory});
  v("bus-master status", bm_status_,
    Mask<uint8_t>{kBmStatusActive | kBmStatusError | kBmStatusInterrupt | kBmStatusDmaCapable});
  v("PRD table", bm_prd_table_, Mask{~(kPrdTableAlign - 1)});
  v("next PRD", prd_next_);
  v("PRD address", prd_address_);
  v("PRD bytes left", prd_left_, AtMost{kMaxPrdBytes});    // refused beyond
  v("PRD entries", prd_entries_, AtMost{kMaxPrdEntries});  // refused beyond
  v("PRD end", prd_end_);
}

// The whole channel.
struct IdeChannel::Saved {
  std::array<DriveSettings, 2> drives;
  ChannelRegisters registers;
  std::vector<uint8_t> buffer;  // the data of the current phase
  template <class V>
  void describe(V& v) {
    v("drive 0", drives[0]);
    v("drive 1", drives[1]);
    v("registers", registers);
    v("buffer", buffer, MaxSize{kBufferBytes});
  }
};

void IdeChannel::save(StateWriter& out) const {
  Saved saved{{drives_[0], drives_[1]}, *this, {}};
  // The buffer holds data of the current phase: a PIO block or an ATAPI reply.
  uint32_t live = std::max(pio_end_, transfer_.buffer_end);
  if (buffer_) saved.buffer.assign(buffer_.get(), buffer_.get() + live);
  write_fields(out, saved);
}

Result<void> IdeChannel::check(Saved& s) const {
  for (unsigned unit = 0; unit < 2; ++unit) HVMD_TRY(drives_[unit].check(s.drives[unit]));
  const ChannelRegisters& r = s.registers;
  const Transfer& t = r.transfer_;
  if (r.pio_pos_ > r.pio_end_ || t.buffer_pos > t.buffer_end)
    return make_error("ide: saved position past its end");
  if (t.source == Source::kBuffer && t.remaining > t.buffer_end - t.buffer_pos)
    return make_error("ide: saved reply runs past the buffer");
  // A PIO command moves at least a byte a block; a zero block would never finish.
  if (!t.dma && t.remaining > 0 && t.block == 0)
    return make_error("ide: saved PIO transfer without a block size");
  if (r.phase_ != Phase::kIdle && t.source == Source::kMedium) {
    const BlockBackend* medium = drives_[t.unit].medium.get();
    uint64_t size = medium ? medium->size() : 0;
    if (t.offset > size || t.remaining > size - t.offset)
      return make_error("ide: saved transfer runs past the medium");
  }
  if (r.phase_ == Phase::kPacket && r.pio_end_ != kPacketBytes)
    return make_error("ide: saved packet phase of %u bytes", r.pio_end_);
  return ok();
}

Result<std::unique_ptr<StagedState>> IdeChannel::parse_state(StateReader& in, uint32_t version) {
  Saved s{{drives_[0], drives_[1]}, *this, {}};
  HVMD_TRY(read_fields(in, version, "ide", s));
  HVMD_TRY(check(s));
  return staged([this, s = std::move(s)] {
    for (unsigned unit = 0; unit < 2; ++unit)
      static_cast<DriveSettings&>(drives_[unit]) = s.drives[unit];
    static_cast<ChannelRegisters&>(*this) = s.registers;
    unit_ = (device_ & kDeviceSlave) ? 1 : 0;
    if (!s.buffer.empty()) std::memcpy(buffer(), s.buffer.data(), s.buffer.size());
  });
}

void IdeChannel::post_load() {
  HVMD_DEBUG("ide: loaded unit %u status 0x%02x device control 0x%02x phase %u interrupt %u", unit_,
             status_, control_, static_cast<unsigned>(phase_), irq_pending_ ? 1u : 0u);
  update_irq_line();
}

}  // namespace hvmd::devices::ide
