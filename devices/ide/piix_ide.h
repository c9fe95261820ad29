// The PIIX3 IDE function (82371SB function 1, 8086:7010) at 00:01.1: two channels decoded at the
// legacy (compatibility-mode) ports with ISA IRQs 14 and 15, the bus-master block in BAR4, and the
// IDE timing registers firmware programs. Its drives are separate devices (ide-hd, ide-cd) that
// attach to a channel and unit; the controller holds their state.
#pragma once

#include <array>
#include <memory>

#include "devices/ide/ide_channel.h"
#include "dm/bus.h"
#include "dm/io_handler.h"
#include "dm/machine.h"
#include "dm/pci/pci_device.h"

namespace hvmd::devices::ide {

class PiixIde final : public pci::PciDevice {
 public:
  PiixIde(Dispatcher& dispatcher, GuestMemory& memory, InterruptSink& interrupts);
  std::string_view type() const override { return "piix3-ide"; }
  void unrealize() override;
  void quiesce() override;

  IdeChannel& channel(unsigned bus) { return *channels_[bus & 1]; }
  // Attaches a drive to a unit its bus gave out (IdeBus::claim); an error names what is wrong.
  Result<void> attach(unsigned bus, unsigned unit, IdeDrive drive);
  void detach(unsigned bus, unsigned unit);

  // ide.0 and ide.1, where ide-hd and ide-cd plug in (unit=0|1).
  class IdeBus final : public Bus {
   public:
    IdeBus(PiixIde& controller, unsigned channel)
        : controller_(controller), channel_(channel), name_("ide." + std::to_string(channel)) {}
    const std::string& name() const override { return name_; }
    std::string_view kind() const override { return "ide"; }
    std::string_view address_property() const override { return "unit"; }
    Result<unsigned> claim(std::optional<unsigned> unit) override;
    // The drive leaves its unit (device_del, Xen's unplug).
    void release(unsigned unit) override { controller_.detach(channel_, unit); }
    PiixIde& controller() const { return controller_; }
    unsigned channel() const { return channel_; }

   private:
    PiixIde& controller_;
    unsigned channel_;
    std::string name_;
  };
  IdeBus& bus(unsigned channel) { return buses_[channel & 1]; }

  uint64_t bus_master_read(uint64_t offset, unsigned size);
  void bus_master_write(uint64_t offset, unsigned size, uint64_t value);

 protected:
  void reset_device() override;
  void save_device(StateWriter& out) const override;
  Result<std::unique_ptr<StagedState>> parse_device(StateReader& in, uint32_t version) override;
  void post_load_device() override;

 private:
  // The legacy command and control blocks of one channel.
  class CommandBlock final : public IoHandler {
   public:
    explicit CommandBlock(IdeChannel& channel) : channel_(channel) {}
    uint64_t read(uint64_t offset, unsigned size) override {
      return channel_.read_command_block(static_cast<unsigned>(offset), size);
    }
    void write(uint64_t offset, unsigned size, uint64_t value) override {
      channel_.write_command_block(static_cast<unsigned>(offset), size, value);
    }

   private:
    IdeChannel& channel_;
  };
  class ControlBlock final : public IoHandler {
   public:
    explicit ControlBlock(IdeChannel& channel) : channel_(channel) {}
    uint64_t read(uint64_t, unsigned) override { return channel_.read_alt_status(); }
    void write(uint64_t, unsigned, uint64_t value) override {
      channel_.write_device_control(static_cast<uint8_t>(value));
    }

   private:
    IdeChannel& channel_;
  };

  std::array<std::unique_ptr<IdeChannel>, 2> channels_;
  std::array<std::unique_ptr<CommandBlock>, 2> command_blocks_;
  std::array<std::unique_ptr<ControlBlock>, 2> control_blocks_;
  std::array<ScopedMapping, 4> legacy_mappings_;
  std::array<IdeBus, 2> buses_{IdeBus(*this, 0), IdeBus(*this, 1)};
  MemberIoHandler<PiixIde, &PiixIde::bus_master_read, &PiixIde::bus_master_write> bus_master_{
      *this};
};

// Registers piix3-ide's drives: ide-hd and ide-cd.
void register_ide_devices(DeviceRegistry& registry);
// The board's controller, and the drives -drive if=ide asks for.
Result<void> add_ide_controller(Machine& machine);
Result<void> add_ide_drives(Machine& machine);

}  // namespace hvmd::devices::ide
