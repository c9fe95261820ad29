// The Bochs VBE "dispi" registers of VgaCore: a linear mode of up to 2560x1600 at 8/15/16/24/32
// bits per pixel, with a virtual width and x/y offsets for panning, and a 64 KiB bank of VRAM at
// 0xa0000. Every register write keeps the frame the registers describe inside VRAM: a value
// that would not is ignored, so no later access or refresh can reach past it.
#include <algorithm>

#include "devices/vga/vga_core.h"
#include "dm/log.h"

namespace hvmd::devices::vga {
namespace {

uint32_t bytes_per_pixel(uint32_t bpp) {
  return (bpp + 7) / 8;
}

bool valid_bpp(uint16_t bpp) {
  return bpp == 8 || bpp == 15 || bpp == 16 || bpp == 24 || bpp == 32;
}

}  // namespace

uint64_t VgaCore::dispi_port_read(uint64_t offset, unsigned size) {
  uint16_t value = offset == 0 ? dispi_index_ : dispi_read(dispi_index_);
  return size == 1 ? value & 0xff : value;
}

void VgaCore::dispi_port_write(uint64_t offset, unsigned size, uint64_t value) {
  auto v = static_cast<uint16_t>(size == 1 ? value & 0xff : value);
  if (offset == 0)
    dispi_index_ = v;
  else
    dispi_write(dispi_index_, v);
}

uint32_t VgaCore::vbe_line_bytes() const {
  return uint32_t{dispi_[kDispiVirtWidth]} * bytes_per_pixel(dispi_[kDispiBpp]);
}

bool VgaCore::vbe_frame_fits(uint32_t xres, uint32_t yres, uint32_t bpp, uint32_t virt_width,
                             uint32_t x_offset, uint32_t y_offset) const {
  if (xres == 0 || yres == 0 || !valid_bpp(static_cast<uint16_t>(bpp)) || virt_width < xres ||
      x_offset + xres > virt_width)
    return false;
  uint64_t line = uint64_t{virt_width} * bytes_per_pixel(bpp);
  uint64_t end =
      (uint64_t{y_offset} + yres - 1) * line + uint64_t{x_offset + xres} * bytes_per_pixel(bpp);
  return end <= vram_.size();
}

uint16_t VgaCore::dispi_read(uint16_t index) {
  if (index >= kDispiCount) return 0;
  bool caps = dispi_[kDispiEnable] & kDispiGetCaps;
  switch (index) {
    case kDispiXres:
      return caps ? kDispiMaxXres : dispi_[index];
    case kDispiYres:
      return caps ? kDispiMaxYres : dispi_[index];
    case kDispiBpp:
      return caps ? kDispiMaxBpp : dispi_[index];
    case kDispiVirtHeight: {
      uint32_t line = vbe_line_bytes();
      return line ? static_cast<uint16_t>(std::min<uint64_t>(vram_.size() / line, 0xffff)) : 0;
    }
    case kDispiVideoMemory64k:
      return static_cast<uint16_t>(std::min<uint64_t>(vram_.size() / kDispiBankSize, 0xffff));
    default:
      return dispi_[index];
  }
}

void VgaCore::dispi_write(uint16_t index, uint16_t value) {
  bool enabled = dispi_[kDispiEnable] & kDispiEnabled;
  switch (index) {
    case kDispiId:
      if (value >= kDispiId0 && value <= kDispiIdNewest) dispi_[index] = value;
      return;
    case kDispiXres:
    case kDispiYres:
    case kDispiBpp: {
      // The mode is chosen while VBE is off (as Bochs requires); enabling checks it fits.
      uint16_t limit = index == kDispiXres ? kDispiMaxXres : kDispiMaxYres;
      bool ok = index == kDispiBpp ? valid_bpp(value) : (value > 0 && value <= limit);
      if (enabled || !ok) {
        HVMD_GUEST_LOG("vga: dispi register %u = %u ignored", index, value);
        return;
      }
      dispi_[index] = value;
      return;
    }
    case kDispiEnable:
      vbe_enable(value);
      return;
    case kDispiBank:
      if (uint64_t{value} * kDispiBankSize >= vram_.size()) {
        HVMD_GUEST_LOG("vga: bank %u is past the end of VRAM", value);
        return;
      }
      dispi_[index] = value;
      update_bank_window();
      return;
    case kDispiVirtWidth:
      if (!enabled) {
        dispi_[index] = value;
        return;
      }
      if (!vbe_frame_fits(dispi_[kDispiXres], dispi_[kDispiYres], dispi_[kDispiBpp], value,
                          dispi_[kDispiXOffset], dispi_[kDispiYOffset]))
        return;
      dispi_[index] = value;
      changed();
      return;
    case kDispiXOffset:
    case kDispiYOffset: {
      uint32_t x = index == kDispiXOffset ? value : dispi_[kDispiXOffset];
      uint32_t y = index == kDispiYOffset ? value : dispi_[kDispiYOffset];
      if (enabled && !vbe_frame_fits(dispi_[kDispiXres], dispi_[kDispiYres], dispi_[kDispiBpp],
                                     dispi_[kDispiVirtWidth], x, y))
        return;
      dispi_[index] = value;
      changed();
      return;
    }
    default:
      return;  // VIRT_HEIGHT and VIDEO_MEMORY_64K are read-only
  }
}

void VgaCore::vbe_enable(uint16_t value) {
  bool was = dispi_[kDispiEnable] & kDispiEnabled;
  bool now = value & kDispiEnabled;
  if (now && !was) {
    uint32_t xres = dispi_[kDispiXres], yres = dispi_[kDispiYres], bpp = dispi_[kDispiBpp];
    if (!vbe_frame_fits(xres, yres, bpp, xres, 0, 0)) {
      HVMD_GUEST_LOG("vga: VBE mode %ux%ux%u does not fit in VRAM", xres, yres, bpp);
      return;
    }
    dispi_[kDispiVirtWidth] = static_cast<uint16_t>(xres);
    dispi_[kDispiXOffset] = dispi_[kDispiYOffset] = 0;
    dispi_[kDispiBank] = 0;
    if (!(value & kDispiNoClearMem)) {
      uint64_t bytes = uint64_t{yres} * xres * bytes_per_pixel(bpp);
      std::fill_n(vram_.host_data().begin(), bytes, 0);
      vram_.dirty().mark(0, bytes);
    }
  }
  dispi_[kDispiEnable] = value;
  update_bank_window();
  changed();
}

// While VBE is on, the 64 KiB at 0xa0000 are a bank of VRAM mapped as device memory (so a
// transport may let the guest reach it directly); a bank switch moves the mapping's offset.
void VgaCore::update_bank_window() {
  bool want = mapped_ && (dispi_[kDispiEnable] & kDispiEnabled);
  if (!want) {
    dispatcher_.unmap(bank_mapping_);
    bank_mapping_ = Dispatcher::kNoMapping;
    return;
  }
  uint64_t offset = uint64_t{dispi_[kDispiBank]} * kDispiBankSize;
  if (bank_mapping_ == Dispatcher::kNoMapping)
    bank_mapping_ = dispatcher_.map_memory(kWindowBase, kDispiBankSize, &vram_, "vga-bank", offset);
  else
    dispatcher_.set_memory_offset(bank_mapping_, offset);
}

}  // namespace hvmd::devices::vga
