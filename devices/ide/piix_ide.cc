#include "devices/ide/piix_ide.h"

#include "devices/ide/ide_regs.h"
#include "dm/log.h"

namespace hvmd::devices::ide {

PiixIde::PiixIde(Dispatcher& dispatcher, GuestMemory& memory, InterruptSink& interrupts)
    : PciDevice({.vendor = kVendorIntel,
                 .device = kDevicePiix3Ide,
                 .class_code = kClassIdeLegacyBusMaster}) {
  for (unsigned bus = 0; bus < 2; ++bus) {
    channels_[bus] =
        std::make_unique<IdeChannel>(memory, IrqLine::isa(&interrupts, kChannels[bus].irq));
    command_blocks_[bus] = std::make_unique<CommandBlock>(*channels_[bus]);
    control_blocks_[bus] = std::make_unique<ControlBlock>(*channels_[bus]);
    // Compatibility mode: the legacy ports are decoded whatever the command register says, as
    // on QEMU's PIIX and on the real part once firmware set the IDE decode enables.
    legacy_mappings_[bus * 2] =
        ScopedMapping(dispatcher, dispatcher.map_ports(kChannels[bus].command_block, 8,
                                                       command_blocks_[bus].get(), "ide-command"));
    legacy_mappings_[bus * 2 + 1] =
        ScopedMapping(dispatcher, dispatcher.map_ports(kChannels[bus].control_block, 1,
                                                       control_blocks_[bus].get(), "ide-control"));
  }
  add_bar(kBusMasterBar, pci::BarType::kIo, kBusMasterBarSize, &bus_master_);
  auto& config = mutable_config();
  config.set16(pci::kStatus,
               pci::kStatusFastBackToBack | pci::kStatusDevselMedium);  // 0x0280, as QEMU's
  // IDE timing (primary, secondary), slave timing: plain storage firmware programs.
  config.set_write_mask(kIdeTimingPrimary, 2, 0xffff);
  config.set_write_mask(kIdeTimingSecondary, 2, 0xffff);
  config.set_write_mask(kSlaveTiming, 1, 0xff);
}

void PiixIde::unrealize() {
  quiesce();
  for (auto& mapping : legacy_mappings_) mapping.reset();
  PciDevice::unrealize();
}

void PiixIde::quiesce() {
  for (auto& channel : channels_) channel->quiesce();
}

Result<void> PiixIde::attach(unsigned bus, unsigned unit, IdeDrive drive) {
  if (bus > 1 || unit > 1) return make_error("ide.%u unit %u does not exist", bus, unit);
  IdeDrive& slot = channels_[bus]->drive(unit);
  if (slot.present()) return make_error("ide.%u unit %u is already in use", bus, unit);
  slot = std::move(drive);
  slot.compute_geometry();
  slot.reset_settings();
  channels_[bus]->reset();
  return ok();
}

void PiixIde::detach(unsigned bus, unsigned unit) {
  IdeChannel& channel = *channels_[bus & 1];
  channel.quiesce();
  channel.drive(unit) = IdeDrive{};
}

Result<unsigned> PiixIde::IdeBus::claim(std::optional<unsigned> unit) {
  IdeChannel& channel = controller_.channel(channel_);
  if (unit) {
    if (*unit > 1) return make_error("%s unit %u does not exist (0, 1)", name_.c_str(), *unit);
    if (channel.drive(*unit).present())
      return make_error("%s unit %u is already in use", name_.c_str(), *unit);
    return *unit;
  }
  for (unsigned free = 0; free < 2; ++free)
    if (!channel.drive(free).present()) return free;
  return make_error("%s is full", name_.c_str());
}

uint64_t PiixIde::bus_master_read(uint64_t offset, unsigned size) {
  unsigned bus = offset >= kBmChannelStride ? 1 : 0;
  return channels_[bus]->read_bus_master(static_cast<unsigned>(offset % kBmChannelStride), size);
}

void PiixIde::bus_master_write(uint64_t offset, unsigned size, uint64_t value) {
  unsigned bus = offset >= kBmChannelStride ? 1 : 0;
  channels_[bus]->write_bus_master(static_cast<unsigned>(offset % kBmChannelStride), size, value);
}

void PiixIde::reset_device() {
  for (auto& channel : channels_) channel->reset();
}

void PiixIde::save_device(StateWriter& out) const {
  for (const auto& channel : channels_) channel->save(out);
}

Result<std::unique_ptr<StagedState>> PiixIde::parse_device(StateReader& in, uint32_t version) {
  auto primary = channels_[0]->parse_state(in, version);
  if (!primary) return primary.error();
  auto secondary = channels_[1]->parse_state(in, version);
  if (!secondary) return secondary.error();
  return staged([primary = std::move(*primary), secondary = std::move(*secondary)] {
    primary->apply();
    secondary->apply();
  });
}

void PiixIde::post_load_device() {
  for (auto& channel : channels_) channel->post_load();
}

}  // namespace hvmd::devices::ide
