// Pieces every transport's runner shares: signals, the machine built from the command line, QMP
// monitors, the pid file and -daemonize. These live with main() in the hvmd executable (the
// composition root), not in the dm library.
#pragma once

#include <memory>
#include <vector>

#include "dm/backends/chardev.h"
#include "dm/backends/io_executor.h"
#include "dm/backends/net.h"
#include "dm/command_line.h"
#include "dm/daemon/sandbox.h"
#include "dm/event_loop.h"
#include "dm/machine.h"
#include "dm/qmp/machine_commands.h"
#include "dm/qmp/qmp_server.h"
#include "dm/vnc/vnc_server.h"

namespace hvmd::daemon {

// SIGTERM, SIGINT and SIGHUP (libxl's way of ending a device model) stop the loop with status 0.
Result<void> watch_signals(EventLoop& loop);

// The command line's character devices, each opened once, when first used (by a monitor or a
// serial port).
class Chardevs {
 public:
  Chardevs(const Config& config, EventLoop& loop) : config_(config), loop_(loop) {}
  Result<Chardev*> get(const std::string& id);
  const Chardev* find_open(const std::string& id) const;

 private:
  const Config& config_;
  EventLoop& loop_;
  std::vector<std::unique_ptr<Chardev>> open_;
};

// The command line's network backends, all opened at start (a tap is created then).
class Netdevs {
 public:
  Netdevs(const Config& config, EventLoop& loop) : config_(config), loop_(loop) {}
  Result<void> open_all();
  Result<NetBackend*> get(const std::string& id);

 private:
  const Config& config_;
  EventLoop& loop_;
  std::vector<std::unique_ptr<NetBackend>> open_;
};

// The board, the serial ports, the -device list and the drives. Block I/O runs on block_io; it
// and the backends must outlive the machine.
Result<void> populate_machine(Machine& machine, const Config& config, Chardevs& chardevs,
                              IoExecutor& block_io, Netdevs& netdevs);

// QMP monitors on the configured chardevs.
class Monitors {
 public:
  Monitors(Machine& machine, qmp::MachineHooks hooks);
  Result<void> open(const Config& config, Chardevs& chardevs);
  qmp::Server& server() { return server_; }

 private:
  qmp::Server server_;
};

// What a guest's reset or power-off means when hvmd runs the machine itself (qtest, kvm): reset
// the devices, or end (pause under -no-shutdown), with QMP's RESET/SHUTDOWN events. Handled after
// the access that asked for it, on the loop.
// reset_platform resets what lives outside the devices (the kvm runner's vCPUs and firmware).
void handle_local_shutdowns(Machine& machine, EventLoop& loop, Monitors& monitors,
                            const Config& config, std::function<void()> reset_platform = {});

// -vnc's server (null for -vnc none) and the VNC QMP commands (vnc_console.cc). Call before
// drop_privileges: it opens the listening socket.
Result<std::unique_ptr<vnc::VncServer>> open_vnc(Machine& machine, EventLoop& loop,
                                                 const Config& config, qmp::Server& qmp);

// -daemonize: see daemon.cc. fork_daemon returns the fd to report readiness on.
Result<int> fork_daemon();
void daemon_ready(int fd);
Result<void> write_pidfile(const std::string& path);
// -chroot / -runas (and -run-with; USER, UID or libxl's UID:GID), every capability dropped and
// no new privileges (with or without -runas), then the sandbox (dm/daemon/sandbox.h) unless
// -sandbox off: applied once everything is open, before the first guest access. The pid file and
// listening socket paths are removed at exit by a helper forked here, which keeps the right to.
Result<void> drop_privileges(const Config& config, const SandboxExtras& extras = {});

// Runners, one per transport. Each returns the exit status once the daemon stops.
Result<int> run_qtest(const Config& config, int daemon_fd);
Result<int> run_xen(const Config& config, int daemon_fd);
Result<int> run_kvm(const Config& config, int daemon_fd);

}  // namespace hvmd::daemon
