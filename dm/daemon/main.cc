// hvmd: the composition root. Parses the command line and hands over to the runner of the chosen
// transport, which assembles the machine and serves until the guest or the toolstack ends it.
#include <fcntl.h>
#include <malloc.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>

#include "dm/daemon/daemon.h"
#include "dm/log.h"

namespace hvmd {

// glibc's own initial value: blocks of 128 KiB and more are mapped on their own.
constexpr int kMallocMmapThreshold = 128 * 1024;
namespace {

constexpr const char* kVersion = "hvmd 0.1";

int fail(const Error& error) {
  fprintf(stderr, "hvmd: %s\n", error.message.c_str());
  return 1;
}

int run_main(int argc, char** argv) {
  // HVMD_LOG=debug: device-level tracing (IDE commands, resets, state loads), for a device model
  // that libxl starts with its own command line (a wrapper script sets the environment).
  if (const char* wanted = getenv("HVMD_LOG"); wanted && strcmp(wanted, "debug") == 0)
    log::set_level(log::Level::kDebug);
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
  // kvm is usable when /dev/kvm opens (the kvm runner reports anything beyond that).
  auto kvm_usable = []() -> Result<void> {
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0) return make_error("/dev/kvm: %s", strerror(errno));
    close(fd);
    return ok();
  };
  if (auto resolved = resolve_accel(*config, kvm_usable); !resolved) return fail(resolved.error());
  if (!config->accel) return fail(make_error("no accelerator chosen: pass -accel qtest|kvm|xen"));
  if (!config->log_file.empty()) {
    if (auto opened = log::open_file(config->log_file); !opened) return fail(opened.error());
  }
  int daemon_fd = -1;
  if (config->daemonize) {
    auto fd = daemon::fork_daemon();
    if (!fd) return fail(fd.error());
    daemon_fd = *fd;
  }
  Result<int> status = 0;
  switch (*config->accel) {
    case Accel::kQtest:
      status = daemon::run_qtest(*config, daemon_fd);
      break;
    case Accel::kXen:
      status = daemon::run_xen(*config, daemon_fd);
      break;
    case Accel::kKvm:
      status = daemon::run_kvm(*config, daemon_fd);
      break;
  }
  if (!status) return fail(status.error());
  return *status;
}

}  // namespace
}  // namespace hvmd

int main(int argc, char** argv) {
  // Large blocks (a screendump's picture, a full-screen VNC update, an e1000 ring's worth of
  // frames) go back to the kernel when freed. glibc's default raises its mmap threshold to the
  // largest block freed so far, after which such blocks come from the heap and stay resident
  // once freed: one 1024x768 screendump left 3.3 MiB in the heap of an idle hvmd. Naming the
  // threshold turns that adjustment (and the trim threshold's) off.
  mallopt(M_MMAP_THRESHOLD, hvmd::kMallocMmapThreshold);
  // Nothing on the guest path throws; this is for host failures such as running out of memory
  // while building the machine, which end the daemon with one line like any other error.
  try {
    return hvmd::run_main(argc, argv);
  } catch (const std::exception& e) {
    fprintf(stderr, "hvmd: fatal: %s\n", e.what());
    return 1;
  }
}
