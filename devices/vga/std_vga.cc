#include "devices/vga/std_vga.h"

#include <bit>

#include "dm/state_fields.h"

namespace hvmd::devices::vga {
namespace {

constexpr uint64_t kMiB = 1 << 20;
constexpr uint64_t kMaxVramMb = 512;
constexpr uint64_t kMmioVgaPortsEnd = kPortCount - (0x3c0 - kPortBase);  // 0x3c0-0x3df
constexpr uint64_t kMmioDispiEnd = StdVga::kMmioDispi + 2 * kDispiCount;

}  // namespace

StdVga::StdVga(uint64_t vram_bytes, Dispatcher& dispatcher, DisplayHub& display, Clock& clock,
               DeviceMemoryBacking* backing)
    : PciDevice({.vendor = kVendor,
                 .device = kDevice,
                 .class_code = kClassVga,
                 .revision = 2,
                 .subsystem_vendor = 0x1af4,  // as QEMU's card reports (Red Hat)
                 .subsystem = 0x1100}),
      vram_("vga.vram", vram_bytes, DeviceMemory::Access::kReadWrite, backing),
      core_(vram_, dispatcher, clock),
      display_(display) {
  add_memory_bar(0, pci::BarType::kMemory32, vram_, /*prefetchable=*/true);
  add_bar(2, pci::BarType::kMemory32, kMmioSize, &mmio_io_);
  core_.map();
  display_.set_source(&core_);
}

void StdVga::unrealize() {
  display_.remove_source(&core_);
  core_.unmap();
  PciDevice::unrealize();
}

// BAR2: the VGA ports 0x3c0-0x3df at 0x400 (the colour CRTC among them) and the dispi
// registers as 16-bit words at 0x500; the rest reads as zero.
uint64_t StdVga::mmio_read(uint64_t offset, unsigned size) {
  if (offset >= kMmioVgaPorts && offset < kMmioVgaPorts + kMmioVgaPortsEnd)
    return core_.ports_read(offset - kMmioVgaPorts + (0x3c0 - kPortBase), size);
  if (offset >= kMmioDispi && offset < kMmioDispiEnd && size >= 2 && offset % 2 == 0)
    return core_.dispi_read(static_cast<uint16_t>((offset - kMmioDispi) / 2));
  return 0;
}

void StdVga::mmio_write(uint64_t offset, unsigned size, uint64_t value) {
  if (offset >= kMmioVgaPorts && offset < kMmioVgaPorts + kMmioVgaPortsEnd) {
    core_.ports_write(offset - kMmioVgaPorts + (0x3c0 - kPortBase), size, value);
    return;
  }
  if (offset >= kMmioDispi && offset < kMmioDispiEnd && size >= 2 && offset % 2 == 0)
    core_.dispi_write(static_cast<uint16_t>((offset - kMmioDispi) / 2),
                      static_cast<uint16_t>(value));
}

Result<std::unique_ptr<StagedState>> StdVga::parse_device(StateReader& in, uint32_t version) {
  auto apply = core_.parse(in, version);
  if (!apply) return apply.error();
  return staged(std::move(*apply));
}

void register_std_vga(DeviceRegistry& registry) {
  registry.add(
      {.name = "VGA",
       .description = "standard VGA with Bochs VBE, PCI 1234:1111 (vgamem_mb=, default 16)",
       .pci = true,
       .hotpluggable = false,
       .default_romfile = "/usr/share/seabios/vgabios-stdvga.bin",
       .properties = {{"vgamem_mb", "uint32", "video memory in MiB"}},
       .create = [](Machine& machine, OptionReader& props) -> Result<std::unique_ptr<Device>> {
         auto mb = props.number("vgamem_mb", kMaxVramMb);
         if (!mb) return mb.error();
         uint64_t size =
             std::bit_ceil(std::max<uint64_t>(mb->value_or(StdVga::kDefaultVramMb), 1)) * kMiB;
         return std::unique_ptr<Device>(std::make_unique<StdVga>(size, machine.dispatcher(),
                                                                 machine.display(), machine.clock(),
                                                                 machine.device_memory_backing()));
       }});
}

}  // namespace hvmd::devices::vga
