// The VGA core shared by the display cards: the registers behind ports 0x3b0-0x3df (misc output,
// sequencer, CRT controller, graphics controller, attribute controller, DAC, input status), the
// 0xa0000-0xbffff window with every memory mode, the Bochs VBE dispi registers, and the picture
// they describe, rendered on demand for the display hub.
//
// Video memory holds the four planes interleaved: plane p's byte at plane offset o is VRAM byte
// 4 * o + p. Chain-4 (mode 13h) therefore reaches VRAM byte a at window offset a, mode X pixel x
// of a line is VRAM byte x as well, and the VBE linear modes use VRAM as a plain framebuffer.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <vector>

#include "devices/vga/vga_regs.h"
#include "dm/clock.h"
#include "dm/device_memory.h"
#include "dm/dispatcher.h"
#include "dm/display.h"
#include "dm/result.h"
#include "dm/state.h"

namespace hvmd::devices::vga {

// A packed-pixel mode a card's extension registers select (Cirrus' extended modes).
struct LinearMode {
  uint32_t width = 0, height = 0;
  uint32_t bpp = 8;  // 8, 15, 16, 24 or 32
  uint64_t start = 0, stride = 0;
};

// What a card adds to the VGA core (Cirrus' extended registers, banked window and hardware
// cursor). The core asks it first; false leaves the access to the core.
class VgaExtension {
 public:
  virtual bool ext_port_read(uint16_t port, uint8_t& value) = 0;
  virtual bool ext_port_write(uint16_t port, uint8_t value) = 0;
  virtual bool ext_window_read(uint32_t offset, uint8_t& value) = 0;
  virtual bool ext_window_write(uint32_t offset, uint8_t value) = 0;
  // The extended mode, if the registers select one (it replaces the VGA modes).
  virtual bool linear_mode(LinearMode& mode) const = 0;
  // Drawn over the rendered area (a hardware cursor), and the areas that drawing changed given
  // the dirty pages of VRAM.
  virtual void render_overlay(const Framebuffer& fb, const Rect& area) = 0;
  virtual void overlay_damage(const std::vector<bool>& dirty_pages, std::vector<Rect>& damage) = 0;

 protected:
  ~VgaExtension() = default;
};

// The registers VgaCore saves (a base, so its code reads them as its own members).
struct VgaCoreState {
  uint8_t misc_ = 0;
  uint8_t feature_ = 0;
  uint8_t status1_toggle_ = 0;
  uint8_t seq_index_ = 0;
  std::array<uint8_t, kSeqCount> seq_{};
  uint8_t gc_index_ = 0;
  std::array<uint8_t, kGcCount> gc_{};
  uint8_t crtc_index_ = 0;
  std::array<uint8_t, kCrtcCount> crtc_{};
  uint8_t attr_index_ = 0;       // with the palette-source bit
  bool attr_flip_flop_ = false;  // false: the next 0x3c0 write is an index
  std::array<uint8_t, kAttrCount> attr_{};
  uint8_t dac_mask_ = 0xff;
  uint8_t dac_read_index_ = 0, dac_write_index_ = 0;
  uint8_t dac_component_ = 0;  // 0-2: red, green, blue of the current entry
  bool dac_reading_ = false;   // the last index written was the read index
  std::array<uint8_t, 3> dac_latch_{};
  std::array<uint8_t, 256 * 3> palette_{};  // 6-bit components (8-bit with the VBE 8-bit DAC)
  std::array<uint8_t, 4> latch_{};
  std::array<uint16_t, kDispiCount> dispi_{};
  uint16_t dispi_index_ = 0;
  // A card's 16 extra DAC entries (Cirrus' cursor colours), reached while ext_dac_ is on.
  std::array<uint8_t, 16 * 3> ext_palette_{};
  bool ext_dac_ = false;

  template <class V>
  void describe(V& v);
};

class VgaCore final : public DisplaySource, private VgaCoreState {
 public:
  // vram is the card's video memory (at least 256 KiB: the four 64 KiB planes). vbe: whether the
  // Bochs dispi ports exist (the standard VGA's; not Cirrus').
  VgaCore(DeviceMemory& vram, Dispatcher& dispatcher, Clock& clock, bool vbe = true);
  VgaCore(const VgaCore&) = delete;
  VgaCore& operator=(const VgaCore&) = delete;

  void reset();
  // Maps the legacy ports, the dispi ports and the memory window; unmap() undoes it.
  void map();
  void unmap();

  // Port access by absolute port number (0x3b0-0x3df), one byte at a time.
  uint8_t port_read(uint16_t port);
  void port_write(uint16_t port, uint8_t value);
  // The dispi registers (VBE), by index.
  uint16_t dispi_read(uint16_t index);
  void dispi_write(uint16_t index, uint16_t value);
  // The 0xa0000-0xbffff window, by offset within it.
  uint8_t window_read(uint32_t offset);
  void window_write(uint32_t offset, uint8_t value);

  // DisplaySource.
  DisplayInfo display_info() override;
  void collect_damage(std::vector<Rect>& damage) override;
  void render(const Framebuffer& fb, const Rect& area) override;

  // IoHandlers of the regions (port offsets from 0x3b0; dispi from 0x1ce; window from 0xa0000).
  uint64_t ports_read(uint64_t offset, unsigned size);
  void ports_write(uint64_t offset, unsigned size, uint64_t value);
  uint64_t dispi_port_read(uint64_t offset, unsigned size);
  void dispi_port_write(uint64_t offset, unsigned size, uint64_t value);
  uint64_t window_io_read(uint64_t offset, unsigned size);
  void window_io_write(uint64_t offset, unsigned size, uint64_t value);

  // For a card's extension.
  void set_extension(VgaExtension* ext) { ext_ = ext; }
  uint8_t seq_index() const { return seq_index_; }
  uint8_t gc_index() const { return gc_index_; }
  uint8_t crtc_index() const { return crtc_index_; }
  uint8_t seq(uint8_t i) const { return i < kSeqCount ? seq_[i] : 0; }
  uint8_t gc(uint8_t i) const { return i < kGcCount ? gc_[i] : 0; }
  void set_gc(uint8_t i, uint8_t value) {
    if (i < kGcCount) gc_[i] = value;
    changed();
  }
  uint8_t crtc(uint8_t i) const { return i < kCrtcCount ? crtc_[i] : 0; }
  void set_extended_dac(bool on) { ext_dac_ = on; }
  uint32_t ext_palette_color(unsigned index) const;
  // Everything is redrawn at the next refresh.
  void invalidate() { changed(); }
  uint8_t vram_byte(uint64_t index) const;

  // State: the registers and palette, and VRAM when hvmd holds it (not a transport's backing,
  // which travels with the guest's memory). parse() checks a stream and returns what installs it.
  void save(StateWriter& out) const;
  Result<std::function<void()>> parse(StateReader& in, uint32_t version);

 private:
  // Geometry of what the registers describe, recomputed on demand.
  enum class Kind : uint8_t { kBlank, kText, kPlanar16, kCga4, kColor256, kVbe };
  struct Mode {
    Kind kind = Kind::kBlank;
    uint32_t width = 0;   // pixels
    uint32_t height = 0;  // pixels
    // Text: cell size and grid. Pictures are drawn at the resolution the registers give, without
    // the doubling a monitor applies to 320-dot modes.
    uint32_t cell_width = 0, cell_height = 0, columns = 0, rows = 0;
    // Graphics: the VRAM byte of the first pixel and from one line to the next. Text: the CRT
    // controller's character address of the first cell and from one row to the next.
    uint64_t start = 0;
    uint64_t stride = 0;
    uint32_t line_compare = ~0u;  // the line where the picture restarts at VRAM 0
    uint32_t preset_row = 0;      // text: scan lines the top part is scrolled up by
    uint32_t row_lines = 1;       // CGA-compatible modes: scan lines per row, from 8 KiB banks
    uint32_t pan = 0;             // VGA graphics: pixels the picture is shifted left by
    bool pan_split = true;        // whether the split screen pans too
    uint32_t bpp = 0;             // VBE
    bool operator==(const Mode&) const = default;
  };
  Mode mode() const;
  Mode text_mode() const;
  Mode vga_graphics_mode() const;
  Mode vbe_mode() const;

  bool color_ports() const { return misc_ & kMiscColorPorts; }
  uint32_t vbe_line_bytes() const;
  bool vbe_frame_fits(uint32_t xres, uint32_t yres, uint32_t bpp, uint32_t virt_width,
                      uint32_t x_offset, uint32_t y_offset) const;
  void vbe_enable(uint16_t value);
  void update_bank_window();

  uint8_t crtc_read(uint8_t index) const;
  void crtc_write(uint8_t index, uint8_t value);
  void attr_write(uint8_t value);
  uint8_t dac_data_read();
  void dac_data_write(uint8_t value);
  void changed() { ++generation_; }

  // Memory modes.
  uint64_t plane_byte(uint32_t plane_offset, unsigned plane) const {
    return uint64_t{plane_offset} * 4 + plane;
  }
  void set_vram_byte(uint64_t index, uint8_t value);
  uint8_t planar_read(uint32_t plane_offset);
  void planar_write(uint32_t plane_offset, uint8_t value);

  // Rendering.
  uint32_t palette_color(uint8_t index) const;    // through the PEL mask and the DAC
  uint32_t attribute_color(uint8_t index) const;  // through the attribute palette, then the DAC
  void render_text(const Mode& m, const Framebuffer& fb, const Rect& area);
  void render_graphics(const Mode& m, const Framebuffer& fb, const Rect& area);
  uint64_t line_start(const Mode& m, uint32_t y) const;
  bool render_vbe_line(const Mode& m, uint64_t start, uint32_t* out, uint32_t x0,
                       uint32_t count) const;
  uint32_t graphics_pixel(const Mode& m, uint64_t line_start, uint32_t x) const;
  bool blink_on(int64_t period_ns) const;

  DeviceMemory& vram_;
  Dispatcher& dispatcher_;
  Clock& clock_;
  bool vbe_ = true;
  VgaExtension* ext_ = nullptr;

  // Damage: a generation bumped by anything that redraws everything, the last mode seen, and
  // the text cells as last reported.
  uint64_t generation_ = 1;
  uint64_t reported_generation_ = 0;
  Mode reported_mode_;
  std::vector<uint32_t> text_shadow_;  // per cell: character, attribute, blink hidden
  uint64_t reported_cursor_ = ~0ull;

  MemberIoHandler<VgaCore, &VgaCore::ports_read, &VgaCore::ports_write> ports_io_{*this};
  MemberIoHandler<VgaCore, &VgaCore::dispi_port_read, &VgaCore::dispi_port_write> dispi_io_{*this};
  MemberIoHandler<VgaCore, &VgaCore::window_io_read, &VgaCore::window_io_write> window_io_{*this};
  Dispatcher::MappingId ports_mapping_ = Dispatcher::kNoMapping;
  Dispatcher::MappingId dispi_mapping_ = Dispatcher::kNoMapping;
  Dispatcher::MappingId window_mapping_ = Dispatcher::kNoMapping;
  Dispatcher::MappingId bank_mapping_ = Dispatcher::kNoMapping;  // VBE's banked window
  bool mapped_ = false;
};

}  // namespace hvmd::devices::vga
