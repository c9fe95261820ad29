// Motorola MC146818A real-time clock and the PC's CMOS RAM behind ports 0x70/0x71 (MC146818A
// datasheet; IBM PC/AT technical reference for the CMOS bytes firmware reads).
#pragma once

#include <cstdint>

namespace hvmd::devices::rtc {

inline constexpr uint16_t kIndexPort = 0x70;  // bit 7 masks NMI; bits 6:0 select the byte
inline constexpr uint16_t kDataPort = 0x71;
inline constexpr unsigned kIrq = 8;
inline constexpr unsigned kCmosSize = 128;
inline constexpr uint8_t kIndexMask = 0x7f;

// Clock registers.
inline constexpr uint8_t kSeconds = 0x00, kSecondsAlarm = 0x01, kMinutes = 0x02,
                         kMinutesAlarm = 0x03, kHours = 0x04, kHoursAlarm = 0x05, kDayOfWeek = 0x06,
                         kDayOfMonth = 0x07, kMonth = 0x08, kYear = 0x09;
inline constexpr uint8_t kRegA = 0x0a, kRegB = 0x0b, kRegC = 0x0c, kRegD = 0x0d;
inline constexpr uint8_t kFirstNvram = 0x0e;  // what Xen leaves to the device model
inline constexpr uint8_t kCentury = 0x32;     // IBM: BCD century
inline constexpr uint8_t kCenturyPs2 = 0x37;  // IBM PS/2's copy of it (QEMU keeps both)

inline constexpr uint8_t kAUpdateInProgress = 1u << 7;
inline constexpr uint8_t kADividerMask = 0x70;
inline constexpr uint8_t kADividerNormal = 0x20;  // 32.768 kHz time base running
// Divider values 110 and 111 hold the divider chain in reset: time stops, no update cycles.
// Leaving reset, the first update comes 500 ms later. QEMU (and so hvmd) keeps time for every
// other value, and the periodic interrupt for every value.
inline constexpr uint8_t kADividerResetMask = 0x60;
inline constexpr int64_t kFirstUpdateAfterResetNs = 500'000'000;
inline constexpr uint8_t kARateMask = 0x0f;
inline constexpr uint8_t kBSet = 1u << 7;  // updates stop while the clock is set
inline constexpr uint8_t kBPeriodicEnable = 1u << 6;
inline constexpr uint8_t kBAlarmEnable = 1u << 5;
inline constexpr uint8_t kBUpdateEnable = 1u << 4;
inline constexpr uint8_t kBSquareWave = 1u << 3;
inline constexpr uint8_t kBBinary = 1u << 2;
inline constexpr uint8_t kB24Hour = 1u << 1;
inline constexpr uint8_t kCIrq = 1u << 7;
inline constexpr uint8_t kCPeriodic = 1u << 6;
inline constexpr uint8_t kCAlarm = 1u << 5;
inline constexpr uint8_t kCUpdate = 1u << 4;
inline constexpr uint8_t kDValid = 1u << 7;
inline constexpr uint8_t kHourPm = 1u << 7;  // 12-hour mode
inline constexpr uint8_t kAlarmDontCare = 0xc0;
// UIP leads the update by 8 cycles of the 32.768 kHz time base (244 us), truncated to whole ns
// as QEMU's clock does.
inline constexpr int64_t kUpdateInProgressNs = int64_t{8} * 1'000'000'000 / 32768;

// CMOS bytes the BIOS reads.
inline constexpr uint8_t kShutdownStatus = 0x0f;
inline constexpr uint8_t kFloppyTypes = 0x10;
inline constexpr uint8_t kDiskTypes = 0x12;
inline constexpr uint8_t kEquipment = 0x14;
inline constexpr uint8_t kEquipmentCoprocessor = 0x02;
inline constexpr uint8_t kEquipmentPs2Mouse = 0x04;  // the i8042's auxiliary port has a mouse
inline constexpr uint8_t kBaseMemoryKb = 0x15;       // 16-bit
inline constexpr uint8_t kExtendedMemoryKb = 0x17;   // 16-bit, 1 MiB to 64 MiB
inline constexpr uint8_t kChecksum = 0x2e;           // 16-bit big-endian sum of 0x10..0x2d
inline constexpr uint8_t kExtendedMemoryKb2 = 0x30;
inline constexpr uint8_t kMemoryAbove16m = 0x34;  // 16-bit, 64 KiB units, below 4 GiB
inline constexpr uint8_t kMemoryAbove4g = 0x5b;   // 24-bit, 64 KiB units
inline constexpr uint8_t kCpuCountMinusOne = 0x5f;
// Boot order, as QEMU-flavoured BIOSes read it: device codes (1 floppy, 2 disk, 3 CD, 4 network)
// in 0x3d bits 3:0 (first) and 7:4 (second) and 0x38 bits 7:4 (third); 0x38 bit 0 skips the
// floppy boot-signature check.
inline constexpr uint8_t kBootOrder12 = 0x3d;
inline constexpr uint8_t kBootOrder3 = 0x38;
inline constexpr uint8_t kBootNoFloppyCheck = 0x01;

}  // namespace hvmd::devices::rtc
