// One device on an IDE channel: an ATA hard disk or an ATAPI CD-ROM, its medium and the settings
// a guest changes with commands (multiple-sector block size, write cache, CHS translation,
// transfer mode) plus, for the CD-ROM, the tray, the lock and the sense data of the last error.
#pragma once

#include <cstdint>
#include <memory>
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

struct IdeDrive : DriveSettings {
  enum class Kind : uint8_t { kNone, kDisk, kCdrom };
  Kind kind = Kind::kNone;
  std::unique_ptr<BlockBackend> medium;
  std::string serial;
  std::string model;
  bool read_only_requested = false;  // readonly=on: the guest must never write
  Geometry physical;                 // what IDENTIFY reports

  bool present() const { return kind != Kind::kNone; }
  bool is_cdrom() const { return kind == Kind::kCdrom; }
  bool has_medium() const { return medium != nullptr && !tray_open; }
  uint64_t sectors() const;  // in the drive's sector size
  unsigned sector_size() const;

  void compute_geometry();
  // What INITIALIZE DEVICE PARAMETERS sets up for heads (1-16) and sectors (1-255) per track.
  Geometry translated(uint8_t heads, uint8_t sectors_per_track) const;
  void reset_settings();
  // Checks settings from a stream against this drive: refused where no command reaches them,
  // made to follow from others where a command derives them.
  Result<void> check(DriveSettings& settings) const;
};

}  // namespace hvmd::devices::ide
