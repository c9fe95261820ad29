// The sandbox hvmd enters once everything is open and before the first guest access: resource
// limits, and a seccomp allowlist of the system calls the serving loop needs (sandbox.cc gives
// the reason for each). A guest or client that takes over the process cannot exec, fork,
// ptrace, mount, load modules, create or connect sockets (bar -netdev user's IPv4/IPv6 flows),
// open anything read-write, issue an ioctl its transport does not use at run time, signal other
// processes or map executable memory; a blocked call ends the process with a line naming it (unlink
// fails with EPERM). Capabilities and no-new-privileges are set before it (daemon.cc:
// drop_privileges).
#pragma once

#include "dm/command_line.h"
#include "dm/result.h"

namespace hvmd::daemon {

// What a runner found at start that the command line does not say.
struct SandboxExtras {
  // Host PCI functions are ready for a later QMP device_add (libxl's pci = [...]): keep the
  // passthrough hypercalls (see kXenPassthroughIoctls).
  bool xen_passthrough = false;
};

Result<void> enter_sandbox(const Config& config, const SandboxExtras& extras = {});

}  // namespace hvmd::daemon
