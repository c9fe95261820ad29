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
// 16383, the IDENTIFY limit; larger disks are reached by LBA). A geometry the user gave wins.
void IdeDrive::compute_geometry() {
  if (requested.cylinders && requested.heads && requested.sectors) {
    physical = requested;
    translation = physical;
    return;
  }
  constexpr uint64_t kHeads = 16, kSectorsPerTrack = 63, kMaxCylinders = 16383;
  uint64_t cylinders =
      std::clamp<uint64_t>(sectors() / (kHeads * kSectorsPerTrack), 1, kMaxCylinders);
  physical = {static_cast<uint16_t>(cylinders), kHeads, kSectorsPerTrack};
  translation = physical;
}

BiosTranslation IdeDrive::bios_translation_hint() const {
  if (bios_translation != BiosTranslation::kAuto) return bios_translation;
  // INT 13h's CHS reaches 1024 cylinders, 16 heads (255 translated) and 63 sectors a track.
  constexpr unsigned kBiosCylinders = 1024, kBiosSectors = 63;
  bool fits = physical.cylinders <= kBiosCylinders && physical.heads <= kMaxHeads &&
              physical.sectors <= kBiosSectors;
  return fits ? BiosTranslation::kNone : BiosTranslation::kLba;
}

Geometry IdeDrive::translated(uint8_t heads, uint8_t sectors_per_track) const {
  uint64_t per_cylinder = uint64_t{heads} * sectors_per_track;
  // The cylinder registers hold 16 bits; larger disks are reached by LBA.
  constexpr uint64_t kMaxCylinders = 65535;
  return {static_cast<uint16_t>(std::min<uint64_t>(sectors() / per_cylinder, kMaxCylinders)), heads,
          sectors_per_track};
}

void IdeDrive::reset_settings() {
  // READ/WRITE MULTIPLE work from power-on with the largest block (IDENTIFY word 59 valid), as
  // on QEMU; SET MULTIPLE MODE changes it, 0 turns multiple mode off.
  multiple_sectors = kMaxMultipleSectors;
  write_cache = true;
  transfer_mode = kDefaultTransferMode;
  translation = physical;
}

Result<void> IdeDrive::check(DriveSettings& s) const {
  if (s.multiple_sectors > kMaxMultipleSectors || (s.multiple_sectors & (s.multiple_sectors - 1)))
    return make_error("ide: saved READ/WRITE MULTIPLE block of %u sectors", s.multiple_sectors);
  // Only SET FEATURES sets it, and only to a mode it accepts (IDENTIFY reports it back as a bit).
  if (!valid_transfer_mode(s.transfer_mode))
    return make_error("ide: saved transfer mode %#x", s.transfer_mode);
  // A unit that was empty when saved (its disk unplugged by PV drivers, which the machine repeats
  // before applying this) has no translation: the drive's own applies.
  if (s.translation == Geometry{}) s.translation = physical;
  if (s.translation != physical) {
    // As INITIALIZE DEVICE PARAMETERS sets it: 1-16 heads, at least one sector a track, and the
    // cylinders that follow from the medium.
    if (s.translation.heads == 0 || s.translation.heads > kMaxHeads || s.translation.sectors == 0)
      return make_error("ide: saved CHS translation out of range");
    s.translation = translated(s.translation.heads, s.translation.sectors);
  }
  if (!is_cdrom()) {
    // Only a CD-ROM has a tray, a lock and media events.
    s.unit_attention = s.tray_open = s.locked = s.eject_requested = false;
    s.media_event = kMediaEventNone;
  }
  return ok();
}

}  // namespace hvmd::devices::ide
