// The hard-disk bytes of the PC's CMOS, as AT BIOSes and old operating systems read them (and
// as QEMU writes them for its pc machine): the drive types of the primary master and slave, a
// parameter table for each, and a BIOS translation hint for each of the four units. Under Xen,
// hvmloader writes these, so the board leaves them alone.
#include "devices/ide/cmos_drives.h"

#include "devices/ide/ide_regs.h"

namespace hvmd::devices::ide {

namespace {

constexpr uint8_t kDriveTypes = 0x12;  // high nibble: master, low: slave; 0xf = extended
constexpr uint8_t kExtendedType[2] = {0x19, 0x1a};
constexpr uint8_t kUserType = 47;  // "user defined": the table below describes it
constexpr uint8_t kParameterTable[2] = {0x1b, 0x24};
constexpr uint8_t kTranslationHints = 0x39;  // two bits a unit: bus * 2 + unit
// Offsets in a parameter table.
constexpr uint8_t kTableCylinders = 0;  // 16-bit
constexpr uint8_t kTableHeads = 2;
constexpr uint8_t kTableWritePrecomp = 3;  // 16-bit, 0xffff: none
constexpr uint8_t kTableControl = 5;
constexpr uint8_t kTableLandingZone = 6;  // 16-bit, the last cylinder + 1
constexpr uint8_t kTableSectors = 8;
constexpr uint8_t kControlNoRetries = 0xc0;
constexpr uint8_t kControlMoreThan8Heads = 0x08;

}  // namespace

std::vector<std::pair<uint8_t, uint8_t>> cmos_drive_bytes(
    const std::array<const IdeDrive*, 4>& drives) {
  std::vector<std::pair<uint8_t, uint8_t>> bytes;
  auto disk = [&](unsigned i) {
    return drives[i] && drives[i]->present() && !drives[i]->is_cdrom();
  };
  uint8_t types = 0;
  for (unsigned unit = 0; unit < 2; ++unit) {
    uint8_t table = kParameterTable[unit];
    if (!disk(unit)) {
      bytes.push_back({kExtendedType[unit], 0});
      for (uint8_t i = 0; i <= kTableSectors; ++i) bytes.push_back({uint8_t(table + i), 0});
      continue;
    }
    const Geometry& chs = drives[unit]->physical;
    types = static_cast<uint8_t>(types | (unit == 0 ? 0xf0 : 0x0f));
    bytes.push_back({kExtendedType[unit], kUserType});
    auto put16 = [&](uint8_t at, uint16_t value) {
      bytes.push_back({static_cast<uint8_t>(table + at), static_cast<uint8_t>(value)});
      bytes.push_back({static_cast<uint8_t>(table + at + 1), static_cast<uint8_t>(value >> 8)});
    };
    put16(kTableCylinders, chs.cylinders);
    bytes.push_back({static_cast<uint8_t>(table + kTableHeads), chs.heads});
    put16(kTableWritePrecomp, 0xffff);
    bytes.push_back(
        {static_cast<uint8_t>(table + kTableControl),
         static_cast<uint8_t>(kControlNoRetries | (chs.heads > 8 ? kControlMoreThan8Heads : 0))});
    put16(kTableLandingZone, chs.cylinders);
    bytes.push_back({static_cast<uint8_t>(table + kTableSectors), chs.sectors});
  }
  bytes.push_back({kDriveTypes, types});
  uint8_t hints = 0;
  for (unsigned i = 0; i < 4; ++i) {
    if (!disk(i)) continue;
    auto hint = static_cast<uint8_t>(drives[i]->bios_translation_hint());
    hints = static_cast<uint8_t>(hints | (hint & 3) << (2 * i));
  }
  bytes.push_back({kTranslationHints, hints});
  return bytes;
}

}  // namespace hvmd::devices::ide
