#include "devices/vga/vga_core.h"

#include <algorithm>
#include <bit>

namespace hvmd::devices::vga {
VgaCore::VgaCore(DeviceMemory& vram, Dispatcher& dispatcher, Clock& clock, bool vbe)
    : vram_(vram), dispatcher_(dispatcher), clock_(clock), vbe_(vbe) {
  reset();
}

void VgaCore::reset() {
  misc_ = feature_ = status1_toggle_ = 0;
  seq_index_ = gc_index_ = crtc_index_ = attr_index_ = 0;
  seq_.fill(0);
  gc_.fill(0);
  crtc_.fill(0);
  attr_.fill(0);
  attr_flip_flop_ = false;
  dac_mask_ = 0xff;
  dac_read_index_ = dac_write_index_ = dac_component_ = 0;
  dac_reading_ = false;
  palette_.fill(0);
  ext_palette_.fill(0);
  ext_dac_ = false;
  latch_.fill(0);
  dispi_.fill(0);
  dispi_index_ = 0;
  dispi_[kDispiId] = kDispiIdNewest;
  dispi_[kDispiXres] = 640;
  dispi_[kDispiYres] = 480;
  dispi_[kDispiBpp] = 8;
  update_bank_window();
  changed();
}

void VgaCore::map() {
  if (mapped_) return;
  mapped_ = true;
  ports_mapping_ = dispatcher_.map_ports(kPortBase, kPortCount, &ports_io_, "vga-ports");
  if (vbe_)
    dispi_mapping_ =
        dispatcher_.map_ports(kDispiIndexPort, kDispiPortCount, &dispi_io_, "vga-dispi");
  window_mapping_ = dispatcher_.map_mmio(kWindowBase, kWindowSize, &window_io_, "vga-window");
  update_bank_window();
}

void VgaCore::unmap() {
  if (!mapped_) return;
  dispatcher_.unmap(bank_mapping_);
  dispatcher_.unmap(window_mapping_);
  dispatcher_.unmap(dispi_mapping_);
  dispatcher_.unmap(ports_mapping_);
  bank_mapping_ = window_mapping_ = dispi_mapping_ = ports_mapping_ = Dispatcher::kNoMapping;
  mapped_ = false;
}

// ---- Ports ----

uint64_t VgaCore::ports_read(uint64_t offset, unsigned size) {
  uint64_t value = 0;
  for (unsigned i = 0; i < size && offset + i < kPortCount; ++i)
    value |= uint64_t{port_read(static_cast<uint16_t>(kPortBase + offset + i))} << (8 * i);
  return value;
}

// A 16-bit write to an index port sets the index and then the data (outw 0x3c4, data << 8 | index).
void VgaCore::ports_write(uint64_t offset, unsigned size, uint64_t value) {
  for (unsigned i = 0; i < size && offset + i < kPortCount; ++i)
    port_write(static_cast<uint16_t>(kPortBase + offset + i),
               static_cast<uint8_t>(value >> (8 * i)));
}

uint8_t VgaCore::port_read(uint16_t port) {
  // The CRTC and status 1 answer at 0x3dx or 0x3bx only, as the misc output selects.
  bool mono_port = port >= 0x3b0 && port < 0x3c0;
  bool color_port = port >= 0x3d0;
  if ((mono_port && color_ports()) || (color_port && !color_ports())) return 0xff;
  if (uint8_t v; ext_ && ext_->ext_port_read(port, v)) return v;
  switch (port) {
    case kAttrIndex:
      return attr_index_;
    case kAttrDataRead: {
      uint8_t index = attr_index_ & kAttrIndexMask;
      return index < kAttrCount ? attr_[index] : 0;
    }
    case kStatus0:
      return 0;
    case kSeqIndex:
      return seq_index_;
    case kSeqData:
      return seq_index_ < kSeqCount ? seq_[seq_index_] : 0xff;
    case kDacMask:
      return dac_mask_;
    case kDacState:
      return dac_reading_ ? 0x03 : 0x00;
    case kDacWriteIndex:
      return dac_write_index_;
    case kDacData:
      return dac_data_read();
    case kFeatureRead:
      return feature_;
    case kMiscRead:
      return misc_;
    case kGcIndex:
      return gc_index_;
    case kGcData:
      return gc_index_ < kGcCount ? gc_[gc_index_] : 0xff;
    case kMonoCrtcIndex:
    case kColorCrtcIndex:
      return crtc_index_;
    case kMonoCrtcData:
    case kColorCrtcData:
      return crtc_read(crtc_index_);
    case kMonoStatus1:
    case kColorStatus1:
      attr_flip_flop_ = false;  // reading status 1 makes the next 0x3c0 write an index
      status1_toggle_ ^= kStatus1DisplayDisabled | kStatus1VerticalRetrace;
      return status1_toggle_;
    default:
      return 0xff;
  }
}

void VgaCore::port_write(uint16_t port, uint8_t value) {
  bool mono_port = port >= 0x3b0 && port < 0x3c0;
  bool color_port = port >= 0x3d0;
  if ((mono_port && color_ports()) || (color_port && !color_ports())) return;
  if (ext_ && ext_->ext_port_write(port, value)) return;
  switch (port) {
    case kAttrIndex:
      attr_write(value);
      return;
    case kMiscWrite:
      misc_ = value;
      changed();
      return;
    case kSeqIndex:
      seq_index_ = value;
      return;
    case kSeqData:
      if (seq_index_ < kSeqCount) {
        seq_[seq_index_] = value;
        changed();
      }
      return;
    case kDacMask:
      dac_mask_ = value;
      changed();
      return;
    case kDacReadIndex:
      dac_read_index_ = value;
      dac_component_ = 0;
      dac_reading_ = true;
      return;
    case kDacWriteIndex:
      dac_write_index_ = value;
      dac_component_ = 0;
      dac_reading_ = false;
      return;
    case kDacData:
      dac_data_write(value);
      return;
    case kGcIndex:
      gc_index_ = value;
      return;
    case kGcData:
      if (gc_index_ < kGcCount) {
        gc_[gc_index_] = value;
        changed();
      }
      return;
    case kMonoCrtcIndex:
    case kColorCrtcIndex:
      crtc_index_ = value;
      return;
    case kMonoCrtcData:
    case kColorCrtcData:
      crtc_write(crtc_index_, value);
      return;
    case kMonoStatus1:  // writes here are the feature control register
    case kColorStatus1:
      feature_ = value;
      return;
    default:
      return;
  }
}

uint8_t VgaCore::crtc_read(uint8_t index) const {
  return index < kCrtcCount ? crtc_[index] : 0xff;
}

void VgaCore::crtc_write(uint8_t index, uint8_t value) {
  if (index >= kCrtcCount) return;
  if ((crtc_[kCrtcVRetraceEnd] & kVRetraceEndProtect) && index <= kLastProtected) {
    if (index == kCrtcOverflow)
      crtc_[index] = static_cast<uint8_t>((crtc_[index] & ~kOverflowLineCompare8) |
                                          (value & kOverflowLineCompare8));
    else
      return;
  } else {
    crtc_[index] = value;
  }
  // The cursor and start address change what a console shows, not the mode; text damage finds
  // them by comparing, so only the others redraw everything.
  if (index != kCrtcCursorHigh && index != kCrtcCursorLow) changed();
}

void VgaCore::attr_write(uint8_t value) {
  if (!attr_flip_flop_) {
    if ((value ^ attr_index_) & kAttrPaletteSource) changed();
    attr_index_ = value & (kAttrIndexMask | kAttrPaletteSource);
  } else {
    uint8_t index = attr_index_ & kAttrIndexMask;
    if (index < kAttrCount) {
      attr_[index] = value;
      changed();
    }
  }
  attr_flip_flop_ = !attr_flip_flop_;
}

uint8_t VgaCore::dac_data_read() {
  uint8_t value = ext_dac_ ? ext_palette_[(dac_read_index_ & 0x0f) * 3u + dac_component_]
                           : palette_[dac_read_index_ * 3u + dac_component_];
  if (++dac_component_ == 3) {
    dac_component_ = 0;
    ++dac_read_index_;
  }
  return value;
}

// Components are 6 bits wide unless VBE's 8-bit DAC is on; a colour takes effect once all three
// are written, and the index moves on to the next entry.
void VgaCore::dac_data_write(uint8_t value) {
  bool eight_bit = dispi_[kDispiEnable] & kDispi8BitDac;
  dac_latch_[dac_component_] = eight_bit ? value : (value & 0x3f);
  if (++dac_component_ < 3) return;
  if (ext_dac_)
    std::copy(dac_latch_.begin(), dac_latch_.end(),
              ext_palette_.begin() + (dac_write_index_ & 0x0f) * 3u);
  else
    std::copy(dac_latch_.begin(), dac_latch_.end(), palette_.begin() + dac_write_index_ * 3u);
  dac_component_ = 0;
  ++dac_write_index_;
  changed();
}

// ---- The memory window ----

uint8_t VgaCore::vram_byte(uint64_t index) const {
  return index < vram_.size() ? vram_.host_data()[index] : 0xff;
}

void VgaCore::set_vram_byte(uint64_t index, uint8_t value) {
  if (index >= vram_.size()) return;
  vram_.host_data()[index] = value;
  vram_.dirty().mark(index, 1);
}

uint64_t VgaCore::window_io_read(uint64_t offset, unsigned size) {
  uint64_t value = 0;
  for (unsigned i = 0; i < size && offset + i < kWindowSize; ++i)
    value |= uint64_t{window_read(static_cast<uint32_t>(offset + i))} << (8 * i);
  return value;
}

void VgaCore::window_io_write(uint64_t offset, unsigned size, uint64_t value) {
  for (unsigned i = 0; i < size && offset + i < kWindowSize; ++i)
    window_write(static_cast<uint32_t>(offset + i), static_cast<uint8_t>(value >> (8 * i)));
}

uint8_t VgaCore::window_read(uint32_t offset) {
  if (uint8_t v; ext_ && ext_->ext_window_read(offset, v)) return v;
  if (dispi_[kDispiEnable] & kDispiEnabled)  // the banked window (when not mapped directly)
    return offset < kDispiBankSize
               ? vram_byte(uint64_t{dispi_[kDispiBank]} * kDispiBankSize + offset)
               : 0xff;
  const MemoryMap& map = kMemoryMaps[(gc_[kGcMisc] & kMiscMapMask) >> kMiscMapShift];
  if (offset < map.start || offset - map.start >= map.size) return 0xff;
  uint32_t a = offset - map.start;
  if (seq_[kSeqMemoryMode] & kMemoryChain4) return vram_byte(a);  // plane a & 3, offset a >> 2
  if (gc_[kGcMode] & kModeOddEven) {
    unsigned plane = (gc_[kGcReadMap] & 2) | (a & 1);
    return vram_byte(plane_byte(a & ~1u, plane));
  }
  return planar_read(a);
}

void VgaCore::window_write(uint32_t offset, uint8_t value) {
  if (ext_ && ext_->ext_window_write(offset, value)) return;
  if (dispi_[kDispiEnable] & kDispiEnabled) {
    if (offset < kDispiBankSize)
      set_vram_byte(uint64_t{dispi_[kDispiBank]} * kDispiBankSize + offset, value);
    return;
  }
  const MemoryMap& map = kMemoryMaps[(gc_[kGcMisc] & kMiscMapMask) >> kMiscMapShift];
  if (offset < map.start || offset - map.start >= map.size) return;
  uint32_t a = offset - map.start;
  uint8_t map_mask = seq_[kSeqMapMask] & 0x0f;
  // In text modes the font lives in plane 2: a write there may change every character shown.
  if ((map_mask & 0x04) && !(gc_[kGcMisc] & kMiscGraphics)) changed();
  if (seq_[kSeqMemoryMode] & kMemoryChain4) {
    if (map_mask & (1u << (a & 3))) set_vram_byte(a, value);
    return;
  }
  if (!(seq_[kSeqMemoryMode] & kMemoryOddEvenOff)) {
    // Odd/even: even addresses reach planes 0 and 2, odd ones planes 1 and 3.
    for (unsigned plane = a & 1; plane < 4; plane += 2)
      if (map_mask & (1u << plane)) set_vram_byte(plane_byte(a & ~1u, plane), value);
    return;
  }
  planar_write(a, value);
}

// Reads load all four latches; read mode 0 returns the selected plane, read mode 1 the pixels
// whose colour matches the colour compare register in the planes colour don't care selects.
uint8_t VgaCore::planar_read(uint32_t plane_offset) {
  for (unsigned p = 0; p < 4; ++p) latch_[p] = vram_byte(plane_byte(plane_offset, p));
  if (!(gc_[kGcMode] & kModeReadCompare)) return latch_[gc_[kGcReadMap] & 3];
  uint8_t match = 0xff;
  for (unsigned p = 0; p < 4; ++p) {
    if (!(gc_[kGcColorDontCare] >> p & 1)) continue;
    uint8_t want = (gc_[kGcColorCompare] >> p & 1) ? 0xff : 0x00;
    match &= static_cast<uint8_t>(~(latch_[p] ^ want));
  }
  return match;
}

void VgaCore::planar_write(uint32_t plane_offset, uint8_t value) {
  unsigned write_mode = gc_[kGcMode] & kModeWriteMask;
  uint8_t rotated = std::rotr(value, gc_[kGcRotate] & kRotateCountMask);
  uint8_t bit_mask = gc_[kGcBitMask];
  std::array<uint8_t, 4> data{};
  for (unsigned p = 0; p < 4; ++p) {
    uint8_t set_reset = (gc_[kGcSetReset] >> p & 1) ? 0xff : 0x00;
    switch (write_mode) {
      case 0:
        data[p] = (gc_[kGcEnableSetReset] >> p & 1) ? set_reset : rotated;
        break;
      case 1:
        data[p] = latch_[p];
        break;
      case 2:
        data[p] = (value >> p & 1) ? 0xff : 0x00;
        break;
      default:
        data[p] = set_reset;
        break;
    }
  }
  if (write_mode == 1) {
    bit_mask = 0xff;  // the latches are written as they are
  } else {
    if (write_mode == 3) bit_mask &= rotated;
    for (unsigned p = 0; p < 4; ++p) {
      switch (gc_[kGcRotate] >> kRotateFunctionShift & 3) {
        case kLogicAnd:
          data[p] &= latch_[p];
          break;
        case kLogicOr:
          data[p] |= latch_[p];
          break;
        case kLogicXor:
          data[p] ^= latch_[p];
          break;
        default:
          break;
      }
    }
  }
  for (unsigned p = 0; p < 4; ++p) {
    if (!(seq_[kSeqMapMask] >> p & 1)) continue;
    uint8_t out = static_cast<uint8_t>((data[p] & bit_mask) | (latch_[p] & ~bit_mask));
    set_vram_byte(plane_byte(plane_offset, p), out);
  }
}

}  // namespace hvmd::devices::vga
