// QMP's human-monitor-command: the HMP commands people and test programs send through QMP
// (info status|pci|block|qtree|mtree, qemu-io), answered with QEMU's text layout.
#pragma once

#include "dm/machine.h"
#include "dm/qmp/qmp_server.h"

namespace hvmd::qmp {

void register_human_monitor(Server& server, Machine& machine);

// The text of one HMP command line (what human-monitor-command returns).
std::string run_human_command(Machine& machine, const std::string& command_line);

}  // namespace hvmd::qmp
