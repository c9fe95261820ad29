// Capability layouts passthrough needs beyond dm/pci/pci_regs.h (PCI Local Bus 3.0, PCI Power
// Management 1.2, PCI Express Base 3.0 chapter 7).
#pragma once

#include <cstdint>

namespace hvmd::passthrough {

// Capability IDs.
inline constexpr uint8_t kCapPm = 0x01;
inline constexpr uint8_t kCapAgp = 0x02;
inline constexpr uint8_t kCapVpd = 0x03;
inline constexpr uint8_t kCapSlotId = 0x04;
inline constexpr uint8_t kCapPcix = 0x07;
inline constexpr uint8_t kCapVendor = 0x09;
inline constexpr uint8_t kCapPcie = 0x10;
inline constexpr uint8_t kCapNext = 1;            // offset of the next pointer in a capability
inline constexpr uint8_t kCapVendorLength = 2;    // vendor-specific: its length byte
inline constexpr uint32_t kCapChainMaxHops = 48;  // (256 - 64) / 4 capabilities at most

// Power management.
inline constexpr uint32_t kPmCapLength = 8;
inline constexpr uint32_t kPmControl = 0x04;             // PMCSR
inline constexpr uint16_t kPmControlStateMask = 0x0003;  // D0..D3hot
inline constexpr uint16_t kPmControlNoSoftReset = 1 << 3;
inline constexpr uint16_t kPmControlPmeEnable = 1 << 8;
inline constexpr uint16_t kPmControlPmeStatus = 1 << 15;  // write-1-to-clear

// PCI Express capability (version 2 layout: 0x3c bytes).
inline constexpr uint32_t kPcieCapLength = 0x3c;
inline constexpr uint32_t kPcieFlags = 0x02;
inline constexpr uint32_t kPcieDevCap = 0x04;
inline constexpr uint32_t kPcieDevCtl = 0x08;
inline constexpr uint32_t kPcieDevSta = 0x0a;
inline constexpr uint32_t kPcieLnkCap = 0x0c;
inline constexpr uint32_t kPcieLnkCtl = 0x10;
inline constexpr uint32_t kPcieLnkSta = 0x12;
inline constexpr uint32_t kPcieDevCap2 = 0x24;
inline constexpr uint32_t kPcieDevCtl2 = 0x28;
inline constexpr uint32_t kPcieLnkCtl2 = 0x30;
inline constexpr uint32_t kPcieDevCapFlr = 1u << 28;
inline constexpr uint16_t kPcieDevCtlInitiateFlr = 1 << 15;
inline constexpr uint16_t kPcieDevStaErrors = 0x000f;  // correctable..unsupported request, W1C

// Extended capabilities (config space 0x100 and up).
inline constexpr uint32_t kExtCapStart = 0x100;
inline constexpr uint16_t kExtCapAer = 0x0001;
inline constexpr uint16_t kExtCapDsn = 0x0003;  // device serial number
inline constexpr uint16_t kExtCapVendor = 0x000b;
inline constexpr uint16_t kExtCapAcs = 0x000d;
inline constexpr uint16_t kExtCapSriov = 0x0010;
inline constexpr uint16_t kExtCapAts = 0x000f;

}  // namespace hvmd::passthrough
