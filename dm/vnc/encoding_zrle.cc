// ZRLE (RFC 6143 §7.7.6): the rectangle in 64x64 tiles, each tile one sub-encoding byte and
// then raw compressed pixels, a solid colour, a packed palette (2-16 colours, 1/2/4 bits per
// pixel, rows padded to a byte), plain runs, or palette runs (2-127 colours). All tiles go through
// the connection's one zlib stream; a rectangle's compressed bytes follow their 4-byte length.
// For each tile the smallest of the forms is chosen from exact sizes counted in one pass.
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "dm/vnc/encodings.h"

namespace hvmd::vnc {
namespace {

constexpr uint8_t kSubRaw = 0;
constexpr uint8_t kSubSolid = 1;
constexpr uint8_t kSubPlainRle = 128;
constexpr uint8_t kSubPaletteRle = 128;  // added to the palette size (2..127)
constexpr size_t kMaxPalette = 127;
constexpr size_t kMaxPackedPalette = 16;
constexpr size_t kTilePixels = ZrleEncoder::kTile * ZrleEncoder::kTile;

// Bytes a run length takes after its pixel or index: (length - 1) as 255s and a final < 255.
size_t run_length_bytes(size_t length) {
  return (length - 1) / 255 + 1;
}

void put_run_length(std::vector<uint8_t>& out, size_t length) {
  size_t rest = length - 1;
  for (; rest >= 255; rest -= 255) out.push_back(255);
  out.push_back(static_cast<uint8_t>(rest));
}

size_t packed_bits(size_t palette) {
  return palette <= 2 ? 1 : palette <= 4 ? 2 : 4;
}

}  // namespace

ZrleEncoder::ZrleEncoder() {
  auto* stream = new z_stream{};
  if (deflateInit2(stream, kLevel, Z_DEFLATED, kWindowBits, kMemLevel, Z_DEFAULT_STRATEGY) !=
      Z_OK) {
    delete stream;
    return;
  }
  stream_ = stream;
  plain_.reserve(1 + kTilePixels * 4);
}

ZrleEncoder::~ZrleEncoder() {
  if (!stream_) return;
  deflateEnd(stream_);
  delete stream_;
}

size_t ZrleEncoder::cpixel_bytes(const rfb::PixelFormat& f, size_t* offset) {
  *offset = 0;
  size_t bytes = f.true_colour ? f.bits_per_pixel / 8 : 1;
  if (!f.true_colour || f.bits_per_pixel != 32 || f.depth > 24) return bytes;
  uint32_t used = uint32_t{f.red_max} << f.red_shift | uint32_t{f.green_max} << f.green_shift |
                  uint32_t{f.blue_max} << f.blue_shift;
  bool low = (used & 0xff000000u) == 0;  // fits in the least significant three bytes
  bool high = (used & 0xffu) == 0;       // or in the most significant three
  if (!low && !high) return bytes;
  // The pixel's bytes in the client's order: the least significant byte first when little endian.
  bool little = !f.big_endian;
  *offset = low == little ? 0 : 1;
  return 3;
}

void ZrleEncoder::put_cpixel(uint32_t rgb) {
  uint8_t full[4];
  converter_->convert(&rgb, 1, full);
  plain_.insert(plain_.end(), full + cpixel_offset_, full + cpixel_offset_ + cpixel_);
}

void ZrleEncoder::encode_tile(const uint32_t* pixels, uint32_t width, uint32_t height) {
  const size_t count = size_t{width} * height;
  // The palette (first-seen order) with each pixel's index, while it has at most 127 colours.
  std::array<uint32_t, kMaxPalette> palette;
  size_t colours = 0;
  bool palette_full = false;
  std::array<uint8_t, kTilePixels> index;
  constexpr size_t kSlots = 256;
  std::array<uint32_t, kSlots> keys;
  std::array<uint8_t, kSlots> slot_index;
  std::array<bool, kSlots> used{};
  // Exact sizes of the run forms, counted along the way.
  size_t plain_rle = 0, palette_rle = 0;
  for (size_t i = 0; i < count;) {
    uint32_t p = pixels[i];
    size_t run = 1;
    while (i + run < count && pixels[i + run] == p) ++run;
    plain_rle += cpixel_ + run_length_bytes(run);
    palette_rle += run == 1 ? 1 : 1 + run_length_bytes(run);
    if (!palette_full) {
      size_t slot = (p * 2654435761u) >> 24;
      while (used[slot] && keys[slot] != p) slot = (slot + 1) % kSlots;
      if (!used[slot]) {
        if (colours == kMaxPalette) {
          palette_full = true;
        } else {
          used[slot] = true;
          keys[slot] = p;
          slot_index[slot] = static_cast<uint8_t>(colours);
          palette[colours++] = p;
        }
      }
      if (!palette_full) std::fill_n(index.begin() + i, run, slot_index[slot]);
    }
    i += run;
  }
  if (!palette_full && colours == 1) {
    plain_.push_back(kSubSolid);
    put_cpixel(palette[0]);
    return;
  }
  // Candidates: raw, plain runs, and with a palette packed indices or palette runs.
  size_t raw = count * cpixel_;
  size_t packed = SIZE_MAX, palette_runs = SIZE_MAX;
  if (!palette_full) {
    palette_runs = colours * cpixel_ + palette_rle;
    if (colours <= kMaxPackedPalette)
      packed = colours * cpixel_ + height * ((width * packed_bits(colours) + 7) / 8);
  }
  size_t best = std::min({raw, plain_rle, packed, palette_runs});
  if (best == raw) {
    plain_.push_back(kSubRaw);
    if (cpixel_ == converter_->bytes_per_pixel()) {
      size_t at = plain_.size();
      plain_.resize(at + count * cpixel_);
      converter_->convert(pixels, count, plain_.data() + at);
    } else {
      for (size_t i = 0; i < count; ++i) put_cpixel(pixels[i]);
    }
  } else if (best == packed) {
    plain_.push_back(static_cast<uint8_t>(colours));
    for (size_t c = 0; c < colours; ++c) put_cpixel(palette[c]);
    size_t bits = packed_bits(colours);
    for (uint32_t y = 0; y < height; ++y) {
      // Indices from the most significant bits down; each row starts on a byte.
      uint32_t acc = 0, filled = 0;
      for (uint32_t x = 0; x < width; ++x) {
        acc = acc << bits | index[size_t{y} * width + x];
        filled += static_cast<uint32_t>(bits);
        if (filled == 8) {
          plain_.push_back(static_cast<uint8_t>(acc));
          acc = filled = 0;
        }
      }
      if (filled) plain_.push_back(static_cast<uint8_t>(acc << (8 - filled)));
    }
  } else if (best == palette_runs) {
    plain_.push_back(static_cast<uint8_t>(kSubPaletteRle + colours));
    for (size_t c = 0; c < colours; ++c) put_cpixel(palette[c]);
    for (size_t i = 0; i < count;) {
      size_t run = 1;
      while (i + run < count && pixels[i + run] == pixels[i]) ++run;
      if (run == 1) {
        plain_.push_back(index[i]);
      } else {
        plain_.push_back(static_cast<uint8_t>(0x80 | index[i]));
        put_run_length(plain_, run);
      }
      i += run;
    }
  } else {
    plain_.push_back(kSubPlainRle);
    for (size_t i = 0; i < count;) {
      size_t run = 1;
      while (i + run < count && pixels[i + run] == pixels[i]) ++run;
      put_cpixel(pixels[i]);
      put_run_length(plain_, run);
      i += run;
    }
  }
}

bool ZrleEncoder::deflate_plain(int flush, std::vector<uint8_t>& out) {
  stream_->next_in = plain_.data();
  stream_->avail_in = static_cast<uInt>(plain_.size());
  for (;;) {
    // Room for what this input can become; grown until deflate stops filling it.
    size_t at = out.size();
    size_t room = deflateBound(stream_, stream_->avail_in) + 64;
    out.resize(at + room);
    stream_->next_out = out.data() + at;
    stream_->avail_out = static_cast<uInt>(room);
    int rc = deflate(stream_, flush);
    out.resize(at + room - stream_->avail_out);
    if (rc != Z_OK && rc != Z_BUF_ERROR) return false;
    if (stream_->avail_in == 0 && stream_->avail_out != 0) break;
  }
  plain_.clear();
  return true;
}

bool ZrleEncoder::encode(const Framebuffer& fb, const Rect& r, const rfb::PixelFormat& format,
                         const PixelConverter& converter, std::vector<uint8_t>& out) {
  if (!stream_) return false;
  converter_ = &converter;
  cpixel_ = cpixel_bytes(format, &cpixel_offset_);
  size_t start = out.size();
  out.resize(start + 4);  // the length, filled in below
  std::array<uint32_t, kTilePixels> pixels;
  bool good = true;
  for (uint32_t ty = 0; ty < r.height && good; ty += kTile) {
    for (uint32_t tx = 0; tx < r.width && good; tx += kTile) {
      Rect tile{r.x + tx, r.y + ty, std::min(kTile, r.width - tx), std::min(kTile, r.height - ty)};
      read_tile(fb, tile, pixels.data());
      encode_tile(pixels.data(), tile.width, tile.height);
      good = deflate_plain(Z_NO_FLUSH, out);
    }
  }
  // The client inflates each rectangle's bytes on their own: everything so far is flushed.
  if (good) good = deflate_plain(Z_SYNC_FLUSH, out);
  if (!good) {
    out.resize(start);
    plain_.clear();
    deflateEnd(stream_);
    delete stream_;
    stream_ = nullptr;
    return false;
  }
  uint32_t length = static_cast<uint32_t>(out.size() - start - 4);
  for (int b = 0; b < 4; ++b) out[start + b] = static_cast<uint8_t>(length >> (24 - 8 * b));
  return true;
}

}  // namespace hvmd::vnc
