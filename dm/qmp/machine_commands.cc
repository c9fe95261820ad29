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

Reply no_arguments(const Json& arguments) {
  return check_arguments(arguments, {});
}

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
  server.add_command("query-version", [](const Json& args) {
    if (auto r = no_arguments(args); !r.ok) return r;
    Server::Version v;
    return Reply::success({{"qemu", {{"major", v.major}, {"minor", v.minor}, {"micro", v.micro}}},
                           {"package", "hvmd"}});
  });
  server.add_command("query-commands", [&server](const Json& args) {
    if (auto r = no_arguments(args); !r.ok) return r;
    Json list = Json::array();
    for (const auto& name : server.command_names()) list.push_back({{"name", name}});
    return Reply::success(list);
  });
  server.add_command("query-status", [&machine](const Json& args) {
    if (auto r = no_arguments(args); !r.ok) return r;
    RunState state = machine.run_state();
    return Reply::success({{"running", state == RunState::kRunning},
                           {"singlestep", false},
                           {"status", run_state_name(state)}});
  });
  // libxl reads the online vCPUs from this when it saves a domain's configuration.
  server.add_command("query-cpus-fast", [&machine](const Json& args) {
    if (auto r = no_arguments(args); !r.ok) return r;
    Json list = Json::array();
    for (unsigned i = 0; i < machine.options().cpus; ++i)
      list.push_back({{"cpu-index", i},
                      {"qom-path", "/machine/unattached/device[" + std::to_string(i) + "]"},
                      {"thread-id", getpid()},
                      {"props", {{"socket-id", i}, {"core-id", 0}, {"thread-id", 0}}},
                      {"target", "x86_64"}});
    return Reply::success(list);
  });
  server.add_command("query-name", [&machine](const Json& args) {
    if (auto r = no_arguments(args); !r.ok) return r;
    Json out = Json::object();
    if (!machine.options().name.empty()) out["name"] = machine.options().name;
    return Reply::success(out);
  });
  server.add_command("query-pci", [&machine](const Json& args) {
    if (auto r = no_arguments(args); !r.ok) return r;
    return Reply::success(describe_pci_bus(machine));
  });
  auto set_state = [&machine, hooks](RunState state) {
    machine.set_run_state(state);
    if (hooks.run_state_changed) hooks.run_state_changed(state);
  };
  server.add_command("stop", [&server, &machine, set_state](const Json& args) {
    if (auto r = no_arguments(args); !r.ok) return r;
    if (machine.run_state() == RunState::kRunning) {
      set_state(RunState::kPaused);
      server.emit_event("STOP");
    }
    return Reply::success();
  });
  server.add_command("cont", [&server, &machine, set_state](const Json& args) {
    if (auto r = no_arguments(args); !r.ok) return r;
    // libxl sends cont to a guest that may already run; that is not an error.
    if (machine.run_state() == RunState::kShutdown)
      return Reply::error("Resetting the Virtual Machine is required");
    if (machine.run_state() != RunState::kRunning) {
      set_state(RunState::kRunning);
      server.emit_event("RESUME");
    }
    return Reply::success();
  });
  server.add_command("system_reset", [&server, &machine, hooks](const Json& args) {
    if (auto r = no_arguments(args); !r.ok) return r;
    machine.reset();
    if (hooks.reset_platform) hooks.reset_platform();
    server.emit_event("RESET", {{"guest", false}, {"reason", "host-qmp-system-reset"}});
    return Reply::success();
  });
  server.add_command("quit", [&server, hooks](const Json& args) {
    if (auto r = no_arguments(args); !r.ok) return r;
    server.emit_event("SHUTDOWN", {{"guest", false}, {"reason", "host-qmp-quit"}});
    hooks.quit();
    return Reply::success();
  });
  // Save and restore, as libxl drives them: stop, add-fd, xen-save-devices-state to /dev/fdset/N;
  // on the other side, -incoming or xen-load-devices-state.
  server.add_command("xen-save-devices-state", [&server, &machine](const Json& args) {
    if (auto r = check_arguments(args, {"filename", "live"}); !r.ok) return r;
    const Json* filename = argument(args, "filename", Json::value_t::string);
    if (!filename) return Reply::error("Parameter 'filename' is missing");
    auto fd = server.open_file(*filename, O_WRONLY | O_CREAT | O_TRUNC);
    if (!fd) return Reply::error(fd.error().message);
    auto written = write_fd(*fd, machine.save_state());
    close(*fd);
    if (!written) return Reply::error("saving device state: " + written.error().message);
    return Reply::success();
  });
  server.add_command("xen-load-devices-state", [&server, &machine](const Json& args) {
    if (auto r = check_arguments(args, {"filename"}); !r.ok) return r;
    const Json* filename = argument(args, "filename", Json::value_t::string);
    if (!filename) return Reply::error("Parameter 'filename' is missing");
    auto fd = server.open_file(*filename, O_RDONLY);
    if (!fd) return Reply::error(fd.error().message);
    auto data = read_fd(*fd, kMaxStateBytes);
    close(*fd);
    if (!data) return Reply::error("loading device state: " + data.error().message);
    if (auto loaded = machine.load_state(*data); !loaded)
      return Reply::error(loaded.error().message);
    return Reply::success();
  });
  server.add_command("xen-set-global-dirty-log", [hooks](const Json& args) {
    if (auto r = check_arguments(args, {"enable"}); !r.ok) return r;
    const Json* enable = argument(args, "enable", Json::value_t::boolean);
    if (!enable) return Reply::error("Parameter 'enable' is missing");
    if (hooks.dirty_logging) hooks.dirty_logging(enable->get<bool>());
    return Reply::success();
  });
  // Keyboard and pointer input, QEMU's schema: key events by scan-code number or key name,
  // button presses, relative motion and absolute positions (0 to 0x7fff on each axis), delivered
  // through the machine's input router as one batch: keys to the keyboard, motion to the
  // relative pointer, positions to the absolute pointer (or as motion where there is none).
  struct Pointer {
    uint8_t buttons = 0;
    uint32_t x = 0;  // the last absolute position, for a batch that names one axis
    uint32_t y = 0;
  };
  auto pointer_state = std::make_shared<Pointer>();
  server.add_command("input-send-event", [&machine, pointer_state,
                                          key_names = hooks.key_names](const Json& args) {
    if (auto r = check_arguments(args, {"events", "device", "head"}); !r.ok) return r;
    const Json* events = argument(args, "events", Json::value_t::array);
    if (!events) return Reply::error("Parameter 'events' is missing");
    InputRouter& input = machine.input();
    if (!input.has_keyboard() && !input.has_pointer()) return Reply::error("No input device");
    Pointer& state = *pointer_state;
    int dx = 0, dy = 0, dz = 0;
    bool pointer = false, relative = false, absolute = false;
    for (const Json& event : *events) {
      if (!event.is_object() || !event.contains("type") || !event.contains("data") ||
          !event["data"].is_object())
        return Reply::error("Invalid parameter 'events'");
      const std::string type = event["type"].is_string() ? event["type"].get<std::string>() : "";
      const Json& data = event["data"];
      if (type == "key") {
        if (!data.contains("key") || !data["key"].is_object() || !data.contains("down") ||
            !data["down"].is_boolean())
          return Reply::error("Invalid parameter 'key'");
        const Json& key = data["key"];
        uint16_t qnum = 0;
        if (key.value("type", "") == "number" && key["data"].is_number_unsigned() &&
            key["data"].get<uint64_t>() < 0x100) {
          qnum = key["data"].get<uint16_t>();
        } else if (key.value("type", "") == "qcode" && key["data"].is_string() && key_names) {
          qnum = key_names(key["data"].get<std::string>());
        }
        if (!qnum) return Reply::error("Invalid parameter 'key'");
        input.key_event(qnum, data["down"].get<bool>());
      } else if (type == "btn") {
        const std::string button = data.value("button", "");
        bool down = data.value("down", false);
        static const std::map<std::string, uint8_t> kButtons = {
            {"left", kButtonLeft}, {"right", kButtonRight}, {"middle", kButtonMiddle}};
        if (auto it = kButtons.find(button); it != kButtons.end()) {
          state.buttons = down ? (state.buttons | it->second) : (state.buttons & ~it->second);
        } else if (button == "wheel-up" || button == "wheel-down") {
          if (down) dz += button == "wheel-up" ? -1 : 1;
        } else {
          return Reply::error("Invalid parameter 'button'");
        }
        pointer = true;
      } else if (type == "rel" || type == "abs") {
        const std::string axis = data.value("axis", "");
        if (!data.contains("value") || !data["value"].is_number_integer() ||
            (axis != "x" && axis != "y"))
          return Reply::error("Invalid parameter '" + type + "'");
        if (type == "rel") {
          int64_t value = std::clamp<int64_t>(data["value"].get<int64_t>(), -32768, 32767);
          (axis == "x" ? dx : dy) += static_cast<int>(value);
          relative = true;
        } else {
          int64_t value =
              std::clamp<int64_t>(data["value"].get<int64_t>(), 0, InputRouter::kAbsoluteMax);
          (axis == "x" ? state.x : state.y) = static_cast<uint32_t>(value);
          absolute = true;
        }
        pointer = true;
      } else {
        return Reply::error("Input event type '" + type + "' is not supported");
      }
    }
    // Buttons and wheel go with the position when there is one, else with the motion.
    if (absolute) {
      // Converted to motion, positions are pixels of the picture the guest shows now.
      DisplayInfo screen = machine.display().info();
      input.set_screen_size(screen.width, screen.height);
      input.absolute_event(state.x, state.y, dz, state.buttons);
    }
    if (relative || (pointer && !absolute))
      input.relative_event(dx, dy, absolute ? 0 : dz, state.buttons);
    return Reply::success();
  });
  server.add_command("device_add", [&machine](const Json& args) {
    auto driver = argument(args, "driver", Json::value_t::string);
    if (!driver) return Reply::error("Parameter 'driver' is missing");
    auto options = device_options_from_json(args);
    if (!options) return Reply::error(options.error().message);
    auto device = machine.add_device(*options, /*hotplug=*/true);
    if (!device) return Reply::error(device.error().message);
    return Reply::success();
  });
  server.add_command("device_del", [&machine](const Json& args) {
    if (auto r = check_arguments(args, {"id"}); !r.ok) return r;
    auto id = argument(args, "id", Json::value_t::string);
    if (!id) return Reply::error("Parameter 'id' is missing");
    std::string name = *id;
    if (!machine.find_device(name))
      return Reply::error("Device '" + name + "' not found", "DeviceNotFound");
    // DEVICE_DELETED comes from the machine's device-deleted handler (device_commands.cc): before
    // this reply when the device goes at once, after the guest ejects it under ACPI hot-plug.
    if (auto removal = machine.request_removal(name); !removal)
      return Reply::error(removal.error().message);
    return Reply::success();
  });
}

}  // namespace hvmd::qmp
