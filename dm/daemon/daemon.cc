#include "dm/daemon/daemon.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "devices/board.h"
#include "devices/input/scancodes.h"
#include "dm/daemon/sandbox.h"
#include "dm/log.h"

namespace hvmd::daemon {

Result<void> watch_signals(EventLoop& loop) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a peer closing its socket is handled where the write fails
  int fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  if (fd < 0) return make_error("signalfd: %s", strerror(errno));
  return loop.watch(fd, EPOLLIN, [&loop, fd](uint32_t) {
    signalfd_siginfo info{};
    if (read(fd, &info, sizeof(info)) == sizeof(info)) loop.stop(0);
  });
}

Result<Chardev*> Chardevs::get(const std::string& id) {
  for (const auto& open : open_)
    if (open->spec().id == id) return open.get();
  const ChardevSpec* spec = config_.find_chardev(id);
  if (!spec) return make_error("chardev '%s' not found", id.c_str());
  auto chardev = Chardev::open(*spec, loop_);
  if (!chardev) return chardev.error();
  open_.push_back(std::move(*chardev));
  return open_.back().get();
}

const Chardev* Chardevs::find_open(const std::string& id) const {
  for (const auto& open : open_)
    if (open->spec().id == id) return open.get();
  return nullptr;
}

Result<void> Netdevs::open_all() {
  for (const auto& options : config_.netdevs) {
    auto backend = NetBackend::open(options, loop_);
    if (!backend) return backend.error();
    for (const auto& open : open_)
      if (open->id() == (*backend)->id())
        return make_error("-netdev %s: duplicate id '%s'", options.to_string().c_str(),
                          open->id().c_str());
    open_.push_back(std::move(*backend));
  }
  return ok();
}

Result<NetBackend*> Netdevs::get(const std::string& id) {
  for (const auto& open : open_)
    if (open->id() == id) return open.get();
  return make_error("netdev '%s' not found", id.c_str());
}

Result<void> populate_machine(Machine& machine, const Config& config, Chardevs& chardevs,
                              IoExecutor& block_io, Netdevs& netdevs) {
  machine.set_chardev_lookup([&chardevs](const std::string& id) { return chardevs.get(id); });
  HVMD_TRY(netdevs.open_all());
  machine.set_netdev_lookup([&netdevs](const std::string& id) { return netdevs.get(id); });
  machine.set_io_executor(&block_io);
  unsigned anonymous_drives = 0;
  for (const auto& drive : config.drives) {
    auto spec = DriveSpec::from_options(drive);
    if (!spec) return spec.error();
    // Drives without an id get QEMU's names ("ide1-cd0"), which QMP commands use.
    if (spec->id.empty()) {
      if (spec->index) {
        spec->id = "ide" + std::to_string(*spec->index / 2) + (spec->cdrom ? "-cd" : "-hd") +
                   std::to_string(*spec->index % 2);
      } else {
        spec->id = "drive" + std::to_string(anonymous_drives++);
      }
    }
    machine.add_drive(std::move(*spec));
  }
  HVMD_TRY(devices::build_board(machine));
  for (size_t i = 0; i < config.serials.size(); ++i) {
    auto description = SubOptions::parse(
        "isa-serial,chardev=" + config.serials[i] + ",index=" + std::to_string(i), "driver");
    if (!description) return description.error();
    if (auto added = machine.add_device(*description, /*hotplug=*/false); !added)
      return make_error("-serial: %s", added.error().message.c_str());
  }
  for (const auto& device : config.devices) {
    auto added = machine.add_device(device, /*hotplug=*/false);
    if (!added)
      return make_error("-device %s: %s", device.to_string().c_str(),
                        added.error().message.c_str());
  }
  HVMD_TRY(devices::attach_drives(machine));
  // USB has no device model yet; say so rather than accept it silently.
  if (config.usb) return make_error("-usb: hvmd does not emulate USB controllers yet");
  if (config.start_paused) machine.set_run_state(RunState::kPrelaunch);
  return ok();
}

Monitors::Monitors(Machine& machine, qmp::MachineHooks hooks) {
  if (!hooks.key_names) hooks.key_names = devices::scancodes::qnum_from_name;
  qmp::register_machine_commands(server_, machine, hooks);
}

void handle_local_shutdowns(Machine& machine, EventLoop& loop, Monitors& monitors,
                            const Config& config, std::function<void()> reset_platform) {
  machine.set_shutdown_handler([&machine, &loop, &monitors, &config,
                                reset_platform = std::move(reset_platform)](ShutdownCause cause) {
    loop.post([&machine, &loop, &monitors, &config, &reset_platform, cause] {
      qmp::Json data = {{"guest", true}, {"reason", shutdown_reason_name(cause)}};
      if (cause == ShutdownCause::kGuestReset && !config.no_reboot) {
        machine.reset();
        if (reset_platform) reset_platform();
        monitors.server().emit_event("RESET", data);
        return;
      }
      monitors.server().emit_event("SHUTDOWN", data);
      if (config.no_shutdown) {
        machine.set_run_state(RunState::kShutdown);
      } else {
        loop.stop(0);
      }
    });
  });
}

Result<void> Monitors::open(const Config& config, Chardevs& chardevs) {
  // libxl asks right after start-up, to publish serial ptys for xl console.
  server_.add_command("query-chardev", [&config, &chardevs](const qmp::Json& args) {
    if (auto r = qmp::check_arguments(args, {}); !r.ok) return r;
    qmp::Json list = qmp::Json::array();
    for (const auto& spec : config.chardevs) {
      const Chardev* open = chardevs.find_open(spec.id);
      list.push_back({{"label", spec.id},
                      {"filename", spec.describe(open ? open->pty_path() : "")},
                      {"frontend-open", open != nullptr}});
    }
    return qmp::Reply::success(list);
  });
  for (const auto& monitor : config.monitors) {
    auto chardev = chardevs.get(monitor.chardev);
    if (!chardev) return chardev.error();
    server_.attach(**chardev);
  }
  return ok();
}

Result<void> write_pidfile(const std::string& path) {
  if (path.empty()) return ok();
  FILE* f = fopen(path.c_str(), "we");
  if (!f) return make_error("-pidfile %s: %s", path.c_str(), strerror(errno));
  fprintf(f, "%d\n", getpid());
  fclose(f);
  return ok();
}

Result<void> drop_privileges(const Config& config) {
  const passwd* user = nullptr;
  if (!config.run_as.empty()) {
    user = getpwnam(config.run_as.c_str());  // before chroot: the passwd file is outside it
    if (!user) return make_error("-runas %s: no such user", config.run_as.c_str());
  }
  if (!config.chroot_dir.empty()) {
    if (chroot(config.chroot_dir.c_str()) < 0 || chdir("/") < 0)
      return make_error("-chroot %s: %s", config.chroot_dir.c_str(), strerror(errno));
  }
  if (user) {
    if (setgroups(0, nullptr) < 0 || setgid(user->pw_gid) < 0 || setuid(user->pw_uid) < 0)
      return make_error("-runas %s: %s", config.run_as.c_str(), strerror(errno));
  }
  if (config.sandbox) HVMD_TRY(enter_sandbox());
  HVMD_INFO("serving%s%s%s", config.machine.name.empty() ? "" : " guest ",
            config.machine.name.c_str(), config.sandbox ? " (sandboxed)" : "");
  return ok();
}

// -daemonize: forks before anything is set up (epoll, signalfd and sockets belong to the process
// that created them), and the parent waits until the child reports that it serves (exit 0) or
// fails (the child's exit status), so errors still reach the caller's terminal.
Result<int> fork_daemon() {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) < 0) return make_error("pipe: %s", strerror(errno));
  pid_t pid = fork();
  if (pid < 0) return make_error("fork: %s", strerror(errno));
  if (pid > 0) {
    close(fds[1]);
    char ready;
    if (read(fds[0], &ready, 1) == 1) _exit(0);
    int status = 0;
    waitpid(pid, &status, 0);
    _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 1);
  }
  close(fds[0]);
  setsid();
  return fds[1];
}

void daemon_ready(int fd) {
  if (fd < 0) return;
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null >= 0) {
    dup2(null, STDIN_FILENO);
    dup2(null, STDOUT_FILENO);
    close(null);
  }
  char ready = 1;
  (void)!write(fd, &ready, 1);
  close(fd);
}

}  // namespace hvmd::daemon
