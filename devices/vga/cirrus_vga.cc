#include "devices/vga/cirrus_vga.h"

#include <algorithm>
#include <bit>

#include "dm/log.h"
#include "dm/state_fields.h"

namespace hvmd::devices::vga {

using namespace cirrus;

namespace {

constexpr uint64_t kMiB = 1 << 20;
constexpr uint64_t kMaxVramMb = 16;
constexpr uint32_t kBankSize = 0x8000;       // each of the window's two halves
constexpr uint32_t kBankedWindow = 0x10000;  // 0xa0000-0xaffff
constexpr uint32_t kMmioWindowSize = 0x100;
constexpr uint8_t kStatusBits = kBltBusy | kBltProgress;
constexpr uint16_t kHiddenDacPort = 0x3c6;

}  // namespace

template <class V>
void CirrusState::describe(V& v) {
  v("sr", sr_);
  v("gr", gr_);
  v("cr", cr_);
  v("hdr", hdr_);
  v("hdr_reads", hdr_reads_, AtMost{uint8_t{kHiddenDacReads}});
  v("cursor_x", cursor_x_, Mask{uint16_t{0x7ff}});
  v("cursor_y", cursor_y_, Mask{uint16_t{0x7ff}});
}

CirrusVga::CirrusVga(uint64_t vram_bytes, Dispatcher& dispatcher, DisplayHub& display, Clock& clock,
                     DeviceMemoryBacking* backing)
    : PciDevice({.vendor = kVendor,
                 .device = kDevice,
                 .class_code = kClassVga,
                 .revision = 0,
                 .subsystem_vendor = 0x1af4,  // as QEMU's card reports (Red Hat)
                 .subsystem = 0x1100}),
      vram_("cirrus.vram", vram_bytes, DeviceMemory::Access::kReadWrite, backing),
      core_(vram_, dispatcher, clock, /*vbe=*/false),
      display_(display),
      dispatcher_(dispatcher) {
  add_bar(0, pci::BarType::kMemory32, kLinearBarSize, &linear_io_, /*prefetchable=*/true);
  add_bar(1, pci::BarType::kMemory32, kMmioBarSize, &mmio_io_);
  core_.set_extension(this);
  reset_device();
  core_.map();
  display_.set_source(&core_);
}

void CirrusVga::unrealize() {
  display_.remove_source(&core_);
  dispatcher_.unmap(overlay_);
  overlay_ = Dispatcher::kNoMapping;
  core_.unmap();
  PciDevice::unrealize();
}

void CirrusVga::set_memory_size_registers() {
  // SR0F bits 4-3 (bus width) and 7 (second bank), SR15 as the BIOS reads them: 1, 2 or 4 MiB.
  uint8_t dram = vram_.size() >= 4 * kMiB ? 0x98 : vram_.size() >= 2 * kMiB ? 0x18 : 0x10;
  sr_[kSrDramControl] = static_cast<uint8_t>((sr_[kSrDramControl] & ~0x98) | dram);
  sr_[kSrScratchMem] = vram_.size() >= 4 * kMiB ? 4 : vram_.size() >= 2 * kMiB ? 3 : 2;
  sr_[kSrConfig] = static_cast<uint8_t>((sr_[kSrConfig] & ~0x38) | kConfigBusPci);
}

void CirrusVga::reset_device() {
  core_.reset();
  static_cast<CirrusState&>(*this) = CirrusState{};
  sr_[kSrUnlock] = kLockedValue;
  set_memory_size_registers();
  blitter_.abort();
  update_overlay();
}

// ---- Ports ----

bool CirrusVga::ext_port_read(uint16_t port, uint8_t& value) {
  if (port == kHiddenDacPort) {
    if (hdr_reads_ == kHiddenDacReads) {
      value = hdr_;
      return true;
    }
    ++hdr_reads_;
    return false;  // the PEL mask, from the core
  }
  hdr_reads_ = 0;
  switch (port) {
    case kSeqData: {
      uint8_t index = core_.seq_index();
      if ((index & kSrIndexMask) == kSrCursorX || (index & kSrIndexMask) == kSrCursorY) {
        value = sr_[index & kSrIndexMask];
        return true;
      }
      if (index < kSeqCount) return false;
      value = index < kSrCount ? sr_[index] : 0xff;
      return true;
    }
    case kGcData: {
      uint8_t index = core_.gc_index();
      if (index < kGcCount) return false;
      value = gr_read(index);
      return true;
    }
    case kMonoCrtcData:
    case kColorCrtcData: {
      uint8_t index = core_.crtc_index();
      if (index < kCrtcCount) return false;
      value = index == kCrChipId ? kChipId5446 : index < kCrCount ? cr_[index] : 0xff;
      return true;
    }
    default:
      return false;
  }
}

bool CirrusVga::ext_port_write(uint16_t port, uint8_t value) {
  if (port == kHiddenDacPort) {
    if (hdr_reads_ == kHiddenDacReads) {
      hdr_ = value;
      hdr_reads_ = 0;
      core_.invalidate();
      return true;
    }
    hdr_reads_ = 0;
    return false;
  }
  hdr_reads_ = 0;
  switch (port) {
    case kSeqData: {
      uint8_t index = core_.seq_index();
      if ((index & kSrIndexMask) == kSrCursorX || (index & kSrIndexMask) == kSrCursorY) {
        // The position's low three bits ride in the index's top three.
        uint16_t pos = static_cast<uint16_t>(value << 3 | index >> 5);
        sr_[index & kSrIndexMask] = value;
        ((index & kSrIndexMask) == kSrCursorX ? cursor_x_ : cursor_y_) = pos;
        if (sr_[kSrCursorAttr] & kCursorShow) core_.invalidate();
        return true;
      }
      if (index < kSeqCount) return false;
      if (index < kSrCount) sr_write(index, value);
      return true;
    }
    case kGcData: {
      uint8_t index = core_.gc_index();
      if (index < kGcCount) return false;
      if (index < kGrCount) gr_write(index, value);
      return true;
    }
    case kMonoCrtcData:
    case kColorCrtcData: {
      uint8_t index = core_.crtc_index();
      if (index < kCrtcCount) return false;
      if (index < kCrCount && index != kCrChipId) {
        cr_[index] = value;
        core_.invalidate();
      }
      return true;
    }
    default:
      return false;
  }
}

void CirrusVga::sr_write(uint8_t index, uint8_t value) {
  switch (index) {
    case kSrUnlock:
      // The key is bits 4 and 2-0 (the VGA BIOS writes 0x92).
      sr_[index] = (value & kUnlockKeyMask) == kUnlockKey ? kUnlockKey : kLockedValue;
      return;
    case kSrDramControl:
    case kSrConfig:
      sr_[index] = value;
      set_memory_size_registers();  // the size bits stay what the card has
      update_overlay();
      return;
    case kSrScratchMem:
      return;  // read-only: the memory size
    case kSrCursorAttr:
      sr_[index] = value;
      core_.set_extended_dac(value & kCursorDacAccess);
      core_.invalidate();
      return;
    default:
      sr_[index] = value;
      core_.invalidate();  // SR07's mode, SR13's cursor pattern, clocks
      return;
  }
}

uint8_t CirrusVga::gr_read(uint8_t index) const {
  if (index < kGcCount) return core_.gc(index);
  return index < kGrCount ? gr_[index] : 0xff;
}

void CirrusVga::gr_write(uint8_t index, uint8_t value) {
  switch (index) {
    case kGrExtensions:
      gr_[index] = value;
      update_overlay();
      return;
    case kGrBltDstAddr + 2:
      gr_[index] = value & 0x3f;
      // Autostart: writing the destination's high byte starts the blit.
      if (gr_[kGrBltStatus] & kBltAutostart) start_blit();
      return;
    case kGrBltSrcAddr + 2:
      gr_[index] = value & 0x3f;
      return;
    case kGrBltStatus:
      if (value & kBltReset) {
        blitter_.abort();
        gr_[index] = value & kBltAutostart;
        update_overlay();
        return;
      }
      gr_[index] = static_cast<uint8_t>((gr_[index] & kStatusBits) | (value & ~kStatusBits));
      if ((value & kBltStart) && !blitter_.waiting_for_data()) start_blit();
      return;
    default:
      gr_[index] = value;
      return;
  }
}

void CirrusVga::start_blit() {
  auto word = [this](uint8_t i) { return uint32_t{gr_[i]} | uint32_t{gr_[i + 1]} << 8; };
  auto addr = [this](uint8_t i) {
    return (uint32_t{gr_[i]} | uint32_t{gr_[i + 1]} << 8 | uint32_t{gr_[i + 2]} << 16) &
           kBltAddrMask;
  };
  BltParams p;
  p.width = (word(kGrBltWidth) & kBltWidthMask) + 1;
  p.height = (word(kGrBltHeight) & kBltHeightMask) + 1;
  p.dst_pitch = word(kGrBltDstPitch) & kBltPitchMask;
  p.src_pitch = word(kGrBltSrcPitch) & kBltPitchMask;
  p.dst = addr(kGrBltDstAddr);
  p.src = addr(kGrBltSrcAddr);
  p.mode = gr_[kGrBltMode];
  p.mode_ext = gr_[kGrBltModeExt];
  p.rop = gr_[kGrBltRop];
  p.bg = core_.gc(0) | uint32_t{gr_[kGrBg1]} << 8 | uint32_t{gr_[kGrBg2]} << 16 |
         uint32_t{gr_[kGrBg3]} << 24;
  p.fg = core_.gc(1) | uint32_t{gr_[kGrFg1]} << 8 | uint32_t{gr_[kGrFg2]} << 16 |
         uint32_t{gr_[kGrFg3]} << 24;
  p.key = static_cast<uint16_t>(word(kGrBltKey));
  p.key_mask = static_cast<uint16_t>(word(kGrBltKeyMask));
  p.left_clip = gr_[kGrBltWriteMask];
  blitter_.start(p);
  if (blitter_.waiting_for_data())
    gr_[kGrBltStatus] |= kStatusBits | kBltStart;
  else
    gr_[kGrBltStatus] &= static_cast<uint8_t>(~(kStatusBits | kBltStart));
  update_overlay();
}

void CirrusVga::feed_blit(uint8_t value) {
  blitter_.feed(value);
  if (!blitter_.waiting_for_data()) {
    gr_[kGrBltStatus] &= static_cast<uint8_t>(~(kStatusBits | kBltStart));
    update_overlay();
  }
}

uint8_t CirrusVga::blt_mmio_read(uint32_t offset) const {
  for (const BltMmioReg& r : kBltMmioMap)
    if (r.offset == offset) return gr_read(r.gr);
  return 0xff;
}

void CirrusVga::blt_mmio_write(uint32_t offset, uint8_t value) {
  for (const BltMmioReg& r : kBltMmioMap) {
    if (r.offset != offset) continue;
    if (r.gr < kGcCount)
      core_.set_gc(r.gr, value);  // GR00/GR01: the colours' low bytes
    else
      gr_write(r.gr, value);
    return;
  }
}

// ---- Memory: the banked window and the linear aperture ----

uint64_t CirrusVga::bank_address(uint32_t offset) const {
  unsigned half = offset >= kBankSize ? 1 : 0;
  bool dual = gr_[kGrExtensions] & kExtDualBank;
  uint64_t base = uint64_t{gr_[dual ? kGrOffset0 + half : kGrOffset0]}
                  << ((gr_[kGrExtensions] & kExt16KGranularity) ? 14 : 12);
  // One bank: the window's second half continues the first.
  if (!dual && half) base += kBankSize;
  return base + (offset & (kBankSize - 1));
}

uint64_t CirrusVga::scaled(uint64_t address) const {
  if ((gr_[kGrExtensions] & (kExtBy16 | kExtWriteModes)) == (kExtBy16 | kExtWriteModes))
    return address << 4;
  if (gr_[kGrExtensions] & kExtBy8) return address << 3;
  return address;
}

bool CirrusVga::expanding_write() const {
  unsigned mode = core_.gc(kGcMode) & 7;
  return (gr_[kGrExtensions] & kExtWriteModes) && (mode == 4 || mode == 5);
}

uint8_t CirrusVga::memory_read(uint64_t address) const {
  return core_.vram_byte(scaled(address));
}

// Write modes 4 and 5: each bit of the CPU's byte (most significant first) is a pixel in the
// foreground colour (GR01/GR11); a clear bit is the background (GR00/GR10) in mode 5 and left
// alone in mode 4. 16-bit pixels with x16 addressing.
void CirrusVga::memory_write(uint64_t address, uint8_t value) {
  uint64_t at = scaled(address);
  if (!expanding_write()) {
    if (at >= vram_.size()) return;
    vram_.host_data()[at] = value;
    vram_.dirty().mark(at, 1);
    return;
  }
  bool wide = (gr_[kGrExtensions] & (kExtBy16 | kExtWriteModes)) == (kExtBy16 | kExtWriteModes);
  uint32_t bpp = wide ? 2 : 1;
  if (at > vram_.size() || vram_.size() - at < 8 * bpp) return;
  bool mode5 = (core_.gc(kGcMode) & 7) == 5;
  uint8_t fg[2] = {core_.gc(1), gr_[kGrFg1]}, bg[2] = {core_.gc(0), gr_[kGrBg1]};
  uint8_t* d = vram_.host_data().data() + at;
  for (unsigned x = 0; x < 8; ++x) {
    bool on = value >> (7 - x) & 1;
    if (!on && !mode5) continue;
    for (unsigned b = 0; b < bpp; ++b) d[x * bpp + b] = on ? fg[b] : bg[b];
  }
  vram_.dirty().mark(at, 8 * bpp);
}

bool CirrusVga::ext_window_read(uint32_t offset, uint8_t& value) {
  if (mmio_in_window() && offset >= kWindowMmioOffset &&
      offset < kWindowMmioOffset + kMmioWindowSize) {
    value = blt_mmio_read(offset - kWindowMmioOffset);
    return true;
  }
  if (!extended()) return false;
  value = offset < kBankedWindow ? memory_read(bank_address(offset)) : 0xff;
  return true;
}

bool CirrusVga::ext_window_write(uint32_t offset, uint8_t value) {
  if (blitter_.waiting_for_data() && offset < kBankedWindow) {
    feed_blit(value);  // system-to-video: the CPU's data is the blit's source
    return true;
  }
  if (mmio_in_window() && offset >= kWindowMmioOffset &&
      offset < kWindowMmioOffset + kMmioWindowSize) {
    blt_mmio_write(offset - kWindowMmioOffset, value);
    return true;
  }
  if (!extended()) return false;
  if (offset < kBankedWindow) memory_write(bank_address(offset), value);
  return true;
}

uint64_t CirrusVga::linear_read(uint64_t offset, unsigned size) {
  uint64_t value = 0;
  for (unsigned i = 0; i < size; ++i) {
    uint64_t o = offset + i;
    uint8_t byte = 0xff;
    if (o < kBltDataOffset) {
      uint64_t a = o % kApertureSize;
      unsigned view = static_cast<unsigned>(o / kApertureSize);
      if (mmio_at_linear_end() && a >= kApertureSize - kMmioWindowSize) {
        byte = blt_mmio_read(static_cast<uint32_t>(a - (kApertureSize - kMmioWindowSize)));
      } else {
        if (view == kApertureSwap16) a ^= 1;
        if (view == kApertureSwap32) a ^= 3;
        byte = memory_read(a);
      }
    }
    value |= uint64_t{byte} << (8 * i);
  }
  return value;
}

void CirrusVga::linear_write(uint64_t offset, unsigned size, uint64_t value) {
  for (unsigned i = 0; i < size; ++i) {
    uint64_t o = offset + i;
    auto byte = static_cast<uint8_t>(value >> (8 * i));
    if (blitter_.waiting_for_data()) {
      feed_blit(byte);  // any aperture, the data port included
      continue;
    }
    if (o >= kBltDataOffset) continue;
    uint64_t a = o % kApertureSize;
    unsigned view = static_cast<unsigned>(o / kApertureSize);
    if (mmio_at_linear_end() && a >= kApertureSize - kMmioWindowSize) {
      blt_mmio_write(static_cast<uint32_t>(a - (kApertureSize - kMmioWindowSize)), byte);
      continue;
    }
    if (view == kApertureSwap16) a ^= 1;
    if (view == kApertureSwap32) a ^= 3;
    memory_write(a, byte);
  }
}

// BAR1: the VGA ports 0x3c0-0x3df at 0x000 (Linux's cirrus driver programs them here), the
// BitBLT registers at 0x100.
uint64_t CirrusVga::mmio_read(uint64_t offset, unsigned size) {
  constexpr uint64_t kPorts = kPortCount - (0x3c0 - kPortBase);
  if (offset < kMmioVgaPorts + kPorts) return core_.ports_read(offset + (0x3c0 - kPortBase), size);
  if (offset >= kMmioBlt && offset < kMmioBlt + kMmioBltSize) {
    uint64_t value = 0;
    for (unsigned i = 0; i < size && offset + i < kMmioBlt + kMmioBltSize; ++i)
      value |= uint64_t{blt_mmio_read(static_cast<uint32_t>(offset + i - kMmioBlt))} << (8 * i);
    return value;
  }
  return 0;
}

void CirrusVga::mmio_write(uint64_t offset, unsigned size, uint64_t value) {
  constexpr uint64_t kPorts = kPortCount - (0x3c0 - kPortBase);
  if (offset < kMmioVgaPorts + kPorts) {
    core_.ports_write(offset + (0x3c0 - kPortBase), size, value);
    return;
  }
  if (offset >= kMmioBlt && offset < kMmioBlt + kMmioBltSize)
    for (unsigned i = 0; i < size && offset + i < kMmioBlt + kMmioBltSize; ++i)
      blt_mmio_write(static_cast<uint32_t>(offset + i - kMmioBlt),
                     static_cast<uint8_t>(value >> (8 * i)));
}

// The plain view as device memory over the trapping BAR, whenever no access there needs the
// device: the guest (under Xen or KVM) then writes pixels without an exit.
void CirrusVga::update_overlay(bool force) {
  uint64_t base = bar(0).address;
  bool want = base != pci::BarInfo::kUnmapped && !blitter_.waiting_for_data() &&
              !mmio_at_linear_end() &&
              !(gr_[kGrExtensions] & (kExtBy8 | kExtWriteModes | kExtBy16));
  bool have = overlay_ != Dispatcher::kNoMapping;
  // Moving device memory costs a transport real work (Xen relocates the pages): only on change.
  if (!force && want == have && (!want || base == overlay_base_)) return;
  if (have) {
    dispatcher_.unmap(overlay_);
    overlay_ = Dispatcher::kNoMapping;
  }
  if (want) {
    overlay_ = dispatcher_.map_memory(base, vram_.size(), &vram_, "cirrus-lfb");
    overlay_base_ = base;
  }
}

void CirrusVga::config_written(uint32_t reg, unsigned size, uint32_t value) {
  PciDevice::config_written(reg, size, value);
  // A BAR move or a decode change re-mapped BAR0 over the overlay: put it back on top.
  if (reg < 0x40) update_overlay(/*force=*/true);
}

// ---- Picture ----

bool CirrusVga::linear_mode(LinearMode& m) const {
  if (!extended()) return false;
  switch (sr_[kSrExtMode] & kExtDepthMask) {
    case kDepth8:
      m.bpp = 8;
      break;
    case kDepth16DoubleClock:
    case kDepth16:
      // The hidden DAC register picks 5:6:5 or 5:5:5.
      m.bpp = (hdr_ & kHdrMask) == kHdr565 ? 16 : 15;
      break;
    case kDepth24:
      m.bpp = 24;
      break;
    case kDepth32:
      m.bpp = 32;
      break;
    default:
      return false;
  }
  m.width = (core_.crtc(kCrtcHDisplayEnd) + 1u) * 8;
  uint8_t overflow = core_.crtc(kCrtcOverflow);
  m.height = (core_.crtc(kCrtcVDisplayEnd) | (overflow & kOverflowVde8 ? 0x100 : 0) |
              (overflow & kOverflowVde9 ? 0x200 : 0)) +
             1u;
  uint8_t ext = cr_[kCrExtDisplay];
  m.stride = (uint64_t{core_.crtc(kCrtcOffset)} | uint64_t{ext & 0x10u} << 4) * 8;
  uint64_t start = core_.crtc(kCrtcStartLow) | uint64_t{core_.crtc(kCrtcStartHigh)} << 8 |
                   uint64_t{ext & 0x01u} << 16 | uint64_t{(ext >> 2) & 0x03u} << 17 |
                   static_cast<uint64_t>(cr_[kCrOverlay] >> 7) << 19;
  m.start = start * 4;
  return true;
}

uint64_t CirrusVga::cursor_pattern() const {
  uint8_t select = sr_[kSrCursorPattern] & ((sr_[kSrCursorAttr] & kCursorLarge) ? 0x3c : 0x3f);
  return vram_.size() - kCursorPatternArea + uint64_t{select} * 256;
}

// The cursor's two bit planes per pixel: 00 shows the picture, 01 (plane 0 only) inverts it,
// 10 is the background colour (extended DAC entry 0), 11 the foreground (entry 15). 32x32
// cursors keep plane 0's 128 bytes then plane 1's; 64x64 ones interleave 8 bytes of each a line.
void CirrusVga::render_overlay(const Framebuffer& fb, const Rect& area) {
  if (!(sr_[kSrCursorAttr] & kCursorShow)) return;
  uint32_t size = cursor_size();
  bool large = size == 64;
  uint64_t pattern = cursor_pattern();
  uint32_t bg = core_.ext_palette_color(0), fg = core_.ext_palette_color(15);
  uint32_t y0 = std::max(area.y, uint32_t{cursor_y_});
  uint32_t y1 = std::min({area.y + area.height, uint32_t{cursor_y_} + size, fb.height});
  uint32_t x0 = std::max(area.x, uint32_t{cursor_x_});
  uint32_t x1 = std::min({area.x + area.width, uint32_t{cursor_x_} + size, fb.width});
  for (uint32_t y = y0; y < y1; ++y) {
    uint32_t row = y - cursor_y_;
    uint64_t p0 = pattern + (large ? row * 16 : row * 4);
    uint64_t p1 = large ? p0 + 8 : p0 + 128;
    uint32_t* out = fb.pixels + y * fb.stride;
    for (uint32_t x = x0; x < x1; ++x) {
      uint32_t col = x - cursor_x_;
      bool b0 = core_.vram_byte(p0 + col / 8) >> (7 - col % 8) & 1;
      bool b1 = core_.vram_byte(p1 + col / 8) >> (7 - col % 8) & 1;
      if (b1)
        out[x] = b0 ? fg : bg;
      else if (b0)
        out[x] ^= 0xffffff;
    }
  }
}

void CirrusVga::overlay_damage(const std::vector<bool>& dirty, std::vector<Rect>& damage) {
  if (!(sr_[kSrCursorAttr] & kCursorShow)) return;
  LinearMode m;
  if (!linear_mode(m)) return;
  uint64_t first = cursor_pattern(), bytes = cursor_size() == 64 ? 1024 : 256;
  bool touched = false;
  for (uint64_t page = first / DirtyBitmap::kPageSize;
       page <= (first + bytes - 1) / DirtyBitmap::kPageSize && page < dirty.size(); ++page)
    touched |= dirty[page];
  if (!touched || cursor_x_ >= m.width || cursor_y_ >= m.height) return;
  damage.push_back({cursor_x_, cursor_y_, std::min(cursor_size(), m.width - cursor_x_),
                    std::min(cursor_size(), m.height - cursor_y_)});
}

// ---- State ----

void CirrusVga::save_device(StateWriter& out) const {
  write_fields(out, static_cast<const CirrusState&>(*this));
  core_.save(out);
}

Result<std::unique_ptr<StagedState>> CirrusVga::parse_device(StateReader& in, uint32_t version) {
  CirrusState next = *this;
  HVMD_TRY(read_fields(in, version, "cirrus-vga", next));
  auto core = core_.parse(in, version);
  if (!core) return core.error();
  return staged([this, next, apply_core = std::move(*core)] {
    static_cast<CirrusState&>(*this) = next;
    set_memory_size_registers();
    apply_core();
    blitter_.abort();  // a system-source blit in progress is not carried over
    gr_[kGrBltStatus] &= static_cast<uint8_t>(~(kStatusBits | kBltStart));
  });
}

void CirrusVga::post_load_device() {
  update_overlay(/*force=*/true);
}

void register_cirrus_vga(DeviceRegistry& registry) {
  registry.add(
      {.name = "cirrus-vga",
       .description = "Cirrus CL-GD5446 VGA, PCI 1013:00b8 (vgamem_mb=, default 4, at most 4 used)",
       .pci = true,
       .hotpluggable = false,
       .default_romfile = "/usr/share/seabios/vgabios-cirrus.bin",
       .properties = {{"vgamem_mb", "uint32", "video memory in MiB"}},
       .create = [](Machine& machine, OptionReader& props) -> Result<std::unique_ptr<Device>> {
         auto mb = props.number("vgamem_mb", kMaxVramMb);
         if (!mb) return mb.error();
         uint64_t size = std::min<uint64_t>(
             std::bit_ceil(std::max<uint64_t>(mb->value_or(CirrusVga::kDefaultVramMb), 1)) * kMiB,
             kMaxVram);
         return std::unique_ptr<Device>(
             std::make_unique<CirrusVga>(size, machine.dispatcher(), machine.display(),
                                         machine.clock(), machine.device_memory_backing()));
       }});
}

}  // namespace hvmd::devices::vga
