#include "dm/qmp/machine_commands.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <memory>

#include "dm/file_io.h"
#include "dm/pci/pci_device.h"
#include "dm/qmp/human_monitor.h"
#include "dm/qmp/introspection_commands.h"
#include "dm/qmp/qom_commands.h"

namespace hvmd::qmp {
namespace {

const char* class_description(uint16_t class_code) {
  switch (class_code) {
    case 0x0101:
      return "IDE controller";
    case 0x0200:
      return "Ethernet controller";
    case 0x0300:
      return "VGA controller";
    case 0x0600:
      return "Host bridge";
    case 0x0601:
      return "ISA bridge";
    case 0x0680:
      return "Bridge";
    case 0x0c03:
      return "USB controller";
    default:
      return nullptr;
  }
}

Json describe_bar(int index, const pci::BarInfo& bar) {
  Json region = {{"bar", index},
                 {"type", bar.type == pci::BarType::kIo ? "io" : "memory"},
                 {"address", bar.address},
                 {"size", bar.size}};
  if (bar.type != pci::BarType::kIo) {
    region["prefetch"] = bar.prefetchable;
    region["mem_type_64"] = bar.type == pci::BarType::kMemory64;
  }
  return region;
}

Json describe_function(const pci::PciDevice& device) {
  const auto& config = device.config();
  uint16_t class_code = config.get16(pci::kClassProgIf + 1);
  Json class_info = {{"class", class_code}};
  if (const char* desc = class_description(class_code)) class_info["desc"] = desc;
  Json info = {{"bus", device.address().bus},
               {"slot", device.address().device()},
               {"function", device.address().function()},
               {"class_info", class_info},
               {"id",
                {{"vendor", config.get16(pci::kVendorId)},
                 {"device", config.get16(pci::kDeviceId)},
                 {"subsystem-vendor", config.get16(pci::kSubsystemVendorId)},
                 {"subsystem", config.get16(pci::kSubsystemId)}}},
               {"qdev_id", device.id()}};
  uint8_t pin = config.get8(pci::kInterruptPin);
  if (pin) {
    info["irq_pin"] = pin;
    info["irq"] = config.get8(pci::kInterruptLine);
  }
  Json regions = Json::array();
  for (int i = 0; i < pci::kBarCount; ++i)
    if (device.bar(i).size) regions.push_back(describe_bar(i, device.bar(i)));
  if (device.rom_bar().size) regions.push_back(describe_bar(6, device.rom_bar()));
  info["regions"] = regions;
  return info;
}

// input-send-event's InputEvent union, as QEMU's schema has it (keys, buttons, relative motion).
Schema input_event_schema() {
  Schema key =
      Schema::tagged_union("type", {{"number", Schema::integer()}, {"qcode", Schema::string()}});
  Schema event = Schema::tagged_union(
      "type",
      {{"key", Schema::object({required("key", key), required("down", Schema::boolean())})},
       {"btn", Schema::object({required("button", Schema::enumeration({"left", "right", "middle",
                                                                       "wheel-up", "wheel-down"})),
                               required("down", Schema::boolean())})},
       {"rel", Schema::object({required("axis", Schema::enumeration({"x", "y"})),
                               required("value", Schema::integer())})},
       {"abs", Schema::object({required("axis", Schema::enumeration({"x", "y"})),
                               required("value", Schema::integer())})}});
  return Schema::object({required("events", Schema::array(event)),
                         optional("device", Schema::string()),
                         optional("head", Schema::integer())});
}

// Scan-code numbers QMP may name directly (one byte, and the E0-prefixed set above it).
constexpr int64_t kMaxKeyNumber = 0x100;
// A relative motion is clamped to what a PS/2 packet stream reports in one batch.
constexpr int64_t kMinMotion = -32768;
constexpr int64_t kMaxMotion = 32767;
const std::map<std::string, uint8_t> kButtonBits = {{"left", 1}, {"right", 2}, {"middle", 4}};

}  // namespace

Json describe_pci_bus(Machine& machine) {
  Json devices = Json::array();
  for (unsigned devfn = 0; devfn < 256; ++devfn)
    if (const auto* device = machine.pci_bus().at(static_cast<uint8_t>(devfn)))
      devices.push_back(describe_function(*device));
  return Json::array({{{"bus", 0}, {"devices", devices}}});
}

Result<SubOptions> device_options_from_json(const Json& arguments) {
  SubOptions options;
  for (const auto& [key, value] : arguments.items()) {
    if (value.is_string())
      options.set(key, value.get<std::string>());
    else if (value.is_boolean())
      options.set(key, value.get<bool>() ? "on" : "off");
    else if (value.is_number_integer())
      options.set(key, value.dump());
    else
      return make_error("Parameter '%s' must be a string, number or boolean", key.c_str());
  }
  return options;
}

void register_machine_commands(Server& server, Machine& machine, const MachineHooks& hooks) {
  register_device_commands(server, machine);
  register_display_commands(server, machine);
  register_introspection_commands(server, machine.registry());
  register_human_monitor(server, machine);
  register_qom_commands(server, machine);
  server.add_command("query-version", no_arguments(), [](const Json&) {
    Server::Version v;
    return Reply::success({{"qemu", {{"major", v.major}, {"minor", v.minor}, {"micro", v.micro}}},
                           {"package", "hvmd"}});
  });
  server.add_command("query-commands", no_arguments(), [&server](const Json&) {
    Json list = Json::array();
    for (const auto& name : server.command_names()) list.push_back({{"name", name}});
    return Reply::success(list);
  });
  server.add_command("query-status", no_arguments(), [&machine](const Json&) {
    RunState state = machine.run_state();
    return Reply::success({{"running", state == RunState::kRunning},
                           {"singlestep", false},
                           {"status", run_state_name(state)}});
  });
  // libxl reads the online vCPUs from this when it saves a domain's configuration.
  server.add_command("query-cpus-fast", no_arguments(), [&machine](const Json&) {
    Json list = Json::array();
    for (unsigned i = 0; i < machine.options().cpus; ++i)
      list.push_back({{"cpu-index", i},
                      {"qom-path", "/machine/unattached/device[" + std::to_string(i) + "]"},
                      {"thread-id", getpid()},
                      {"props", {{"socket-id", i}, {"core-id", 0}, {"thread-id", 0}}},
                      {"target", "x86_64"}});
    return Reply::success(list);
  });
  server.add_command("query-name", no_arguments(), [&machine](const Json&) {
    Json out = Json::object();
    if (!machine.options().name.empty()) out["name"] = machine.options().name;
    return Reply::success(out);
  });
  server.add_command("query-pci", no_arguments(),
                     [&machine](const Json&) { return Reply::success(describe_pci_bus(machine)); });
  auto set_state = [&machine, hooks](RunState state) {
    machine.set_run_state(state);
    if (hooks.run_state_changed) hooks.run_state_changed(state);
  };
  server.add_command("stop", no_arguments(), [&server, &machine, set_state](const Json&) {
    if (machine.run_state() == RunState::kRunning) {
      set_state(RunState::kPaused);
      server.emit_event("STOP");
    }
    return Reply::success();
  });
  server.add_command("cont", no_arguments(), [&server, &machine, set_state](const Json&) {
    // libxl sends cont to a guest that may already run; that is not an error.
    if (machine.run_state() == RunState::kShutdown)
      return Reply::error("Resetting the Virtual Machine is required");
    if (machine.run_state() != RunState::kRunning) {
      set_state(RunState::kRunning);
      server.emit_event("RESUME");
    }
    return Reply::success();
  });
  // --preconfig's end: the machine takes the state it would have started in.
  server.add_command("x-exit-preconfig", no_arguments(), [&machine, set_state](const Json&) {
    auto next = machine.exit_preconfig();
    if (!next) return Reply::error(next.error().message);
    set_state(*next);
    return Reply::success();
  });
  server.add_command("system_reset", no_arguments(), [&server, &machine, hooks](const Json&) {
    machine.reset();
    if (hooks.reset_platform) hooks.reset_platform();
    server.emit_event("RESET", {{"guest", false}, {"reason", "host-qmp-system-reset"}});
    return Reply::success();
  });
  server.add_command("quit", no_arguments(), [&server, hooks](const Json&) {
    server.emit_event("SHUTDOWN", {{"guest", false}, {"reason", "host-qmp-quit"}});
    hooks.quit();
    return Reply::success();
  });
  // Save and restore, as libxl drives them: stop, add-fd, xen-save-devices-state to /dev/fdset/N;
  // on the other side, -incoming or xen-load-devices-state.
  server.add_command(
      "xen-save-devices-state",
      Schema::object({required("filename", Schema::string()), optional("live", Schema::boolean())}),
      [&server, &machine](const Json& args) {
        auto fd = server.open_file(args["filename"], O_WRONLY | O_CREAT | O_TRUNC);
        if (!fd) return Reply::error(fd.error().message);
        auto written = write_fd(*fd, machine.save_state());
        close(*fd);
        if (!written) return Reply::error("saving device state: " + written.error().message);
        return Reply::success();
      });
  server.add_command("xen-load-devices-state",
                     Schema::object({required("filename", Schema::string())}),
                     [&server, &machine](const Json& args) {
                       auto fd = server.open_file(args["filename"], O_RDONLY);
                       if (!fd) return Reply::error(fd.error().message);
                       auto data = read_fd(*fd, kMaxStateBytes);
                       close(*fd);
                       if (!data)
                         return Reply::error("loading device state: " + data.error().message);
                       if (auto loaded = machine.load_state(*data); !loaded)
                         return Reply::error(loaded.error().message);
                       return Reply::success();
                     });
  server.add_command("xen-set-global-dirty-log",
                     Schema::object({required("enable", Schema::boolean())}),
                     [hooks](const Json& args) {
                       if (hooks.dirty_logging) hooks.dirty_logging(args["enable"].get<bool>());
                       return Reply::success();
                     });
  // Keyboard and pointer input, QEMU's schema: key events by scan-code number or key name,
  // button presses, relative motion and absolute positions (0 to 0x7fff on each axis), delivered
  // through the machine's input router as one batch: keys to the keyboard, motion to the
  // relative pointer, positions to the absolute pointer (or as motion where there is none). The
  // schema has checked every event's shape.
  struct Pointer {
    uint8_t buttons = 0;
    uint32_t x = 0;  // the last absolute position, for a batch that names one axis
    uint32_t y = 0;
  };
  auto pointer_state = std::make_shared<Pointer>();
  server.add_command(
      "input-send-event", input_event_schema(),
      [&machine, pointer_state, key_names = hooks.key_names](const Json& args) {
        InputRouter& input = machine.input();
        if (!input.has_keyboard() && !input.has_pointer()) return Reply::error("No input device");
        Pointer& state = *pointer_state;
        int dx = 0, dy = 0, dz = 0;
        bool pointer = false, relative = false, absolute = false;
        for (const Json& event : args["events"]) {
          const std::string type = event["type"];
          const Json& data = event["data"];
          if (type == "key") {
            const Json& key = data["key"];
            uint16_t qnum = 0;
            if (key["type"] == "number") {
              if (key["data"].get<int64_t>() > 0 && key["data"].get<int64_t>() < kMaxKeyNumber)
                qnum = key["data"].get<uint16_t>();
            } else if (key_names) {
              qnum = key_names(key["data"].get<std::string>());
            }
            if (!qnum) return Reply::error("Invalid parameter 'events.data.key.data'");
            input.key_event(qnum, data["down"].get<bool>());
          } else if (type == "btn") {
            const std::string button = data["button"];
            bool down = data["down"];
            if (auto it = kButtonBits.find(button); it != kButtonBits.end()) {
              state.buttons = down ? (state.buttons | it->second) : (state.buttons & ~it->second);
            } else if (down) {
              dz += button == "wheel-up" ? -1 : 1;
            }
            pointer = true;
          } else if (type == "rel") {
            int64_t value =
                std::clamp<int64_t>(data["value"].get<int64_t>(), kMinMotion, kMaxMotion);
            (data["axis"] == "x" ? dx : dy) += static_cast<int>(value);
            relative = pointer = true;
          } else {
            int64_t value =
                std::clamp<int64_t>(data["value"].get<int64_t>(), 0, InputRouter::kAbsoluteMax);
            (data["axis"] == "x" ? state.x : state.y) = static_cast<uint32_t>(value);
            absolute = pointer = true;
          }
        }
        // Buttons and wheel go with the position when there is one, else with the motion; alone,
        // to the absolute pointer at its last position when there is one (a tablet's click).
        bool buttons_only = pointer && !absolute && !relative;
        if (absolute || (buttons_only && input.absolute())) {
          // Converted to motion, positions are pixels of the picture the guest shows now.
          DisplayInfo screen = machine.display().info();
          input.set_screen_size(screen.width, screen.height);
          input.absolute_event(state.x, state.y, dz, state.buttons);
        }
        if (relative || (buttons_only && !input.absolute()))
          input.relative_event(dx, dy, absolute ? 0 : dz, state.buttons);
        return Reply::success();
      });
  // Device properties are the driver's own: their names are checked by the device registry.
  server.add_command(
      "device_add",
      Schema::open_object({required("driver", Schema::string()), optional("id", Schema::string())}),
      [&machine](const Json& args) {
        auto options = device_options_from_json(args);
        if (!options) return Reply::error(options.error().message);
        auto device = machine.add_device(*options, /*hotplug=*/true);
        if (!device) return Reply::error(device.error().message);
        return Reply::success();
      });
  server.add_command("device_del", Schema::object({required("id", Schema::string())}),
                     [&machine](const Json& args) {
                       std::string name = args["id"];
                       if (!machine.find_device(name))
                         return Reply::error("Device '" + name + "' not found", "DeviceNotFound");
                       // DEVICE_DELETED comes from the machine's device-deleted handler
                       // (device_commands.cc): before this reply when the device goes at once,
                       // after the guest ejects it under ACPI hot-plug.
                       if (auto removal = machine.request_removal(name); !removal)
                         return Reply::error(removal.error().message);
                       return Reply::success();
                     });
}

}  // namespace hvmd::qmp
