// qom-list, qom-get, qom-set over hvmd's devices (qom_commands.cc).
#pragma once

#include "dm/machine.h"
#include "dm/qmp/qmp_server.h"

namespace hvmd::qmp {

void register_qom_commands(Server& server, Machine& machine);

}  // namespace hvmd::qmp
