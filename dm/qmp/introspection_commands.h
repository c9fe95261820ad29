// QMP's introspection commands: query-machines, qom-list-types, device-list-properties,
// query-command-line-options (introspection_commands.cc).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "dm/machine.h"
#include "dm/qmp/qmp_server.h"

namespace hvmd::qmp {

void register_introspection_commands(Server& server, const DeviceRegistry& registry);

// A device type's properties as device-list-properties lists them ({name, type, description}).
Json list_properties(const DeviceType& type);

// Every (option group, parameter) query-command-line-options reports, for the test that holds it
// to what the command line really takes.
std::vector<std::pair<std::string, std::string>> command_line_parameters();
// The option groups it reports, those without parameters (device) included.
std::vector<std::string> command_line_groups();

}  // namespace hvmd::qmp
