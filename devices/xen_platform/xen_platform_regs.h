// The Xen platform PCI device (5853:0001) and its fixed I/O ports, as Xen's
// docs/misc/hvm-emulated-unplug documents them for PV drivers.
#pragma once

#include <cstdint>

namespace hvmd::devices::xen_platform {

inline constexpr uint16_t kVendorXen = 0x5853;
inline constexpr uint16_t kDeviceId = 0x0001;
inline constexpr uint32_t kClassOther = 0xff8000;  // "unassigned class", as Xen has it
inline constexpr uint8_t kRevision = 1;
inline constexpr uint8_t kDevfn = 0x18;  // 00:03.0

inline constexpr uint64_t kIoBarSize = 0x100;
inline constexpr uint64_t kMmioBarSize = 16 << 20;  // where guests map their grant table

// Fixed ports 0x10-0x1f.
inline constexpr uint16_t kFixedPorts = 0x10;
inline constexpr uint16_t kFixedPortCount = 0x10;
inline constexpr uint64_t kMagicOffset = 0;    // 16-bit read: magic; 16-bit write: unplug mask
inline constexpr uint64_t kVersionOffset = 2;  // 8-bit read: protocol version; 16-bit write:
                                               // product number; 8-bit write: log character
inline constexpr uint16_t kMagic = 0x49d2;
inline constexpr uint8_t kProtocolVersion = 1;
inline constexpr uint64_t kFlagsOffset = 0;  // 8-bit read/write: platform flags
inline constexpr uint8_t kFlagRomLock = 1u << 0;
// In the I/O BAR: flags at 0, the PV driver log at 8.
inline constexpr uint64_t kBarLogOffset = 8;
inline constexpr size_t kMaxLogLine = 256;

}  // namespace hvmd::devices::xen_platform
