// Converting the display's 0x00RRGGBB pixels into the format a VNC client asked for
// (SetPixelFormat): 8, 16 or 32 bits per pixel, either byte order, true colour with any channel
// maxima and shifts, or (8 bits) a colour map, which the server fills with a fixed 3-3-2 palette
// so that converting stays a table look-up.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "dm/vnc/rfb.h"

namespace hvmd::vnc {

// The true-colour layout that stands for the 3-3-2 colour map (entry i: red = i >> 5,
// green = (i >> 2) & 7, blue = i & 3).
inline constexpr rfb::PixelFormat kColourMap332 = {8, 8, false, true, 7, 7, 3, 5, 2, 0};

// Whether hvmd can send in format; why not in *why.
bool pixel_format_supported(const rfb::PixelFormat& format, std::string* why);

class PixelConverter {
 public:
  // format must be supported; a colour-map format converts through kColourMap332.
  explicit PixelConverter(const rfb::PixelFormat& format);
  size_t bytes_per_pixel() const { return bytes_; }
  // Writes count pixels to out (count * bytes_per_pixel() bytes).
  void convert(const uint32_t* pixels, size_t count, uint8_t* out) const;

 private:
  size_t bytes_;
  bool big_endian_;
  bool identity_;  // 32-bit little-endian 0x00RRGGBB: a copy
  std::array<uint32_t, 256> red_{}, green_{}, blue_{};
};

}  // namespace hvmd::vnc
