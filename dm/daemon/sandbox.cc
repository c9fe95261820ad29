#include "dm/daemon/sandbox.h"

#include <fcntl.h>
#include <linux/sched.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "dm/log.h"

namespace hvmd::daemon {
namespace {

// What the device thread, its helper threads and the C library need while serving: I/O on
// descriptors already open (sockets, event channels, images, tap), epoll and timers, memory
// management, threads, signals, and files opened by QMP (state files, media changes).
constexpr int kAllowed[] = {
    SCMP_SYS(read),
    SCMP_SYS(write),
    SCMP_SYS(readv),
    SCMP_SYS(writev),
    SCMP_SYS(pread64),
    SCMP_SYS(pwrite64),
    SCMP_SYS(preadv),
    SCMP_SYS(pwritev),
    SCMP_SYS(preadv2),
    SCMP_SYS(pwritev2),
    SCMP_SYS(lseek),
    SCMP_SYS(close),
    SCMP_SYS(fstat),
    SCMP_SYS(newfstatat),
    SCMP_SYS(statx),
    SCMP_SYS(fcntl),
    SCMP_SYS(dup),
    SCMP_SYS(dup2),
    SCMP_SYS(dup3),
    SCMP_SYS(openat),
    SCMP_SYS(unlink),
    SCMP_SYS(unlinkat),
    SCMP_SYS(ioctl),
    SCMP_SYS(fsync),
    SCMP_SYS(fdatasync),
    SCMP_SYS(fallocate),
    SCMP_SYS(ftruncate),
    SCMP_SYS(epoll_wait),
    SCMP_SYS(epoll_pwait),
    SCMP_SYS(epoll_ctl),
    SCMP_SYS(poll),
    SCMP_SYS(ppoll),
    SCMP_SYS(pselect6),
    SCMP_SYS(timerfd_settime),
    SCMP_SYS(timerfd_gettime),
    SCMP_SYS(clock_gettime),
    SCMP_SYS(clock_nanosleep),
    SCMP_SYS(nanosleep),
    SCMP_SYS(gettimeofday),
    SCMP_SYS(eventfd2),
    SCMP_SYS(pipe2),
    SCMP_SYS(signalfd4),
    SCMP_SYS(recvmsg),
    SCMP_SYS(sendmsg),
    SCMP_SYS(recvfrom),
    SCMP_SYS(sendto),
    SCMP_SYS(accept),
    SCMP_SYS(accept4),
    SCMP_SYS(connect),
    SCMP_SYS(shutdown),
    SCMP_SYS(getsockopt),
    SCMP_SYS(setsockopt),
    SCMP_SYS(getsockname),
    SCMP_SYS(getpeername),
    SCMP_SYS(munmap),
    SCMP_SYS(mremap),
    SCMP_SYS(madvise),
    SCMP_SYS(brk),
    SCMP_SYS(futex),
    SCMP_SYS(set_robust_list),
    SCMP_SYS(rseq),
    SCMP_SYS(sched_yield),
    SCMP_SYS(sched_getaffinity),
    SCMP_SYS(getpid),
    SCMP_SYS(gettid),
    SCMP_SYS(getuid),
    SCMP_SYS(geteuid),
    SCMP_SYS(getgid),
    SCMP_SYS(getegid),
    SCMP_SYS(exit),
    SCMP_SYS(exit_group),
    SCMP_SYS(rt_sigreturn),
    SCMP_SYS(rt_sigprocmask),
    SCMP_SYS(rt_sigaction),
    SCMP_SYS(sigaltstack),
    SCMP_SYS(tgkill),
    SCMP_SYS(restart_syscall),
    SCMP_SYS(getrandom),
    SCMP_SYS(uname),
    SCMP_SYS(sysinfo),
    SCMP_SYS(getrusage),
    SCMP_SYS(io_uring_enter),
    SCMP_SYS(io_uring_register),
};

// The SIGSYS a blocked call raises: say which call, then end (async-signal-safe only).
void on_blocked_call(int, siginfo_t* info, void*) {
  char line[96] = "hvmd: sandbox: blocked system call ";
  size_t n = strlen(line);
  char digits[12];
  int d = 0;
  for (unsigned v = static_cast<unsigned>(info->si_syscall); d == 0 || v; v /= 10)
    digits[d++] = static_cast<char>('0' + v % 10);
  while (d) line[n++] = digits[--d];
  const char tail[] = " (-sandbox off to debug)\n";
  memcpy(line + n, tail, sizeof(tail) - 1);
  n += sizeof(tail) - 1;
  ssize_t ignored = write(STDERR_FILENO, line, n);
  (void)ignored;
  _exit(EXIT_FAILURE);
}

Result<void> set_limit(int resource, rlim_t value, const char* name) {
  rlimit limit{value, value};
  if (setrlimit(resource, &limit) < 0)
    return make_error("setrlimit(%s): %s", name, strerror(errno));
  return ok();
}

Result<void> add_rule(scmp_filter_ctx ctx, uint32_t action, int call, unsigned count,
                      const scmp_arg_cmp* args) {
  int rc = seccomp_rule_add_array(ctx, action, call, count, args);
  if (rc < 0) return make_error("seccomp rule for system call %d: %s", call, strerror(-rc));
  return ok();
}

Result<void> install_filter() {
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_TRAP);
  if (!ctx) return make_error("seccomp_init failed");
  auto build = [&]() -> Result<void> {
    // Every thread, including ones the C library or the block layer start later.
    if (int rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1); rc < 0)
      return make_error("seccomp TSYNC: %s", strerror(-rc));
    for (int call : kAllowed) HVMD_TRY(add_rule(ctx, SCMP_ACT_ALLOW, call, 0, nullptr));
    // Memory, never executable.
    scmp_arg_cmp no_exec = SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0);
    HVMD_TRY(add_rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1, &no_exec));
    HVMD_TRY(add_rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1, &no_exec));
    // Threads only, no new processes. clone3 passes its flags in memory a filter cannot read:
    // "not implemented" makes the C library fall back to clone.
    scmp_arg_cmp thread = SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD);
    HVMD_TRY(add_rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1, &thread));
    HVMD_TRY(add_rule(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0, nullptr));
    // Local sockets only (a chardev reconnecting); no network sockets.
    scmp_arg_cmp unix_socket = SCMP_A0(SCMP_CMP_EQ, AF_UNIX);
    HVMD_TRY(add_rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1, &unix_socket));
    // Naming threads, nothing else of prctl.
    scmp_arg_cmp set_name = SCMP_A0(SCMP_CMP_EQ, PR_SET_NAME);
    HVMD_TRY(add_rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1, &set_name));
    // Signals to ourselves only (abort, raise).
    scmp_arg_cmp self = SCMP_A0(SCMP_CMP_EQ, static_cast<scmp_datum_t>(getpid()));
    HVMD_TRY(add_rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(kill), 1, &self));
    if (int rc = seccomp_load(ctx); rc < 0) return make_error("seccomp_load: %s", strerror(-rc));
    return ok();
  };
  auto result = build();
  seccomp_release(ctx);
  return result;
}

}  // namespace

Result<void> enter_sandbox() {
#ifdef HVMD_SANITIZER_BUILD
  // The sanitizers' runtimes trace threads and read /proc at exit: not sandboxable.
  HVMD_WARN("sandbox: off in sanitizer builds");
  return ok();
#endif
  // No core files: they would hold guest memory. No locked memory: hvmd never needs it.
  HVMD_TRY(set_limit(RLIMIT_CORE, 0, "RLIMIT_CORE"));
  HVMD_TRY(set_limit(RLIMIT_MEMLOCK, 0, "RLIMIT_MEMLOCK"));
  // Nor may it gain privileges through set-uid files (required for an unprivileged filter).
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
    return make_error("prctl(PR_SET_NO_NEW_PRIVS): %s", strerror(errno));
  struct sigaction action {};
  action.sa_sigaction = on_blocked_call;
  action.sa_flags = SA_SIGINFO;
  sigaction(SIGSYS, &action, nullptr);
  return install_filter();
}

}  // namespace hvmd::daemon
