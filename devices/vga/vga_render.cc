// What VgaCore's registers describe, drawn on demand: the mode's geometry, its pixels in the
// display hub's 0x00RRGGBB format, and the areas that changed since a console last asked. Every
// VRAM read is bounds-checked (vram_byte), so no register setting can make a refresh read past
// video memory.
#include <algorithm>

#include "devices/vga/vga_core.h"

namespace hvmd::devices::vga {
namespace {

// Blink periods at the VGA's 60 Hz frame rate: the cursor every 16 frames, blinking
// characters every 32.
constexpr int64_t kCursorBlinkNs = 16 * 1'000'000'000ll / 60;
constexpr int64_t kTextBlinkNs = 32 * 1'000'000'000ll / 60;
constexpr uint32_t kMaxPixels = 4096;  // wider and taller than any VGA or VBE mode

uint32_t scale6(uint8_t v) {
  return static_cast<uint32_t>((v << 2) | (v >> 4)) & 0xff;
}

}  // namespace

VgaCore::Mode VgaCore::mode() const {
  if (dispi_[kDispiEnable] & kDispiEnabled) return vbe_mode();
  if ((seq_[kSeqClocking] & kClockingScreenOff) || !(attr_index_ & kAttrPaletteSource)) return {};
  if (LinearMode lm; ext_ && ext_->linear_mode(lm)) {
    // A card's packed-pixel mode, drawn as a VBE one is.
    Mode m;
    m.kind = Kind::kVbe;
    m.width = lm.width;
    m.height = lm.height;
    m.bpp = lm.bpp;
    m.start = lm.start;
    m.stride = lm.stride;
    if (m.width == 0 || m.height == 0) return {};
    return m;
  }
  return (gc_[kGcMisc] & kMiscGraphics) ? vga_graphics_mode() : text_mode();
}

VgaCore::Mode VgaCore::vbe_mode() const {
  Mode m;
  m.kind = Kind::kVbe;
  m.width = dispi_[kDispiXres];
  m.height = dispi_[kDispiYres];
  m.bpp = dispi_[kDispiBpp];
  m.stride = vbe_line_bytes();
  m.start = uint64_t{dispi_[kDispiYOffset]} * m.stride +
            uint64_t{dispi_[kDispiXOffset]} * ((m.bpp + 7) / 8);
  return m;
}

// Scan lines shown: vertical display end + 1, its bits 8 and 9 in the overflow register.
static uint32_t display_lines(const std::array<uint8_t, kCrtcCount>& crtc) {
  return (crtc[kCrtcVDisplayEnd] | (crtc[kCrtcOverflow] & kOverflowVde8 ? 0x100 : 0) |
          (crtc[kCrtcOverflow] & kOverflowVde9 ? 0x200 : 0)) +
         1u;
}

// The line-compare scan line: CR18 with bit 8 in the overflow register and bit 9 in CR09.
static uint32_t line_compare_scan(const std::array<uint8_t, kCrtcCount>& crtc) {
  return crtc[kCrtcLineCompare] | (crtc[kCrtcOverflow] & kOverflowLineCompare8 ? 0x100 : 0) |
         (crtc[kCrtcMaxScanLine] & kMaxScanLineCompare9 ? 0x200 : 0);
}

VgaCore::Mode VgaCore::text_mode() const {
  Mode m;
  m.kind = Kind::kText;
  m.cell_width = (seq_[kSeqClocking] & kClocking8Dot) ? 8 : 9;
  m.cell_height = (crtc_[kCrtcMaxScanLine] & kMaxScanMask) + 1u;
  m.columns = crtc_[kCrtcHDisplayEnd] + 1u;
  uint32_t lines = display_lines(crtc_);
  if (crtc_[kCrtcMaxScanLine] & kMaxScanDouble) lines /= 2;
  m.rows = lines / m.cell_height;
  if (m.rows == 0) return {};
  m.width = m.columns * m.cell_width;
  m.height = m.rows * m.cell_height;
  m.start = uint32_t{crtc_[kCrtcStartHigh]} << 8 | crtc_[kCrtcStartLow];
  m.stride = uint32_t{crtc_[kCrtcOffset]} * 2;
  // A split screen from the line-compare line (rows from address 0 again) and the preset row
  // scan of the top part (smooth scrolling).
  m.line_compare = line_compare_scan(crtc_) / ((crtc_[kCrtcMaxScanLine] & kMaxScanDouble) ? 2 : 1);
  m.preset_row = crtc_[kCrtcPresetRow] & kMaxScanMask;
  return m;
}

VgaCore::Mode VgaCore::vga_graphics_mode() const {
  Mode m;
  uint32_t scan_lines = (crtc_[kCrtcMaxScanLine] & kMaxScanMask) + 1u;
  uint32_t doubled = (crtc_[kCrtcMaxScanLine] & kMaxScanDouble) ? 2 : 1;
  // CGA compatibility (CR17 bit 0 clear): the scan lines of a character row come from 8 KiB
  // banks (row scan bit 0 replaces address bit 13), so they differ; otherwise they repeat one line.
  bool banked = !(crtc_[kCrtcModeControl] & kModeControlCgaCompat);
  uint32_t repeat = banked ? doubled : scan_lines * doubled;
  m.row_lines = banked ? scan_lines : 1;
  m.height = display_lines(crtc_) / repeat;
  uint32_t dots = (crtc_[kCrtcHDisplayEnd] + 1u) * 8;
  uint32_t start = uint32_t{crtc_[kCrtcStartHigh]} << 8 | crtc_[kCrtcStartLow];
  m.line_compare = line_compare_scan(crtc_) / repeat;
  if (gc_[kGcMode] & kMode256Color) {
    // Mode 13h and mode X: one byte a pixel, two dots each; a line is offset * 8 VRAM bytes.
    m.kind = Kind::kColor256;
    m.width = dots / 2;
    m.stride = uint64_t{crtc_[kCrtcOffset]} * 8;
    m.start = uint64_t{start} * 4;
  } else if (gc_[kGcMode] & kModeShiftInterleave) {
    // CGA 4 colours: two bits a pixel in odd/even memory; start and lines in CPU addresses.
    m.kind = Kind::kCga4;
    m.width = dots;
    m.stride = uint64_t{crtc_[kCrtcOffset]} * 2;
    m.start = uint64_t{start} * 2;
  } else {
    // 16 colours (and CGA's 2): one bit per plane per pixel; start and lines in plane offsets.
    m.kind = Kind::kPlanar16;
    m.width = dots;
    m.stride = uint64_t{crtc_[kCrtcOffset]} * 2;
    m.start = start;
  }
  // Horizontal panning shifts the picture left by whole dots (in 256-colour modes by pixels, two
  // dots each); the split screen below line compare may be exempt.
  uint32_t pan = attr_[kAttrPanning] & kPanningMask;
  m.pan = (m.kind == Kind::kColor256) ? pan / 2 : pan;
  m.pan_split = !(attr_[kAttrMode] & kAttrModePanSplit);
  if (m.width == 0 || m.height == 0) return {};
  return m;
}

DisplayInfo VgaCore::display_info() {
  Mode m = mode();
  if (m.kind == Kind::kBlank || m.width > kMaxPixels || m.height > kMaxPixels) return {};
  if (m.kind == Kind::kText) return {DisplayMode::kText, m.width, m.height, m.columns, m.rows};
  return {DisplayMode::kGraphics, m.width, m.height, 0, 0};
}

uint32_t VgaCore::palette_color(uint8_t index) const {
  index &= dac_mask_;
  const uint8_t* c = &palette_[index * 3u];
  if (dispi_[kDispiEnable] & kDispi8BitDac)
    return uint32_t{c[0]} << 16 | uint32_t{c[1]} << 8 | c[2];
  return scale6(c[0]) << 16 | scale6(c[1]) << 8 | scale6(c[2]);
}

uint32_t VgaCore::ext_palette_color(unsigned index) const {
  const uint8_t* c = &ext_palette_[(index & 0x0f) * 3u];
  return scale6(c[0]) << 16 | scale6(c[1]) << 8 | scale6(c[2]);
}

uint32_t VgaCore::attribute_color(uint8_t index) const {
  uint8_t v = attr_[index & 0x0f];
  if (attr_[kAttrMode] & kAttrModeP54Select)
    v = static_cast<uint8_t>((v & 0x0f) | (attr_[kAttrColorSelect] & 0x03) << 4);
  v = static_cast<uint8_t>((v & 0x3f) | (attr_[kAttrColorSelect] & 0x0c) << 4);
  return palette_color(v);
}

bool VgaCore::blink_on(int64_t period_ns) const {
  return (clock_.now_ns() / period_ns) % 2 == 0;
}

void VgaCore::render(const Framebuffer& fb, const Rect& area) {
  Mode m = mode();
  if (m.kind == Kind::kText)
    render_text(m, fb, area);
  else if (m.kind != Kind::kBlank)
    render_graphics(m, fb, area);
  if (ext_ && m.kind == Kind::kVbe) ext_->render_overlay(fb, area);
}

// Character address addr (the CRT controller counts in words in text modes): its character in
// plane 0 and attribute in plane 1 at plane offset 2 * addr.
static uint64_t cell_byte(uint32_t addr) {
  return uint64_t{(addr * 2u) & 0xffffu} * 4;
}

void VgaCore::render_text(const Mode& m, const Framebuffer& fb, const Rect& area) {
  uint8_t char_map = seq_[kSeqCharMap];
  // Plane-2 offsets of the fonts: map n at (n & 3) * 16 KiB + (n & 4 ? 8 KiB : 0).
  auto font_base = [](unsigned map) { return (map & 3) * 0x4000u + (map & 4 ? 0x2000u : 0); };
  uint32_t font_a = font_base(((char_map >> 2) & 3) | ((char_map >> 3) & 4));
  uint32_t font_b = font_base((char_map & 3) | ((char_map >> 2) & 4));
  bool blink_attr = attr_[kAttrMode] & kAttrModeBlink;
  bool blink_phase = blink_on(kTextBlinkNs);
  bool cursor_phase = blink_on(kCursorBlinkNs);
  uint32_t cursor = uint32_t{crtc_[kCrtcCursorHigh]} << 8 | crtc_[kCrtcCursorLow];
  bool cursor_shown = !(crtc_[kCrtcCursorStart] & kCursorDisable) && cursor_phase;
  uint32_t cursor_first = crtc_[kCrtcCursorStart] & kCursorLineMask;
  uint32_t cursor_last = crtc_[kCrtcCursorEnd] & kCursorLineMask;
  for (uint32_t y = area.y; y < area.y + area.height; ++y) {
    uint64_t base = m.start;
    uint32_t scan = y + m.preset_row;
    if (y >= m.line_compare) {
      base = 0;
      scan = y - m.line_compare;
    }
    uint32_t row = scan / m.cell_height, line = scan % m.cell_height;
    uint32_t* out = fb.pixels + y * fb.stride;
    for (uint32_t x = area.x; x < area.x + area.width; ++x) {
      uint32_t column = x / m.cell_width, dot = x % m.cell_width;
      uint32_t addr = static_cast<uint32_t>(base + row * m.stride + column);
      uint64_t cell = cell_byte(addr);
      uint8_t ch = vram_byte(cell), attr = vram_byte(cell + 1);
      uint32_t font = (attr & 0x08) ? font_a : font_b;
      uint8_t glyph = vram_byte(uint64_t{font + ch * kFontBytesPerChar + line} * 4 + 2);
      bool on;
      if (dot < 8)
        on = glyph >> (7 - dot) & 1;
      else  // the ninth dot repeats the eighth for the line-drawing characters only
        on = (attr_[kAttrMode] & kAttrModeLineGraphics) && ch >= 0xc0 && ch <= 0xdf && (glyph & 1);
      uint8_t fg = attr & 0x0f, bg = attr >> 4;
      if (blink_attr) {
        bg &= 0x07;
        if ((attr & 0x80) && !blink_phase) on = false;
      }
      if (cursor_shown && (addr & 0xffff) == cursor && line >= cursor_first && line <= cursor_last)
        on = true;
      out[x] = attribute_color(on ? fg : bg);
    }
  }
}

uint32_t VgaCore::graphics_pixel(const Mode& m, uint64_t line_start, uint32_t x) const {
  switch (m.kind) {
    case Kind::kColor256:
      return palette_color(vram_byte(line_start + x));
    case Kind::kCga4: {
      uint32_t a = static_cast<uint32_t>(line_start + x / 4) & 0xffff;
      uint8_t byte = vram_byte(plane_byte(a & ~1u, a & 1));
      return attribute_color(byte >> (6 - 2 * (x & 3)) & 3);
    }
    case Kind::kPlanar16: {
      uint64_t offset = (line_start + x / 8) & 0xffff;
      unsigned bit = 7 - (x & 7);
      uint8_t index = 0;
      for (unsigned p = 0; p < 4; ++p) index |= ((vram_byte(offset * 4 + p) >> bit) & 1) << p;
      return attribute_color(index & attr_[kAttrPlaneEnable] & 0x0f);
    }
    case Kind::kVbe: {
      uint64_t at = line_start + uint64_t{x} * ((m.bpp + 7) / 8);
      uint8_t b0 = vram_byte(at);
      switch (m.bpp) {
        case 8:
          return palette_color(b0);
        case 15:
        case 16: {
          uint32_t v = b0 | uint32_t{vram_byte(at + 1)} << 8;
          uint32_t r, g, b = (v & 0x1f) << 3;
          if (m.bpp == 15) {
            g = (v >> 5 & 0x1f) << 3;
            r = (v >> 10 & 0x1f) << 3;
          } else {
            g = (v >> 5 & 0x3f) << 2;
            r = (v >> 11 & 0x1f) << 3;
          }
          return r << 16 | g << 8 | b;
        }
        default:  // 24 and 32: blue, green, red in memory order
          return uint32_t{vram_byte(at + 2)} << 16 | uint32_t{vram_byte(at + 1)} << 8 | b0;
      }
    }
    default:
      return 0;
  }
}

// Where line y starts: in VRAM bytes (256 colours, VBE), plane offsets (16 colours) or CPU
// addresses (CGA). Below the line-compare line the picture restarts at 0 (a split screen).
uint64_t VgaCore::line_start(const Mode& m, uint32_t y) const {
  uint64_t base = m.start;
  if (y >= m.line_compare) {
    y -= m.line_compare;
    base = 0;
  }
  uint64_t at = base + uint64_t{y / m.row_lines} * m.stride;
  if (m.row_lines > 1) at = (at & ~uint64_t{kCgaBankBit}) | uint64_t{(y % m.row_lines) & 1} << 13;
  return at;
}

// A VBE line wholly inside VRAM, converted without per-pixel bounds checks or dispatch.
bool VgaCore::render_vbe_line(const Mode& m, uint64_t start, uint32_t* out, uint32_t x0,
                              uint32_t count) const {
  uint32_t bytes = (m.bpp + 7) / 8;
  uint64_t first = start + uint64_t{x0} * bytes, length = uint64_t{count} * bytes;
  if (first > vram_.size() || length > vram_.size() - first) return false;
  const uint8_t* p = vram_.host_data().data() + first;
  switch (m.bpp) {
    case 32:
      for (uint32_t i = 0; i < count; ++i, p += 4)
        out[i] = uint32_t{p[2]} << 16 | uint32_t{p[1]} << 8 | p[0];
      return true;
    case 24:
      for (uint32_t i = 0; i < count; ++i, p += 3)
        out[i] = uint32_t{p[2]} << 16 | uint32_t{p[1]} << 8 | p[0];
      return true;
    case 16:
      for (uint32_t i = 0; i < count; ++i, p += 2) {
        uint32_t v = p[0] | uint32_t{p[1]} << 8;
        out[i] = (v >> 11 & 0x1f) << 19 | (v >> 5 & 0x3f) << 10 | (v & 0x1f) << 3;
      }
      return true;
    default:
      return false;
  }
}

void VgaCore::render_graphics(const Mode& m, const Framebuffer& fb, const Rect& area) {
  for (uint32_t y = area.y; y < area.y + area.height; ++y) {
    if (m.kind == Kind::kVbe &&
        render_vbe_line(m, line_start(m, y), fb.pixels + y * fb.stride + area.x, area.x,
                        area.width))
      continue;
    uint64_t start = line_start(m, y);
    uint32_t pan = (y < m.line_compare || m.pan_split) ? m.pan : 0;
    uint32_t* out = fb.pixels + y * fb.stride;
    for (uint32_t x = area.x; x < area.x + area.width; ++x)
      out[x] = graphics_pixel(m, start, x + pan);
  }
}

void VgaCore::collect_damage(std::vector<Rect>& damage) {
  Mode m = mode();
  std::vector<bool> dirty = vram_.collect_dirty();
  if (m != reported_mode_ || generation_ != reported_generation_) {
    reported_mode_ = m;
    reported_generation_ = generation_;
    text_shadow_.clear();
    reported_cursor_ = ~0ull;
    damage.push_back({0, 0, m.width, m.height});
    if (m.kind != Kind::kText) return;
  }
  if (m.kind == Kind::kBlank) return;
  if (ext_ && m.kind == Kind::kVbe) ext_->overlay_damage(dirty, damage);
  if (m.kind == Kind::kText && (m.line_compare < m.height || m.preset_row)) {
    // Split or smoothly scrolled: cells do not sit on the grid; redraw it all.
    damage.push_back({0, 0, m.width, m.height});
    return;
  }
  if (m.kind == Kind::kText) {
    // Compare each cell (character, attribute, whether a blinking one is shown) with what was
    // reported, and the cursor's cell and phase.
    bool blink_attr = attr_[kAttrMode] & kAttrModeBlink;
    bool blink_phase = blink_on(kTextBlinkNs);
    size_t cells = size_t{m.columns} * m.rows;
    bool first = text_shadow_.size() != cells;
    text_shadow_.resize(cells);
    for (uint32_t row = 0; row < m.rows; ++row) {
      for (uint32_t column = 0; column < m.columns; ++column) {
        uint64_t cell = cell_byte(static_cast<uint32_t>(m.start + row * m.stride + column));
        uint8_t attr = vram_byte(cell + 1);
        uint32_t value = vram_byte(cell) | uint32_t{attr} << 8;
        if (blink_attr && (attr & 0x80) && !blink_phase) value |= 1u << 16;
        uint32_t& seen = text_shadow_[size_t{row} * m.columns + column];
        if (!first && seen != value)
          damage.push_back(
              {column * m.cell_width, row * m.cell_height, m.cell_width, m.cell_height});
        seen = value;
      }
    }
    uint32_t cursor = uint32_t{crtc_[kCrtcCursorHigh]} << 8 | crtc_[kCrtcCursorLow];
    uint64_t key = uint64_t{cursor} << 1 | (blink_on(kCursorBlinkNs) ? 1 : 0);
    if (key != reported_cursor_) {
      for (uint64_t k : {reported_cursor_, key}) {
        if (k == ~0ull) continue;
        uint32_t index = static_cast<uint32_t>(k >> 1) - static_cast<uint32_t>(m.start);
        if (m.stride == 0 || index / m.stride >= m.rows || index % m.stride >= m.columns) continue;
        damage.push_back({static_cast<uint32_t>(index % m.stride) * m.cell_width,
                          static_cast<uint32_t>(index / m.stride) * m.cell_height, m.cell_width,
                          m.cell_height});
      }
      reported_cursor_ = key;
    }
    return;
  }
  // Graphics: the lines that the dirty pages hold (byte-per-pixel layouts without a split
  // screen; the small planar and CGA pictures are redrawn whole).
  bool linear = m.kind == Kind::kColor256 || m.kind == Kind::kVbe;
  if (!linear || m.stride == 0 || m.line_compare < m.height) {
    if (std::find(dirty.begin(), dirty.end(), true) != dirty.end())
      damage.push_back({0, 0, m.width, m.height});
    return;
  }
  for (size_t page = 0; page < dirty.size(); ++page) {
    if (!dirty[page]) continue;
    uint64_t first = page * DirtyBitmap::kPageSize, last = first + DirtyBitmap::kPageSize;
    if (last <= m.start) continue;
    uint64_t y0 = first > m.start ? (first - m.start) / m.stride : 0;
    uint64_t y1 = (last - m.start + m.stride - 1) / m.stride;
    if (y0 >= m.height) continue;
    y1 = std::min<uint64_t>(y1, m.height);
    damage.push_back({0, static_cast<uint32_t>(y0), m.width, static_cast<uint32_t>(y1 - y0)});
  }
}

}  // namespace hvmd::devices::vga
