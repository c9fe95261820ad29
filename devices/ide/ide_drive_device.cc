// ide-hd and ide-cd: the drives users name with -device (or -drive if=ide), attached to a unit of
// the board's PIIX3 IDE controller. A drive device owns no registers; it is the handle by which
// the machine finds a drive (its id, its boot path, QMP's eject and change of medium) and by which
// Xen's emulated-device unplug removes a disk once PV drivers take over.
#include <cstdio>

#include "devices/ide/ide_regs.h"
#include "devices/ide/piix_ide.h"
#include "dm/log.h"
#include "dm/removable_media.h"

namespace hvmd::devices::ide {

namespace {

class IdeDriveDevice final : public Device, public RemovableMedia {
 public:
  IdeDriveDevice(PiixIde& controller, unsigned bus, unsigned unit, bool cdrom, std::string drive_id)
      : controller_(controller),
        bus_(bus),
        unit_(unit),
        cdrom_(cdrom),
        drive_id_(std::move(drive_id)) {}

  std::string_view type() const override { return cdrom_ ? "ide-cd" : "ide-hd"; }
  std::string firmware_path() const override {
    char path[80];
    snprintf(path, sizeof(path), "%s/drive@%u/disk@%u", controller_.firmware_path().c_str(), bus_,
             unit_);
    return path;
  }
  // The controller saves the drive with its channel.
  void save(StateWriter&) const override {}
  Result<std::unique_ptr<StagedState>> parse_state(StateReader&, uint32_t) override {
    return nothing_staged();
  }

  bool removed_by_unplug(uint16_t mask) const override {
    if (cdrom_) return false;
    bool primary_master = bus_ == 0 && unit_ == 0;
    return (mask & kUnplugIdeDisks) || ((mask & kUnplugAuxIdeDisks) && !primary_master);
  }

  // RemovableMedia.
  const std::string& drive_id() const override { return drive_id_; }
  bool removable() const override { return cdrom_; }
  bool locked() const override { return drive().locked; }
  bool tray_open() const override { return drive().tray_open; }
  const BlockBackend* medium() const override { return drive().medium.get(); }

  Result<void> eject(bool force) override {
    if (!cdrom_) return make_error("Device '%s' is not removable", name().c_str());
    IdeDrive& d = drive();
    if (d.locked && !force) {
      d.eject_requested = true;  // the guest sees an eject request and may unlock
      return make_error(
          "Device '%s' is locked and force was not specified, wait for tray to open "
          "and try again",
          name().c_str());
    }
    d.eject_requested = false;
    controller_.channel(bus_).eject(unit_);
    return ok();
  }

  Result<void> change_medium(std::unique_ptr<BlockBackend> medium) override {
    if (!cdrom_) return make_error("Device '%s' is not removable", name().c_str());
    if (drive().locked) HVMD_TRY(eject(false));
    controller_.channel(bus_).insert(unit_, std::move(medium));
    return ok();
  }

 private:
  IdeDrive& drive() const { return controller_.channel(bus_).drive(unit_); }
  std::string name() const { return id().empty() ? drive_id_ : id(); }

  PiixIde& controller_;
  unsigned bus_, unit_;
  bool cdrom_;
  std::string drive_id_;
};

// drive=, bus=ide.N, unit=, serial=, model=: a drive on the board's controller.
// The unit is given out by the controller's bus (Machine::plug_into_bus), which also takes it
// back when the drive goes.
Result<std::unique_ptr<Device>> create_drive(Machine& machine, OptionReader& props, bool cdrom) {
  auto drive_id = props.string("drive");
  auto serial = props.string("serial");
  auto model = props.string("model");
  auto plugged = machine.plug_into_bus("ide", props);
  if (!plugged) return plugged.error();
  // Only PIIX IDE channels are buses of kind "ide".
  auto& bus = static_cast<PiixIde::IdeBus&>(*plugged->bus);
  PiixIde* controller = &bus.controller();
  auto slot = std::pair{bus.channel(), plugged->address};
  DriveSpec spec;
  if (drive_id) {
    auto claimed = machine.claim_drive(*drive_id);
    if (!claimed) return claimed.error();
    spec = *claimed;
  } else if (!cdrom) {
    return make_error("%s: a disk needs drive=", props.what().c_str());
  }
  if (spec.cdrom && !cdrom)
    return make_error("%s: drive '%s' is a CD-ROM (media=cdrom): use ide-cd", props.what().c_str(),
                      spec.id.c_str());
  IdeDrive drive;
  drive.kind = cdrom ? IdeDrive::Kind::kCdrom : IdeDrive::Kind::kDisk;
  drive.read_only_requested = spec.read_only;
  if (!spec.file.empty()) {
    if (!machine.io_executor())
      return make_error("%s: no block I/O on this machine", props.what().c_str());
    auto medium =
        BlockBackend::open(spec.file, spec.read_only || cdrom, spec.cache, *machine.io_executor());
    // Named by id: the caller says which -drive or -device this was.
    if (!medium)
      return make_error("drive '%s': %s", spec.id.c_str(), medium.error().message.c_str());
    if (!cdrom && (*medium)->size() < kSectorSize)
      return make_error("drive '%s': image smaller than one sector", spec.id.c_str());
    drive.medium = std::move(*medium);
  } else if (!cdrom) {
    return make_error("%s: drive '%s' has no file", props.what().c_str(), spec.id.c_str());
  }
  // Serial numbers are per drive and stable across runs: default to the slot.
  char default_serial[24];
  snprintf(default_serial, sizeof(default_serial), "HVMD%04u%04u", slot.first, slot.second);
  drive.serial = serial ? *serial : !spec.serial.empty() ? spec.serial : default_serial;
  drive.model = model ? *model : cdrom ? "HVMD DVD-ROM" : "HVMD HARDDISK";
  if (drive.serial.size() > 20 || drive.model.size() > 40)
    return make_error("%s: serial is at most 20 characters, model 40", props.what().c_str());
  HVMD_TRY(controller->attach(slot.first, slot.second, std::move(drive)));
  return std::unique_ptr<Device>(
      std::make_unique<IdeDriveDevice>(*controller, slot.first, slot.second, cdrom, spec.id));
}

}  // namespace

void register_ide_devices(DeviceRegistry& registry) {
  registry.add({.name = "ide-hd",
                .description = "IDE hard disk (drive=, bus=ide.0|ide.1, unit=0|1, serial=, model=)",
                .bootable = true,
                .parent = "ide-device",
                .properties = {{"drive", "str", "a -drive id"},
                               {"unit", "uint32", "0 (master) or 1 (slave)"},
                               {"serial", "str", "IDENTIFY serial number"},
                               {"model", "str", "IDENTIFY model"}},
                .create = [](Machine& machine, OptionReader& props) {
                  return create_drive(machine, props, false);
                }});
  registry.add({.name = "ide-cd",
                .description = "IDE (ATAPI) CD-ROM (drive= or empty, bus=, unit=, serial=, model=)",
                .bootable = true,
                .parent = "ide-device",
                .properties = {{"drive", "str", "a -drive id"},
                               {"unit", "uint32", "0 (master) or 1 (slave)"},
                               {"serial", "str", "IDENTIFY serial number"},
                               {"model", "str", "IDENTIFY model"}},
                .create = [](Machine& machine, OptionReader& props) {
                  return create_drive(machine, props, true);
                }});
}

Result<void> add_ide_controller(Machine& machine) {
  auto controller =
      std::make_unique<PiixIde>(machine.dispatcher(), machine.memory(), machine.interrupt_sink());
  PiixIde& ide = *controller;
  auto added = machine.add_board_device(std::move(controller), kDevfn);
  if (!added) return added.error();
  for (unsigned channel = 0; channel < 2; ++channel) machine.add_bus(ide, ide.bus(channel));
  return ok();
}

// -drive if=ide[,index=N][,media=cdrom]: a drive of its own at bus N/2, unit N%2.
Result<void> add_ide_drives(Machine& machine) {
  for (const DriveSpec& spec : machine.unclaimed_drives()) {
    if (spec.interface != "ide") continue;
    std::string description = spec.cdrom ? "ide-cd" : "ide-hd";
    description += ",drive=" + spec.id;
    if (spec.index) {
      description += ",bus=ide." + std::to_string(*spec.index / 2) +
                     ",unit=" + std::to_string(*spec.index % 2);
    }
    auto options = SubOptions::parse(description, "driver");
    if (!options) return options.error();
    if (auto added = machine.add_device(*options, /*hotplug=*/false); !added)
      return make_error("-drive %s: %s", spec.text.c_str(), added.error().message.c_str());
  }
  return ok();
}

}  // namespace hvmd::devices::ide
