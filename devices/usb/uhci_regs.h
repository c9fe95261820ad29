// Universal Host Controller Interface, revision 1.1 (Intel, 1996): the I/O registers of BAR4,
// the frame list's link pointers, queue heads and transfer descriptors; and the PIIX3's USB
// function (82371SB function 2) that carries it.
#pragma once

#include <cstdint>

namespace hvmd::devices::usb::uhci {

// PCI identity: PIIX3 function 2, serial bus / USB / UHCI.
inline constexpr uint16_t kVendorIntel = 0x8086;
inline constexpr uint16_t kDevicePiix3Uhci = 0x7020;
inline constexpr uint32_t kClassUhci = 0x0c0300;
inline constexpr uint8_t kInterruptPinD = 4;  // INTD#, as the PIIX3 wires its USB function
inline constexpr int kIoBar = 4;
inline constexpr uint64_t kIoBarSize = 0x20;
inline constexpr uint8_t kDevfn = 0x0a;  // 00:01.2
// Config registers: serial bus release number (USB 1.0) and legacy support.
inline constexpr uint32_t kSbrn = 0x60;
inline constexpr uint8_t kSbrnUsb10 = 0x10;
inline constexpr uint32_t kLegsup = 0xc0;
inline constexpr uint16_t kLegsupPirqEnable = 0x2000;  // the power-on value
// The bits software may write. The SMI status bits (write-1-to-clear on hardware) never get
// set, as no SMI is emulated, so they read as zero.
inline constexpr uint16_t kLegsupWritable = 0x20bf;

// I/O registers.
inline constexpr unsigned kUsbCmd = 0x00;
inline constexpr unsigned kUsbSts = 0x02;
inline constexpr unsigned kUsbIntr = 0x04;
inline constexpr unsigned kFrNum = 0x06;
inline constexpr unsigned kFlBaseAdd = 0x08;
inline constexpr unsigned kSofMod = 0x0c;
inline constexpr unsigned kPortSc1 = 0x10;
inline constexpr unsigned kPorts = 2;

// USBCMD.
inline constexpr uint16_t kCmdRun = 1 << 0;
inline constexpr uint16_t kCmdHcReset = 1 << 1;
inline constexpr uint16_t kCmdGlobalReset = 1 << 2;
inline constexpr uint16_t kCmdGlobalSuspend = 1 << 3;
inline constexpr uint16_t kCmdForceResume = 1 << 4;
inline constexpr uint16_t kCmdMask = 0xff;
// USBSTS.
inline constexpr uint16_t kStsInterrupt = 1 << 0;
inline constexpr uint16_t kStsErrorInterrupt = 1 << 1;
inline constexpr uint16_t kStsResumeDetect = 1 << 2;
inline constexpr uint16_t kStsHostSystemError = 1 << 3;
inline constexpr uint16_t kStsProcessError = 1 << 4;
inline constexpr uint16_t kStsHalted = 1 << 5;
inline constexpr uint16_t kStsWriteClear = 0x1f;
// USBINTR.
inline constexpr uint16_t kIntrTimeoutCrc = 1 << 0;
inline constexpr uint16_t kIntrResume = 1 << 1;
inline constexpr uint16_t kIntrComplete = 1 << 2;
inline constexpr uint16_t kIntrShortPacket = 1 << 3;
inline constexpr uint16_t kIntrMask = 0x0f;
inline constexpr uint16_t kFrNumMask = 0x7ff;
inline constexpr uint32_t kFlBaseMask = 0xfffff000;
inline constexpr uint8_t kSofModDefault = 64;
inline constexpr uint8_t kSofModMask = 0x7f;
// PORTSC.
inline constexpr uint16_t kPortScConnected = 1 << 0;
inline constexpr uint16_t kPortScConnectChange = 1 << 1;
inline constexpr uint16_t kPortScEnabled = 1 << 2;
inline constexpr uint16_t kPortScEnableChange = 1 << 3;
inline constexpr uint16_t kPortScLineDPlus = 1 << 4;  // J state of an idle full-speed line
inline constexpr uint16_t kPortScResumeDetect = 1 << 6;
inline constexpr uint16_t kPortScAlwaysOne = 1 << 7;
inline constexpr uint16_t kPortScLowSpeed = 1 << 8;
inline constexpr uint16_t kPortScReset = 1 << 9;
inline constexpr uint16_t kPortScSuspend = 1 << 12;
inline constexpr uint16_t kPortScWriteClear = kPortScConnectChange | kPortScEnableChange;

// Link pointers (frame list entries, QH and TD links).
inline constexpr uint32_t kLinkTerminate = 1 << 0;
inline constexpr uint32_t kLinkQh = 1 << 1;
inline constexpr uint32_t kLinkDepth = 1 << 2;  // TD links: depth first
inline constexpr uint32_t kLinkAddressMask = 0xfffffff0;

// TD control and status.
inline constexpr uint32_t kTdActualLengthMask = 0x7ff;
inline constexpr uint32_t kTdBitstuff = 1 << 17;
inline constexpr uint32_t kTdCrcTimeout = 1 << 18;
inline constexpr uint32_t kTdNak = 1 << 19;
inline constexpr uint32_t kTdBabble = 1 << 20;
inline constexpr uint32_t kTdDataBuffer = 1 << 21;
inline constexpr uint32_t kTdStalled = 1 << 22;
inline constexpr uint32_t kTdActive = 1 << 23;
inline constexpr uint32_t kTdIoc = 1 << 24;
inline constexpr uint32_t kTdLowSpeed = 1 << 26;
inline constexpr unsigned kTdErrorCountShift = 27;
inline constexpr uint32_t kTdErrorCountMask = 3u << kTdErrorCountShift;
inline constexpr uint32_t kTdShortPacketDetect = 1 << 29;
inline constexpr uint32_t kTdStatusBits = 0x007e0000;  // bitstuff .. stalled
// TD token.
inline constexpr uint32_t kTokenPidMask = 0xff;
inline constexpr unsigned kTokenAddressShift = 8;
inline constexpr unsigned kTokenEndpointShift = 15;
inline constexpr unsigned kTokenMaxLengthShift = 21;
inline constexpr uint32_t kMaxLengthNull = 0x7ff;   // encodes a zero-length packet
inline constexpr uint32_t kMaxPacketLength = 1280;  // larger MaxLen values are invalid

}  // namespace hvmd::devices::usb::uhci
