#include "dm/machine.h"

#include <algorithm>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "dm/file_io.h"
#include "dm/log.h"
#include "dm/pci/pci_device.h"
#include "dm/rom_cache.h"

namespace hvmd {

void DeviceRegistry::add(DeviceType type) {
  types_.push_back(std::move(type));
}

const DeviceType* DeviceRegistry::find(std::string_view name) const {
  for (const auto& t : types_)
    if (t.name == name) return &t;
  return nullptr;
}

const char* run_state_name(RunState state) {
  switch (state) {
    case RunState::kPrelaunch:
      return "prelaunch";
    case RunState::kRunning:
      return "running";
    case RunState::kPaused:
      return "paused";
    case RunState::kShutdown:
      return "shutdown";
  }
  return "?";
}

Machine::Machine(MachineOptions options, Clock& clock, GuestMemory& memory, InterruptSink& sink,
                 const DeviceRegistry& registry)
    : options_(std::move(options)),
      clock_(clock),
      memory_(memory),
      sink_(sink),
      registry_(registry),
      dispatcher_(&memory),
      pci_bus_(dispatcher_, &sink) {
  // PCI hot-plug: a device goes when the guest ejects its slot (dm/pci/pci_bus.h).
  pci_bus_.set_eject_handler([this](pci::PciDevice& ejected) { erase(&ejected); });
}

Machine::~Machine() {
  // Unregister in reverse order of creation, before members the devices point into go away.
  for (auto it = devices_.rbegin(); it != devices_.rend(); ++it) it->device->unrealize();
}

Result<Device*> Machine::install(std::unique_ptr<Device> device, bool pci,
                                 std::optional<uint8_t> devfn, bool removable, pci::PlugMode mode) {
  if (pci) {
    auto* pci_device = dynamic_cast<pci::PciDevice*>(device.get());
    if (!pci_device)
      return make_error("'%s' is not a PCI device", std::string(device->type()).c_str());
    auto address = pci_bus_.plug(*pci_device, devfn, mode);
    if (!address) return address.error();
  }
  std::string key = device->id();
  if (key.empty()) key = std::string(device->type()) + "#" + std::to_string(anonymous_count_++);
  devices_.push_back({std::move(device), std::move(key), removable});
  if (claiming_bus_) {
    devices_.back().parent = claiming_bus_->owner;
    devices_.back().slot = claimed_slot_;
    claiming_bus_.reset();
  }
  return devices_.back().device.get();
}

Result<Device*> Machine::add_board_device(std::unique_ptr<Device> device,
                                          std::optional<uint8_t> devfn) {
  bool pci = dynamic_cast<pci::PciDevice*>(device.get()) != nullptr;
  return install(std::move(device), pci, devfn, false);
}

Result<Device*> Machine::add_device(const SubOptions& description, bool hotplug) {
  auto driver = description.get("driver");
  if (!driver)
    return make_error("device description '%s' lacks a driver", description.to_string().c_str());
  const DeviceType* type = registry_.find(*driver);
  if (!type) return make_error("'%s' is not a valid device model name", driver->c_str());
  if (hotplug && !type->hotpluggable)
    return make_error("device '%s' does not support hotplugging", driver->c_str());
  if (options_.type == "none") {
    if (type->pci) return make_error("No 'PCI' bus found for device '%s'", driver->c_str());
    return make_error("machine 'none' has no bus for device '%s'", driver->c_str());
  }
  // -global defaults first: the description's own items come after them and win (get() takes
  // the last occurrence).
  SubOptions with_globals;
  std::vector<const GlobalProperty*> globals;
  for (const GlobalProperty& global : options_.globals) {
    if (global.driver != *driver) continue;
    with_globals.set(global.property, global.value);
    globals.push_back(&global);
  }
  for (const auto& [key, value] : description.items()) with_globals.set(key, value);
  OptionReader props(with_globals, "device '" + *driver + "'");
  props.ignore("driver");
  auto id = props.string("id");
  if (id) {
    if (id->empty() || !isalpha(static_cast<unsigned char>((*id)[0])))
      return make_error("device id '%s' must start with a letter", id->c_str());
    if (find_device(*id)) return make_error("duplicate device id '%s'", id->c_str());
  }
  std::optional<uint8_t> devfn;
  if (type->pci) {
    if (auto bus = props.string("bus"); bus && *bus != "pci.0")
      return make_error("device '%s': bus '%s' not found", driver->c_str(), bus->c_str());
    if (auto addr = props.string("addr")) {
      auto parsed = pci::parse_devfn(*addr);
      if (!parsed) return parsed.error();
      devfn = *parsed;
    }
  }
  // Any PCI device may carry an option ROM in its expansion-ROM BAR.
  std::optional<std::string> romfile = type->pci ? props.string("romfile") : std::nullopt;
  std::optional<uint64_t> boot_index;
  if (type->pci || type->bootable) {
    auto index = props.number("bootindex", 0xffff);
    if (!index) return index.error();
    boot_index = *index;
  }
  // ROMs come from the process's cache (dm/rom_cache.h): no file-system access at run time.
  rom_cache::Image rom;
  if (romfile && !romfile->empty()) {
    auto image = rom_cache::load(*romfile, kMaxRomBytes);
    if (!image)
      return make_error("romfile=%s: %s", romfile->c_str(), image.error().message.c_str());
    rom = *image;
  } else if (!romfile && !type->default_romfile.empty()) {
    // A device's own ROM (iPXE for a NIC) when the user named none and the file is there.
    rom = rom_cache::load_default(type->default_romfile, kMaxRomBytes);
  }
  // A bus child's claim (plug_into_bus) is given back if the device does not come to be.
  struct ClaimGuard {
    Machine& machine;
    ~ClaimGuard() {
      if (machine.claiming_bus_) machine.claiming_bus_->bus->release(machine.claimed_slot_.address);
      machine.claiming_bus_.reset();
    }
  } claim_guard{*this};
  // Buses a device registered while being created go with it if it does not come to be.
  struct BusGuard {
    std::vector<BusEntry>& buses;
    size_t before;
    bool keep = false;
    ~BusGuard() {
      if (!keep) buses.resize(before);
    }
  } bus_guard{buses_, buses_.size()};
  auto device = type->create(*this, props);
  if (!device) return device.error();
  for (const GlobalProperty* global : globals)
    if (!props.was_read(global->property))
      return make_error("can't apply global %s.%s=%s: Property '%s.%s' not found",
                        global->driver.c_str(), global->property.c_str(), global->value.c_str(),
                        global->driver.c_str(), global->property.c_str());
  HVMD_TRY(props.finish());
  if (rom) {
    auto* pci_device = dynamic_cast<pci::PciDevice*>(device->get());
    if (!pci_device) return make_error("device '%s' cannot take a romfile", driver->c_str());
    auto read = rom->read(pci_device->make_rom(rom->size(), device_memory_backing_));
    if (!read)
      return make_error("romfile=%s: %s",
                        romfile ? romfile->c_str() : type->default_romfile.c_str(),
                        read.error().message.c_str());
  }
  if (id) (*device)->set_id(*id);
  // PCI hot-plug: a type that may be unplugged can be ejected by the guest; one added while the
  // machine runs is announced to it.
  pci::PlugMode mode = !type->hotpluggable ? pci::PlugMode::kFixed
                       : hotplug           ? pci::PlugMode::kHotPlugged
                                           : pci::PlugMode::kColdPlugged;
  auto installed = install(std::move(*device), type->pci, devfn, true, mode);
  if (installed && boot_index) devices_.back().boot_index = boot_index;
  if (installed) devices_.back().options = description;
  bus_guard.keep = installed.ok();
  return installed;
}

const SubOptions* Machine::device_options(const Device& device) const {
  for (const Entry& e : devices_)
    if (e.device.get() == &device) return e.options ? &*e.options : nullptr;
  return nullptr;
}

Result<NetBackend*> Machine::netdev(const std::string& id) const {
  if (!netdev_lookup_) return make_error("netdev '%s' not found", id.c_str());
  return netdev_lookup_(id);
}

Result<DriveSpec> Machine::claim_drive(const std::string& id) {
  for (auto& drive : drives_) {
    if (drive.spec.id != id) continue;
    if (drive.claimed) return make_error("drive '%s' is already in use", id.c_str());
    drive.claimed = true;
    return drive.spec;
  }
  return make_error("drive '%s' not found", id.c_str());
}

std::vector<DriveSpec> Machine::unclaimed_drives() const {
  std::vector<DriveSpec> list;
  for (const auto& drive : drives_)
    if (!drive.claimed) list.push_back(drive.spec);
  return list;
}

bool Machine::has_drive(const std::string& id) const {
  return std::any_of(drives_.begin(), drives_.end(),
                     [&id](const Drive& d) { return d.spec.id == id; });
}

Result<void> Machine::remove_drive(const std::string& id) {
  auto it = std::find_if(drives_.begin(), drives_.end(),
                         [&id](const Drive& d) { return d.spec.id == id; });
  if (it == drives_.end()) return make_error("Failed to find node with node-name='%s'", id.c_str());
  if (it->claimed)
    return make_error("Node '%s' is busy: block device is in use by a device", id.c_str());
  drives_.erase(it);
  return ok();
}

Result<void> Machine::remove_device(const std::string& id) {
  auto it = std::find_if(devices_.begin(), devices_.end(),
                         [&](const Entry& e) { return e.device->id() == id; });
  if (it == devices_.end()) return make_error("device '%s' not found", id.c_str());
  const DeviceType* type = registry_.find(it->device->type());
  if (!it->removable || !type || !type->hotpluggable)
    return make_error("device '%s' does not support hot-unplug", id.c_str());
  erase(it->device.get());
  return ok();
}

Result<Machine::Removal> Machine::request_removal(const std::string& id) {
  // With a hot-plug controller on the bus the guest decides when (dm/pci/pci_bus.h). The bus
  // declines fixed functions and controller-less buses; remove_device rules on those.
  auto* pci_device = dynamic_cast<pci::PciDevice*>(find_device(id));
  if (pci_device && pci_bus_.request_unplug(*pci_device)) return Removal::kRequested;
  HVMD_TRY(remove_device(id));
  return Removal::kRemoved;
}

unsigned Machine::erase(Device* device) {
  unsigned removed = 0;
  // Children first, newest first, each with its own children.
  for (size_t i = devices_.size(); i-- > 0;)
    if (i < devices_.size() && devices_[i].parent == device)
      removed += erase(devices_[i].device.get());
  auto it = std::find_if(devices_.begin(), devices_.end(),
                         [&](const Entry& e) { return e.device.get() == device; });
  if (it == devices_.end()) return removed;
  if (auto* pci_device = dynamic_cast<pci::PciDevice*>(device))
    pci_bus_.unplug(*pci_device);
  else
    device->unrealize();
  if (it->slot.bus) it->slot.bus->release(it->slot.address);
  std::erase_if(buses_, [&](const BusEntry& b) { return b.owner == device; });
  std::string id = device->id();
  std::string path =
      id.empty() ? "/machine/peripheral-anon/" + it->key : "/machine/peripheral/" + id;
  devices_.erase(it);
  if (device_deleted_handler_) device_deleted_handler_(id, path);
  return removed + 1;
}

unsigned Machine::unplug_emulated(uint16_t mask) {
  unplugged_ |= mask;
  unsigned removed = 0;
  for (size_t i = devices_.size(); i-- > 0;)
    if (i < devices_.size() && devices_[i].device->removed_by_unplug(mask))
      removed += erase(devices_[i].device.get());
  return removed;
}

void Machine::add_bus(Device& owner, Bus& bus) {
  buses_.push_back({&owner, &bus});
}

Bus* Machine::find_bus(std::string_view name) const {
  for (const BusEntry& b : buses_)
    if (b.bus->name() == name) return b.bus;
  return nullptr;
}

Result<BusSlot> Machine::plug_into_bus(std::string_view kind, OptionReader& props) {
  auto name = props.string("bus");
  for (const BusEntry& b : buses_) {
    if (b.bus->kind() != kind) continue;
    auto address = props.number(std::string(b.bus->address_property()), 0xffffffffu);
    if (!address) return address.error();
    if (name && b.bus->name() != *name) continue;
    if (!name && address->has_value())
      return make_error("%s: %s= needs bus=", props.what().c_str(),
                        std::string(b.bus->address_property()).c_str());
    auto claimed = b.bus->claim(address->has_value()
                                    ? std::optional<unsigned>(static_cast<unsigned>(**address))
                                    : std::nullopt);
    if (!claimed) {
      if (name) return make_error("%s: %s", props.what().c_str(), claimed.error().message.c_str());
      continue;  // full: the next bus of the kind
    }
    claiming_bus_ = b;
    claimed_slot_ = {b.bus, *claimed};
    return claimed_slot_;
  }
  if (name) return make_error("%s: bus '%s' not found", props.what().c_str(), name->c_str());
  return make_error("%s: no %.*s bus with a free place", props.what().c_str(),
                    static_cast<int>(kind.size()), kind.data());
}

std::vector<std::string> Machine::boot_order() const {
  std::vector<const Entry*> bootable;
  for (const auto& e : devices_)
    if (e.boot_index) bootable.push_back(&e);
  std::stable_sort(bootable.begin(), bootable.end(),
                   [](const Entry* a, const Entry* b) { return *a->boot_index < *b->boot_index; });
  std::vector<std::string> paths;
  for (const Entry* e : bootable)
    if (auto path = e->device->firmware_path(); !path.empty()) paths.push_back(path);
  return paths;
}

Device* Machine::find_device(std::string_view id) const {
  for (const auto& e : devices_)
    if (!id.empty() && e.device->id() == id) return e.device.get();
  return nullptr;
}

std::vector<Device*> Machine::devices() const {
  std::vector<Device*> out;
  for (const auto& e : devices_) out.push_back(e.device.get());
  return out;
}

void Machine::reset() {
  // Removals the guest was asked for and did not complete happen now: the OS that was asked is
  // gone (QEMU's ACPI hot-plug does the same).
  uint32_t unplug_requests = pci_bus_.unplug_requests();
  for (const auto& e : devices_) e.device->reset();
  pci_bus_.eject_slots(unplug_requests);
  for (const auto& hook : reset_hooks_) hook();
}

Result<RunState> Machine::exit_preconfig() {
  if (!preconfig_after_)
    return make_error("The command is permitted only before machine initialization");
  RunState next = *preconfig_after_;
  preconfig_after_.reset();
  return next;
}

Result<Chardev*> Machine::chardev(const std::string& id) const {
  if (!chardev_lookup_) return make_error("chardev '%s' not found", id.c_str());
  return chardev_lookup_(id);
}

const char* shutdown_reason_name(ShutdownCause cause) {
  return cause == ShutdownCause::kGuestReset ? "guest-reset" : "guest-shutdown";
}

void Machine::request_shutdown(ShutdownCause cause) {
  if (shutdown_handler_) {
    shutdown_handler_(cause);
  } else {
    HVMD_GUEST_LOG("guest %s request ignored: no handler", shutdown_reason_name(cause));
  }
}

std::vector<uint8_t> Machine::save_state() {
  for (const auto& e : devices_) e.device->quiesce();
  // Pages the devices wrote up to here reach the hypervisor's dirty log before the state does.
  memory_.flush_dirty();
  StateWriter out;
  out.u32(kStateMagic);
  out.u32(kStateFormatVersion);
  out.u16(unplugged_);
  out.u32(static_cast<uint32_t>(devices_.size()));
  for (const auto& e : devices_) {
    out.begin_section(e.key, e.device->type(), e.device->state_version());
    e.device->save(out);
    out.end_section();
  }
  return out.data();
}

Result<void> Machine::load_state(std::span<const uint8_t> data) {
  StateReader in(data);
  auto magic = in.u32();
  if (!magic || *magic != kStateMagic) return make_error("not an hvmd device-state stream");
  auto version = in.u32();
  if (!version || *version != kStateFormatVersion)
    return make_error("unsupported device-state format version");
  // The saved machine's guest may have unplugged emulated devices (PV drivers): this machine,
  // started from the same command line, lacks them only once it repeats that unplug, which
  // happens after the whole stream has been checked against the devices it would leave.
  auto unplugged = in.u16();
  if (!unplugged) return unplugged.error();
  if (unplugged_ & ~*unplugged)
    return make_error("device state was saved before an unplug (mask %#x) this machine has seen",
                      unplugged_ & ~*unplugged);
  auto kept = [&](const Entry& e) { return !e.device->removed_by_unplug(*unplugged); };
  size_t kept_count = std::count_if(devices_.begin(), devices_.end(), kept);
  auto count = in.u32();
  if (!count) return count.error();
  if (*count != kept_count)
    return make_error("device state holds %u devices, this machine has %zu", *count, kept_count);
  std::vector<StateReader::Section> sections;
  for (uint32_t i = 0; i < *count; ++i) {
    auto section = in.section();
    if (!section) return section.error();
    sections.push_back(std::move(*section));
  }
  if (!in.at_end()) return make_error("device state has trailing bytes");
  // Phase one: every section is read and checked into new state; no live device changes, so a
  // stream that fails anywhere leaves the machine as it was.
  std::vector<std::pair<Device*, std::unique_ptr<StagedState>>> staged;
  for (const auto& s : sections) {
    auto it = std::find_if(devices_.begin(), devices_.end(),
                           [&](const Entry& e) { return e.key == s.id && kept(e); });
    if (it == devices_.end())
      return make_error("device state for unknown device '%s'", s.id.c_str());
    if (it->device->type() != s.type)
      return make_error("device state for '%s' is of type '%s', not '%s'", s.id.c_str(),
                        s.type.c_str(), std::string(it->device->type()).c_str());
    if (s.version > it->device->state_version())
      return make_error("device state for '%s' is version %u, newer than this hvmd", s.id.c_str(),
                        s.version);
    if (std::any_of(staged.begin(), staged.end(),
                    [&](const auto& done) { return done.first == it->device.get(); }))
      return make_error("device state for '%s' appears twice", s.id.c_str());
    StateReader body(s.body);
    auto parsed = it->device->parse_state(body, s.version);
    if (!parsed) return parsed.error();
    if (!body.at_end()) return make_error("device state for '%s' has trailing bytes", s.id.c_str());
    staged.emplace_back(it->device.get(), std::move(*parsed));
  }
  // Phase two cannot fail: repeat the saved machine's unplug (the staged devices are those it
  // keeps), install every device's state, then let each act on it.
  if (*unplugged & ~unplugged_) unplug_emulated(*unplugged);
  for (auto& step : staged) step.second->apply();
  for (auto& step : staged) step.first->post_load();
  return ok();
}

}  // namespace hvmd
