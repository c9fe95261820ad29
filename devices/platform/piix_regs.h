// Intel 82371SB PIIX3 (function 0: PCI-to-ISA bridge) and 82371AB PIIX4 (function 3: power
// management) registers, from their datasheets (290550, 290562).
#pragma once

#include <cstdint>

namespace hvmd::devices::piix {

inline constexpr uint16_t kVendorIntel = 0x8086;

// PIIX3 ISA bridge, 00:01.0.
inline constexpr uint16_t kIsaBridgeId = 0x7000;
inline constexpr uint32_t kClassIsaBridge = 0x060100;
inline constexpr uint8_t kIsaRecovery = 0x4c;  // IORT, default 0x4d
inline constexpr uint8_t kXBusControl = 0x4e;  // XBCS, default 0x0003
inline constexpr uint8_t kPirqRoute = 0x60;    // PIRQRC[A-D], 0x60..0x63
inline constexpr uint8_t kPirqDisabled = 0x80;
inline constexpr uint8_t kPirqIrqMask = 0x0f;
inline constexpr uint8_t kTopOfMemory = 0x69;     // TOM, default 0x02
inline constexpr uint8_t kMiscStatus = 0x6a;      // MSTAT
inline constexpr uint8_t kMotherboardIrq = 0x70;  // MBIRQ0, default 0x80
inline constexpr uint8_t kMotherboardDma = 0x76;  // MBDMA0/1, default 0x0c
inline constexpr uint8_t kApicBase = 0x80;        // APICBASE
inline constexpr uint8_t kDeterministicLatency = 0x82;
inline constexpr uint8_t kSmiControl = 0xa0;  // SMICNTL, default 0x08
// ISA IRQs a PIRQ may be steered to (0-2, 8 and 13 are reserved).
inline constexpr uint16_t kRoutableIrqs = 0xdef8;

// PIIX4 power management, 00:01.3.
inline constexpr uint16_t kPmId = 0x7113;
inline constexpr uint32_t kClassBridgeOther = 0x068000;
inline constexpr uint8_t kPmRevision = 0x03;
inline constexpr uint8_t kPmBase = 0x40;  // PMBA: I/O base of the PM registers (64 bytes)
inline constexpr uint32_t kPmBaseMask = 0xffc0;
inline constexpr uint32_t kPmBaseIoSpace = 0x01;
inline constexpr uint16_t kPmBlockSize = 64;
// DEVACTB: device activity B. APMC_EN makes writes to the APM control port raise an SMI.
inline constexpr uint8_t kDeviceActivityB = 0x58;
inline constexpr uint32_t kApmcEnable = 1u << 25;
inline constexpr uint8_t kPmMisc = 0x80;  // PMREGMISC: bit 0 enables the PM I/O space
inline constexpr uint8_t kPmIoEnable = 0x01;
inline constexpr unsigned kSciIrq = 9;

// The PM I/O block.
inline constexpr uint16_t kPm1Status = 0x00;   // 16-bit, write 1 to clear
inline constexpr uint16_t kPm1Enable = 0x02;   // 16-bit
inline constexpr uint16_t kPm1Control = 0x04;  // 16-bit
inline constexpr uint16_t kPmTimer = 0x08;     // 32-bit, read-only, 24 bits count
inline constexpr uint16_t kStatusTimer = 1u << 0;
inline constexpr uint16_t kStatusGlobal = 1u << 5;
inline constexpr uint16_t kStatusPowerButton = 1u << 8;
inline constexpr uint16_t kStatusWake = 1u << 15;
inline constexpr uint16_t kStatusMask =
    kStatusTimer | kStatusGlobal | kStatusPowerButton | kStatusWake;
inline constexpr uint16_t kEnableMask = kStatusTimer | kStatusGlobal | kStatusPowerButton;
inline constexpr uint16_t kControlSciEnable = 1u << 0;
inline constexpr uint16_t kControlSleepTypeShift = 10;
inline constexpr uint16_t kControlSleepTypeMask = 7u << kControlSleepTypeShift;
inline constexpr uint16_t kControlSleepEnable = 1u << 13;  // write-only: enter the state
inline constexpr uint16_t kControlWritable = kControlSciEnable | 0x0006 | kControlSleepTypeMask;
// SLP_TYP values of the PIIX4 (and of the DSDTs SeaBIOS and hvmloader build): 0 soft-off, 1 S3.
inline constexpr uint16_t kSleepSoftOff = 0;
inline constexpr uint16_t kSleepSuspendToRam = 1;
inline constexpr uint64_t kTimerHz = 3579545;
inline constexpr uint32_t kTimerMask = 0xffffff;
inline constexpr uint32_t kTimerMsb = 1u << 23;  // TMR_STS is set when this bit changes

// General-purpose event block 0 (FADT GPE0_BLK). Not part of the PIIX4's PM block: QEMU's PIIX4
// has it at a fixed port, and the FADTs of SeaBIOS and of hvmloader (qemu-xen, "version 1"
// locations) say so. Two status bytes (write 1 to clear), then two enable bytes.
inline constexpr uint16_t kGpe0Base = 0xafe0;
inline constexpr uint16_t kGpe0Length = 4;
inline constexpr uint16_t kGpe0Status = 0x00;
inline constexpr uint16_t kGpe0Enable = 0x02;
inline constexpr uint16_t kGpePciHotplug = 1u << 1;  // the DSDTs' _E01 (acpi_pci_hotplug.h)
inline constexpr uint16_t kGpeCpuHotplug = 1u << 2;  // their _E02: hvmd never raises it

// APM control: the ACPI SMI command port (FADT SMI_CMD) and its status scratch byte.
inline constexpr uint16_t kApmControlPort = 0xb2;
inline constexpr uint8_t kAcpiEnable = 0xf1;
inline constexpr uint8_t kAcpiDisable = 0xf0;

}  // namespace hvmd::devices::piix
