// The CMOS bytes that describe the IDE hard disks to a BIOS (cmos_drives.cc).
#pragma once

#include <array>
#include <cstdint>
#include <utility>
#include <vector>

#include "devices/ide/ide_drive.h"

namespace hvmd::devices::ide {

// (index, value) pairs for the drives at bus * 2 + unit (nullptr: no drive); every disk byte
// is included, zero where there is no disk.
std::vector<std::pair<uint8_t, uint8_t>> cmos_drive_bytes(
    const std::array<const IdeDrive*, 4>& drives);

}  // namespace hvmd::devices::ide
