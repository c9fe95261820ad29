// Rectangle encodings beyond raw (RFC 6143 §7.7): Hextile (16x16 tiles of background, foreground
// and solid subrectangles; no dependency) and ZRLE (64x64 tiles of palettes and runs through one
// zlib stream per connection). A client's SetEncodings list names, in its order of preference,
// which one it gets (VncClient); what is not listed is never sent.
//
// Encoders read the picture a tile at a time (black outside the framebuffer, as the raw path
// does) and never allocate from anything a client says: their buffers are sized by the tile.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "dm/display.h"
#include "dm/vnc/pixel_format.h"
#include "dm/vnc/rfb.h"

struct z_stream_s;

namespace hvmd::vnc {

// The pixels 0x00RRGGBB of tile (inside rectangle coordinates of fb), row after row
// (tile.width x tile.height), black where the tile lies outside fb.
void read_tile(const Framebuffer& fb, const Rect& tile, uint32_t* out);

// Appends r as Hextile tiles (the rectangle header is the caller's).
void encode_hextile(const Framebuffer& fb, const Rect& r, const PixelConverter& converter,
                    std::vector<uint8_t>& out);

// ZRLE keeps one deflate stream for the whole connection (the client inflates it as one), so an
// encoder belongs to one client. Its memory is the zlib state, bounded by the window and hash
// sizes chosen below (about 130 KiB), plus one tile's bytes.
class ZrleEncoder {
 public:
  static constexpr uint32_t kTile = 64;
  // Deflate's window (2^14 bytes) and hash memory level (7: 2^16 bytes of hash chains): what one
  // client's stream costs, whatever the client sends.
  static constexpr int kWindowBits = 14;
  static constexpr int kMemLevel = 7;
  static constexpr int kLevel = 1;  // a fast level: the bench's figures choose it

  ZrleEncoder();
  ~ZrleEncoder();
  ZrleEncoder(const ZrleEncoder&) = delete;
  ZrleEncoder& operator=(const ZrleEncoder&) = delete;

  // False when zlib could not start (no memory): the caller sends raw instead.
  bool ok() const { return stream_ != nullptr; }
  // Appends r's ZRLE data (the 4-byte length, then the compressed tiles); false when zlib
  // failed, in which case out is as it was and the stream is unusable.
  bool encode(const Framebuffer& fb, const Rect& r, const rfb::PixelFormat& format,
              const PixelConverter& converter, std::vector<uint8_t>& out);

  // Bytes a compressed pixel takes in format (RFC 6143 §7.7.6: 3 for 32-bit true colour whose
  // channels fit in three of the four bytes) and where in the 4-byte pixel those bytes start.
  static size_t cpixel_bytes(const rfb::PixelFormat& format, size_t* offset);

 private:
  void encode_tile(const uint32_t* pixels, uint32_t width, uint32_t height);
  void put_cpixel(uint32_t rgb);
  bool deflate_plain(int flush, std::vector<uint8_t>& out);

  z_stream_s* stream_ = nullptr;
  std::vector<uint8_t> plain_;  // one tile, uncompressed (at most 1 + 64*64*4 bytes)
  const PixelConverter* converter_ = nullptr;
  size_t cpixel_ = 4;
  size_t cpixel_offset_ = 0;
};

}  // namespace hvmd::vnc
