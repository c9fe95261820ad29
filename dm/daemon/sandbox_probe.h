// A test-only QMP command that attempts forbidden system calls (see sandbox_probe.cc).
#pragma once

#include "dm/qmp/qmp_server.h"

namespace hvmd::daemon {

void add_sandbox_probe(qmp::Server& server);

}  // namespace hvmd::daemon
