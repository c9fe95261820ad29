// Constants of the eXtensible Host Controller Interface 1.x specification (Intel, rev 1.2): the
// register layout of BAR0 (capability, operational, port, runtime and doorbell registers), the
// TRB formats and types, completion codes and the slot and endpoint context fields. BAR0's layout
// (capabilities at 0, operational at 0x40, runtime at 0x1000, doorbells at 0x2000, MSI-X table and
// PBA at 0x3000/0x3800 in 16 KiB) is the one QEMU's xHCI models present, which guests' quirk
// tables have seen.
#pragma once

#include <cstdint>

namespace hvmd::devices::usb::xhci {

// --- PCI ------------------------------------------------------------------------------------
inline constexpr uint16_t kVendorNec = 0x1033, kDeviceNecUpd720200 = 0x0194;
inline constexpr uint16_t kVendorRedHat = 0x1b36, kDeviceQemuXhci = 0x000d;
inline constexpr uint32_t kClassXhci = 0x0c0330;  // serial bus, USB, xHCI
inline constexpr uint8_t kSbrn = 0x60, kSbrnUsb30 = 0x30;
inline constexpr uint8_t kFladj = 0x61, kFladjDefault = 0x20;
inline constexpr int kMmioBar = 0;
inline constexpr uint64_t kMmioSize = 0x4000;

// --- geometry ---------------------------------------------------------------------------------
inline constexpr unsigned kPortsPerProtocol = 4;  // USB2 and USB3 ports, one connector each
inline constexpr unsigned kPorts = 2 * kPortsPerProtocol;
inline constexpr unsigned kMaxSlots = 64;
inline constexpr unsigned kInterrupters = 16;
inline constexpr unsigned kErstMaxLog2 = 4;  // up to 16 event ring segments
inline constexpr unsigned kEndpoints = 32;   // device context index 1..31 (0: the slot)

// --- BAR0 regions -------------------------------------------------------------------------------
inline constexpr uint32_t kCapLength = 0x40;  // operational registers start here
inline constexpr uint32_t kPortRegs = kCapLength + 0x400;
inline constexpr uint32_t kPortStride = 0x10;
inline constexpr uint32_t kRuntime = 0x1000;
inline constexpr uint32_t kInterrupterRegs = kRuntime + 0x20;
inline constexpr uint32_t kInterrupterStride = 0x20;
inline constexpr uint32_t kDoorbells = 0x2000;
inline constexpr uint32_t kMsixTable = 0x3000, kMsixPba = 0x3800;

// --- capability registers -------------------------------------------------------------------
inline constexpr uint32_t kCapLengthVersion = 0x00;  // CAPLENGTH byte, HCIVERSION at 0x02
inline constexpr uint32_t kHciVersion = 0x0100;
inline constexpr uint32_t kHcsParams1 = 0x04, kHcsParams2 = 0x08, kHcsParams3 = 0x0c;
inline constexpr uint32_t kHccParams1 = 0x10, kDbOff = 0x14, kRtsOff = 0x18, kHccParams2 = 0x1c;
inline constexpr uint32_t kHccAc64 = 1u << 0;  // 64-bit addresses
inline constexpr uint32_t kHccXecpShift = 16;  // first extended capability, in dwords
inline constexpr uint32_t kExtCaps = 0x20;     // two Supported Protocol capabilities
inline constexpr uint32_t kExtCapSize = 0x10;
inline constexpr uint8_t kExtCapSupportedProtocol = 2;
inline constexpr uint32_t kUsbNameString = 0x20425355;  // "USB "

// --- operational registers (offsets from kCapLength)
// ----------------------------------------------
inline constexpr uint32_t kUsbCmd = 0x00, kUsbSts = 0x04, kPageSize = 0x08, kDnCtrl = 0x14,
                          kCrcrLo = 0x18, kCrcrHi = 0x1c, kDcbaapLo = 0x30, kDcbaapHi = 0x34,
                          kConfig = 0x38;
inline constexpr uint32_t kCmdRun = 1u << 0, kCmdHcReset = 1u << 1, kCmdInte = 1u << 2,
                          kCmdHsee = 1u << 3, kCmdLhcReset = 1u << 7, kCmdCss = 1u << 8,
                          kCmdCrs = 1u << 9, kCmdEwe = 1u << 10, kCmdEu3s = 1u << 11,
                          kCmdCme = 1u << 13;
inline constexpr uint32_t kCmdMask =
    kCmdRun | kCmdInte | kCmdHsee | kCmdEwe | kCmdEu3s | kCmdCme;  // what reads back
inline constexpr uint32_t kStsHalted = 1u << 0, kStsHse = 1u << 2, kStsEint = 1u << 3,
                          kStsPcd = 1u << 4, kStsSre = 1u << 10, kStsHce = 1u << 12;
inline constexpr uint32_t kStsWriteClear = kStsHse | kStsEint | kStsPcd | kStsSre;
inline constexpr uint32_t kPageSize4k = 1;
inline constexpr uint32_t kDnCtrlMask = 0xffff;
inline constexpr uint64_t kCrcrRcs = 1u << 0, kCrcrCs = 1u << 1, kCrcrCa = 1u << 2,
                          kCrcrCrr = 1u << 3;
inline constexpr uint64_t kCrcrPointerMask = ~uint64_t{0x3f};
inline constexpr uint64_t kDcbaapMask = ~uint64_t{0x3f};
inline constexpr uint32_t kConfigMaxSlotsMask = 0xff;

// --- port registers (PORTSC) ------------------------------------------------------------------
inline constexpr uint32_t kPortSc = 0x0, kPortPmsc = 0x4, kPortLi = 0x8, kPortHlpmc = 0xc;
inline constexpr uint32_t kPortCcs = 1u << 0, kPortPed = 1u << 1, kPortOca = 1u << 3,
                          kPortPr = 1u << 4, kPortPlsShift = 5, kPortPlsMask = 0xfu << 5,
                          kPortPp = 1u << 9, kPortSpeedShift = 10, kPortLws = 1u << 16,
                          kPortCsc = 1u << 17, kPortPec = 1u << 18, kPortWrc = 1u << 19,
                          kPortOcc = 1u << 20, kPortPrc = 1u << 21, kPortPlc = 1u << 22,
                          kPortCec = 1u << 23, kPortWce = 1u << 25, kPortWde = 1u << 26,
                          kPortWoe = 1u << 27, kPortWpr = 1u << 31;
inline constexpr uint32_t kPortChangeBits =
    kPortCsc | kPortPec | kPortWrc | kPortOcc | kPortPrc | kPortPlc | kPortCec;
inline constexpr uint32_t kPortWakeBits = kPortWce | kPortWde | kPortWoe;
// Port link states.
inline constexpr uint32_t kPlsU0 = 0, kPlsU3 = 3, kPlsDisabled = 4, kPlsRxDetect = 5,
                          kPlsPolling = 7, kPlsResume = 15;
// Default protocol speed IDs.
inline constexpr uint32_t kSpeedFull = 1, kSpeedLow = 2, kSpeedHigh = 3, kSpeedSuper = 4;

// --- runtime registers ------------------------------------------------------------------------
inline constexpr uint32_t kMfIndex = 0x00;
inline constexpr int64_t kMicroframeNs = 125'000;
inline constexpr uint32_t kIman = 0x00, kImod = 0x04, kErstSz = 0x08, kErstBaLo = 0x10,
                          kErstBaHi = 0x14, kErdpLo = 0x18, kErdpHi = 0x1c;
inline constexpr uint32_t kImanIp = 1u << 0, kImanIe = 1u << 1;
inline constexpr int64_t kImodUnitNs = 250;
inline constexpr uint32_t kImodDefault = 4000;  // 1 ms
inline constexpr uint32_t kErstSzMask = 0xffff;
inline constexpr uint64_t kErstBaMask = ~uint64_t{0x3f};
inline constexpr uint64_t kErdpEhb = 1u << 3, kErdpDesiMask = 0x7,
                          kErdpPointerMask = ~uint64_t{0xf};

// --- TRBs -------------------------------------------------------------------------------------
inline constexpr uint32_t kTrbSize = 16;
inline constexpr uint32_t kTrbCycle = 1u << 0, kTrbEnt = 1u << 1, kTrbToggle = 1u << 1,
                          kTrbIsp = 1u << 2, kTrbChain = 1u << 4, kTrbIoc = 1u << 5,
                          kTrbIdt = 1u << 6, kTrbBsr = 1u << 9, kTrbDc = 1u << 9, kTrbBei = 1u << 9,
                          kTrbDirIn = 1u << 16, kTrbEventData = 1u << 2;
inline constexpr unsigned kTrbTypeShift = 10;
inline constexpr uint32_t kTrbTypeMask = 0x3f;
inline constexpr unsigned kTrbEndpointShift = 16, kTrbSlotShift = 24;
inline constexpr uint32_t kTrbLengthMask = 0x1ffff;  // transfer TRBs' 17-bit length
inline constexpr unsigned kTrbInterrupterShift = 22;
inline constexpr unsigned kTrbTransferTypeShift = 16;  // Setup Stage TRT
inline constexpr uint32_t kTrtNoData = 0, kTrtOut = 2, kTrtIn = 3;

enum TrbType : uint8_t {
  kTrbNormal = 1,
  kTrbSetup = 2,
  kTrbData = 3,
  kTrbStatus = 4,
  kTrbIsoch = 5,
  kTrbLink = 6,
  kTrbEventDataType = 7,
  kTrbNoOp = 8,
  kCmdEnableSlot = 9,
  kCmdDisableSlot = 10,
  kCmdAddressDevice = 11,
  kCmdConfigureEndpoint = 12,
  kCmdEvaluateContext = 13,
  kCmdResetEndpoint = 14,
  kCmdStopEndpoint = 15,
  kCmdSetTrDequeue = 16,
  kCmdResetDevice = 17,
  kCmdNoOp = 23,
  kEventTransfer = 32,
  kEventCommandCompletion = 33,
  kEventPortStatusChange = 34,
  kEventHostController = 37,
};

enum CompletionCode : uint8_t {
  kCcSuccess = 1,
  kCcDataBuffer = 2,
  kCcBabble = 3,
  kCcTransaction = 4,
  kCcTrb = 5,
  kCcStall = 6,
  kCcNoSlots = 9,
  kCcSlotNotEnabled = 11,
  kCcEndpointNotEnabled = 12,
  kCcShortPacket = 13,
  kCcParameter = 17,
  kCcContextState = 19,
  kCcEventRingFull = 21,
  kCcCommandRingStopped = 24,
  kCcStoppedLengthInvalid = 27,
};

// --- contexts (32-byte, HCCPARAMS1.CSZ = 0) ---------------------------------------------------
inline constexpr uint32_t kContextSize = 32;
inline constexpr uint32_t kInputDropFlags = 0x00, kInputAddFlags = 0x04;
// Slot context.
inline constexpr uint32_t kSlotRouteMask = 0xfffff;
inline constexpr unsigned kSlotEntriesShift = 27;
inline constexpr unsigned kSlotRootPortShift = 16;     // dword 1
inline constexpr unsigned kSlotInterrupterShift = 22;  // dword 2
inline constexpr unsigned kSlotStateShift = 27;        // dword 3
inline constexpr uint32_t kSlotAddressMask = 0xff;
enum SlotState : uint8_t {
  kSlotEnabled = 0,
  kSlotDefault = 1,
  kSlotAddressed = 2,
  kSlotConfigured = 3
};
// Endpoint context.
inline constexpr uint32_t kEpStateMask = 0x7;
enum EpState : uint8_t {
  kEpDisabled = 0,
  kEpRunning = 1,
  kEpHalted = 2,
  kEpStopped = 3,
  kEpError = 4
};
inline constexpr unsigned kEpTypeShift = 3;
inline constexpr uint32_t kEpTypeMask = 0x7;
inline constexpr unsigned kEpMaxPacketShift = 16;
inline constexpr uint64_t kEpDcs = 1, kEpDequeueMask = ~uint64_t{0xf};
enum EpType : uint8_t {
  kEpNotValid = 0,
  kEpIsochOut = 1,
  kEpBulkOut = 2,
  kEpInterruptOut = 3,
  kEpControl = 4,
  kEpIsochIn = 5,
  kEpBulkIn = 6,
  kEpInterruptIn = 7
};

// --- bounds on guest-driven work -------------------------------------------------------------
inline constexpr unsigned kMaxLinksPerFetch = 32;     // link TRBs followed before one real TRB
inline constexpr unsigned kMaxCommandsPerKick = 256;  // command TRBs per doorbell
inline constexpr unsigned kMaxTrbsPerKick = 256;      // transfer TRBs per endpoint per kick
inline constexpr int64_t kContinueNs = 100'000;       // a ring with more work resumes this later
inline constexpr uint32_t kMinSegmentTrbs = 16, kMaxSegmentTrbs = 4096;

}  // namespace hvmd::devices::usb::xhci
