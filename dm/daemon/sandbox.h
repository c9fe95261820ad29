// The sandbox hvmd enters once everything is open and before the first guest access: resource
// limits, and a seccomp allowlist of the system calls the serving loop needs. A guest that takes
// over the process cannot exec, fork, ptrace, mount, load modules, open network sockets or map
// executable memory; a blocked call ends the process with a line naming it.
#pragma once

#include "dm/result.h"

namespace hvmd::daemon {

Result<void> enter_sandbox();

}  // namespace hvmd::daemon
