#include "devices/usb/usb_catalogue.h"

#include "devices/usb/ehci_catalogue.h"
#include "devices/usb/uhci.h"
#include "devices/usb/uhci_regs.h"
#include "devices/usb/usb_hid.h"
#include "devices/usb/usb_hub.h"
#include "devices/usb/xhci.h"

namespace hvmd::devices::usb {

namespace {

// A controller's bus: ID.0 when the user named it (libxl's id=usb gives usb.0, as in QEMU),
// else the first free usb.N.
std::string controller_bus_name(const Machine& machine, const std::optional<std::string>& id) {
  if (id) return *id + ".0";
  for (unsigned n = 0;; ++n) {
    std::string name = "usb." + std::to_string(n);
    if (!machine.find_bus(name)) return name;
  }
}

Result<std::unique_ptr<Device>> create_uhci(Machine& machine, OptionReader& props) {
  std::string name = controller_bus_name(machine, props.string("id"));
  if (machine.find_bus(name))
    return make_error("%s: bus %s exists", props.what().c_str(), name.c_str());
  auto uhci = std::make_unique<Uhci>(machine.clock(), machine.memory(), name);
  machine.add_bus(*uhci, uhci->bus());
  return std::unique_ptr<Device>(std::move(uhci));
}

Result<std::unique_ptr<Device>> create_xhci(Machine& machine, OptionReader& props,
                                            Xhci::Model model) {
  std::string name = controller_bus_name(machine, props.string("id"));
  if (machine.find_bus(name))
    return make_error("%s: bus %s exists", props.what().c_str(), name.c_str());
  auto xhci = std::make_unique<Xhci>(model, machine.clock(), machine.memory(), name);
  machine.add_bus(*xhci, xhci->bus());
  return std::unique_ptr<Device>(std::move(xhci));
}

// A USB device on a port: bus= and port= (or the first free port of any USB bus).
template <class Make>
Result<std::unique_ptr<Device>> create_on_port(Machine& machine, OptionReader& props, Make make) {
  auto plugged = machine.plug_into_bus("usb", props);
  if (!plugged) return plugged.error();
  // Only controllers' root ports and hubs are buses of kind "usb", all UsbBus.
  auto& bus = static_cast<UsbBus&>(*plugged->bus);
  auto device = make(bus.name() + "." + std::to_string(plugged->address));
  UsbDevice& usb = *device;
  bus.port(plugged->address).attach(&usb);
  return std::unique_ptr<Device>(std::move(device));
}

Result<std::unique_ptr<Device>> create_hid(Machine& machine, OptionReader& props,
                                           UsbHid::Kind kind) {
  // usb_version=2 (QEMU's default for its tablet, keyboard and mouse): high speed behind an EHCI
  // port, full speed elsewhere. usb_version=1: full speed only, so behind an EHCI the port goes
  // to a companion controller (where SeaBIOS, as on QEMU, often misses the device: its companion
  // scan can end before the EHCI hands the port over).
  auto version = props.number("usb_version", 2);
  if (!version) return version.error();
  if (*version && **version == 0)
    return make_error("%s: usb_version=0: must be 1 or 2", props.what().c_str());
  bool high_speed = !*version || **version == 2;
  return create_on_port(machine, props, [&](const std::string&) {
    auto hid = std::make_unique<UsbHid>(kind, machine.clock(), machine.input());
    if (high_speed) hid->set_high_speed_capable();
    return hid;
  });
}

}  // namespace

void register_usb_devices(DeviceRegistry& registry) {
  register_ehci_devices(registry);
  registry.add({.name = "piix3-usb-uhci",
                .description = "PIIX3 USB UHCI controller, two ports on bus ID.0 or usb.N",
                .pci = true,
                .hotpluggable = true,
                .create = create_uhci});
  registry.add(
      {.name = "nec-usb-xhci",
       .description = "NEC uPD720200 USB 3.0 xHCI controller, four ports on bus ID.0 or usb.N",
       .pci = true,
       .hotpluggable = true,
       .create = [](Machine& machine, OptionReader& props) {
         return create_xhci(machine, props, Xhci::Model::kNec);
       }});
  registry.add(
      {.name = "qemu-xhci",
       .description = "QEMU's xHCI controller (1b36:000d), four ports on bus ID.0 or usb.N",
       .pci = true,
       .hotpluggable = true,
       .create = [](Machine& machine, OptionReader& props) {
         return create_xhci(machine, props, Xhci::Model::kQemu);
       }});
  struct Hid {
    const char* name;
    const char* description;
    UsbHid::Kind kind;
  };
  for (const Hid& hid :
       {Hid{"usb-tablet", "USB tablet: absolute pointer (bus=, port=)", UsbHid::Kind::kTablet},
        Hid{"usb-mouse", "USB mouse (bus=, port=)", UsbHid::Kind::kMouse},
        Hid{"usb-kbd", "USB keyboard (bus=, port=)", UsbHid::Kind::kKeyboard}}) {
    UsbHid::Kind kind = hid.kind;
    registry.add({.name = hid.name,
                  .description = hid.description,
                  .hotpluggable = true,
                  .parent = "usb-device",
                  .properties = {{"port", "uint32", "port number on the bus"}},
                  .create = [kind](Machine& machine, OptionReader& props) {
                    return create_hid(machine, props, kind);
                  }});
  }
  registry.add(
      {.name = "usb-hub",
       .description = "USB hub, eight ports on bus BUS.PORT (bus=, port=)",
       .hotpluggable = true,
       .parent = "usb-device",
       .properties = {{"port", "uint32", "port number on the bus"}},
       .create = [](Machine& machine, OptionReader& props) -> Result<std::unique_ptr<Device>> {
         UsbHub* hub = nullptr;
         auto device = create_on_port(machine, props, [&](const std::string& name) {
           auto made = std::make_unique<UsbHub>(name);
           hub = made.get();
           return made;
         });
         if (device) machine.add_bus(*hub, hub->bus());
         return device;
       }});
}

Result<void> add_command_line_usb(Machine& machine, const std::vector<std::string>& usbdevices) {
  if (!machine.find_bus("usb.0")) {
    auto description = SubOptions::parse("piix3-usb-uhci,addr=1.2", "driver");
    if (!description) return description.error();
    if (auto added = machine.add_device(*description, /*hotplug=*/false); !added)
      return make_error("-usb: %s", added.error().message.c_str());
  }
  for (const auto& name : usbdevices) {
    const char* driver = name == "tablet"     ? "usb-tablet"
                         : name == "mouse"    ? "usb-mouse"
                         : name == "keyboard" ? "usb-kbd"
                                              : nullptr;
    if (!driver)
      return make_error("-usbdevice %s: not supported (tablet, mouse, keyboard)", name.c_str());
    auto description = SubOptions::parse(std::string(driver) + ",bus=usb.0", "driver");
    if (!description) return description.error();
    if (auto added = machine.add_device(*description, /*hotplug=*/false); !added)
      return make_error("-usbdevice %s: %s", name.c_str(), added.error().message.c_str());
  }
  return ok();
}

}  // namespace hvmd::devices::usb
