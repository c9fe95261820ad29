// VgaCore's saved state: every register, the palettes and latches, the dispi registers, and VRAM
// when hvmd holds it. A loaded stream is checked as the register writes check a guest's values:
// the dispi frame must lie inside VRAM and the bank must exist, so no restored state can make
// an access or a refresh reach past video memory.
#include <algorithm>

#include "devices/vga/vga_core.h"
#include "dm/state_fields.h"

namespace hvmd::devices::vga {

template <class V>
void VgaCoreState::describe(V& v) {
  v("misc", misc_);
  v("feature", feature_);
  v("status1", status1_toggle_, Mask{uint8_t{kStatus1DisplayDisabled | kStatus1VerticalRetrace}});
  v("seq_index", seq_index_);
  v("seq", seq_);
  v("gc_index", gc_index_);
  v("gc", gc_);
  v("crtc_index", crtc_index_);
  v("crtc", crtc_);
  v("attr_index", attr_index_, Mask{uint8_t{kAttrIndexMask | kAttrPaletteSource}});
  v("attr_flip_flop", attr_flip_flop_);
  v("attr", attr_);
  v("dac_mask", dac_mask_);
  v("dac_read_index", dac_read_index_);
  v("dac_write_index", dac_write_index_);
  v("dac_component", dac_component_, AtMost{uint8_t{2}});
  v("dac_reading", dac_reading_);
  v("dac_latch", dac_latch_);
  v("palette", palette_);
  v("latch", latch_);
  v("dispi", dispi_);
  v("dispi_index", dispi_index_);
  v("ext_palette", ext_palette_);
  v("ext_dac", ext_dac_);
}

void VgaCore::save(StateWriter& out) const {
  write_fields(out, static_cast<const VgaCoreState&>(*this));
  bool owned = vram_.backing() == nullptr;
  out.boolean(owned);
  if (owned) out.bytes(vram_.host_data());
}

Result<std::function<void()>> VgaCore::parse(StateReader& in, uint32_t version) {
  VgaCoreState next = *this;
  HVMD_TRY(read_fields(in, version, "vga", next));
  const auto& d = next.dispi_;
  if (uint64_t{d[kDispiBank]} * kDispiBankSize >= vram_.size())
    return make_error("vga: saved bank %u is past the end of VRAM", d[kDispiBank]);
  if ((d[kDispiEnable] & kDispiEnabled) &&
      !vbe_frame_fits(d[kDispiXres], d[kDispiYres], d[kDispiBpp], d[kDispiVirtWidth],
                      d[kDispiXOffset], d[kDispiYOffset]))
    return make_error("vga: saved VBE mode %ux%ux%u does not fit in VRAM", d[kDispiXres],
                      d[kDispiYres], d[kDispiBpp]);
  auto owned = in.boolean();
  if (!owned) return owned.error();
  std::vector<uint8_t> vram;
  if (*owned) {
    auto bytes = in.bytes(vram_.size());
    if (!bytes) return bytes.error();
    if (bytes->size() != vram_.size())
      return make_error("vga: saved VRAM is %zu bytes, the card has %llu", bytes->size(),
                        static_cast<unsigned long long>(vram_.size()));
    vram.assign(bytes->begin(), bytes->end());
  }
  return std::function<void()>([this, next, vram = std::move(vram)] {
    static_cast<VgaCoreState&>(*this) = next;
    if (!vram.empty()) {
      std::copy(vram.begin(), vram.end(), vram_.host_data().begin());
      vram_.dirty().mark(0, vram_.size());
    }
    update_bank_window();
    changed();
  });
}

}  // namespace hvmd::devices::vga
