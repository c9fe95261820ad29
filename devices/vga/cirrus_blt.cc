#include "devices/vga/cirrus_blt.h"

#include <algorithm>

#include "dm/log.h"

namespace hvmd::devices::vga::cirrus {
namespace {

// GR2F's clip field: pixels at 8/16/32 bpp, bytes at 24 bpp.
constexpr uint8_t kLeftClipPixels = 0x07;
constexpr uint8_t kLeftClipBytes24 = 0x1f;

uint32_t pixel_bytes(uint8_t mode) {
  return 1u + ((mode & kBltDepthMask) >> kBltDepthShift);
}

// Pixels per line: the width register counts bytes.
uint32_t line_pixels(const BltParams& p) {
  return p.width / pixel_bytes(p.mode);
}

// A colour pattern's line: eight pixels, 24-bit ones padded to 32 bytes.
uint32_t pattern_line_bytes(uint32_t bpp) {
  return bpp == 3 ? 32 : 8 * bpp;
}

template <uint8_t R>
inline uint8_t rop_of(uint8_t s, uint8_t d) {
  switch (R) {
    case kRop0:
      return 0;
    case kRopSrcAndDst:
      return s & d;
    case kRopDst:
      return d;
    case kRopSrcAndNotDst:
      return s & ~d;
    case kRopNotDst:
      return ~d;
    case kRopSrc:
      return s;
    case kRop1:
      return 0xff;
    case kRopNotSrcAndDst:
      return ~s & d;
    case kRopSrcXorDst:
      return s ^ d;
    case kRopSrcOrDst:
      return s | d;
    case kRopNotSrcAndNotDst:
      return ~s & ~d;
    case kRopNotSrcXorDst:
      return ~(s ^ d);
    case kRopSrcOrNotDst:
      return s | ~d;
    case kRopNotSrc:
      return ~s;
    case kRopNotSrcOrDst:
      return ~s | d;
    default:  // kRopNotSrcOrNotDst
      return ~s | ~d;
  }
}

// n bytes, byte i at d + dir * i from s + dir * i, in order (so overlapping lines behave as the
// engine's sequential transfer does).
using RopRun = void (*)(uint8_t* d, const uint8_t* s, uint32_t n, int dir);
template <uint8_t R>
void rop_run(uint8_t* d, const uint8_t* s, uint32_t n, int dir) {
  if (dir > 0) {
    for (uint32_t i = 0; i < n; ++i) d[i] = rop_of<R>(s[i], d[i]);
  } else {
    for (uint32_t i = 0; i < n; ++i) *(d - i) = rop_of<R>(*(s - i), *(d - i));
  }
}

RopRun rop_runner(uint8_t rop) {
  switch (rop) {
    case kRop0:
      return rop_run<kRop0>;
    case kRopSrcAndDst:
      return rop_run<kRopSrcAndDst>;
    case kRopDst:
      return rop_run<kRopDst>;
    case kRopSrcAndNotDst:
      return rop_run<kRopSrcAndNotDst>;
    case kRopNotDst:
      return rop_run<kRopNotDst>;
    case kRopSrc:
      return rop_run<kRopSrc>;
    case kRop1:
      return rop_run<kRop1>;
    case kRopNotSrcAndDst:
      return rop_run<kRopNotSrcAndDst>;
    case kRopSrcXorDst:
      return rop_run<kRopSrcXorDst>;
    case kRopSrcOrDst:
      return rop_run<kRopSrcOrDst>;
    case kRopNotSrcAndNotDst:
      return rop_run<kRopNotSrcAndNotDst>;
    case kRopNotSrcXorDst:
      return rop_run<kRopNotSrcXorDst>;
    case kRopSrcOrNotDst:
      return rop_run<kRopSrcOrNotDst>;
    case kRopNotSrc:
      return rop_run<kRopNotSrc>;
    case kRopNotSrcOrDst:
      return rop_run<kRopNotSrcOrDst>;
    case kRopNotSrcOrNotDst:
      return rop_run<kRopNotSrcOrNotDst>;
    default:
      return nullptr;
  }
}

}  // namespace

uint8_t apply_rop(uint8_t rop, uint8_t src, uint8_t dst) {
  RopRun run = rop_runner(rop);
  if (!run) return src;
  run(&dst, &src, 1, 1);
  return dst;
}

Blitter::Extent Blitter::extent(uint32_t base, int64_t pitch, uint32_t width, uint32_t height,
                                int dir) {
  // Address of byte x of line y: base + dir * (y * pitch + x). The extremes are at the corners.
  int64_t last_line = int64_t{height - 1} * pitch;
  int64_t lo_off = std::min<int64_t>(0, last_line);
  int64_t hi_off = std::max<int64_t>(0, last_line) + (int64_t{width} - 1);
  if (dir > 0) return {int64_t{base} + lo_off, int64_t{base} + hi_off};
  return {int64_t{base} - hi_off, int64_t{base} - lo_off};
}

uint32_t Blitter::left_clip_pixels(const BltParams& p) {
  if (!(p.mode & (kBltColorExpand | kBltPattern))) return 0;  // plain copies are not clipped
  uint32_t bpp = pixel_bytes(p.mode);
  if (bpp == 3) return (p.left_clip & kLeftClipBytes24) / 3u;
  return p.left_clip & kLeftClipPixels;
}

uint32_t Blitter::source_line_bytes(const BltParams& p) {
  uint32_t bytes = (p.mode & kBltColorExpand) ? (line_pixels(p) + 7) / 8 : p.width;
  return (bytes + 3) & ~3u;
}

bool Blitter::start(const BltParams& p) {
  abort();
  p_ = p;
  p_.width = std::min<uint32_t>(p_.width, kBltWidthMask + 1);
  p_.height = std::min<uint32_t>(p_.height, kBltHeightMask + 1);
  uint32_t bpp = bytes_per_pixel();
  bool expand = p_.mode & kBltColorExpand, pattern = p_.mode & kBltPattern,
       system = p_.mode & kBltSystemSource;
  dir_ = (p_.mode & kBltBackward) ? -1 : 1;
  skip_ = left_clip_pixels(p_);
  if (p_.width == 0 || p_.height == 0) return false;
  if ((p_.mode & kBltMemToSystem) || (dir_ < 0 && (expand || pattern || system)) ||
      (pattern && system) || rop_runner(p_.rop) == nullptr || p_.width < bpp) {
    HVMD_GUEST_LOG("cirrus: unsupported blit (mode %#x, rop %#x) dropped", p_.mode, p_.rop);
    return false;
  }
  dst_extent_ = extent(p_.dst, p_.dst_pitch, p_.width, p_.height, dir_);
  if (!inside(dst_extent_)) {
    HVMD_GUEST_LOG("cirrus: blit destination %#x pitch %u %ux%u outside video memory", p_.dst,
                   p_.dst_pitch, p_.width, p_.height);
    return false;
  }
  if (system) {
    row_bytes_ = source_line_bytes(p_);
    row_.reserve(row_bytes_);
    row_y_ = 0;
    pending_ = true;
    return true;
  }
  Extent src{0, -1};
  if (pattern) {
    uint32_t size = expand ? 8 : 8 * pattern_line_bytes(bpp);
    src = {int64_t{p_.src & ~(size - 1)}, int64_t{p_.src & ~(size - 1)} + size - 1};
  } else if (expand && (p_.mode_ext & kBltSolidFill)) {
    src = {0, 0};  // no source is read
  } else if (expand) {
    src = extent(p_.src, p_.src_pitch, (line_pixels(p_) + 7) / 8, p_.height, 1);
  } else {
    src = extent(p_.src, p_.src_pitch, p_.width, p_.height, dir_);
  }
  if (!inside(src)) {
    HVMD_GUEST_LOG("cirrus: blit source %#x pitch %u %ux%u outside video memory", p_.src,
                   p_.src_pitch, p_.width, p_.height);
    return false;
  }
  run_video_source();
  return true;
}

void Blitter::run_video_source() {
  uint8_t* vram = vram_.host_data().data();
  bool expand = p_.mode & kBltColorExpand;
  if (p_.mode & kBltPattern) {
    for (uint32_t y = 0; y < p_.height; ++y) pattern_line(y);
  } else if (expand && (p_.mode_ext & kBltSolidFill)) {
    std::vector<uint8_t> ones((line_pixels(p_) + 7) / 8, 0xff);
    for (uint32_t y = 0; y < p_.height; ++y) expand_line(y, ones.data(), 0);
  } else if (expand) {
    for (uint32_t y = 0; y < p_.height; ++y)
      expand_line(y, vram + p_.src + uint64_t{y} * p_.src_pitch, 0);
  } else {
    for (uint32_t y = 0; y < p_.height; ++y)
      copy_line(y, vram + (int64_t{p_.src} + dir_ * int64_t{y} * p_.src_pitch));
  }
  mark_dirty(dst_extent_);
}

void Blitter::copy_line(uint32_t y, const uint8_t* src) {
  uint8_t* d = dst_line(y);
  uint32_t bpp = bytes_per_pixel();
  if ((p_.mode & kBltTransparent) && bpp <= 2) {
    // Transparent copy: source pixels equal to the key (in the bits the mask does not exclude)
    // leave the destination alone.
    RopRun run = rop_runner(p_.rop);
    for (uint32_t x = 0; x + bpp <= p_.width; x += bpp) {
      uint16_t pixel = 0;
      for (uint32_t b = 0; b < bpp; ++b) pixel |= uint16_t(src[dir_ * int64_t(x + b)]) << (8 * b);
      uint16_t care = static_cast<uint16_t>(~p_.key_mask & (bpp == 1 ? 0xff : 0xffff));
      if (((pixel ^ p_.key) & care) == 0) continue;
      run(d + dir_ * int64_t{x}, src + dir_ * int64_t{x}, bpp, dir_);
    }
    return;
  }
  rop_runner(p_.rop)(d, src, p_.width, dir_);
}

// Colour expansion: bit (first_bit + x) of bits, most significant first, picks the foreground
// (1) or background (0) colour of pixel x; with transparency a 0 leaves the pixel alone.
void Blitter::expand_line(uint32_t y, const uint8_t* bits, uint32_t first_bit) {
  uint8_t* d = dst_line(y);
  uint32_t bpp = bytes_per_pixel(), pixels = line_pixels(p_);
  bool transparent = p_.mode & kBltTransparent;
  RopRun run = rop_runner(p_.rop);
  uint8_t fg[4], bg[4];
  for (unsigned b = 0; b < 4; ++b) {
    fg[b] = static_cast<uint8_t>(p_.fg >> (8 * b));
    bg[b] = static_cast<uint8_t>(p_.bg >> (8 * b));
  }
  for (uint32_t x = skip_; x < pixels; ++x) {
    uint32_t bit = first_bit + x;
    bool on = bits[bit / 8] >> (7 - bit % 8) & 1;
    if (!on && transparent) continue;
    run(d + uint64_t{x} * bpp, on ? fg : bg, bpp, 1);
  }
}

// An 8x8 pattern: line y of the destination uses pattern line y & 7; pixel x its pixel x & 7.
void Blitter::pattern_line(uint32_t y) {
  const uint8_t* vram = vram_.host_data().data();
  uint32_t bpp = bytes_per_pixel();
  if (p_.mode & kBltColorExpand) {
    uint8_t row = vram[(p_.src & ~7u) + (y & 7)];
    uint8_t bits[kBltWidthMask / 8 + 2];
    uint32_t pixels = line_pixels(p_);
    for (uint32_t i = 0; i < (pixels + 7) / 8; ++i) bits[i] = row;  // x & 7 repeats the byte
    expand_line(y, bits, 0);
    return;
  }
  uint32_t line_bytes = pattern_line_bytes(bpp);
  uint32_t base = p_.src & ~(8 * line_bytes - 1);
  const uint8_t* pat = vram + base + (y & 7) * line_bytes;
  uint8_t* d = dst_line(y);
  RopRun run = rop_runner(p_.rop);
  uint32_t pixels = line_pixels(p_);
  for (uint32_t x = skip_; x < pixels; ++x) run(d + uint64_t{x} * bpp, pat + (x & 7) * bpp, bpp, 1);
}

void Blitter::feed(uint8_t byte) {
  if (!pending_) return;
  row_.push_back(byte);
  if (row_.size() < row_bytes_) return;
  if (p_.mode & kBltColorExpand)
    expand_line(row_y_, row_.data(), 0);
  else
    copy_line(row_y_, row_.data());
  row_.clear();
  int64_t line = int64_t{p_.dst} + int64_t{row_y_} * p_.dst_pitch;
  mark_dirty({line, line + p_.width - 1});
  if (++row_y_ == p_.height) pending_ = false;
}

}  // namespace hvmd::devices::vga::cirrus
