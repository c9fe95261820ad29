#include "dm/event_loop.h"

#include <link.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace hvmd {
namespace {

// Whether a loaded object's dynamic section asks for text relocations (its code pages were
// written at load time, so they are private copies that must stay).
bool has_text_relocations(const dl_phdr_info* info) {
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_DYNAMIC) continue;
    for (auto* d = reinterpret_cast<const ElfW(Dyn)*>(info->dlpi_addr + ph.p_vaddr);
         d->d_tag != DT_NULL; ++d)
      if (d->d_tag == DT_TEXTREL || (d->d_tag == DT_FLAGS && (d->d_un.d_val & DF_TEXTREL)))
        return true;
  }
  return false;
}

int release_object_text(dl_phdr_info* info, size_t, void*) {
  if (strstr(info->dlpi_name, "linux-vdso") || has_text_relocations(info)) return 0;
  uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD || !(ph.p_flags & PF_X) || (ph.p_flags & PF_W)) continue;
    uintptr_t start = (info->dlpi_addr + ph.p_vaddr) & ~(page - 1);
    uintptr_t end = (info->dlpi_addr + ph.p_vaddr + ph.p_memsz + page - 1) & ~(page - 1);
    madvise(reinterpret_cast<void*>(start), end - start, MADV_DONTNEED);
  }
  return 0;
}

}  // namespace

void EventLoop::release_startup_text() {
  dl_iterate_phdr(release_object_text, nullptr);
}

EventLoop::EventLoop(Clock& clock) : clock_(clock) {}

EventLoop::~EventLoop() {
  if (timer_fd_ >= 0) close(timer_fd_);
  if (wake_fd_ >= 0) close(wake_fd_);
  if (epoll_fd_ >= 0) close(epoll_fd_);
}

Result<void> EventLoop::init() {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) return make_error("epoll_create1: %s", strerror(errno));
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) return make_error("eventfd: %s", strerror(errno));
  HVMD_TRY(watch(wake_fd_, EPOLLIN, [this](uint32_t) {
    uint64_t count;
    while (read(wake_fd_, &count, sizeof(count)) > 0) {
    }
  }));
  // Host-clock timers wake the loop through a timerfd; the virtual clock needs none.
  if (clock_.mode() == Clock::Mode::kHost) {
    timer_fd_ = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    if (timer_fd_ < 0) return make_error("timerfd_create: %s", strerror(errno));
    return watch(timer_fd_, EPOLLIN, [this](uint32_t) {
      uint64_t expirations;
      while (read(timer_fd_, &expirations, sizeof(expirations)) > 0) {
      }
      armed_deadline_ = Clock::kNever;
      clock_.run_expired();
    });
  }
  return ok();
}

Result<void> EventLoop::watch(int fd, uint32_t events, Callback callback) {
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = fd;
  bool existing = callbacks_.count(fd) != 0;
  if (epoll_ctl(epoll_fd_, existing ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev) < 0)
    return make_error("epoll_ctl(fd %d): %s", fd, strerror(errno));
  callbacks_[fd] = std::make_shared<Callback>(std::move(callback));
  return ok();
}

void EventLoop::unwatch(int fd) {
  if (callbacks_.erase(fd)) epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
}

void EventLoop::arm_timerfd() {
  if (timer_fd_ < 0) return;
  int64_t deadline = clock_.next_deadline();
  if (deadline == armed_deadline_) return;
  armed_deadline_ = deadline;
  itimerspec spec{};
  if (deadline != Clock::kNever) {
    deadline = std::max<int64_t>(deadline, 1);  // 0 would disarm
    spec.it_value.tv_sec = deadline / 1'000'000'000;
    spec.it_value.tv_nsec = deadline % 1'000'000'000;
  }
  timerfd_settime(timer_fd_, TFD_TIMER_ABSTIME, &spec, nullptr);
}

void EventLoop::post(std::function<void()> fn) {
  posted_.push_back(std::move(fn));
  if (device_lock_) wake();  // the poster may be a vCPU thread while the loop sleeps
}

void EventLoop::wake() {
  uint64_t one = 1;
  ssize_t ignored = write(wake_fd_, &one, sizeof(one));
  (void)ignored;
}

void EventLoop::after_access() {
  if (!posted_.empty() || clock_.next_deadline() < armed_deadline_) wake();
}

bool EventLoop::run_posted() {
  if (posted_.empty()) return false;
  auto tasks = std::move(posted_);
  posted_.clear();
  for (auto& task : tasks) task();
  return true;
}

void EventLoop::run_once(int timeout_ms) {
  std::unique_lock<std::mutex> device;
  if (device_lock_) device = std::unique_lock(*device_lock_);
  // Posted work is this round's event: the round ends after it without a wait (a caller waiting
  // for what the work did must not sleep past it), and the next round polls the descriptors. So
  // a command that completes from the page cache costs no epoll_wait of its own. Work that keeps
  // posting work still lets the descriptors be looked at every kRoundsWithoutPolling rounds.
  constexpr int kRoundsWithoutPolling = 8;
  bool worked = run_posted();
  if (stopping_) return;
  // Timers the armed timerfd covers run from its callback when it fires; only a deadline set
  // since then (a timer armed by this round's callbacks, perhaps already due) is checked here, so
  // a round with no new timer reads no clock (a system call in a Xen dom0 without a vDSO clock).
  if (clock_.mode() == Clock::Mode::kHost && clock_.next_deadline() != armed_deadline_)
    clock_.run_expired();
  if (stopping_) return;  // a timer stopped the loop: no wait for what will not come
  arm_timerfd();
  if (worked && ++rounds_without_polling_ < kRoundsWithoutPolling) {
    if (round_end_) round_end_();
    return;
  }
  rounds_without_polling_ = 0;
  int timeout = worked || !posted_.empty() ? 0 : timeout_ms;
  if (device) device.unlock();  // vCPUs run device code while the loop sleeps
  epoll_event events[32];
  int n = epoll_wait(epoll_fd_, events, 32, timeout);
  if (device_lock_) device.lock();
  for (int i = 0; i < n && !stopping_; ++i) {
    auto it = callbacks_.find(events[i].data.fd);
    if (it == callbacks_.end()) continue;  // unwatched by an earlier callback this round
    auto callback = it->second;            // keeps it alive if the callback unwatches itself
    (*callback)(events[i].events);
  }
  if (round_end_) round_end_();
}

int EventLoop::run() {
  release_startup_text();
  while (!stopping_) run_once(-1);
  return status_;
}

}  // namespace hvmd
