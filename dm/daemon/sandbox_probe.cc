// x-sandbox-probe, compiled into hvmd only when its tests are built (HVMD_TEST_COMMANDS): tries
// one call the sandbox forbids, from inside the running daemon, so a test can see it refused.
// Every attempt is harmless if it does get through (bad descriptors, signal 0, empty paths,
// invalid flags): with -sandbox off a test sees the kernel's own error instead.
#include "dm/daemon/sandbox_probe.h"

#include <fcntl.h>
#include <linux/kvm.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
// domid_t and xen_pfn_t, which the Xen ioctl headers use without including.
#include <xen/xen.h>

#include <xen/sys/privcmd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <map>

namespace hvmd::daemon {
namespace {

const std::map<std::string, std::function<long()>>& probes() {
  static const std::map<std::string, std::function<long()>> kProbes = {
      {"openat-read-write", [] { return syscall(SYS_openat, AT_FDCWD, "", O_RDWR); }},
      {"unlink", [] { return syscall(SYS_unlink, ""); }},
      {"socket", [] { return syscall(SYS_socket, AF_UNIX, -1, 0); }},
      {"connect", [] { return syscall(SYS_connect, -1, nullptr, 0); }},
      {"ioctl-kvm-run", [] { return syscall(SYS_ioctl, -1, KVM_RUN, 0); }},
      {"ioctl-privcmd-hypercall",
       [] { return syscall(SYS_ioctl, -1, IOCTL_PRIVCMD_HYPERCALL, 0); }},
      {"ioctl-tiocsti", [] { return syscall(SYS_ioctl, -1, TIOCSTI, 0); }},
      {"tgkill-other", [] { return syscall(SYS_tgkill, 1, 1, 0); }},
      {"kill-other", [] { return syscall(SYS_kill, 1, 0); }},
      {"io-uring-setup", [] { return syscall(SYS_io_uring_setup, 0, nullptr); }},
      {"fork", [] { return syscall(SYS_clone, CLONE_SIGHAND, nullptr, nullptr, nullptr, 0); }},
      {"execve", [] { return syscall(SYS_execve, "", nullptr, nullptr); }},
      {"ptrace", [] { return syscall(SYS_ptrace, PTRACE_PEEKDATA, 0, nullptr, nullptr); }},
      {"mmap-exec",
       [] { return syscall(SYS_mmap, nullptr, 0, PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); }},
      {"setuid", [] { return syscall(SYS_setuid, -1); }},
      // Allowed, for contrast: a terminal query on a bad descriptor.
      {"ioctl-tcgets", [] { return syscall(SYS_ioctl, -1, TCGETS, 0); }},
  };
  return kProbes;
}

}  // namespace

void add_sandbox_probe(qmp::Server& server) {
  server.add_command(
      "x-sandbox-probe", qmp::Schema::object({qmp::required("call", qmp::Schema::string())}),
      [](const qmp::Json& args) {
        auto probe = probes().find(args["call"]);
        if (probe == probes().end())
          return qmp::Reply::error("Parameter 'call' does not accept value '" +
                                   args["call"].get<std::string>() + "'");
        errno = 0;
        long result = probe->second();
        int error = result < 0 ? errno : 0;
        return qmp::Reply::success(
            {{"result", result}, {"errno", error}, {"error", error ? strerror(error) : ""}});
      });
}

}  // namespace hvmd::daemon
