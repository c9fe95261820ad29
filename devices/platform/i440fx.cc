#include "devices/platform/i440fx.h"

#include "devices/platform/i440fx_regs.h"

namespace hvmd::devices {

using namespace i440fx;

I440fx::I440fx(Dispatcher& dispatcher, GuestMemory* shadow_ram)
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
  if (shadow_ram) pam_ = std::make_unique<PamWindow>(dispatcher, *shadow_ram);
}

void I440fx::unrealize() {
  dispatcher_.unmap(ports_mapping_);
  pam_.reset();
  PciDevice::unrealize();
}

void I440fx::reset_device() {
  config_address_ = 0;
  sync_pam();  // config space is back at its power-on PAM values: the BIOS area reads ROM
}

void I440fx::config_written(uint32_t reg, unsigned size, uint32_t) {
  if (reg < kPam0 + kPamCount && kPam0 < reg + size) sync_pam();
}

void I440fx::sync_pam() {
  if (!pam_) return;
  std::array<uint8_t, pam::kRegisters> registers{};
  for (unsigned i = 0; i < pam::kRegisters; ++i) registers[i] = config().get8(kPam0 + i);
  pam_->set_registers(registers);
}

// The config register offset a data-port access reaches. As QEMU's host bridge (which libqos
// relies on), CONFIG_ADDRESS keeps bits 1:0 and they are ORed with the data port's byte offset:
// 0x80000002 then a word read of 0xcfc reads offset 2, the device ID.
uint32_t I440fx::data_register(uint64_t port_offset) const {
  return (config_address_ & kConfigOffsetMask) | static_cast<uint32_t>(port_offset & 3);
}

PciAddress I440fx::data_target() const {
  return {0, static_cast<uint8_t>(config_address_ >> kConfigBusShift),
          static_cast<uint8_t>(config_address_ >> kConfigDevfnShift)};
}

uint64_t I440fx::config_port_read(uint64_t offset, unsigned size) {
  if (offset < kConfigDataOffset) {
    // QEMU answers any read of 0xcf8-0xcfb with CONFIG_ADDRESS's low bytes (0xcf9's byte is the
    // reset control register's, an overlay).
    return config_address_ & all_ones(size);
  }
  if (!(config_address_ & kConfigEnable)) return all_ones(size);
  uint32_t reg = data_register(offset - kConfigDataOffset);
  if (size <= Dispatcher::kPciConfigSize - reg)
    return dispatcher_.pci_read(data_target(), reg, size);
  // Past the end of config space: the bytes inside it, zeros beyond (as QEMU).
  uint64_t value = 0;
  for (unsigned i = 0; reg + i < Dispatcher::kPciConfigSize; ++i)
    value |= uint64_t{dispatcher_.pci_read(data_target(), reg + i, 1)} << (8 * i);
  return value;
}

void I440fx::config_port_write(uint64_t offset, unsigned size, uint64_t value) {
  if (offset < kConfigDataOffset) {
    // Only a dword write at 0xcf8 is a CONFIG_ADDRESS write; narrower ones are dropped.
    if (offset == 0 && size == 4) config_address_ = static_cast<uint32_t>(value);
    return;
  }
  if (!(config_address_ & kConfigEnable)) return;
  uint32_t reg = data_register(offset - kConfigDataOffset);
  if (size <= Dispatcher::kPciConfigSize - reg) {
    dispatcher_.pci_write(data_target(), reg, size, static_cast<uint32_t>(value));
    return;
  }
  for (unsigned i = 0; reg + i < Dispatcher::kPciConfigSize; ++i)
    dispatcher_.pci_write(data_target(), reg + i, 1, static_cast<uint8_t>(value >> (8 * i)));
}

template <class V>
void I440fxState::describe(V& v) {
  v("CONFIG_ADDRESS", config_address_);  // every bit is kept, as the port write keeps it
}

void I440fx::save_device(StateWriter& out) const {
  write_fields(out, static_cast<const I440fxState&>(*this));
}

Result<std::unique_ptr<StagedState>> I440fx::parse_device(StateReader& in, uint32_t version) {
  return stage_fields<I440fxState>(in, version, "i440FX-pcihost", *this);
}

}  // namespace hvmd::devices
