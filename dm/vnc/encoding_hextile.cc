// Hextile (RFC 6143 §7.7.4): the rectangle in 16x16 tiles, left to right, top to bottom. Each
// tile is one sub-encoding byte and then either raw pixels or a background colour plus
// subrectangles of other colours (one foreground colour, or a colour per subrectangle). The
// background and foreground carry over from tile to tile until a raw tile makes them undefined.
#include <algorithm>
#include <array>
#include <cstring>

#include "dm/vnc/encodings.h"

namespace hvmd::vnc {
namespace {

// Sub-encoding mask bits.
constexpr uint8_t kRaw = 1 << 0;
constexpr uint8_t kBackgroundSpecified = 1 << 1;
constexpr uint8_t kForegroundSpecified = 1 << 2;
constexpr uint8_t kAnySubrects = 1 << 3;
constexpr uint8_t kSubrectsColoured = 1 << 4;

constexpr uint32_t kTile = 16;
constexpr size_t kMaxSubrects = 255;  // the count is one byte

struct Subrect {
  uint32_t rgb;
  uint8_t xy;  // x << 4 | y
  uint8_t wh;  // (width - 1) << 4 | (height - 1)
};

// The most frequent colour of the tile, and whether the tile has exactly two colours (then
// *other is the second) or more.
uint32_t background_of(const uint32_t* pixels, size_t count, size_t* colours, uint32_t* other) {
  // Up to kTile * kTile distinct colours: a small open-addressed count table.
  constexpr size_t kSlots = 512;
  std::array<uint32_t, kSlots> keys;
  std::array<uint16_t, kSlots> counts{};
  size_t distinct = 0;
  uint32_t best = pixels[0];
  uint16_t best_count = 0;
  for (size_t i = 0; i < count; ++i) {
    uint32_t p = pixels[i];
    size_t slot = (p * 2654435761u) >> 23;  // 9 bits
    while (counts[slot] && keys[slot] != p) slot = (slot + 1) % kSlots;
    if (!counts[slot]) {
      keys[slot] = p;
      if (++distinct == 2) *other = p;
    }
    if (++counts[slot] > best_count) {
      best_count = counts[slot];
      best = p;
    }
  }
  if (distinct == 2 && *other == best) *other = pixels[0];
  *colours = distinct;
  return best;
}

// Covers every pixel that is not the background with subrectangles of one colour: from the first
// uncovered pixel, as wide as its colour runs, then as many rows down as the same span repeats.
// False when more than kMaxSubrects would be needed.
bool find_subrects(const uint32_t* pixels, uint32_t w, uint32_t h, uint32_t background,
                   std::vector<Subrect>& subrects) {
  std::array<uint16_t, kTile> covered{};  // bit x of row y
  subrects.clear();
  for (uint32_t y = 0; y < h; ++y) {
    for (uint32_t x = 0; x < w; ++x) {
      uint32_t c = pixels[y * w + x];
      if (c == background || (covered[y] >> x & 1)) continue;
      uint32_t width = 1;
      while (x + width < w && pixels[y * w + x + width] == c && !(covered[y] >> (x + width) & 1))
        ++width;
      uint16_t span = static_cast<uint16_t>(((1u << width) - 1) << x);
      uint32_t height = 1;
      for (; y + height < h; ++height) {
        const uint32_t* row = pixels + (y + height) * w + x;
        if ((covered[y + height] & span) ||
            !std::all_of(row, row + width, [c](uint32_t p) { return p == c; }))
          break;
      }
      for (uint32_t r = y; r < y + height; ++r) covered[r] |= span;
      if (subrects.size() == kMaxSubrects) return false;
      subrects.push_back({c, static_cast<uint8_t>(x << 4 | y),
                          static_cast<uint8_t>((width - 1) << 4 | (height - 1))});
      x += width - 1;
    }
  }
  return true;
}

}  // namespace

void encode_hextile(const Framebuffer& fb, const Rect& r, const PixelConverter& converter,
                    std::vector<uint8_t>& out) {
  const size_t bpp = converter.bytes_per_pixel();
  std::array<uint32_t, kTile * kTile> pixels;
  std::vector<Subrect> subrects;
  subrects.reserve(kMaxSubrects);
  bool have_background = false, have_foreground = false;
  uint32_t background = 0, foreground = 0;
  auto put_pixel = [&](uint32_t rgb) {
    size_t at = out.size();
    out.resize(at + bpp);
    converter.convert(&rgb, 1, out.data() + at);
  };
  for (uint32_t ty = 0; ty < r.height; ty += kTile) {
    for (uint32_t tx = 0; tx < r.width; tx += kTile) {
      Rect tile{r.x + tx, r.y + ty, std::min(kTile, r.width - tx), std::min(kTile, r.height - ty)};
      size_t count = size_t{tile.width} * tile.height;
      read_tile(fb, tile, pixels.data());
      size_t colours = 0;
      uint32_t other = 0;
      uint32_t bg = background_of(pixels.data(), count, &colours, &other);
      uint8_t mask = 0;
      if (!have_background || bg != background) mask |= kBackgroundSpecified;
      bool encoded = colours == 1;
      if (colours > 1 && find_subrects(pixels.data(), tile.width, tile.height, bg, subrects)) {
        bool mono = colours == 2;
        size_t size = 2 + ((mask & kBackgroundSpecified) ? bpp : 0) +
                      (mono ? (have_foreground && other == foreground ? 0 : bpp) : 0) +
                      subrects.size() * (mono ? 2 : 2 + bpp);
        // Raw when subrectangles would not be smaller.
        encoded = size < 1 + count * bpp;
        if (encoded) {
          mask |= kAnySubrects;
          if (mono && !(have_foreground && other == foreground)) mask |= kForegroundSpecified;
          if (!mono) mask |= kSubrectsColoured;
        }
      }
      if (!encoded) {
        out.push_back(kRaw);
        size_t at = out.size();
        out.resize(at + count * bpp);
        converter.convert(pixels.data(), count, out.data() + at);
        have_background = have_foreground = false;
        continue;
      }
      out.push_back(mask);
      if (mask & kBackgroundSpecified) put_pixel(bg);
      background = bg;
      have_background = true;
      if (mask & kForegroundSpecified) {
        put_pixel(other);
        foreground = other;
        have_foreground = true;
      }
      if (!(mask & kAnySubrects)) continue;
      out.push_back(static_cast<uint8_t>(subrects.size()));
      for (const Subrect& s : subrects) {
        if (mask & kSubrectsColoured) put_pixel(s.rgb);
        out.push_back(s.xy);
        out.push_back(s.wh);
      }
      // Clients differ on what a coloured subrectangle leaves as the foreground: name it again.
      if (mask & kSubrectsColoured) have_foreground = false;
    }
  }
}

}  // namespace hvmd::vnc
