// The standard VGA (QEMU's "VGA", PCI 1234:1111, what libxl's vga="stdvga" asks for): the VGA core
// at its legacy ports and window, VRAM as BAR0 (the prefetchable linear framebuffer, device
// memory a transport may map into the guest), BAR2 with the VGA ports at 0x400 and the dispi
// registers at 0x500 (Linux's bochs DRM driver uses these), and the VGA BIOS in the ROM BAR.
#pragma once

#include "devices/vga/vga_core.h"
#include "dm/machine.h"
#include "dm/pci/pci_device.h"

namespace hvmd::devices::vga {

class StdVga final : public pci::PciDevice {
 public:
  static constexpr uint16_t kVendor = 0x1234;  // QEMU's (Bochs') ID for the card
  static constexpr uint16_t kDevice = 0x1111;
  static constexpr uint32_t kClassVga = 0x030000;
  static constexpr uint64_t kMmioSize = 0x1000;
  static constexpr uint64_t kMmioVgaPorts = 0x400;  // 0x3c0-0x3df
  static constexpr uint64_t kMmioDispi = 0x500;     // dispi register n at 0x500 + 2n
  static constexpr uint64_t kDefaultVramMb = 16;

  StdVga(uint64_t vram_bytes, Dispatcher& dispatcher, DisplayHub& display, Clock& clock,
         DeviceMemoryBacking* backing);
  std::string_view type() const override { return "VGA"; }
  void unrealize() override;

  VgaCore& core() { return core_; }
  DeviceMemory& vram() { return vram_; }

  uint64_t mmio_read(uint64_t offset, unsigned size);
  void mmio_write(uint64_t offset, unsigned size, uint64_t value);

 protected:
  void reset_device() override { core_.reset(); }
  void save_device(StateWriter& out) const override { core_.save(out); }
  Result<std::unique_ptr<StagedState>> parse_device(StateReader& in, uint32_t version) override;

 private:
  DeviceMemory vram_;
  VgaCore core_;
  DisplayHub& display_;
  MemberIoHandler<StdVga, &StdVga::mmio_read, &StdVga::mmio_write> mmio_io_{*this};
};

// -device VGA[,vgamem_mb=N] (N from 1 to 512, rounded up to a power of two; 16 by default).
void register_std_vga(DeviceRegistry& registry);

}  // namespace hvmd::devices::vga
