// Constants of the USB 2.0 specification (chapter 9, the framework every device shares) and of
// the HID 1.11 class: packet identifiers, request codes, descriptor types and feature selectors.
#pragma once

#include <cstdint>

namespace hvmd::devices::usb {

// Token packet identifiers (USB 2.0 table 8-1), as UHCI's TD token carries them.
inline constexpr uint8_t kPidSetup = 0x2d;
inline constexpr uint8_t kPidIn = 0x69;
inline constexpr uint8_t kPidOut = 0xe1;

// bmRequestType.
inline constexpr uint8_t kDirIn = 0x80;
inline constexpr uint8_t kTypeMask = 0x60;
inline constexpr uint8_t kTypeStandard = 0x00;
inline constexpr uint8_t kTypeClass = 0x20;
inline constexpr uint8_t kRecipientMask = 0x1f;
inline constexpr uint8_t kRecipientDevice = 0;
inline constexpr uint8_t kRecipientInterface = 1;
inline constexpr uint8_t kRecipientEndpoint = 2;
inline constexpr uint8_t kRecipientOther = 3;  // a hub's port

// Standard requests (table 9-4).
inline constexpr uint8_t kGetStatus = 0;
inline constexpr uint8_t kClearFeature = 1;
inline constexpr uint8_t kSetFeature = 3;
inline constexpr uint8_t kSetAddress = 5;
inline constexpr uint8_t kGetDescriptor = 6;
inline constexpr uint8_t kSetDescriptor = 7;
inline constexpr uint8_t kGetConfiguration = 8;
inline constexpr uint8_t kSetConfiguration = 9;
inline constexpr uint8_t kGetInterface = 10;
inline constexpr uint8_t kSetInterface = 11;

// Descriptor types (table 9-5) and the class ones.
inline constexpr uint8_t kDescDevice = 1;
inline constexpr uint8_t kDescConfiguration = 2;
inline constexpr uint8_t kDescString = 3;
inline constexpr uint8_t kDescInterface = 4;
inline constexpr uint8_t kDescEndpoint = 5;
inline constexpr uint8_t kDescDeviceQualifier = 6;
inline constexpr uint8_t kDescHid = 0x21;
inline constexpr uint8_t kDescHidReport = 0x22;
inline constexpr uint8_t kDescHub = 0x29;

// Feature selectors (table 9-6).
inline constexpr uint16_t kFeatureEndpointHalt = 0;
inline constexpr uint16_t kFeatureRemoteWakeup = 1;

// GET_STATUS bits.
inline constexpr uint16_t kStatusSelfPowered = 1 << 0;
inline constexpr uint16_t kStatusRemoteWakeup = 1 << 1;
inline constexpr uint16_t kStatusHalt = 1 << 0;

// Configuration bmAttributes.
inline constexpr uint8_t kConfigReserved = 0x80;  // always set
inline constexpr uint8_t kConfigSelfPowered = 0x40;
inline constexpr uint8_t kConfigRemoteWakeup = 0x20;

// Endpoint bmAttributes.
inline constexpr uint8_t kEndpointBulk = 2;
inline constexpr uint8_t kEndpointInterrupt = 3;

// HID class requests (HID 1.11 section 7.2).
inline constexpr uint8_t kHidGetReport = 0x01;
inline constexpr uint8_t kHidGetIdle = 0x02;
inline constexpr uint8_t kHidGetProtocol = 0x03;
inline constexpr uint8_t kHidSetReport = 0x09;
inline constexpr uint8_t kHidSetIdle = 0x0a;
inline constexpr uint8_t kHidSetProtocol = 0x0b;

// Hub class (USB 2.0 chapter 11): port features and status bits.
inline constexpr uint16_t kPortConnection = 0;
inline constexpr uint16_t kPortEnable = 1;
inline constexpr uint16_t kPortSuspend = 2;
inline constexpr uint16_t kPortOverCurrent = 3;
inline constexpr uint16_t kPortReset = 4;
inline constexpr uint16_t kPortPower = 8;
inline constexpr uint16_t kPortLowSpeed = 9;
inline constexpr uint16_t kCPortConnection = 16;
inline constexpr uint16_t kCPortEnable = 17;
inline constexpr uint16_t kCPortSuspend = 18;
inline constexpr uint16_t kCPortOverCurrent = 19;
inline constexpr uint16_t kCPortReset = 20;

inline constexpr uint16_t kPortStatConnection = 1 << 0;
inline constexpr uint16_t kPortStatEnable = 1 << 1;
inline constexpr uint16_t kPortStatSuspend = 1 << 2;
inline constexpr uint16_t kPortStatReset = 1 << 4;
inline constexpr uint16_t kPortStatPower = 1 << 8;
inline constexpr uint16_t kPortStatLowSpeed = 1 << 9;
inline constexpr uint16_t kPortStatHighSpeed = 1 << 10;
inline constexpr uint16_t kPortChangeConnection = 1 << 0;
inline constexpr uint16_t kPortChangeEnable = 1 << 1;
inline constexpr uint16_t kPortChangeSuspend = 1 << 2;
inline constexpr uint16_t kPortChangeReset = 1 << 4;

}  // namespace hvmd::devices::usb
