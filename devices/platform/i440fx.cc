#include "devices/platform/i440fx.h"

#include "devices/platform/i440fx_regs.h"

namespace hvmd::devices {

using namespace i440fx;

I440fx::I440fx(Dispatcher& dispatcher)
    : PciDevice({.vendor = kVendorIntel,
                 .device = kDeviceId,
                 .class_code = kClassHostBridge,
                 .revision = kRevision}),
      dispatcher_(dispatcher) {
  auto& config = mutable_config();
  config.set_write_mask(kPam0, 4, 0x33333333);  // two 2-bit RE/WE fields per byte
  config.set_write_mask(kPam0 + 4, kPamCount - 4, 0x333333);
  config.set8(kSmram, kSmramDefault);
  config.set_write_mask(kSmram, 1, 0x78);  // D_OPEN, D_CLS, D_LCK, G_SMRAME
  ports_mapping_ = dispatcher.map_ports(kConfigAddressPort, kConfigPorts, &ports_, "pci-config");
}

void I440fx::unrealize() {
  dispatcher_.unmap(ports_mapping_);
  PciDevice::unrealize();
}

uint64_t I440fx::config_port_read(uint64_t offset, unsigned size) {
  if (offset < kConfigDataOffset) {
    // Only a dword access reaches CONFIG_ADDRESS; narrower ones are ISA cycles nobody claims.
    return offset == 0 && size == 4 ? config_address_ : all_ones(size);
  }
  if (!(config_address_ & kConfigEnable)) return all_ones(size);
  PciAddress target{0, static_cast<uint8_t>(config_address_ >> kConfigBusShift),
                    static_cast<uint8_t>(config_address_ >> kConfigDevfnShift)};
  uint32_t reg = (config_address_ & kConfigRegisterMask) + static_cast<uint32_t>(offset - 4);
  return dispatcher_.pci_read(target, reg, size);
}

void I440fx::config_port_write(uint64_t offset, unsigned size, uint64_t value) {
  if (offset < kConfigDataOffset) {
    if (offset == 0 && size == 4)
      config_address_ = static_cast<uint32_t>(value) & kConfigAddressMask;
    return;
  }
  if (!(config_address_ & kConfigEnable)) return;
  PciAddress target{0, static_cast<uint8_t>(config_address_ >> kConfigBusShift),
                    static_cast<uint8_t>(config_address_ >> kConfigDevfnShift)};
  uint32_t reg = (config_address_ & kConfigRegisterMask) + static_cast<uint32_t>(offset - 4);
  dispatcher_.pci_write(target, reg, size, static_cast<uint32_t>(value));
}

template <class V>
void I440fxState::describe(V& v) {
  v("CONFIG_ADDRESS", config_address_, Mask{kConfigAddressMask});  // as the port write masks it
}

void I440fx::save_device(StateWriter& out) const {
  write_fields(out, static_cast<const I440fxState&>(*this));
}

Result<std::unique_ptr<StagedState>> I440fx::parse_device(StateReader& in, uint32_t version) {
  return stage_fields<I440fxState>(in, version, "i440FX-pcihost", *this);
}

}  // namespace hvmd::devices
