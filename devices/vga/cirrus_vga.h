// The Cirrus Logic CL-GD5446 (QEMU's "cirrus-vga", PCI 1013:00b8, libxl's default card): the VGA
// core plus Cirrus' extensions — extended sequencer/graphics/CRTC registers, the hidden DAC
// register, the banked 0xa0000 window (one or two banks, 4 or 16 KiB granularity), extended
// write modes 4/5, packed-pixel modes at 8/15/16/24/32 bpp, the hardware cursor and the BitBLT
// engine (cirrus_blt.h).
//
// BAR0 (32 MiB) is the linear aperture: video memory plainly, 16-bit swapped and 32-bit swapped
// in successive 4 MiB views, then the BitBLT data port at 16 MiB. While nothing needs trapping
// (no system-source blit waiting for data, no registers at the aperture's end, no extended
// address scaling) the plain view is VRAM mapped as device memory, so a transport can let the
// guest reach it directly. BAR1 holds the VGA ports at 0x000 and the BitBLT registers at 0x100.
#pragma once

#include <array>

#include "devices/vga/cirrus_blt.h"
#include "devices/vga/cirrus_regs.h"
#include "devices/vga/vga_core.h"
#include "dm/machine.h"
#include "dm/pci/pci_device.h"

namespace hvmd::devices::vga {

// Cirrus' registers beyond the VGA's (a base, so the device reads them as its own).
struct CirrusState {
  std::array<uint8_t, cirrus::kSrCount> sr_{};
  std::array<uint8_t, cirrus::kGrCount> gr_{};  // GR09 and up (GR00-GR08 live in the core)
  std::array<uint8_t, cirrus::kCrCount> cr_{};  // CR19 and up
  uint8_t hdr_ = 0;                             // hidden DAC register
  uint8_t hdr_reads_ = 0;                       // consecutive PEL-mask reads, up to 4
  uint16_t cursor_x_ = 0, cursor_y_ = 0;

  template <class V>
  void describe(V& v);
};

class CirrusVga final : public pci::PciDevice, private VgaExtension, private CirrusState {
 public:
  static constexpr uint32_t kClassVga = 0x030000;
  static constexpr uint64_t kDefaultVramMb = 4;

  CirrusVga(uint64_t vram_bytes, Dispatcher& dispatcher, DisplayHub& display, Clock& clock,
            DeviceMemoryBacking* backing);
  std::string_view type() const override { return "cirrus-vga"; }
  void unrealize() override;

  VgaCore& core() { return core_; }
  DeviceMemory& vram() { return vram_; }

  uint64_t linear_read(uint64_t offset, unsigned size);
  void linear_write(uint64_t offset, unsigned size, uint64_t value);
  uint64_t mmio_read(uint64_t offset, unsigned size);
  void mmio_write(uint64_t offset, unsigned size, uint64_t value);

 protected:
  void reset_device() override;
  void config_written(uint32_t reg, unsigned size, uint32_t value) override;
  void save_device(StateWriter& out) const override;
  Result<std::unique_ptr<StagedState>> parse_device(StateReader& in, uint32_t version) override;
  void post_load_device() override;

 private:
  // VgaExtension.
  bool ext_port_read(uint16_t port, uint8_t& value) override;
  bool ext_port_write(uint16_t port, uint8_t value) override;
  bool ext_window_read(uint32_t offset, uint8_t& value) override;
  bool ext_window_write(uint32_t offset, uint8_t value) override;
  bool linear_mode(LinearMode& mode) const override;
  void render_overlay(const Framebuffer& fb, const Rect& area) override;
  void overlay_damage(const std::vector<bool>& dirty_pages, std::vector<Rect>& damage) override;

  void sr_write(uint8_t index, uint8_t value);
  void gr_write(uint8_t index, uint8_t value);
  uint8_t gr_read(uint8_t index) const;
  uint8_t blt_mmio_read(uint32_t offset) const;
  void blt_mmio_write(uint32_t offset, uint8_t value);
  void start_blit();
  void feed_blit(uint8_t value);

  bool extended() const { return sr_[cirrus::kSrExtMode] & cirrus::kExtModeEnable; }
  bool mmio_in_window() const {
    return (sr_[cirrus::kSrConfig] & (cirrus::kConfigMmio | cirrus::kConfigMmioAtLinearEnd)) ==
           cirrus::kConfigMmio;
  }
  bool mmio_at_linear_end() const {
    uint8_t both = cirrus::kConfigMmio | cirrus::kConfigMmioAtLinearEnd;
    return (sr_[cirrus::kSrConfig] & both) == both;
  }
  // Where window offset (0-0xffff) reaches in VRAM through the bank registers, before scaling.
  uint64_t bank_address(uint32_t offset) const;
  // Extended addressing (GRB): one CPU byte stands for 8 (or 16) bytes of VRAM.
  uint64_t scaled(uint64_t address) const;
  bool expanding_write() const;
  uint8_t memory_read(uint64_t address) const;
  void memory_write(uint64_t address, uint8_t value);

  // The hardware cursor: size and where its pattern starts in VRAM.
  uint32_t cursor_size() const {
    return (sr_[cirrus::kSrCursorAttr] & cirrus::kCursorLarge) ? 64 : 32;
  }
  uint64_t cursor_pattern() const;

  void update_overlay(bool force = false);
  void set_memory_size_registers();

  DeviceMemory vram_;
  VgaCore core_;
  cirrus::Blitter blitter_{vram_};
  DisplayHub& display_;
  Dispatcher& dispatcher_;
  MemberIoHandler<CirrusVga, &CirrusVga::linear_read, &CirrusVga::linear_write> linear_io_{*this};
  MemberIoHandler<CirrusVga, &CirrusVga::mmio_read, &CirrusVga::mmio_write> mmio_io_{*this};
  Dispatcher::MappingId overlay_ = Dispatcher::kNoMapping;
  uint64_t overlay_base_ = 0;
};

// -device cirrus-vga[,vgamem_mb=N] (1-16; the chip addresses at most 4 MiB, which is what the
// card gets for any larger N, libxl's 8 included; 4 by default).
void register_cirrus_vga(DeviceRegistry& registry);

}  // namespace hvmd::devices::vga
