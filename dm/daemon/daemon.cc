#include "dm/daemon/daemon.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>

#include "devices/board.h"
#include "devices/input/scancodes.h"
#include "devices/usb/usb_listing.h"
#include "dm/daemon/sandbox.h"
#include "dm/daemon/sandbox_probe.h"
#include "dm/log.h"
#include "dm/rom_cache.h"

namespace hvmd::daemon {
namespace {

// Capabilities are numbered below 64; the kernel says EINVAL for numbers it does not know.
constexpr int kLastCapability = 63;

}  // namespace

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
  // -blockdev nodes: drives named by node-name, for -device ...,drive=NAME.
  auto nodes = blockdev_drives(config.blockdevs);
  if (!nodes) return nodes.error();
  for (auto& node : *nodes) machine.add_drive(std::move(node));
  // Default ROMs now: device_add runs inside the sandbox, which may not look for files.
  rom_cache::preload_defaults(machine.registry(), Machine::kMaxRomBytes);
  // -global for a type hvmd cannot create is a warning, as in QEMU (test programs set properties
  // of board devices QEMU has and hvmd does not model, such as isa-fdc's drives).
  for (const auto& global : config.machine.globals)
    if (!machine.registry().find(global.driver))
      HVMD_WARN("-global %s.%s=%s: no device type '%s'; ignored", global.driver.c_str(),
                global.property.c_str(), global.value.c_str(), global.driver.c_str());
  HVMD_TRY(devices::build_board(machine));
  // -machine none has no ISA bus: the serial chardevs are opened by nobody, as in QEMU.
  size_t serials = config.machine.type == "none" ? 0 : config.serials.size();
  for (size_t i = 0; i < serials; ++i) {
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
  if (config.usb) HVMD_TRY(devices::add_usb(machine, config.usb_devices));
  if (config.start_paused) machine.set_run_state(RunState::kPrelaunch);
  // --preconfig: prelaunch until QMP's x-exit-preconfig, then what -S says.
  if (config.preconfig) machine.enter_preconfig(machine.run_state());
  return ok();
}

Monitors::Monitors(Machine& machine, qmp::MachineHooks hooks) {
  if (!hooks.key_names) hooks.key_names = devices::scancodes::qnum_from_name;
  qmp::register_machine_commands(server_, machine, hooks);
  // USB devices with bus, port, speed and product; x-query-usb is QEMU's `info usb` text.
  server_.add_command("query-usb", qmp::no_arguments(), [&machine](const qmp::Json&) {
    qmp::Json list = qmp::Json::array();
    for (const auto& d : devices::usb::list_usb_devices(machine)) {
      qmp::Json entry = {{"bus", d.bus},     {"port", d.port},       {"address", d.address},
                         {"speed", d.speed}, {"product", d.product}, {"type", d.type}};
      if (!d.id.empty()) entry["id"] = d.id;
      list.push_back(entry);
    }
    return qmp::Reply::success(list);
  });
  server_.add_command("x-query-usb", qmp::no_arguments(), [&machine](const qmp::Json&) {
    return qmp::Reply::success(
        {{"human-readable-text",
          devices::usb::usb_info_text(devices::usb::list_usb_devices(machine))}});
  });
#ifdef HVMD_TEST_COMMANDS
  add_sandbox_probe(server_);
#endif
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
  server_.add_command("query-chardev", qmp::no_arguments(), [&config, &chardevs](const qmp::Json&) {
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
  bool written = fprintf(f, "%d\n", getpid()) > 0 && fflush(f) == 0;
  int err = errno;
  if (fclose(f) != 0 && written) {
    written = false;
    err = errno;
  }
  if (!written) return make_error("-pidfile %s: cannot write: %s", path.c_str(), strerror(err));
  return ok();
}

namespace {

struct RunAs {
  uid_t uid;
  gid_t gid;
};

// -runas USER, UID or UID:GID (libxl's form under dm_restrict: a uid from the
// xen-qemuuser-range-base block, which has no passwd entry).
Result<RunAs> resolve_run_as(const std::string& spec) {
  auto bad = [&] {
    return make_error("-runas %s: no such user (expected USER, UID or UID:GID)", spec.c_str());
  };
  auto number = [](const std::string& text) -> std::optional<uint32_t> {
    if (text.empty() || text.size() > 10 ||
        text.find_first_not_of("0123456789") != std::string::npos)
      return std::nullopt;
    uint64_t value = std::stoull(text);
    // (uid_t)-1 means "unchanged" to setuid: never a user.
    if (value >= UINT32_MAX) return std::nullopt;
    return static_cast<uint32_t>(value);
  };
  if (size_t colon = spec.find(':'); colon != std::string::npos) {
    auto uid = number(spec.substr(0, colon));
    auto gid = number(spec.substr(colon + 1));
    if (!uid || !gid) return bad();
    return RunAs{*uid, *gid};
  }
  if (const passwd* user = getpwnam(spec.c_str())) return RunAs{user->pw_uid, user->pw_gid};
  auto uid = number(spec);
  if (!uid) return bad();
  const passwd* user = getpwuid(*uid);
  return RunAs{*uid, user ? user->pw_gid : static_cast<gid_t>(*uid)};
}

// Every capability goes, from the bounding set too, so root without -runas keeps only what
// file ownership gives it. Dropping the bounding set needs CAP_SETPCAP: done while we have it.
Result<void> drop_bounding_set() {
  for (int cap = 0; cap <= kLastCapability; ++cap)
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL && errno != EPERM)
      return make_error("dropping capability %d: %s", cap, strerror(errno));
  (void)prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  return ok();
}

Result<void> drop_capabilities() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct none[_LINUX_CAPABILITY_U32S_3] = {};
  if (syscall(SYS_capset, &header, none) < 0)
    return make_error("dropping capabilities: %s", strerror(errno));
  // And no way back through set-uid files or file capabilities.
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
    return make_error("prctl(PR_SET_NO_NEW_PRIVS): %s", strerror(errno));
  return ok();
}

struct {
  pid_t pid = -1;
  int pipe = -1;
} g_cleanup;  // the exit-cleanup process and hvmd's end of its pipe

// What hvmd creates and cannot remove once it runs as another user in its sandbox: the pid
// file and listening socket paths. A process forked now, while we still may, removes them when
// hvmd exits, however it exits (even killed): it waits for the end of a pipe only hvmd holds.
Result<void> start_exit_cleanup(const Config& config) {
  std::vector<std::string> paths;
  if (!config.pidfile.empty()) paths.push_back(config.pidfile);
  auto add_socket = [&](const ChardevSpec& spec) {
    if (spec.kind == ChardevSpec::Kind::kSocket && spec.server && spec.fd < 0)
      paths.push_back(spec.path);
  };
  for (const auto& spec : config.chardevs) add_socket(spec);
  if (config.qtest) add_socket(*config.qtest);
  if (!config.vnc_options.unix_path.empty()) paths.push_back(config.vnc_options.unix_path);
  if (paths.empty()) return ok();
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) < 0) return make_error("pipe: %s", strerror(errno));
  pid_t pid = fork();
  if (pid < 0) return make_error("fork: %s", strerror(errno));
  if (pid == 0) {
    // Only async-signal-safe calls here: the parent has threads.
    constexpr int kPipeFd = 3;
    if (fds[0] != kPipeFd) dup2(fds[0], kPipeFd);
    close_range(kPipeFd + 1, ~0u, 0);  // nothing of hvmd's stays open (sockets, the guest)
    prctl(PR_SET_NAME, "hvmd-cleanup", 0, 0, 0);
    char byte;
    while (read(kPipeFd, &byte, 1) != 0 && errno == EINTR) {
    }
    for (const auto& path : paths) unlink(path.c_str());
    _exit(0);
  }
  close(fds[0]);
  // On a normal exit, wait for the removal, so the files are gone when hvmd is (killed, it
  // still happens, just after). fds[1] stays open until then.
  g_cleanup = {pid, fds[1]};
  atexit([] {
    close(g_cleanup.pipe);
    waitpid(g_cleanup.pid, nullptr, 0);
  });
  return ok();
}

}  // namespace

Result<void> drop_privileges(const Config& config, const SandboxExtras& extras) {
  std::optional<RunAs> run_as;
  if (!config.run_as.empty()) {
    // Before chroot: the passwd file is outside it.
    auto resolved = resolve_run_as(config.run_as);
    if (!resolved) return resolved.error();
    run_as = *resolved;
  }
  HVMD_TRY(start_exit_cleanup(config));
  if (!config.chroot_dir.empty()) {
    if (chroot(config.chroot_dir.c_str()) < 0 || chdir("/") < 0)
      return make_error("-chroot %s: %s", config.chroot_dir.c_str(), strerror(errno));
  }
  HVMD_TRY(drop_bounding_set());
  if (run_as) {
    if (setgroups(0, nullptr) < 0 || setresgid(run_as->gid, run_as->gid, run_as->gid) < 0 ||
        setresuid(run_as->uid, run_as->uid, run_as->uid) < 0)
      return make_error("-runas %s: %s", config.run_as.c_str(), strerror(errno));
  }
  HVMD_TRY(drop_capabilities());
  if (config.sandbox) HVMD_TRY(enter_sandbox(config, extras));
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
  // Separate read-only and write-only opens: the sandbox allows no read-write open.
  for (auto [target, access] : {std::pair{STDIN_FILENO, O_RDONLY}, {STDOUT_FILENO, O_WRONLY}}) {
    int null = open("/dev/null", access | O_CLOEXEC);
    if (null < 0) continue;
    dup3(null, target, 0);
    close(null);
  }
  char ready = 1;
  (void)!write(fd, &ready, 1);
  close(fd);
}

}  // namespace hvmd::daemon
