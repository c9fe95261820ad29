// hvmd: the composition root. Parses the command line, assembles the machine for the chosen
// transport, opens the monitors and serves until the guest or the toolstack ends it.
#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "devices/board.h"
#include "dm/backends/chardev.h"
#include "dm/command_line.h"
#include "dm/event_loop.h"
#include "dm/guest_memory.h"
#include "dm/log.h"
#include "dm/machine.h"
#include "dm/qmp/machine_commands.h"
#include "dm/qmp/qmp_server.h"
#include "ioreq/qtest/qtest_server.h"

namespace hvmd {
namespace {

constexpr const char* kVersion = "hvmd 0.1";

// Drives and netdevs have no consumer until the IDE controller and the NIC exist; say so rather
// than accept them silently.
Result<void> check_backends(const Config& config) {
  for (const auto& drive : config.drives) {
    std::string interface = drive.get("if").value_or("ide");
    if (interface != "none")
      return make_error("-drive %s: if=%s needs a disk controller hvmd does not emulate yet",
                        drive.to_string().c_str(), interface.c_str());
  }
  for (const auto& netdev : config.netdevs) {
    if (netdev.get("type") != "tap")
      return make_error("-netdev %s: type '%s' is not supported (tap)", netdev.to_string().c_str(),
                        netdev.get("type").value_or("").c_str());
  }
  if (!config.serials.empty())
    HVMD_WARN("-serial: no serial port is emulated yet; output will not appear");
  return ok();
}

Result<int> signal_fd() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);  // libxl's way of ending the device model
  sigprocmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a peer closing its socket is handled where the write fails
  int fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  if (fd < 0) return make_error("signalfd: %s", strerror(errno));
  return fd;
}

Result<void> write_pidfile(const std::string& path) {
  if (path.empty()) return ok();
  FILE* f = fopen(path.c_str(), "we");
  if (!f) return make_error("-pidfile %s: %s", path.c_str(), strerror(errno));
  fprintf(f, "%d\n", getpid());
  fclose(f);
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

Result<int> run_qtest(const Config& config, int daemon_fd) {
  if (!config.qtest) return make_error("-accel qtest needs -qtest DEV (e.g. -qtest unix:PATH)");
  Clock clock(Clock::Mode::kVirtual);
  EventLoop loop(clock);
  HVMD_TRY(loop.init());
  auto sfd = signal_fd();
  if (!sfd) return sfd.error();
  HVMD_TRY(loop.watch(*sfd, EPOLLIN, [&loop, fd = *sfd](uint32_t) {
    signalfd_siginfo info{};
    if (read(fd, &info, sizeof(info)) == sizeof(info)) loop.stop(0);
  }));

  HostRam ram(RamLayout::pc(config.machine.ram_bytes));
  if (!ram.valid())
    return make_error("-m: cannot reserve %llu bytes of guest RAM",
                      static_cast<unsigned long long>(config.machine.ram_bytes));
  qtest::QtestInterrupts interrupts(ram);
  DeviceRegistry registry;
  devices::register_devices(registry);
  Machine machine(config.machine, clock, ram, interrupts, registry);
  HVMD_TRY(devices::build_board(machine));
  for (const auto& device : config.devices) {
    auto added = machine.add_device(device, /*hotplug=*/false);
    if (!added)
      return make_error("-device %s: %s", device.to_string().c_str(),
                        added.error().message.c_str());
  }
  HVMD_TRY(check_backends(config));
  if (config.start_paused) machine.set_run_state(RunState::kPrelaunch);

  qmp::Server qmp;
  qmp::register_machine_commands(qmp, machine, {.quit = [&loop] { loop.stop(0); }});
  std::vector<std::unique_ptr<Chardev>> monitors;
  for (const auto& monitor : config.monitors) {
    auto chardev = Chardev::open(*config.find_chardev(monitor.chardev), loop);
    if (!chardev) return chardev.error();
    qmp.attach(**chardev);
    monitors.push_back(std::move(*chardev));
  }
  qtest::QtestServer qtest(machine, interrupts, loop);
  HVMD_TRY(qtest.start(*config.qtest, config.qtest_log));

  HVMD_TRY(write_pidfile(config.pidfile));
  daemon_ready(daemon_fd);
  int status = loop.run();
  if (!config.pidfile.empty()) unlink(config.pidfile.c_str());
  return status;
}

int fail(const Error& error) {
  fprintf(stderr, "hvmd: %s\n", error.message.c_str());
  return 1;
}

int run_main(int argc, char** argv) {
  auto config = parse_command_line(argc, argv);
  if (!config) return fail(config.error());
  if (config->show_help) {
    fputs(command_line_help().c_str(), stdout);
    return 0;
  }
  if (config->show_version) {
    printf("%s\n", kVersion);
    return 0;
  }
  if (!config->log_file.empty()) {
    if (auto opened = log::open_file(config->log_file); !opened) return fail(opened.error());
  }
  if (!config->accel) return fail(make_error("no accelerator chosen: pass -accel qtest|kvm|xen"));
  int daemon_fd = -1;
  if (config->daemonize) {
    auto fd = fork_daemon();
    if (!fd) return fail(fd.error());
    daemon_fd = *fd;
  }
  Result<int> status = 0;
  switch (*config->accel) {
    case Accel::kQtest:
      status = run_qtest(*config, daemon_fd);
      break;
    case Accel::kKvm:
      status = make_error("-accel kvm: the KVM runner is not part of this build yet");
      break;
    case Accel::kXen:
      status = make_error("-accel xen: the Xen ioreq transport is not part of this build yet");
      break;
  }
  if (!status) return fail(status.error());
  return *status;
}

}  // namespace
}  // namespace hvmd

int main(int argc, char** argv) {
  // Nothing on the guest path throws; this is for host failures such as running out of memory
  // while building the machine, which end the daemon with one line like any other error.
  try {
    return hvmd::run_main(argc, argv);
  } catch (const std::exception& e) {
    fprintf(stderr, "hvmd: fatal: %s\n", e.what());
    return 1;
  }
}
