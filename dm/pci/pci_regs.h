// PCI Local Bus 3.0 configuration-space layout (type 0 header) and capability formats.
#pragma once

#include <cstdint>

namespace hvmd::pci {

inline constexpr uint32_t kConfigSize = 256;

// Type 0 header.
inline constexpr uint32_t kVendorId = 0x00;
inline constexpr uint32_t kDeviceId = 0x02;
inline constexpr uint32_t kCommand = 0x04;
inline constexpr uint32_t kStatus = 0x06;
inline constexpr uint32_t kRevisionId = 0x08;
inline constexpr uint32_t kClassProgIf = 0x09;
inline constexpr uint32_t kCacheLineSize = 0x0c;
inline constexpr uint32_t kLatencyTimer = 0x0d;
inline constexpr uint32_t kHeaderType = 0x0e;
inline constexpr uint32_t kBar0 = 0x10;
inline constexpr uint32_t kSubsystemVendorId = 0x2c;
inline constexpr uint32_t kSubsystemId = 0x2e;
inline constexpr uint32_t kRomAddress = 0x30;
inline constexpr uint32_t kCapabilitiesPointer = 0x34;
inline constexpr uint32_t kInterruptLine = 0x3c;
inline constexpr uint32_t kInterruptPin = 0x3d;
inline constexpr uint32_t kFirstCapability = 0x40;  // capabilities live in 0x40..0xff

inline constexpr uint16_t kCommandIo = 1 << 0;
inline constexpr uint16_t kCommandMemory = 1 << 1;
inline constexpr uint16_t kCommandBusMaster = 1 << 2;
inline constexpr uint16_t kCommandSerr = 1 << 8;
inline constexpr uint16_t kCommandParity = 1 << 6;
inline constexpr uint16_t kCommandIntxDisable = 1 << 10;

inline constexpr uint16_t kStatusInterrupt = 1 << 3;
inline constexpr uint16_t kStatusCapabilities = 1 << 4;
inline constexpr uint16_t kStatusFastBackToBack = 1 << 7;  // read-only: capable
inline constexpr uint16_t kStatusDevselMedium = 1 << 9;    // read-only: DEVSEL# timing
// Error bits software clears by writing 1: master/target aborts, SERR, parity.
inline constexpr uint16_t kStatusErrorBits = 0xf900;

inline constexpr uint8_t kHeaderTypeMultiFunction = 0x80;

inline constexpr int kBarCount = 6;
inline constexpr uint32_t kBarIoSpace = 1 << 0;
inline constexpr uint32_t kBarMemType64 = 2 << 1;
inline constexpr uint32_t kBarPrefetchable = 1 << 3;
inline constexpr uint32_t kBarIoAddressMask = ~0x3u;
inline constexpr uint32_t kBarMemAddressMask = ~0xfu;
inline constexpr uint32_t kRomEnable = 1 << 0;
inline constexpr uint32_t kRomAddressMask = ~0x7ffu;

// Capability IDs.
inline constexpr uint8_t kCapMsi = 0x05;
inline constexpr uint8_t kCapMsix = 0x11;

// MSI capability (offsets from the capability).
inline constexpr uint32_t kMsiControl = 0x02;
inline constexpr uint32_t kMsiAddressLow = 0x04;
inline constexpr uint32_t kMsiAddressHigh = 0x08;  // 64-bit only
inline constexpr uint16_t kMsiControlEnable = 1 << 0;
inline constexpr uint16_t kMsiControlMmcShift = 1;  // multiple message capable, log2
inline constexpr uint16_t kMsiControlMmeShift = 4;  // multiple message enable, log2
inline constexpr uint16_t kMsiControlMmeMask = 7 << 4;
inline constexpr uint16_t kMsiControl64Bit = 1 << 7;
inline constexpr uint16_t kMsiControlMaskable = 1 << 8;

// MSI-X capability.
inline constexpr uint32_t kMsixControl = 0x02;
inline constexpr uint32_t kMsixTable = 0x04;  // offset | BIR
inline constexpr uint32_t kMsixPba = 0x08;    // offset | BIR
inline constexpr uint32_t kMsixCapLength = 12;
inline constexpr uint16_t kMsixControlEnable = 1 << 15;
inline constexpr uint16_t kMsixControlFunctionMask = 1 << 14;
inline constexpr uint16_t kMsixControlTableSizeMask = 0x7ff;
inline constexpr uint32_t kMsixEntrySize = 16;
inline constexpr uint32_t kMsixEntryAddressLow = 0x0;
inline constexpr uint32_t kMsixEntryAddressHigh = 0x4;
inline constexpr uint32_t kMsixEntryData = 0x8;
inline constexpr uint32_t kMsixEntryControl = 0xc;
inline constexpr uint32_t kMsixEntryMasked = 1 << 0;
inline constexpr uint32_t kMsixMaxVectors = 2048;

}  // namespace hvmd::pci
