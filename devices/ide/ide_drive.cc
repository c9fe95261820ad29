#include "devices/ide/ide_drive.h"

#include <algorithm>

#include "devices/ide/ide_regs.h"

namespace hvmd::devices::ide {

unsigned IdeDrive::sector_size() const {
  return is_cdrom() ? kCdSectorSize : kSectorSize;
}

uint64_t IdeDrive::sectors() const {
  return medium ? medium->size() / sector_size() : 0;
}

// The BIOS geometry of a disk: 16 heads, 63 sectors a track, as many cylinders as fit (at most
// 16383, the IDENTIFY limit; larger disks are reached by LBA).
void IdeDrive::compute_geometry() {
  constexpr uint64_t kHeads = 16, kSectorsPerTrack = 63, kMaxCylinders = 16383;
  uint64_t cylinders =
      std::clamp<uint64_t>(sectors() / (kHeads * kSectorsPerTrack), 1, kMaxCylinders);
  physical = {static_cast<uint16_t>(cylinders), kHeads, kSectorsPerTrack};
  translation = physical;
}

void IdeDrive::reset_settings() {
  multiple_sectors = 0;
  write_cache = true;
  transfer_mode = 0;
  translation = physical;
}

void IdeDrive::save(StateWriter& out) const {
  out.u16(translation.cylinders);
  out.u8(translation.heads);
  out.u8(translation.sectors);
  out.u8(multiple_sectors);
  out.boolean(write_cache);
  out.u8(transfer_mode);
  out.u8(sense.key);
  out.u8(sense.asc);
  out.boolean(unit_attention);
  out.boolean(tray_open);
  out.boolean(locked);
  out.u8(media_event);
  out.boolean(eject_requested);
}

Result<void> IdeDrive::load(StateReader& in) {
  auto cylinders = in.u16();
  auto heads = in.u8();
  auto sectors_per_track = in.u8();
  auto multiple = in.u8();
  auto cache = in.boolean();
  auto mode = in.u8();
  auto key = in.u8();
  auto asc = in.u8();
  auto attention = in.boolean();
  auto tray = in.boolean();
  auto lock = in.boolean();
  auto event = in.u8();
  auto eject = in.boolean();
  if (!cylinders || !heads || !sectors_per_track || !multiple || !cache || !mode || !key || !asc ||
      !attention || !tray || !lock || !event || !eject)
    return make_error("ide: truncated drive state");
  if (*multiple > kMaxMultipleSectors || (*multiple & (*multiple - 1)) != 0 || *key > 0x0f ||
      *event > kMediaEventRemoval)
    return make_error("ide: drive state out of range");
  translation = {*cylinders, *heads, *sectors_per_track};
  multiple_sectors = *multiple;
  write_cache = *cache;
  transfer_mode = *mode;
  sense = {*key, *asc};
  unit_attention = *attention;
  tray_open = *tray;
  locked = *lock;
  media_event = *event;
  eject_requested = *eject;
  return ok();
}

}  // namespace hvmd::devices::ide
