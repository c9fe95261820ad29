#include "devices/platform/piix3_isa.h"

#include "devices/platform/piix_regs.h"

namespace hvmd::devices {

using namespace piix;

Piix3Isa::Piix3Isa(InterruptSink& sink)
    : PciDevice({.vendor = kVendorIntel,
                 .device = kIsaBridgeId,
                 .class_code = kClassIsaBridge,
                 .multi_function = true}),
      sink_(sink) {
  auto& config = mutable_config();
  config.set16(pci::kStatus, pci::kStatusDevselMedium);  // the datasheet's (and QEMU's) 0x0200
  // Power-on values and what firmware may change (datasheet defaults).
  config.set8(kIsaRecovery, 0x4d);
  config.set_write_mask(kIsaRecovery, 1, 0x7f);
  config.set16(kXBusControl, 0x0003);
  config.set_write_mask(kXBusControl, 2, 0x07ff);
  for (unsigned link = 0; link < 4; ++link) {
    config.set8(kPirqRoute + link, kPirqDisabled);
    config.set_write_mask(kPirqRoute + link, 1, kPirqDisabled | kPirqIrqMask);
  }
  config.set8(kTopOfMemory, 0x02);
  config.set_write_mask(kTopOfMemory, 1, 0xfe);
  config.set_write_mask(kMiscStatus, 1, 0xff);
  config.set8(kMotherboardIrq, 0x80);
  config.set_write_mask(kMotherboardIrq, 1, 0xef);
  config.set16(kMotherboardDma, 0x0c0c);
  config.set_write_mask(kMotherboardDma, 2, 0x8787);
  config.set_write_mask(kApicBase, 1, 0x7f);
  config.set_write_mask(kDeterministicLatency, 1, 0x0f);
  config.set8(kSmiControl, 0x08);
  for (unsigned offset = 0; offset < 16; offset += 4)
    config.set_write_mask(kSmiControl + offset, 4, 0xffffffff);
}

void Piix3Isa::config_written(uint32_t reg, unsigned size, uint32_t value) {
  PciDevice::config_written(reg, size, value);
  if (reg < kPirqRoute + 4 && reg + size > kPirqRoute) push_routes();
}

void Piix3Isa::push_routes() {
  for (unsigned link = 0; link < 4; ++link) {
    uint8_t route = config().get8(kPirqRoute + link);
    unsigned irq = route & kPirqIrqMask;
    bool routed = !(route & kPirqDisabled) && (kRoutableIrqs >> irq & 1);
    int target = routed ? static_cast<int>(irq) : 0;
    if (pushed_[link] == target) continue;  // each change is a hypercall under Xen
    pushed_[link] = target;
    sink_.set_pci_link_route(link, static_cast<unsigned>(target));
  }
}

}  // namespace hvmd::devices
