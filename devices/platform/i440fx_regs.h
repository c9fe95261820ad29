// Intel 82441FX (i440FX) PCI and memory controller: identity, config-mechanism #1 ports, and the
// chipset registers firmware programs (Intel 440FX PCIset datasheet, 290549).
#pragma once

#include <cstdint>

namespace hvmd::devices::i440fx {

inline constexpr uint16_t kVendorIntel = 0x8086;
inline constexpr uint16_t kDeviceId = 0x1237;
inline constexpr uint8_t kRevision = 0x02;
inline constexpr uint32_t kClassHostBridge = 0x060000;

// Configuration mechanism #1.
inline constexpr uint16_t kConfigAddressPort = 0xcf8;
inline constexpr uint16_t kConfigPorts = 8;  // 0xcf8 address, 0xcfc..0xcff data
inline constexpr uint32_t kConfigDataOffset = 4;
inline constexpr uint32_t kConfigEnable = 1u << 31;
inline constexpr uint32_t kConfigBusShift = 16;
inline constexpr uint32_t kConfigDevfnShift = 8;
// The register bits of CONFIG_ADDRESS (7:2, and 1:0, which QEMU keeps and ORs with the data
// port's offset). QEMU keeps every bit written, reserved 30:24 included, and so do we.
inline constexpr uint32_t kConfigOffsetMask = 0xff;

// Chipset registers in config space.
inline constexpr uint32_t kPam0 = 0x59;  // PAM0..PAM6: BIOS/shadow RAM attributes
inline constexpr unsigned kPamCount = 7;
inline constexpr uint32_t kSmram = 0x72;
inline constexpr uint8_t kSmramDefault = 0x02;  // C_BASE_SEG: compatible SMRAM at 0xA0000

}  // namespace hvmd::devices::i440fx
