// QMP's introspection, as QEMU-style test programs ask a machine (often -machine none) what exists
// before they start the one they want: query-machines, qom-list-types, device-list-properties and
// query-command-line-options. Every answer comes from hvmd's own catalogues: the device registry
// (each DeviceType's parent type and properties, and the properties the machine reads for every
// device) and the machine types and sub-options the command line takes.
#include "dm/qmp/introspection_commands.h"

#include <algorithm>

namespace hvmd::qmp {
namespace {

struct MachineType {
  const char* name;
  bool is_default;
  unsigned cpu_max;
  bool acpi;
};
// What -machine takes (dm/command_line.cc): pc (pc-i440fx-* too), xenfv, and the empty machine.
constexpr unsigned kMaxCpus = 128;  // the command line's -smp limit
constexpr MachineType kMachineTypes[] = {
    {"pc", true, kMaxCpus, true},
    {"xenfv", false, kMaxCpus, true},
    {"none", false, 1, false},
};

struct QomType {
  std::string name;
  std::string parent;
  bool abstract;
};

// The abstract types the device and machine types descend from (QEMU's names).
const QomType kAbstractTypes[] = {
    {"device", "object", true},     {"pci-device", "device", true}, {"isa-device", "device", true},
    {"ide-device", "device", true}, {"usb-device", "device", true}, {"machine", "object", true},
};

std::string parent_of(const DeviceType& type) {
  if (!type.parent.empty()) return type.parent;
  return type.pci ? "pci-device" : "device";
}

std::vector<QomType> all_types(const DeviceRegistry& registry) {
  std::vector<QomType> types(std::begin(kAbstractTypes), std::end(kAbstractTypes));
  for (const DeviceType& type : registry.types())
    types.push_back({type.name, parent_of(type), false});
  for (const MachineType& machine : kMachineTypes)
    types.push_back({std::string(machine.name) + "-machine", "machine", false});
  return types;
}

// Whether type is ancestor or one of its descendants. The chain is bounded by the table's size
// (a parent named twice cannot loop it).
bool implements(const std::vector<QomType>& types, const QomType& type,
                const std::string& ancestor) {
  std::string name = type.name;
  for (size_t step = 0; step <= types.size(); ++step) {
    if (name == ancestor) return true;
    auto it = std::find_if(types.begin(), types.end(),
                           [&name](const QomType& t) { return t.name == name; });
    if (it == types.end()) return ancestor == "object";
    name = it->parent;
  }
  return false;
}

Json property(const char* name, const char* type, const char* description = nullptr) {
  Json out = {{"name", name}, {"type", type}};
  if (description) out["description"] = description;
  return out;
}

}  // namespace

// device-list-properties: the machine's own (dm/machine.cc add_device) then the type's.
Json list_properties(const DeviceType& type) {
  Json list = Json::array();
  if (type.pci) {
    list.push_back(property("addr", "int32", "Slot and optional function number, example: 06.0"));
    list.push_back(property("romfile", "str", "an option ROM for the ROM BAR"));
  }
  if (type.pci || type.bootable) list.push_back(property("bootindex", "int32"));
  for (const DeviceProperty& p : type.properties) {
    Json entry = {{"name", p.name}, {"type", p.type}};
    if (!p.description.empty()) entry["description"] = p.description;
    list.push_back(entry);
  }
  return list;
}

namespace {

// The sub-options each command-line option group takes, as the parsers read them
// (dm/command_line.cc, dm/backends/block.cc, net*.cc, chardev.cc, dm/vnc/vnc_options.cc); QEMU's
// query-command-line-options reports the same groups under these names.
// tests/unit/command_line_options_test.cc runs the parsers and fails when this drifts from them.
struct OptionParameter {
  const char* name;
  const char* type;  // string, number, boolean, size
};
struct OptionGroup {
  const char* option;
  std::vector<OptionParameter> parameters;
};
const std::vector<OptionGroup>& option_groups() {
  static const std::vector<OptionGroup> groups = {
      {"machine",
       {{"type", "string"},
        {"accel", "string"},
        {"graphics", "boolean"},
        {"max-ram-below-4g", "size"},
        {"suppress-vmdesc", "boolean"}}},
      {"accel", {{"accel", "string"}, {"thread", "string"}}},
      {"memory", {{"size", "size"}, {"slots", "number"}, {"maxmem", "size"}}},
      {"smp-opts",
       {{"cpus", "number"},
        {"maxcpus", "number"},
        {"sockets", "number"},
        {"dies", "number"},
        {"cores", "number"},
        {"threads", "number"}}},
      {"name", {{"guest", "string"}, {"debug-threads", "boolean"}, {"process", "string"}}},
      {"mon", {{"chardev", "string"}, {"mode", "string"}, {"pretty", "boolean"}}},
      {"boot-opts",
       {{"order", "string"},
        {"once", "string"},
        {"menu", "boolean"},
        {"strict", "boolean"},
        {"splash-time", "number"},
        {"reboot-timeout", "number"}}},
      {"rtc", {{"base", "string"}, {"clock", "string"}, {"driftfix", "string"}}},
      {"global", {{"driver", "string"}, {"property", "string"}, {"value", "string"}}},
      {"drive",
       {{"id", "string"},
        {"file", "string"},
        {"if", "string"},
        {"index", "number"},
        {"media", "string"},
        {"format", "string"},
        {"cache", "string"},
        {"aio", "string"},
        {"serial", "string"},
        {"readonly", "boolean"},
        {"discard", "string"},
        {"detect-zeroes", "string"},
        {"rerror", "string"},
        {"werror", "string"},
        {"auto-read-only", "boolean"},
        {"file.driver", "string"},
        {"file.filename", "string"},
        {"file.size", "number"},
        {"file.read-zeroes", "boolean"}}},
      {"netdev",
       {{"type", "string"},
        {"id", "string"},
        // tap
        {"ifname", "string"},
        {"script", "string"},
        {"downscript", "string"},
        {"vnet_hdr", "boolean"},
        {"br", "string"},
        // socket
        {"fd", "string"},
        {"udp", "string"},
        {"localaddr", "string"},
        // hubport
        {"hubid", "number"},
        // user
        {"ipv4", "boolean"},
        {"ipv6", "boolean"},
        {"restrict", "boolean"},
        {"net", "string"},
        {"host", "string"},
        {"dhcpstart", "string"},
        {"dns", "string"},
        {"ipv6-net", "string"},
        {"ipv6-host", "string"},
        {"ipv6-dns", "string"},
        {"hostname", "string"},
        {"domainname", "string"},
        {"tftp-server-name", "string"},
        {"bootfile", "string"},
        {"tftp", "string"},
        {"dnssearch", "string"},
        {"hostfwd", "string"}}},
      {"chardev",
       {{"backend", "string"},
        {"id", "string"},
        {"path", "string"},
        {"fd", "number"},
        {"server", "boolean"},
        {"wait", "boolean"},
        {"signal", "boolean"},
        {"logfile", "string"}}},
      {"vnc", {{"vnc", "string"}, {"to", "number"}, {"password", "boolean"}}},
      {"fw_cfg", {{"name", "string"}, {"file", "string"}, {"string", "string"}}},
      {"run-with", {{"chroot", "string"}, {"user", "string"}}},
      // -device's properties are the driver's: device-list-properties lists them.
      {"device", {}},
  };
  return groups;
}

Json describe_group(const OptionGroup& group) {
  Json parameters = Json::array();
  for (const OptionParameter& p : group.parameters)
    parameters.push_back({{"name", p.name}, {"type", p.type}});
  return {{"option", group.option}, {"parameters", parameters}};
}

}  // namespace

std::vector<std::pair<std::string, std::string>> command_line_parameters() {
  std::vector<std::pair<std::string, std::string>> out;
  for (const OptionGroup& group : option_groups())
    for (const OptionParameter& p : group.parameters) out.emplace_back(group.option, p.name);
  return out;
}

std::vector<std::string> command_line_groups() {
  std::vector<std::string> out;
  for (const OptionGroup& group : option_groups()) out.emplace_back(group.option);
  return out;
}

void register_introspection_commands(Server& server, const DeviceRegistry& registry) {
  server.add_command("query-machines",
                     Schema::object({optional("compat-props", Schema::boolean())}),
                     [](const Json&) {
                       Json list = Json::array();
                       for (const MachineType& m : kMachineTypes) {
                         Json entry = {{"name", m.name},
                                       {"cpu-max", m.cpu_max},
                                       {"hotpluggable-cpus", false},
                                       {"numa-mem-supported", false},
                                       {"deprecated", false},
                                       {"acpi", m.acpi},
                                       {"default-ram-id", m.acpi ? "pc.ram" : "ram"}};
                         if (m.is_default) entry["is-default"] = true;
                         if (m.acpi) entry["default-cpu-type"] = "qemu64-x86_64-cpu";
                         list.push_back(entry);
                       }
                       return Reply::success(list);
                     });
  server.add_command("qom-list-types",
                     Schema::object({optional("implements", Schema::string()),
                                     optional("abstract", Schema::boolean())}),
                     [&registry](const Json& args) {
                       const Json* ancestor = argument(args, "implements");
                       const Json* abstract = argument(args, "abstract");
                       bool with_abstract = abstract && abstract->get<bool>();
                       auto types = all_types(registry);
                       Json list = Json::array();
                       for (const QomType& type : types) {
                         if (type.abstract && !with_abstract) continue;
                         if (ancestor && !implements(types, type, ancestor->get<std::string>()))
                           continue;
                         Json entry = {{"name", type.name}, {"parent", type.parent}};
                         if (type.abstract) entry["abstract"] = true;
                         list.push_back(entry);
                       }
                       return Reply::success(list);
                     });
  server.add_command(
      "device-list-properties", Schema::object({required("typename", Schema::string())}),
      [&registry](const Json& args) {
        std::string name = args["typename"];
        if (const DeviceType* type = registry.find(name))
          return Reply::success(list_properties(*type));
        auto types = all_types(registry);
        auto it = std::find_if(types.begin(), types.end(),
                               [&name](const QomType& t) { return t.name == name; });
        if (it == types.end())
          return Reply::error("Device '" + name + "' not found", "DeviceNotFound");
        // Abstract types and machine types alike, in QEMU's words.
        return Reply::error("Parameter 'typename' expects a non-abstract device type");
      });
  server.add_command("query-command-line-options",
                     Schema::object({optional("option", Schema::string())}), [](const Json& args) {
                       const Json* option = argument(args, "option");
                       Json list = Json::array();
                       for (const OptionGroup& group : option_groups())
                         if (!option || *option == group.option)
                           list.push_back(describe_group(group));
                       if (option && list.empty())
                         return Reply::error("invalid option name: " + option->get<std::string>());
                       return Reply::success(list);
                     });
}

}  // namespace hvmd::qmp
