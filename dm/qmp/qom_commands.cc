// qom-list, qom-get and qom-set over the part of QEMU's object tree hvmd has: /machine, its
// peripheral containers (user devices by id, anonymous ones as device[N]) and each device's
// properties: type, realized, hotpluggable, and the properties its type declares
// (device-list-properties), whose values are those it was created with. Every property is fixed
// once the device is realized, as QEMU's qdev properties are; qom-set says so.
#include "dm/qmp/qom_commands.h"

#include "dm/pci/pci_device.h"
#include "dm/qmp/introspection_commands.h"

namespace hvmd::qmp {
namespace {

constexpr std::string_view kPeripheral = "/machine/peripheral/";
constexpr std::string_view kPeripheralAnon = "/machine/peripheral-anon/";

// The user's devices without an id, in creation order, as QEMU numbers them device[N].
std::vector<Device*> anonymous_devices(const Machine& machine) {
  std::vector<Device*> out;
  for (Device* d : machine.devices())
    if (d->id().empty() && machine.device_options(*d)) out.push_back(d);
  return out;
}

// A device by QOM path: /machine/peripheral/ID, /machine/peripheral-anon/device[N], or the id
// alone (QEMU resolves a partial path when it is unambiguous).
Device* resolve_device(const Machine& machine, const std::string& path) {
  std::string_view p = path;
  if (p.starts_with(kPeripheralAnon)) {
    std::string_view rest = p.substr(kPeripheralAnon.size());
    if (!rest.starts_with("device[") || !rest.ends_with("]")) return nullptr;
    auto index = parse_number(rest.substr(7, rest.size() - 8), UINT32_MAX);
    auto anon = anonymous_devices(machine);
    if (!index || *index >= anon.size()) return nullptr;
    return anon[*index];
  }
  if (p.starts_with(kPeripheral)) p.remove_prefix(kPeripheral.size());
  if (p.empty() || p.find('/') != std::string_view::npos) return nullptr;
  Device* d = machine.find_device(p);
  return d && machine.device_options(*d) ? d : nullptr;
}

Json entry(const std::string& name, const std::string& type) {
  return {{"name", name}, {"type", type}};
}

// The type's properties (device-list-properties) as qom-list entries.
Json device_members(const Machine& machine, const Device& device) {
  Json list = Json::array(
      {entry("type", "string"), entry("realized", "bool"), entry("hotpluggable", "bool")});
  if (const DeviceType* type = machine.registry().find(device.type()))
    for (const Json& p : list_properties(*type)) list.push_back(entry(p["name"], p["type"]));
  return list;
}

std::optional<Json> declared_property(const Machine& machine, const Device& device,
                                      const std::string& name) {
  const DeviceType* type = machine.registry().find(device.type());
  if (!type) return std::nullopt;
  for (const Json& p : list_properties(*type))
    if (p["name"] == name) return p;
  return std::nullopt;
}

// A value given as text on -device (or converted from device_add's JSON) in its property's type.
Json typed_value(const std::string& type, const std::string& text) {
  if (type == "bool") {
    auto value = parse_bool(text);
    return value ? Json(*value) : Json(text);
  }
  if (type.starts_with("uint") || type == "int32" || type == "size") {
    auto value = parse_number(text, UINT64_MAX);
    return value ? Json(*value) : Json(text);
  }
  return text;
}

Reply get_device_property(const Machine& machine, const Device& device, const std::string& name) {
  const DeviceType* type = machine.registry().find(device.type());
  std::string type_name(device.type());
  if (name == "type") return Reply::success(type_name);
  if (name == "realized") return Reply::success(true);
  if (name == "hotpluggable") return Reply::success(type && type->hotpluggable);
  auto declared = declared_property(machine, device, name);
  if (!declared) return Reply::error("Property '" + type_name + "." + name + "' not found");
  if (name == "addr") {
    if (const auto* pci = dynamic_cast<const pci::PciDevice*>(&device))
      return Reply::success(pci->address().devfn);
  }
  const SubOptions* options = machine.device_options(device);
  if (auto given = options ? options->get(name) : std::nullopt)
    return Reply::success(typed_value((*declared)["type"], *given));
  return Reply::error("Property '" + type_name + "." + name +
                      "' was not given when the device was created; hvmd keeps no default for it");
}

}  // namespace

void register_qom_commands(Server& server, Machine& machine) {
  server.add_command(
      "qom-list", Schema::object({required("path", Schema::string())}),
      [&machine](const Json& args) {
        std::string path = args["path"];
        Json list = Json::array({entry("type", "string")});
        if (path == "/") {
          list.push_back(entry("machine", "child<" + machine.options().type + "-machine>"));
        } else if (path == "/machine") {
          list.push_back(entry("peripheral", "child<container>"));
          list.push_back(entry("peripheral-anon", "child<container>"));
        } else if (path == "/machine/peripheral") {
          for (Device* d : machine.devices())
            if (!d->id().empty() && machine.device_options(*d))
              list.push_back(entry(d->id(), "child<" + std::string(d->type()) + ">"));
        } else if (path == "/machine/peripheral-anon") {
          auto anon = anonymous_devices(machine);
          for (size_t i = 0; i < anon.size(); ++i)
            list.push_back(entry("device[" + std::to_string(i) + "]",
                                 "child<" + std::string(anon[i]->type()) + ">"));
        } else if (Device* d = resolve_device(machine, path)) {
          list = device_members(machine, *d);
        } else {
          return Reply::error("Device '" + path + "' not found", "DeviceNotFound");
        }
        return Reply::success(list);
      });
  server.add_command(
      "qom-get",
      Schema::object({required("path", Schema::string()), required("property", Schema::string())}),
      [&machine](const Json& args) {
        std::string path = args["path"], name = args["property"];
        if (path == "/machine" || path == "/") {
          if (name == "type")
            return Reply::success(path == "/" ? std::string("container")
                                              : machine.options().type + "-machine");
          return Reply::error("Property '" + machine.options().type + "-machine." + name +
                              "' not found");
        }
        Device* d = resolve_device(machine, path);
        if (!d) return Reply::error("Device '" + path + "' not found", "DeviceNotFound");
        return get_device_property(machine, *d, name);
      });
  server.add_command(
      "qom-set",
      Schema::object({required("path", Schema::string()), required("property", Schema::string()),
                      required("value", Schema::any())}),
      [&machine](const Json& args) {
        std::string path = args["path"], name = args["property"];
        Device* d = resolve_device(machine, path);
        if (!d) return Reply::error("Device '" + path + "' not found", "DeviceNotFound");
        std::string type_name(d->type());
        if (name != "type" && name != "realized" && name != "hotpluggable" &&
            !declared_property(machine, *d, name))
          return Reply::error("Property '" + type_name + "." + name + "' not found");
        return Reply::error("Attempt to set property '" + name + "' on device '" +
                            (d->id().empty() ? path : d->id()) + "' (type '" + type_name +
                            "') after it was realized");
      });
}

}  // namespace hvmd::qmp
