// The QMP commands that act on the machine: queries, run control, reset, hotplug.
#pragma once

#include <functional>

#include "dm/machine.h"
#include "dm/qmp/qmp_server.h"

namespace hvmd::qmp {

struct MachineHooks {
  std::function<void()> quit;                       // stops the daemon after the reply is sent
  std::function<void(RunState)> run_state_changed;  // optional: the transport follows stop/cont
  std::function<void(bool)> dirty_logging;          // optional: xen-set-global-dirty-log
  std::function<void()> reset_platform;  // optional: system_reset also resets CPUs/firmware
  // QMP key names ("a", "ret") to scan-code numbers, from the device catalogue (optional).
  std::function<uint16_t(const std::string&)> key_names;
};

// Largest device-state file accepted (hvmd's state is config spaces and registers).
inline constexpr size_t kMaxStateBytes = 64 << 20;

void register_machine_commands(Server& server, Machine& machine, const MachineHooks& hooks);
// query-block, eject, blockdev-change-medium, change, set_link, and the DEVICE_DELETED event
// (device_commands.cc).
void register_device_commands(Server& server, Machine& machine);

// screendump (display_commands.cc).
void register_display_commands(Server& server, Machine& machine);

// query-pci's description of bus 0, as QEMU's PciInfo schema has it.
Json describe_pci_bus(Machine& machine);

// A device_add argument object as -device sub-options (JSON strings, numbers and booleans).
Result<SubOptions> device_options_from_json(const Json& arguments);

}  // namespace hvmd::qmp
