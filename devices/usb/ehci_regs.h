// Enhanced Host Controller Interface for USB 2.0, revision 1.0 (Intel, 2002): the capability
// and operational registers of the memory BAR, the PCI configuration registers of section 2.1,
// and the schedule's data structures (section 3): frame list links, isochronous transfer
// descriptors (iTD, siTD), the frame span traversal node (FSTN), queue heads and queue element
// transfer descriptors (qTD), with the 64-bit extensions of appendix B.
#pragma once

#include <cstdint>

namespace hvmd::devices::usb::ehci {

// PCI identity: the ICH9's EHCI functions, serial bus / USB / EHCI.
inline constexpr uint16_t kVendorIntel = 0x8086;
inline constexpr uint16_t kDeviceIch9Ehci1 = 0x293a;
inline constexpr uint16_t kDeviceIch9Ehci2 = 0x293c;
inline constexpr uint32_t kClassEhci = 0x0c0320;
inline constexpr uint8_t kRevisionIch9 = 0x03;
inline constexpr uint8_t kInterruptPinD = 4;  // INTD#, as QEMU's ich9-usb-ehci1
inline constexpr int kMemoryBar = 0;
inline constexpr uint64_t kMemoryBarSize = 0x400;  // the ICH9's 1 KiB
// Configuration registers (EHCI 2.1.4-2.1.9).
inline constexpr uint32_t kSbrn = 0x60;
inline constexpr uint8_t kSbrnUsb20 = 0x20;
inline constexpr uint32_t kFladj = 0x61;
inline constexpr uint8_t kFladjDefault = 0x20;  // 60000 HS bit times per microframe
inline constexpr uint32_t kPortWakeCap = 0x62;
// The extended capability HCCPARAMS points at: USB legacy support (2.1.7), whose OS-owned
// semaphore drivers set before they touch the controller (the BIOS-owned one is never set:
// there is no SMM BIOS to hand the controller over).
inline constexpr uint32_t kEecp = 0x68;
inline constexpr uint32_t kLegSupCapId = 0x01;
inline constexpr uint32_t kLegSupBiosOwned = 1u << 16;
inline constexpr uint32_t kLegSupOsOwned = 1u << 24;
inline constexpr uint32_t kLegCtlSts = kEecp + 4;

// Capability registers (2.2).
inline constexpr unsigned kCapLength = 0x00;  // byte; HCIVERSION at 0x02
inline constexpr unsigned kHciVersion = 0x02;
inline constexpr unsigned kHcsParams = 0x04;
inline constexpr unsigned kHccParams = 0x08;
inline constexpr unsigned kHcspPortRoute = 0x0c;
inline constexpr uint8_t kOperationalBase = 0x20;
inline constexpr uint16_t kVersion10 = 0x0100;
inline constexpr unsigned kPorts = 6;
inline constexpr unsigned kPortsPerCompanion = 2;
inline constexpr unsigned kCompanions = 3;
// HCSPARAMS: N_PORTS, N_PCC, N_CC; no port power control (ports are always powered), the
// default routing (companion n takes ports 2n and 2n+1).
inline constexpr uint32_t kHcsParamsValue = kPorts | kPortsPerCompanion << 8 | kCompanions << 12;
// HCCPARAMS.
inline constexpr uint32_t kHcc64Bit = 1 << 0;
inline constexpr uint32_t kHccIstShift = 4;  // isochronous scheduling threshold
inline constexpr uint32_t kHccEecpShift = 8;
inline constexpr uint32_t kHccParamsValue = kHcc64Bit | 1u << kHccIstShift | kEecp << kHccEecpShift;

// Operational registers (2.3), offsets from kOperationalBase.
inline constexpr unsigned kUsbCmd = 0x00;
inline constexpr unsigned kUsbSts = 0x04;
inline constexpr unsigned kUsbIntr = 0x08;
inline constexpr unsigned kFrIndex = 0x0c;
inline constexpr unsigned kCtrlDsSegment = 0x10;
inline constexpr unsigned kPeriodicListBase = 0x14;
inline constexpr unsigned kAsyncListAddr = 0x18;
inline constexpr unsigned kConfigFlag = 0x40;
inline constexpr unsigned kPortSc = 0x44;  // + 4 * port index

// USBCMD.
inline constexpr uint32_t kCmdRun = 1 << 0;
inline constexpr uint32_t kCmdHcReset = 1 << 1;
inline constexpr uint32_t kCmdFrameListSizeMask = 3 << 2;  // 1024 entries only: read-only 0
inline constexpr uint32_t kCmdPeriodicEnable = 1 << 4;
inline constexpr uint32_t kCmdAsyncEnable = 1 << 5;
inline constexpr uint32_t kCmdAsyncDoorbell = 1 << 6;
inline constexpr uint32_t kCmdLightReset = 1 << 7;  // not supported: reads 0
inline constexpr uint32_t kCmdParkCountMask = 3 << 8;
inline constexpr uint32_t kCmdParkEnable = 1 << 11;
inline constexpr unsigned kCmdThresholdShift = 16;
inline constexpr uint32_t kCmdThresholdMask = 0xffu << kCmdThresholdShift;
inline constexpr uint32_t kCmdThresholdDefault = 0x08u << kCmdThresholdShift;
inline constexpr uint32_t kCmdWritable = kCmdRun | kCmdPeriodicEnable | kCmdAsyncEnable |
                                         kCmdAsyncDoorbell | kCmdParkCountMask | kCmdParkEnable |
                                         kCmdThresholdMask;
// USBSTS.
inline constexpr uint32_t kStsInterrupt = 1 << 0;
inline constexpr uint32_t kStsErrorInterrupt = 1 << 1;
inline constexpr uint32_t kStsPortChange = 1 << 2;
inline constexpr uint32_t kStsFrameListRollover = 1 << 3;
inline constexpr uint32_t kStsHostSystemError = 1 << 4;
inline constexpr uint32_t kStsAsyncAdvance = 1 << 5;
inline constexpr uint32_t kStsWriteClear = 0x3f;
inline constexpr uint32_t kStsHalted = 1 << 12;
inline constexpr uint32_t kStsReclamation = 1 << 13;
inline constexpr uint32_t kStsPeriodicStatus = 1 << 14;
inline constexpr uint32_t kStsAsyncStatus = 1 << 15;
// USBINTR: the same bit positions as USBSTS's write-1-to-clear bits.
inline constexpr uint32_t kIntrMask = 0x3f;
inline constexpr uint32_t kFrIndexMask = 0x3fff;
inline constexpr uint32_t kPeriodicBaseMask = 0xfffff000;
inline constexpr uint32_t kAsyncAddrMask = 0xffffffe0;
inline constexpr uint32_t kConfigFlagRoute = 1 << 0;

// PORTSC.
inline constexpr uint32_t kPsConnect = 1 << 0;
inline constexpr uint32_t kPsConnectChange = 1 << 1;
inline constexpr uint32_t kPsEnable = 1 << 2;
inline constexpr uint32_t kPsEnableChange = 1 << 3;
inline constexpr uint32_t kPsOverCurrent = 1 << 4;
inline constexpr uint32_t kPsOverCurrentChange = 1 << 5;
inline constexpr uint32_t kPsForceResume = 1 << 6;
inline constexpr uint32_t kPsSuspend = 1 << 7;
inline constexpr uint32_t kPsReset = 1 << 8;
inline constexpr unsigned kPsLineStatusShift = 10;
inline constexpr uint32_t kPsLineK = 1u << kPsLineStatusShift;  // low-speed idle
inline constexpr uint32_t kPsLineJ = 2u << kPsLineStatusShift;  // full/high-speed idle
inline constexpr uint32_t kPsPower = 1 << 12;
inline constexpr uint32_t kPsOwner = 1 << 13;
inline constexpr uint32_t kPsIndicatorMask = 3 << 14;
inline constexpr uint32_t kPsTestMask = 0xf << 16;
inline constexpr uint32_t kPsWakeMask = 7 << 20;
inline constexpr uint32_t kPsWriteClear = kPsConnectChange | kPsEnableChange | kPsOverCurrentChange;
// Bits that are plain storage for software (indicator, test control, wake enables).
inline constexpr uint32_t kPsStored = kPsIndicatorMask | kPsTestMask | kPsWakeMask;

// Link pointers (3.1, 3.3.1): frame list entries and horizontal links.
inline constexpr uint32_t kLinkTerminate = 1 << 0;
inline constexpr unsigned kLinkTypeShift = 1;
inline constexpr uint32_t kLinkTypeMask = 3u << kLinkTypeShift;
inline constexpr uint32_t kTypeItd = 0, kTypeQh = 1, kTypeSitd = 2, kTypeFstn = 3;
inline constexpr uint32_t kLinkAddressMask = 0xffffffe0;

// iTD (3.3): next link, eight transaction words, seven buffer pages (+ seven high dwords).
inline constexpr unsigned kItdBytes = 92;
inline constexpr uint32_t kItdActive = 1u << 31;
inline constexpr uint32_t kItdXactError = 1u << 28;
inline constexpr uint32_t kItdIoc = 1u << 15;
// siTD (3.4): next link, endpoint, microframe masks, state, two pages, back link (+ high dwords).
inline constexpr unsigned kSitdBytes = 36;
inline constexpr uint32_t kSitdIoc = 1u << 31;
inline constexpr uint32_t kSitdActive = 1u << 7;
inline constexpr uint32_t kSitdXactError = 1u << 3;
// FSTN (3.7): the normal path link, and a back link.

// Queue head (3.6). Dword 1: endpoint characteristics; dword 2: capabilities; dword 3: current
// qTD; dwords 4-11 the overlay (a qTD's first eight dwords), 12-16 its buffers' high dwords.
inline constexpr unsigned kQhBytes = 68;
inline constexpr unsigned kQhDwords = kQhBytes / 4;
inline constexpr unsigned kQhOverlay = 4;
inline constexpr uint32_t kQhAddressMask = 0x7f;
inline constexpr uint32_t kQhInactivate = 1 << 7;
inline constexpr unsigned kQhEndpointShift = 8;
inline constexpr unsigned kQhSpeedShift = 12;
inline constexpr uint32_t kQhSpeedHigh = 2;
inline constexpr uint32_t kQhDataToggleControl = 1 << 14;
inline constexpr uint32_t kQhHead = 1 << 15;  // head of the reclamation list
inline constexpr unsigned kQhMaxPacketShift = 16;
inline constexpr uint32_t kQhMaxPacketMask = 0x7ff;
inline constexpr uint32_t kQhSmaskMask = 0xff;
// qTD (3.5): next, alternate next, token, five buffer pages (+ five high dwords).
inline constexpr unsigned kQtdBytes = 52;
inline constexpr unsigned kQtdDwords = kQtdBytes / 4;
inline constexpr uint32_t kQtdPointerMask = 0xffffffe0;
inline constexpr uint32_t kTokenPing = 1 << 0;
inline constexpr uint32_t kTokenMissedMicroframe = 1 << 2;
inline constexpr uint32_t kTokenXactError = 1 << 3;
inline constexpr uint32_t kTokenBabble = 1 << 4;
inline constexpr uint32_t kTokenBufferError = 1 << 5;
inline constexpr uint32_t kTokenHalted = 1 << 6;
inline constexpr uint32_t kTokenActive = 1 << 7;
inline constexpr unsigned kTokenPidShift = 8;
inline constexpr uint32_t kPidCodeOut = 0, kPidCodeIn = 1, kPidCodeSetup = 2;
inline constexpr unsigned kTokenCerrShift = 10;
inline constexpr uint32_t kTokenCerrMask = 3u << kTokenCerrShift;
inline constexpr unsigned kTokenCpageShift = 12;
inline constexpr uint32_t kTokenCpageMask = 7u << kTokenCpageShift;
inline constexpr uint32_t kTokenIoc = 1 << 15;
inline constexpr unsigned kTokenBytesShift = 16;
inline constexpr uint32_t kTokenBytesMask = 0x7fffu << kTokenBytesShift;
inline constexpr uint32_t kTokenToggle = 1u << 31;
inline constexpr uint32_t kMaxQtdBytes = 0x5000;  // five 4 KiB pages
inline constexpr unsigned kQtdPages = 5;
inline constexpr uint32_t kPageOffsetMask = 0xfff;

}  // namespace hvmd::devices::usb::ehci
