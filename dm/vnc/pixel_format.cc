#include "dm/vnc/pixel_format.h"

#include <bit>
#include <cstring>

namespace hvmd::vnc {

bool pixel_format_supported(const rfb::PixelFormat& f, std::string* why) {
  auto no = [&](const char* reason) {
    if (why) *why = reason;
    return false;
  };
  if (f.bits_per_pixel != 8 && f.bits_per_pixel != 16 && f.bits_per_pixel != 32)
    return no("bits per pixel must be 8, 16 or 32");
  if (!f.true_colour) {
    if (f.bits_per_pixel != 8) return no("a colour map needs 8 bits per pixel");
    return true;
  }
  for (auto [max, shift] : {std::pair{f.red_max, f.red_shift},
                            {f.green_max, f.green_shift},
                            {f.blue_max, f.blue_shift}}) {
    if (max == 0) return no("a colour channel has no levels");
    if (shift + std::bit_width(max) > f.bits_per_pixel)
      return no("a colour channel lies outside the pixel");
  }
  return true;
}

PixelConverter::PixelConverter(const rfb::PixelFormat& requested) {
  const rfb::PixelFormat& f = requested.true_colour ? requested : kColourMap332;
  bytes_ = f.bits_per_pixel / 8;
  big_endian_ = f.big_endian && bytes_ > 1;
  identity_ = bytes_ == 4 && !big_endian_ && f.red_max == 255 && f.green_max == 255 &&
              f.blue_max == 255 && f.red_shift == 16 && f.green_shift == 8 && f.blue_shift == 0;
  for (uint32_t v = 0; v < 256; ++v) {
    // Nearest level: v / 255 of the channel's range, rounded.
    red_[v] = ((v * f.red_max + 127) / 255) << f.red_shift;
    green_[v] = ((v * f.green_max + 127) / 255) << f.green_shift;
    blue_[v] = ((v * f.blue_max + 127) / 255) << f.blue_shift;
  }
}

void PixelConverter::convert(const uint32_t* pixels, size_t count, uint8_t* out) const {
  if (identity_ && std::endian::native == std::endian::little) {
    memcpy(out, pixels, count * 4);
    return;
  }
  for (size_t i = 0; i < count; ++i) {
    uint32_t p = pixels[i];
    uint32_t v = red_[(p >> 16) & 0xff] | green_[(p >> 8) & 0xff] | blue_[p & 0xff];
    for (size_t b = 0; b < bytes_; ++b) {
      size_t shift = 8 * (big_endian_ ? bytes_ - 1 - b : b);
      out[b] = static_cast<uint8_t>(v >> shift);
    }
    out += bytes_;
  }
}

}  // namespace hvmd::vnc
