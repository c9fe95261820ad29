#include "dm/daemon/sandbox.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <linux/kvm.h>
#include <linux/sched.h>
#include <linux/vfio.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
// domid_t and xen_pfn_t, which the Xen ioctl headers use without including.
#include <xen/xen.h>

#include <xen/sys/evtchn.h>
#include <xen/sys/privcmd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <span>

#include "dm/log.h"

namespace hvmd::daemon {
namespace {

// What the device thread, its helper threads and the C library need while serving, each with
// the reason. Calls with arguments worth checking are allowed further down, conditionally.
constexpr int kAllowed[] = {
    // I/O on descriptors opened during set-up: sockets, images, the tap, event channels, pipes.
    SCMP_SYS(read),
    SCMP_SYS(write),
    SCMP_SYS(readv),
    SCMP_SYS(writev),
    // Block I/O (BlockBackend on the IoExecutor workers).
    SCMP_SYS(pread64),
    SCMP_SYS(pwrite64),
    SCMP_SYS(preadv),
    SCMP_SYS(pwritev),
    SCMP_SYS(preadv2),    // reads the page cache holds, on the device thread (RWF_NOWAIT)
    SCMP_SYS(fsync),      // cache=writeback flushes
    SCMP_SYS(fdatasync),  // the guest's FLUSH CACHE
    // The block layer's io_uring (uring_queue.h): set up and restricted to readv, writev and
    // fsync before the sandbox; io_uring_setup and io_uring_register stay forbidden.
    SCMP_SYS(io_uring_enter),
    SCMP_SYS(fallocate),  // the guest's TRIM with discard=unmap (punching holes)
    // Descriptors: sizes of media QMP inserts, non-blocking flags, add-fd's duplicates, closing.
    SCMP_SYS(lseek),
    SCMP_SYS(close),
    SCMP_SYS(fstat),
    SCMP_SYS(newfstatat),  // fstat() is fstatat(fd, "", AT_EMPTY_PATH) in newer C libraries
    SCMP_SYS(fcntl),
    SCMP_SYS(dup),
    SCMP_SYS(dup3),  // -daemonize points stdin/stdout at /dev/null once serving
    // The event loop: epoll, its timerfd and wake-up eventfd, signalfd for SIGTERM/SIGHUP.
    SCMP_SYS(epoll_wait),
    SCMP_SYS(epoll_pwait),
    SCMP_SYS(epoll_ctl),
    SCMP_SYS(poll),  // the C library's waits inside Xen's libraries
    SCMP_SYS(ppoll),
    SCMP_SYS(timerfd_settime),
    SCMP_SYS(clock_gettime),
    SCMP_SYS(clock_nanosleep),
    SCMP_SYS(gettimeofday),  // QMP event timestamps
    // QMP and chardev sockets: descriptors passed with add-fd, new clients on listening sockets.
    SCMP_SYS(recvmsg),
    SCMP_SYS(sendmsg),
    SCMP_SYS(recvfrom),
    SCMP_SYS(sendto),
    SCMP_SYS(accept4),
    SCMP_SYS(shutdown),
    SCMP_SYS(getsockopt),
    // Memory: the allocator, the map cache unmapping guest RAM.
    SCMP_SYS(munmap),
    SCMP_SYS(mremap),
    SCMP_SYS(madvise),
    SCMP_SYS(brk),
    // Threads (block I/O workers, KVM vCPUs) and their synchronisation.
    SCMP_SYS(futex),
    SCMP_SYS(set_robust_list),
    SCMP_SYS(rseq),
    SCMP_SYS(sched_yield),
    SCMP_SYS(sched_getaffinity),
    SCMP_SYS(getpid),
    SCMP_SYS(gettid),
    SCMP_SYS(exit),
    SCMP_SYS(exit_group),
    SCMP_SYS(wait4),  // at exit, for the process that removes the pid file (daemon.cc)
    // Signals: handlers, masks (vCPU kicks), the SIGSYS report.
    SCMP_SYS(rt_sigreturn),
    SCMP_SYS(rt_sigprocmask),
    SCMP_SYS(rt_sigaction),
    SCMP_SYS(sigaltstack),
    SCMP_SYS(restart_syscall),
    // The C++ library's random seeds, nothing else.
    SCMP_SYS(getrandom),
};

// Forbidden calls the exit path may try harmlessly get an error rather than the SIGSYS report:
// a listening socket's destructor removes its path (the cleanup process does it instead).
constexpr int kRefused[] = {
    SCMP_SYS(unlink),
    SCMP_SYS(unlinkat),
};

// Terminal and block-device queries any transport may make: isatty() in the C library's stdio,
// the size of a block device QMP inserts as a medium, a guest's TRIM on a block device.
constexpr unsigned long kCommonIoctls[] = {TCGETS, BLKGETSIZE64, BLKDISCARD};

// The Xen handles' run-time requests: device-model operations on the restricted privcmd handle
// (interrupts, MSIs, dirty VRAM, BAR relocation), mapping guest RAM into the map cache, and
// event-channel notifications. Restricting and raw hypercalls happen during set-up. The PV
// keyboard backend binds its frontend's channel when the guest connects and unbinds it when the
// guest closes; the event-channel handle is restricted to the guest's domain, so no other
// domain's ports are reachable.
constexpr unsigned long kXenIoctls[] = {IOCTL_PRIVCMD_DM_OP,           IOCTL_PRIVCMD_MMAPBATCH_V2,
                                        IOCTL_PRIVCMD_MMAP_RESOURCE,   IOCTL_EVTCHN_NOTIFY,
                                        IOCTL_EVTCHN_BIND_INTERDOMAIN, IOCTL_EVTCHN_UNBIND};

// KVM's run-time requests: running vCPUs, interrupts in, device memory slots following BARs,
// dirty VRAM, and the power-on state a guest reset restores. Creating VMs and vCPUs is set-up.
// KVM_IRQFD: a passthrough function's INTx irqfd follows the guest's PIRQ routing, its MSI/MSI-X
// irqfds the guest's masking; KVM_SET_GSI_ROUTING: their MSI routes follow the guest's messages
// (C's encoding: C++ sizes kvm_irq_routing's flexible array differently, see kvm_vm.cc).
constexpr unsigned long kKvmSetGsiRouting = _IOW(KVMIO, 0x6a, uint64_t);
constexpr unsigned long kKvmIoctls[] = {
    KVM_RUN,           KVM_IRQ_LINE,     KVM_SIGNAL_MSI, KVM_SET_USER_MEMORY_REGION,
    KVM_GET_DIRTY_LOG, KVM_SET_IRQCHIP,  KVM_SET_PIT2,   KVM_SET_SREGS,
    KVM_SET_REGS,      KVM_SET_FPU,      KVM_SET_LAPIC,  KVM_SET_MP_STATE,
    KVM_IRQFD,         kKvmSetGsiRouting};

// Passthrough under Xen: BAR moves and interrupt programming are domctls and physdev ops
// (memory/ioport mapping, pirq map/bind, MSI update) made as raw hypercalls on the unrestricted
// handle the runner keeps for them. A seccomp filter cannot see which hypercall an ioctl carries,
// so this is the one widening passthrough costs (Xen's dm_restrict does not cover passthrough
// either); it is allowed only when the command line names a passthrough device or, under libxl's
// pci = [...], when host functions bound to pciback were opened at start for a later device_add
// (SandboxExtras). Their sysfs files are opened before the sandbox; no open is widened: config
// space, resourceN and the ROM stay pread/pwrite/mmap on descriptors held since then.
constexpr unsigned long kXenPassthroughIoctls[] = {IOCTL_PRIVCMD_HYPERCALL};

// A vfio-pci device's run-time requests: arming and disarming MSI/MSI-X eventfds as the guest
// enables them, and the function reset a guest's system reset asks for. Container, group, DMA
// mapping and region set-up happen while the device is opened, before the sandbox.
// (VFIO_DEVICE_PCI_HOT_RESET: a bus reset for a function without its own; its reach is asked
// at open.)
constexpr unsigned long kVfioIoctls[] = {VFIO_DEVICE_SET_IRQS, VFIO_DEVICE_RESET,
                                         VFIO_DEVICE_PCI_HOT_RESET};

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

Result<void> allow_ioctls(scmp_filter_ctx ctx, std::span<const unsigned long> requests) {
  for (unsigned long request : requests) {
    // The request is an unsigned int in the kernel: compare the low 32 bits only, so a caller
    // that sign-extends it is not refused.
    scmp_arg_cmp is = SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, request & 0xffffffffu);
    HVMD_TRY(add_rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1, &is));
  }
  return ok();
}

Result<void> add_rules(scmp_filter_ctx ctx, const Config& config, const SandboxExtras& extras) {
  // Every thread, including ones the C library or the block layer start later.
  if (int rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1); rc < 0)
    return make_error("seccomp TSYNC: %s", strerror(-rc));
  for (int call : kAllowed) HVMD_TRY(add_rule(ctx, SCMP_ACT_ALLOW, call, 0, nullptr));
  for (int call : kRefused) HVMD_TRY(add_rule(ctx, SCMP_ACT_ERRNO(EPERM), call, 0, nullptr));
  // Memory, never executable.
  scmp_arg_cmp no_exec = SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0);
  HVMD_TRY(add_rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1, &no_exec));
  HVMD_TRY(add_rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1, &no_exec));
  // Threads only, no new processes. clone3 passes its flags in memory a filter cannot read:
  // "not implemented" makes the C library fall back to clone.
  scmp_arg_cmp thread = SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD);
  HVMD_TRY(add_rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1, &thread));
  HVMD_TRY(add_rule(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0, nullptr));
  // Files QMP opens by name (xen-save-devices-state, xen-load-devices-state, media changes):
  // read-only or write-only, never read-write, which every device node hvmd could abuse
  // (privcmd, xenbus, /dev/kvm, /dev/net/tun, a disk) is opened with.
  for (int access : {O_RDONLY, O_WRONLY}) {
    scmp_arg_cmp mode = SCMP_A2(SCMP_CMP_MASKED_EQ, O_ACCMODE, static_cast<scmp_datum_t>(access));
    HVMD_TRY(add_rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1, &mode));
  }
  // ioctl by request number, for this transport only.
  HVMD_TRY(allow_ioctls(ctx, kCommonIoctls));
  if (config.accel == Accel::kXen) HVMD_TRY(allow_ioctls(ctx, kXenIoctls));
  if (config.accel == Accel::kKvm) HVMD_TRY(allow_ioctls(ctx, kKvmIoctls));
  if (config.accel == Accel::kXen &&
      (extras.xen_passthrough ||
       std::any_of(config.devices.begin(), config.devices.end(),
                   [](const SubOptions& d) { return d.get("driver") == "xen-pci-passthrough"; })))
    HVMD_TRY(allow_ioctls(ctx, kXenPassthroughIoctls));
  if (std::any_of(config.devices.begin(), config.devices.end(),
                  [](const SubOptions& d) { return d.get("driver") == "vfio-pci"; })) {
    HVMD_TRY(allow_ioctls(ctx, kVfioIoctls));
    // One eventfd per MSI/MSI-X vector, made when the guest enables them.
    HVMD_TRY(add_rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(eventfd2), 0, nullptr));
  }
  // -netdev user: slirp makes a host socket for each flow the guest opens (TCP, UDP, DNS) and
  // accepts hostfwd= connections, all IPv4/IPv6 only; FIONREAD sizes a UDP datagram.
  if (std::any_of(config.netdevs.begin(), config.netdevs.end(),
                  [](const SubOptions& n) { return n.get("type") == "user"; })) {
    for (int domain : {AF_INET, AF_INET6}) {
      scmp_arg_cmp inet = SCMP_A0(SCMP_CMP_EQ, static_cast<scmp_datum_t>(domain));
      HVMD_TRY(add_rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1, &inet));
    }
    for (int call : {SCMP_SYS(connect), SCMP_SYS(bind), SCMP_SYS(listen), SCMP_SYS(accept),
                     SCMP_SYS(setsockopt), SCMP_SYS(getsockname), SCMP_SYS(getpeername)})
      HVMD_TRY(add_rule(ctx, SCMP_ACT_ALLOW, call, 0, nullptr));
    const unsigned long fionread[] = {FIONREAD};
    HVMD_TRY(allow_ioctls(ctx, fionread));
  }
  // Naming threads, nothing else of prctl.
  scmp_arg_cmp set_name = SCMP_A0(SCMP_CMP_EQ, PR_SET_NAME);
  HVMD_TRY(add_rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1, &set_name));
  // Signals to our own threads and process only (abort, raise, kicking a vCPU thread).
  scmp_arg_cmp self = SCMP_A0(SCMP_CMP_EQ, static_cast<scmp_datum_t>(getpid()));
  HVMD_TRY(add_rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(kill), 1, &self));
  HVMD_TRY(add_rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1, &self));
  return ok();
}

Result<void> install_filter(const Config& config, const SandboxExtras& extras) {
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_TRAP);
  if (!ctx) return make_error("seccomp_init failed");
  auto result = add_rules(ctx, config, extras);
  if (result) {
    if (int rc = seccomp_load(ctx); rc < 0) result = make_error("seccomp_load: %s", strerror(-rc));
  }
  seccomp_release(ctx);
  return result;
}

}  // namespace

Result<void> enter_sandbox(const Config& config, const SandboxExtras& extras) {
#ifdef HVMD_SANITIZER_BUILD
  // The sanitizers' runtimes trace threads and read /proc at exit: not sandboxable.
  HVMD_WARN("sandbox: off in sanitizer builds");
  return ok();
#endif
  // No core files: they would hold guest memory. No locked memory: hvmd never needs it.
  HVMD_TRY(set_limit(RLIMIT_CORE, 0, "RLIMIT_CORE"));
  HVMD_TRY(set_limit(RLIMIT_MEMLOCK, 0, "RLIMIT_MEMLOCK"));
  struct sigaction action {};
  action.sa_sigaction = on_blocked_call;
  action.sa_flags = SA_SIGINFO;
  sigaction(SIGSYS, &action, nullptr);
  return install_filter(config, extras);
}

}  // namespace hvmd::daemon
