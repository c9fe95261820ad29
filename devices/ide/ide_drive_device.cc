// ide-hd and ide-cd: the drives users name with -device (or -drive if=ide), attached to a unit of
// the board's PIIX3 IDE controller. A drive device owns no registers; it is the handle by which
// the machine finds a drive (its id, its boot path, QMP's eject and change of medium) and by which
// Xen's emulated-device unplug removes a disk once PV drivers take over.
#include <algorithm>
#include <cstdio>
#include <iterator>

#include "devices/ide/cmos_drives.h"
#include "devices/ide/ide_regs.h"
#include "devices/ide/piix_ide.h"
#include "devices/platform/rtc_cmos.h"
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

// The user's drive properties: serial=, model=, ver=, wwn=, discard_granularity= and, for
// disks, the geometry cyls=/heads=/secs=, lcyls=/lheads=/lsecs= and bios-chs-trans= (trans=).
// Limits and messages follow QEMU's.
Result<DriveProperties> read_properties(OptionReader& props, bool cdrom) {
  DriveProperties p;
  auto serial = props.string("serial");
  auto model = props.string("model");
  auto ver = props.string("ver");
  auto wwn = props.number("wwn", UINT64_MAX);
  auto granularity = props.size("discard_granularity", 1);
  if (!wwn) return wwn.error();
  if (!granularity) return granularity.error();
  if (serial) p.serial = *serial;
  if (model) p.model = *model;
  if (ver) p.firmware_revision = *ver;
  if (p.serial.size() > 20 || p.model.size() > 40 || p.firmware_revision.size() > 8)
    return make_error("%s: serial is at most 20 characters, model 40, ver 8", props.what().c_str());
  p.wwn = *wwn;
  if (*granularity) {
    if (**granularity != 0 && **granularity != kSectorSize)
      return make_error("%s: discard_granularity must be 512 for ide", props.what().c_str());
    p.trim = **granularity != 0;
  }
  if (cdrom) return p;
  struct Limit {
    const char* key;
    uint64_t max;
  };
  constexpr Limit kChs[] = {{"cyls", 65535}, {"heads", kMaxHeads}, {"secs", 255}};
  uint64_t chs[3] = {};
  bool any = false;
  for (unsigned i = 0; i < 3; ++i) {
    auto value = props.number(kChs[i].key, UINT32_MAX);
    if (!value) return value.error();
    any = any || value->has_value();
    chs[i] = value->value_or(0);
  }
  for (unsigned i = 0; any && i < 3; ++i) {
    if (chs[i] < 1 || chs[i] > kChs[i].max)
      return make_error("%s: %s must be between 1 and %llu", props.what().c_str(), kChs[i].key,
                        static_cast<unsigned long long>(kChs[i].max));
  }
  p.requested = {static_cast<uint16_t>(chs[0]), static_cast<uint8_t>(chs[1]),
                 static_cast<uint8_t>(chs[2])};
  uint32_t* logical[3] = {&p.bios_cylinders, &p.bios_heads, &p.bios_sectors};
  const char* logical_keys[3] = {"lcyls", "lheads", "lsecs"};
  for (unsigned i = 0; i < 3; ++i) {
    auto value = props.number(logical_keys[i], UINT32_MAX);
    if (!value) return value.error();
    *logical[i] = static_cast<uint32_t>(value->value_or(0));
  }
  auto trans = props.string("bios-chs-trans");
  if (auto alias = props.string("trans")) trans = alias;
  if (trans) {
    static constexpr std::pair<const char*, BiosTranslation> kNames[] = {
        {"none", BiosTranslation::kNone},
        {"lba", BiosTranslation::kLba},
        {"large", BiosTranslation::kLarge},
        {"rechs", BiosTranslation::kRechs},
        {"auto", BiosTranslation::kAuto}};
    auto found = std::find_if(std::begin(kNames), std::end(kNames),
                              [&](const auto& n) { return *trans == n.first; });
    if (found == std::end(kNames))
      return make_error("%s: bios-chs-trans=%s: expected none, lba, large, rechs or auto",
                        props.what().c_str(), trans->c_str());
    p.bios_translation = found->second;
  }
  return p;
}

// drive=, bus=ide.N, unit= and the properties above: a drive on the board's controller.
// The unit is given out by the controller's bus (Machine::plug_into_bus), which also takes it
// back when the drive goes.
Result<std::unique_ptr<Device>> create_drive(Machine& machine, OptionReader& props, bool cdrom) {
  auto drive_id = props.string("drive");
  auto properties = read_properties(props, cdrom);
  if (!properties) return properties.error();
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
  static_cast<DriveProperties&>(drive) = std::move(*properties);
  drive.kind = cdrom ? IdeDrive::Kind::kCdrom : IdeDrive::Kind::kDisk;
  drive.read_only_requested = spec.read_only;
  if (spec.has_medium()) {
    if (!machine.io_executor())
      return make_error("%s: no block I/O on this machine", props.what().c_str());
    auto medium = BlockBackend::open(spec, cdrom, *machine.io_executor());
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
  if (drive.serial.empty()) drive.serial = !spec.serial.empty() ? spec.serial : default_serial;
  if (drive.model.empty()) drive.model = cdrom ? "HVMD DVD-ROM" : "HVMD HARDDISK";
  if (drive.serial.size() > 20)
    return make_error("%s: serial is at most 20 characters", props.what().c_str());
  HVMD_TRY(controller->attach(slot.first, slot.second, std::move(drive)));
  return std::unique_ptr<Device>(
      std::make_unique<IdeDriveDevice>(*controller, slot.first, slot.second, cdrom, spec.id));
}

}  // namespace

void register_ide_devices(DeviceRegistry& registry) {
  // What both drive kinds read (read_properties); disks add their geometry.
  const std::vector<DeviceProperty> common = {
      {"drive", "str", "a -drive id"},
      {"unit", "uint32", "0 (master) or 1 (slave)"},
      {"serial", "str", "IDENTIFY serial number"},
      {"model", "str", "IDENTIFY model"},
      {"ver", "str", "IDENTIFY firmware revision"},
      {"wwn", "uint64", "IDENTIFY world wide name"},
      {"discard_granularity", "size", "512 (TRIM) or 0 (none)"}};
  std::vector<DeviceProperty> disk = common;
  disk.insert(disk.end(), {{"cyls", "uint32", "cylinders (physical geometry)"},
                           {"heads", "uint32", "heads (physical geometry)"},
                           {"secs", "uint32", "sectors per track (physical geometry)"},
                           {"lcyls", "uint32", "cylinders the BIOS sees"},
                           {"lheads", "uint32", "heads the BIOS sees"},
                           {"lsecs", "uint32", "sectors per track the BIOS sees"},
                           {"bios-chs-trans", "str", "none, lba, large, rechs or auto"}});
  registry.add({.name = "ide-hd",
                .description = "IDE hard disk (drive=, bus=ide.0|ide.1, unit=0|1, serial=, model=, "
                               "ver=, wwn=, discard_granularity=, cyls=, heads=, secs=, lcyls=, "
                               "lheads=, lsecs=, bios-chs-trans=)",
                .bootable = true,
                .parent = "ide-device",
                .properties = std::move(disk),
                .create = [](Machine& machine, OptionReader& props) {
                  return create_drive(machine, props, false);
                }});
  registry.add({.name = "ide-cd",
                .description = "IDE (ATAPI) CD-ROM (drive= or empty, bus=, unit=, serial=, model=, "
                               "ver=, wwn=)",
                .bootable = true,
                .parent = "ide-device",
                .properties = common,
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

// The disks in CMOS, once every drive of the command line is attached (standalone machines;
// under Xen hvmloader writes these bytes).
void write_cmos_drives(Machine& machine) {
  PiixIde* ide = nullptr;
  RtcCmos* rtc = nullptr;
  for (Device* device : machine.devices()) {
    if (auto* found = dynamic_cast<PiixIde*>(device)) ide = found;
    if (auto* found = dynamic_cast<RtcCmos*>(device)) rtc = found;
  }
  if (!ide || !rtc) return;
  std::array<const IdeDrive*, 4> drives{};
  for (unsigned i = 0; i < 4; ++i) drives[i] = &ide->channel(i / 2).drive(i % 2);
  for (auto [index, value] : cmos_drive_bytes(drives)) rtc->set_byte(index, value);
  rtc->update_checksum();
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
  if (!machine.options().xen) write_cmos_drives(machine);
  return ok();
}

}  // namespace hvmd::devices::ide
