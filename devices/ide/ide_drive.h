// One device on an IDE channel: an ATA hard disk or an ATAPI CD-ROM, its medium and the settings
// a guest changes with commands (multiple-sector block size, write cache, CHS translation,
// transfer mode) plus, for the CD-ROM, the tray, the lock and the sense data of the last error.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "dm/backends/block.h"
#include "dm/result.h"

namespace hvmd::devices::ide {

struct Geometry {
  uint16_t cylinders = 0;
  uint8_t heads = 0;
  uint8_t sectors = 0;  // per track
  bool operator==(const Geometry&) const = default;
  template <class V>
  void describe(V& v) {
    v("cylinders", cylinders);
    v("heads", heads);
    v("sectors per track", sectors);
  }
};

// What a guest changes in a drive with commands, and the ATAPI media state: what a save carries
// (with the channel, ide_channel_state.cc).
struct DriveSettings {
  Geometry translation;  // INITIALIZE DEVICE PARAMETERS (CHS addressing)

  // Settings (power-on values restored by reset()).
  uint8_t multiple_sectors = 0;  // READ/WRITE MULTIPLE block; 0 = not set
  bool write_cache = true;
  uint8_t transfer_mode = 0;  // SET FEATURES 0x03 value last accepted (0 = default PIO)

  // ATAPI: sense of the last error, media events and the tray.
  struct Sense {
    uint8_t key = 0;
    uint8_t asc = 0;
    template <class V>
    void describe(V& v);
  } sense;
  bool unit_attention = false;  // "medium may have changed", reported once
  bool tray_open = false;
  bool locked = false;           // PREVENT MEDIUM REMOVAL
  uint8_t media_event = 0;       // GET EVENT STATUS NOTIFICATION media event code
  bool eject_requested = false;  // host asked while locked: the guest sees an eject request

  template <class V>
  void describe(V& v);
};

// The translation a BIOS is told to use for a disk (CMOS byte 0x39, bios-chs-trans=).
enum class BiosTranslation : uint8_t { kNone = 0, kLba = 1, kLarge = 2, kRechs = 3, kAuto = 0xff };

// What the user set on an ide-hd / ide-cd (-device properties); fixed for the drive's life.
struct DriveProperties {
  std::string serial;
  std::string model;
  std::string firmware_revision = "1.0";  // ver=: IDENTIFY words 23-26
  std::optional<uint64_t> wwn;            // wwn=: world wide name, IDENTIFY words 108-111
  bool trim = true;                       // discard_granularity=512 (default) or 0
  Geometry requested;                     // cyls=, heads=, secs= (zero: from the size)
  BiosTranslation bios_translation = BiosTranslation::kAuto;
  // lcyls=, lheads=, lsecs=: the geometry a BIOS should present (kept, as QEMU keeps them
  // for SeaBIOS's fw_cfg bios-geometry; the CMOS tables carry the physical one).
  uint32_t bios_cylinders = 0, bios_heads = 0, bios_sectors = 0;
};

struct IdeDrive : DriveSettings, DriveProperties {
  enum class Kind : uint8_t { kNone, kDisk, kCdrom };
  Kind kind = Kind::kNone;
  std::unique_ptr<BlockBackend> medium;
  bool read_only_requested = false;  // readonly=on: the guest must never write
  Geometry physical;                 // what IDENTIFY reports

  bool present() const { return kind != Kind::kNone; }
  bool is_cdrom() const { return kind == Kind::kCdrom; }
  bool has_medium() const { return medium != nullptr && !tray_open; }
  uint64_t sectors() const;  // in the drive's sector size
  unsigned sector_size() const;

  // The physical geometry: cyls/heads/secs as given, or 16 heads, 63 sectors and the cylinders
  // that fit the medium.
  void compute_geometry();
  // bios-chs-trans=auto resolved: LBA when the geometry exceeds what CHS BIOS calls reach.
  BiosTranslation bios_translation_hint() const;
  // What INITIALIZE DEVICE PARAMETERS sets up for heads (1-16) and sectors (1-255) per track.
  Geometry translated(uint8_t heads, uint8_t sectors_per_track) const;
  void reset_settings();
  // Checks settings from a stream against this drive: refused where no command reaches them,
  // made to follow from others where a command derives them.
  Result<void> check(DriveSettings& settings) const;
};

}  // namespace hvmd::devices::ide
