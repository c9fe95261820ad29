#include "devices/usb/ehci_catalogue.h"

#include "devices/usb/ehci.h"
#include "devices/usb/ehci_regs.h"
#include "devices/usb/uhci.h"
#include "devices/usb/usb_storage.h"

namespace hvmd::devices::usb {

namespace {

// multifunction=on|off: the header type's multi-function bit, which tells firmware and OSes to
// look at functions 1-7 of the slot (libxl puts the EHCI and its companions in one slot).
Result<bool> multi_function(OptionReader& props) {
  auto value = props.boolean("multifunction");
  if (!value) return value.error();
  return value->value_or(false);
}

std::string controller_bus_name(const Machine& machine, const std::optional<std::string>& id) {
  if (id) return *id + ".0";
  for (unsigned n = 0;; ++n) {
    std::string name = "usb." + std::to_string(n);
    if (!machine.find_bus(name)) return name;
  }
}

Result<std::unique_ptr<Device>> create_ehci(Machine& machine, OptionReader& props,
                                            uint16_t device_id, std::string_view type) {
  auto multi = multi_function(props);
  if (!multi) return multi.error();
  std::string name = controller_bus_name(machine, props.string("id"));
  if (machine.find_bus(name))
    return make_error("%s: bus %s exists", props.what().c_str(), name.c_str());
  auto ehci =
      std::make_unique<Ehci>(machine.clock(), machine.memory(), name, device_id, type, *multi);
  machine.add_bus(*ehci, ehci->bus());
  return std::unique_ptr<Device>(std::move(ehci));
}

// The EHCI whose bus is named masterbus.
Ehci* find_master(const Machine& machine, const std::string& bus_name) {
  Bus* bus = machine.find_bus(bus_name);
  if (!bus) return nullptr;
  for (Device* device : machine.devices())
    if (auto* ehci = dynamic_cast<Ehci*>(device); ehci && &ehci->bus() == bus) return ehci;
  return nullptr;
}

struct UhciFunction {
  const char* name;
  uint16_t device;
  uint8_t pin;  // the ICH9 wires its UHCIs to INTA#, INTB#, INTC#, twice over
};
constexpr UhciFunction kUhciFunctions[] = {
    {"ich9-usb-uhci1", 0x2934, 1}, {"ich9-usb-uhci2", 0x2935, 2}, {"ich9-usb-uhci3", 0x2936, 3},
    {"ich9-usb-uhci4", 0x2937, 1}, {"ich9-usb-uhci5", 0x2938, 2}, {"ich9-usb-uhci6", 0x2939, 3},
};

Result<std::unique_ptr<Device>> create_ich9_uhci(Machine& machine, OptionReader& props,
                                                 const UhciFunction& function) {
  auto multi = multi_function(props);
  if (!multi) return multi.error();
  auto masterbus = props.string("masterbus");
  auto firstport = props.number("firstport", ehci::kPorts - 1);
  if (!firstport) return firstport.error();
  UhciModel model{.type = function.name,
                  .device = function.device,
                  .interrupt_pin = function.pin,
                  .multi_function = *multi};
  if (!masterbus) {
    if (firstport->has_value())
      return make_error("%s: firstport= needs masterbus=", props.what().c_str());
    // A controller of its own, with two ports on bus ID.0 or usb.N.
    std::string name = controller_bus_name(machine, props.string("id"));
    if (machine.find_bus(name))
      return make_error("%s: bus %s exists", props.what().c_str(), name.c_str());
    auto uhci = std::make_unique<Uhci>(machine.clock(), machine.memory(), name, model);
    machine.add_bus(*uhci, uhci->bus());
    return std::unique_ptr<Device>(std::move(uhci));
  }
  Ehci* master = find_master(machine, *masterbus);
  if (!master)
    return make_error("%s: masterbus=%s is not an EHCI controller's bus", props.what().c_str(),
                      masterbus->c_str());
  auto uhci =
      std::make_unique<Uhci>(machine.clock(), machine.memory(), *masterbus + "-companion", model);
  if (auto added = master->add_companion(*uhci, static_cast<unsigned>(firstport->value_or(0)));
      !added)
    return make_error("%s: %s", props.what().c_str(), added.error().message.c_str());
  return std::unique_ptr<Device>(std::move(uhci));
}

// usb-storage: drive= (a -drive if=none), removable=, bus=, port=.
Result<std::unique_ptr<Device>> create_storage(Machine& machine, OptionReader& props) {
  auto drive_id = props.string("drive");
  auto removable = props.boolean("removable");
  if (!removable) return removable.error();
  if (!drive_id) return make_error("%s: needs drive=", props.what().c_str());
  if (!machine.io_executor())
    return make_error("%s: no block I/O on this machine", props.what().c_str());
  auto plugged = machine.plug_into_bus("usb", props);
  if (!plugged) return plugged.error();
  auto spec = machine.claim_drive(*drive_id);
  if (!spec) return spec.error();
  if (!spec->has_medium())
    return make_error("%s: drive '%s' has no file", props.what().c_str(), drive_id->c_str());
  auto medium = BlockBackend::open(*spec, /*read_only=*/false, *machine.io_executor());
  if (!medium)
    return make_error("drive '%s': %s", drive_id->c_str(), medium.error().message.c_str());
  if ((*medium)->size() < UsbStorage::kBlockSize)
    return make_error("drive '%s': image smaller than one block", drive_id->c_str());
  auto storage =
      std::make_unique<UsbStorage>(std::move(*medium), removable->value_or(false), *drive_id);
  // Only controllers' root ports and hubs are buses of kind "usb".
  auto& bus = static_cast<UsbBus&>(*plugged->bus);
  bus.port(plugged->address).attach(storage.get());
  return std::unique_ptr<Device>(std::move(storage));
}

}  // namespace

void register_ehci_devices(DeviceRegistry& registry) {
  registry.add({.name = "ich9-usb-ehci1",
                .description = "ICH9 USB 2.0 EHCI controller, six ports on bus ID.0 or usb.N "
                               "(multifunction=)",
                .pci = true,
                .hotpluggable = true,
                .properties = {{"multifunction", "bool", "on/off"}},
                .create = [](Machine& machine, OptionReader& props) {
                  return create_ehci(machine, props, ehci::kDeviceIch9Ehci1, "ich9-usb-ehci1");
                }});
  registry.add({.name = "ich9-usb-ehci2",
                .description = "ICH9 USB 2.0 EHCI controller (second), six ports on bus ID.0 "
                               "or usb.N (multifunction=)",
                .pci = true,
                .hotpluggable = true,
                .properties = {{"multifunction", "bool", "on/off"}},
                .create = [](Machine& machine, OptionReader& props) {
                  return create_ehci(machine, props, ehci::kDeviceIch9Ehci2, "ich9-usb-ehci2");
                }});
  // Not hot-pluggable: the image is opened when the device is created, and once the sandbox is
  // on hvmd may not open a file read-write (dm/daemon/sandbox.cc).
  registry.add({.name = "usb-storage",
                .description = "USB mass storage, Bulk-Only (drive=, removable=, bus=, port=)",
                .parent = "usb-device",
                .properties = {{"drive", "str", "a -drive id"},
                               {"removable", "bool", "on/off"},
                               {"port", "uint32", "port number on the bus"}},
                .create = create_storage});
  for (const UhciFunction& function : kUhciFunctions) {
    registry.add({.name = function.name,
                  .description = "ICH9 USB UHCI controller: an EHCI's companion (masterbus=, "
                                 "firstport=0|2|4) or two ports of its own (multifunction=)",
                  .pci = true,
                  .hotpluggable = true,
                  .properties = {{"multifunction", "bool", "on/off"},
                                 {"masterbus", "str", "the EHCI bus this is a companion of"},
                                 {"firstport", "uint32", "its first port on the EHCI"}},
                  .create = [&function](Machine& machine, OptionReader& props) {
                    return create_ich9_uhci(machine, props, function);
                  }});
  }
}

}  // namespace hvmd::devices::usb
