// A test-side decoder of the server's FramebufferUpdate messages in raw, Hextile and ZRLE,
// written from RFC 6143 independently of the server's encoders: the unit tests compare what it
// decodes with the picture, the benchmark uses it to read whole messages off the socket.
// Pixels are kept as the client's pixel values (its bytes read least significant first).
#pragma once

#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace hvmd::test {

class RfbDecoder {
 public:
  // bpp: bytes per pixel of the client's format; cpixel: bytes of ZRLE's compressed pixel and
  // where they sit in the little-endian pixel value (offset 1: the top three bytes).
  RfbDecoder(uint32_t width, uint32_t height, size_t bpp, size_t cpixel = 0, size_t offset = 0)
      : pixels(size_t{width} * height, 0),
        width_(width),
        height_(height),
        bpp_(bpp),
        cpixel_(cpixel ? cpixel : bpp),
        offset_(offset) {
    inflateInit(&z_);
  }
  ~RfbDecoder() { inflateEnd(&z_); }
  RfbDecoder(const RfbDecoder&) = delete;
  RfbDecoder& operator=(const RfbDecoder&) = delete;

  // Off: messages are only parsed to their end, ZRLE data is not inflated and no pixel is
  // stored (the benchmark's client, whose cost should not hide the server's).
  bool decode_pixels = true;

  // Reads exactly n bytes (shorter: the connection ended).
  using Reader = std::function<std::string(size_t)>;

  // Decodes one FramebufferUpdate; false with why() set on anything unexpected.
  bool update(const Reader& read) {
    std::string head = counted(read, 4);
    if (head.size() != 4 || head[0] != 0) return fail("not a FramebufferUpdate");
    uint32_t rects = be16(head, 2);
    for (uint32_t i = 0; i < rects; ++i) {
      std::string rh = counted(read, 12);
      if (rh.size() != 12) return fail("short rectangle header");
      uint32_t x = be16(rh, 0), y = be16(rh, 2), w = be16(rh, 4), h = be16(rh, 6);
      auto encoding = static_cast<int32_t>(be32(rh, 8));
      encodings.push_back(encoding);
      if (x + w > width_ || y + h > height_) return fail("rectangle outside the framebuffer");
      bool good = encoding == 0    ? raw(read, x, y, w, h)
                  : encoding == 5  ? hextile(read, x, y, w, h)
                  : encoding == 16 ? zrle(read, x, y, w, h)
                                   : fail("unexpected encoding " + std::to_string(encoding));
      if (!good) return false;
    }
    return true;
  }
  const std::string& why() const { return why_; }

  std::vector<uint32_t> pixels;
  std::vector<int32_t> encodings;  // of every rectangle decoded
  size_t bytes = 0;                // read, all updates

 private:
  static uint32_t be16(const std::string& s, size_t at) {
    return static_cast<uint32_t>(static_cast<uint8_t>(s[at]) << 8 |
                                 static_cast<uint8_t>(s[at + 1]));
  }
  static uint32_t be32(const std::string& s, size_t at) {
    return be16(s, at) << 16 | be16(s, at + 2);
  }
  bool fail(const std::string& why) {
    why_ = why;
    return false;
  }
  static uint32_t le(const uint8_t* p, size_t n) {
    uint32_t v = 0;
    for (size_t b = 0; b < n; ++b) v |= uint32_t{p[b]} << (8 * b);
    return v;
  }
  void fill(uint32_t x, uint32_t y, uint32_t w, uint32_t h, uint32_t v) {
    if (!decode_pixels) return;
    for (uint32_t r = y; r < y + h; ++r)
      for (uint32_t c = x; c < x + w; ++c) pixels[size_t{r} * width_ + c] = v;
  }
  std::string counted(const Reader& read, size_t n) {
    std::string s = read(n);
    bytes += s.size();
    return s;
  }

  bool raw(const Reader& read, uint32_t x, uint32_t y, uint32_t w, uint32_t h) {
    std::string data = counted(read, size_t{w} * h * bpp_);
    if (data.size() != size_t{w} * h * bpp_) return fail("short raw data");
    if (!decode_pixels) return true;
    auto p = reinterpret_cast<const uint8_t*>(data.data());
    for (uint32_t r = 0; r < h; ++r)
      for (uint32_t c = 0; c < w; ++c, p += bpp_)
        pixels[size_t{y + r} * width_ + x + c] = le(p, bpp_);
    return true;
  }

  bool hextile(const Reader& read, uint32_t x, uint32_t y, uint32_t w, uint32_t h) {
    uint32_t bg = 0, fg = 0;
    bool have_bg = false, have_fg = false;
    auto pixel = [&](uint32_t* v) {
      std::string s = counted(read, bpp_);
      if (s.size() != bpp_) return false;
      *v = le(reinterpret_cast<const uint8_t*>(s.data()), bpp_);
      return true;
    };
    for (uint32_t ty = 0; ty < h; ty += 16) {
      for (uint32_t tx = 0; tx < w; tx += 16) {
        uint32_t tw = std::min(16u, w - tx), th = std::min(16u, h - ty);
        std::string m = counted(read, 1);
        if (m.size() != 1) return fail("short hextile tile");
        auto mask = static_cast<uint8_t>(m[0]);
        if (mask & 1) {
          if (!raw(read, x + tx, y + ty, tw, th)) return false;
          have_bg = have_fg = false;
          continue;
        }
        if (mask & 2) {
          if (!pixel(&bg)) return fail("short background");
          have_bg = true;
        }
        if (!have_bg) return fail("tile without a background");
        if (mask & 4) {
          if (!pixel(&fg)) return fail("short foreground");
          have_fg = true;
        }
        fill(x + tx, y + ty, tw, th, bg);
        if (!(mask & 8)) continue;
        std::string n = counted(read, 1);
        if (n.size() != 1) return fail("short subrect count");
        for (uint32_t i = 0; i < static_cast<uint8_t>(n[0]); ++i) {
          uint32_t colour = fg;
          if (mask & 16) {
            if (!pixel(&colour)) return fail("short subrect colour");
          } else if (!have_fg) {
            return fail("subrects without a foreground");
          }
          std::string s = counted(read, 2);
          if (s.size() != 2) return fail("short subrect");
          uint32_t sx = static_cast<uint8_t>(s[0]) >> 4, sy = s[0] & 15;
          uint32_t sw = (static_cast<uint8_t>(s[1]) >> 4) + 1, sh = (s[1] & 15) + 1;
          if (sx + sw > tw || sy + sh > th) return fail("subrect outside its tile");
          fill(x + tx + sx, y + ty + sy, sw, sh, colour);
        }
      }
    }
    return true;
  }

  bool zrle(const Reader& read, uint32_t x, uint32_t y, uint32_t w, uint32_t h) {
    std::string len = counted(read, 4);
    if (len.size() != 4) return fail("short ZRLE length");
    std::string packed = counted(read, be32(len, 0));
    if (packed.size() != be32(len, 0)) return fail("short ZRLE data");
    if (!decode_pixels) return true;
    // Inflate everything the rectangle holds (the server flushed at its end).
    std::vector<uint8_t> data;
    z_.next_in = reinterpret_cast<Bytef*>(packed.data());
    z_.avail_in = static_cast<uInt>(packed.size());
    for (;;) {
      uint8_t chunk[65536];
      z_.next_out = chunk;
      z_.avail_out = sizeof(chunk);
      int rc = inflate(&z_, Z_SYNC_FLUSH);
      if (rc != Z_OK && rc != Z_BUF_ERROR) return fail("inflate failed");
      data.insert(data.end(), chunk, chunk + sizeof(chunk) - z_.avail_out);
      if (rc == Z_BUF_ERROR || (z_.avail_in == 0 && z_.avail_out != 0)) break;
    }
    size_t at = 0;
    auto byte = [&](uint32_t* v) {
      if (at >= data.size()) return false;
      *v = data[at++];
      return true;
    };
    auto cpixel = [&](uint32_t* v) {
      if (at + cpixel_ > data.size()) return false;
      *v = le(data.data() + at, cpixel_) << (8 * offset_);
      at += cpixel_;
      return true;
    };
    auto run_length = [&](size_t* n) {
      *n = 1;
      uint32_t b = 255;
      while (b == 255) {
        if (!byte(&b)) return false;
        *n += b;
      }
      return true;
    };
    for (uint32_t ty = 0; ty < h; ty += 64) {
      for (uint32_t tx = 0; tx < w; tx += 64) {
        uint32_t tw = std::min(64u, w - tx), th = std::min(64u, h - ty);
        size_t count = size_t{tw} * th;
        std::vector<uint32_t> tile(count);
        uint32_t sub;
        if (!byte(&sub)) return fail("short ZRLE tile");
        bool rle = sub & 128;
        uint32_t palette_size = sub & 127;
        std::vector<uint32_t> palette(palette_size);
        for (auto& c : palette)
          if (!cpixel(&c)) return fail("short palette");
        if (sub == 0) {
          for (auto& p : tile)
            if (!cpixel(&p)) return fail("short raw tile");
        } else if (sub == 1) {
          std::fill(tile.begin(), tile.end(), palette[0]);
        } else if (!rle && palette_size <= 16) {
          uint32_t bits = palette_size <= 2 ? 1 : palette_size <= 4 ? 2 : 4;
          for (uint32_t r = 0; r < th; ++r) {
            uint32_t b = 0, left = 0;
            for (uint32_t c = 0; c < tw; ++c) {
              if (!left) {
                if (!byte(&b)) return fail("short packed row");
                left = 8;
              }
              left -= bits;
              uint32_t i = (b >> left) & ((1u << bits) - 1);
              if (i >= palette_size) return fail("packed index beyond the palette");
              tile[size_t{r} * tw + c] = palette[i];
            }
          }
        } else if (sub == 128) {
          for (size_t i = 0; i < count;) {
            uint32_t v;
            size_t n;
            if (!cpixel(&v) || !run_length(&n)) return fail("short plain run");
            if (i + n > count) return fail("plain run beyond the tile");
            std::fill_n(tile.begin() + i, n, v);
            i += n;
          }
        } else if (rle && palette_size >= 2) {
          for (size_t i = 0; i < count;) {
            uint32_t b;
            size_t n = 1;
            if (!byte(&b)) return fail("short palette run");
            if ((b & 127) >= palette_size) return fail("run index beyond the palette");
            if ((b & 128) && !run_length(&n)) return fail("short run length");
            if (i + n > count) return fail("palette run beyond the tile");
            std::fill_n(tile.begin() + i, n, palette[b & 127]);
            i += n;
          }
        } else {
          return fail("bad ZRLE sub-encoding " + std::to_string(sub));
        }
        for (uint32_t r = 0; r < th; ++r)
          for (uint32_t c = 0; c < tw; ++c)
            pixels[size_t{y + ty + r} * width_ + x + tx + c] = tile[size_t{r} * tw + c];
      }
    }
    if (at != data.size()) return fail("ZRLE data left over");
    return true;
  }

  uint32_t width_, height_;
  size_t bpp_, cpixel_, offset_;
  z_stream z_{};
  std::string why_;
};

}  // namespace hvmd::test
