// The Remote Framebuffer protocol (RFB 3.3/3.7/3.8, RFC 6143) as hvmd's VNC server speaks it:
// message types, security types, encodings and fixed message sizes, all named here once.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hvmd::vnc::rfb {

// "RFB 003.008\n": the version the server offers; a client answers with its own (12 bytes).
inline constexpr char kServerVersion[] = "RFB 003.008\n";
inline constexpr size_t kVersionLength = 12;

// Security types (RFC 6143 §7.2).
inline constexpr uint8_t kSecurityInvalid = 0;
inline constexpr uint8_t kSecurityNone = 1;
inline constexpr uint8_t kSecurityVncAuth = 2;
inline constexpr uint32_t kSecurityResultOk = 0;
inline constexpr uint32_t kSecurityResultFailed = 1;
inline constexpr size_t kChallengeLength = 16;

// Client-to-server messages (§7.5) and their fixed lengths, type byte included.
inline constexpr uint8_t kSetPixelFormat = 0;
inline constexpr uint8_t kSetEncodings = 2;
inline constexpr uint8_t kFramebufferUpdateRequest = 3;
inline constexpr uint8_t kKeyEvent = 4;
inline constexpr uint8_t kPointerEvent = 5;
inline constexpr uint8_t kClientCutText = 6;
inline constexpr uint8_t kSetDesktopSize = 251;     // ExtendedDesktopSize clients
inline constexpr uint8_t kQemuClientMessage = 255;  // QEMU's extensions: sub-type byte follows
inline constexpr uint8_t kQemuExtendedKeyEvent = 0;
inline constexpr size_t kSetPixelFormatLength = 20;
inline constexpr size_t kSetEncodingsHeader = 4;  // then 4 bytes per encoding
inline constexpr size_t kFramebufferUpdateRequestLength = 10;
inline constexpr size_t kKeyEventLength = 8;
inline constexpr size_t kPointerEventLength = 6;
inline constexpr size_t kClientCutTextHeader = 8;  // then the text
inline constexpr size_t kQemuExtendedKeyEventLength = 12;
inline constexpr size_t kSetDesktopSizeHeader = 8;  // then 16 bytes per screen

// Server-to-client messages (§7.6).
inline constexpr uint8_t kFramebufferUpdate = 0;
inline constexpr uint8_t kSetColourMapEntries = 1;

// Encodings (§7.7) and pseudo-encodings (§7.8) hvmd knows.
inline constexpr int32_t kEncodingRaw = 0;
inline constexpr int32_t kEncodingHextile = 5;
inline constexpr int32_t kEncodingZrle = 16;
inline constexpr int32_t kEncodingDesktopSize = -223;
inline constexpr int32_t kEncodingExtendedDesktopSize = -308;
inline constexpr int32_t kEncodingQemuExtendedKeyEvent = -258;

// Pointer button mask bits of a PointerEvent.
inline constexpr uint8_t kButton1 = 1 << 0;  // left
inline constexpr uint8_t kButton2 = 1 << 1;  // middle
inline constexpr uint8_t kButton3 = 1 << 2;  // right
inline constexpr uint8_t kWheelUp = 1 << 3;
inline constexpr uint8_t kWheelDown = 1 << 4;

// PIXEL_FORMAT, 16 bytes on the wire (§7.4).
struct PixelFormat {
  uint8_t bits_per_pixel = 32;
  uint8_t depth = 24;
  bool big_endian = false;
  bool true_colour = true;
  uint16_t red_max = 255;
  uint16_t green_max = 255;
  uint16_t blue_max = 255;
  uint8_t red_shift = 16;
  uint8_t green_shift = 8;
  uint8_t blue_shift = 0;
  bool operator==(const PixelFormat&) const = default;
};
inline constexpr size_t kPixelFormatLength = 16;

}  // namespace hvmd::vnc::rfb
