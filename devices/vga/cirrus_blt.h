// The CL-GD5446 BitBLT engine: video-to-video copies (forward and backward), system-to-video
// (the CPU writes the source through the memory window or the linear aperture), 8x8 pattern
// fills, colour expansion of one-bit sources (opaque or transparent), the sixteen raster
// operations, at 8/16/24/32 bits per pixel.
//
// Safety: before a single byte moves, the extent of the destination and of any video-memory
// source is computed from the addresses, pitches (with the direction's sign), width and height in
// 64-bit arithmetic and checked against video memory. A blit that would reach outside is dropped
// as a no-op (logged). The QEMU CVEs of this engine (CVE-2014-8106, CVE-2016-9921/9922,
// CVE-2017-2615, CVE-2017-2620, CVE-2017-7980, CVE-2017-18030) were all missing or wrong versions
// of this check; tests/unit/cirrus_blt_test.cc replays each.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "devices/vga/cirrus_regs.h"
#include "dm/device_memory.h"

namespace hvmd::devices::vga::cirrus {

// The registers a blit reads, decoded (what GR00-GR3F hold when it starts).
struct BltParams {
  uint32_t width = 0;   // bytes per line (register + 1)
  uint32_t height = 0;  // lines (register + 1)
  uint32_t dst_pitch = 0, src_pitch = 0;
  uint32_t dst = 0, src = 0;
  uint8_t mode = 0;                // GR30
  uint8_t mode_ext = 0;            // GR33
  uint8_t rop = 0;                 // GR32
  uint32_t fg = 0, bg = 0;         // colour-expansion colours, little-endian bytes
  uint16_t key = 0, key_mask = 0;  // transparent colour and its don't-care bits
  // GR2F: left-side clipping of colour-expansion and pattern blits. The destination address and
  // width include the clipped pixels, and the source (bits or pattern) stays aligned to the
  // destination address; only the first pixels of every line are not written. Bits 2:0 count
  // pixels; at 24 bpp bits 4:0 count bytes (a pattern line is 8 pixels of 3 bytes padded to 32),
  // rounded down here to whole pixels.
  uint8_t left_clip = 0;
};

class Blitter {
 public:
  explicit Blitter(DeviceMemory& vram) : vram_(vram) {}

  // Starts a blit. A video-source blit runs to completion here; a system-source one waits for
  // its data (feed). Returns false if the blit was refused (out of bounds or unsupported).
  bool start(const BltParams& p);
  // One byte of system-source data; the blit ends when its last line is complete.
  void feed(uint8_t byte);
  bool waiting_for_data() const { return pending_; }
  void abort() {
    pending_ = false;
    row_.clear();
  }

  // The bytes the blit may touch, [lo, hi], for a rectangle drawn from base in direction dir.
  struct Extent {
    int64_t lo, hi;
  };
  static Extent extent(uint32_t base, int64_t pitch, uint32_t width, uint32_t height, int dir);

  // System-source bytes per line (the engine takes them in whole 32-bit words).
  static uint32_t source_line_bytes(const BltParams& p);

 private:
  bool inside(const Extent& e) const {
    return e.lo >= 0 && e.hi >= e.lo && static_cast<uint64_t>(e.hi) < vram_.size();
  }
  uint32_t bytes_per_pixel() const { return 1u + ((p_.mode & kBltDepthMask) >> kBltDepthShift); }
  void run_video_source();
  // Line y of the destination from a source line (video or system), a colour-expansion bit row
  // or the pattern.
  void copy_line(uint32_t y, const uint8_t* src);
  void expand_line(uint32_t y, const uint8_t* bits, uint32_t first_bit);
  void pattern_line(uint32_t y);
  uint8_t* dst_line(uint32_t y) {
    return vram_.host_data().data() + (int64_t{p_.dst} + dir_ * int64_t{y} * p_.dst_pitch);
  }
  void mark_dirty(const Extent& e) {
    vram_.dirty().mark(static_cast<uint64_t>(e.lo), static_cast<uint64_t>(e.hi - e.lo + 1));
  }

  // The pixels of every line GR2F keeps from being written (colour expansion, pattern fill).
  static uint32_t left_clip_pixels(const BltParams& p);

  DeviceMemory& vram_;
  BltParams p_;
  uint32_t skip_ = 0;  // left_clip_pixels of the blit running
  int dir_ = 1;
  Extent dst_extent_{0, -1};
  // System source: the line being received and the destination line it completes.
  bool pending_ = false;
  std::vector<uint8_t> row_;
  uint32_t row_bytes_ = 0;
  uint32_t row_y_ = 0;
};

// dst = rop(src, dst), one byte.
uint8_t apply_rop(uint8_t rop, uint8_t src, uint8_t dst);

}  // namespace hvmd::devices::vga::cirrus
