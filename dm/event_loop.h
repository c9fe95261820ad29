// The device thread's event loop (epoll). All device code runs here, so devices need no locks:
// sockets, vCPU request channels, block/net completions and the clock's timers all arrive as
// callbacks on this one thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "dm/clock.h"
#include "dm/result.h"

namespace hvmd {

class EventLoop {
 public:
  using Callback = std::function<void(uint32_t epoll_events)>;

  explicit EventLoop(Clock& clock);
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  Result<void> init();
  // Watches fd for events (EPOLLIN etc.); replaces an existing watch of the same fd.
  Result<void> watch(int fd, uint32_t events, Callback callback);
  void unwatch(int fd);

  // Runs until stop(); returns the exit status passed to stop(). Set-up is over by then, so it
  // first releases the code pages start-up faulted in (release_startup_text).
  int run();
  // Drops this process's page-table entries for the code of the executable and every shared
  // library (read-only file pages: nothing is lost, the page cache keeps them). Start-up code
  // (option parsing, machine assembly, library initialisation) and the neighbours the kernel
  // maps around each fault stop counting in the resident set; what runs afterwards faults back
  // in as it runs. Objects with text relocations keep theirs (their code pages are private).
  static void release_startup_text();
  // One round: waits at most timeout_ms (-1: until something happens) and dispatches.
  void run_once(int timeout_ms);
  void stop(int status) {
    stopping_ = true;
    status_ = status;
  }
  bool stopping() const { return stopping_; }
  // Runs fn on the loop once the current callback has returned (a reset a guest asked for in the
  // middle of an access, for instance).
  void post(std::function<void()> fn);
  // Runs fn at the end of every round, after that round's callbacks (the Xen runner delivers the
  // dirty pages devices wrote in the round).
  void set_round_end(std::function<void()> fn) { round_end_ = std::move(fn); }

  // For transports whose vCPU threads run device code themselves (KVM): the loop holds this lock
  // whenever it runs device code, a vCPU thread holds it for each access, so device code still
  // never runs twice at once. After an access a vCPU thread calls after_access() (lock held) so
  // the loop notices timers armed or work posted meanwhile.
  void set_device_lock(std::mutex* lock) { device_lock_ = lock; }
  void after_access();

 private:
  void arm_timerfd();
  bool run_posted();  // whether there was any
  void wake();

  Clock& clock_;
  int epoll_fd_ = -1;
  int timer_fd_ = -1;
  int64_t armed_deadline_ = Clock::kNever;
  std::unordered_map<int, std::shared_ptr<Callback>> callbacks_;
  std::vector<std::function<void()>> posted_;
  int rounds_without_polling_ = 0;
  std::function<void()> round_end_;
  std::mutex* device_lock_ = nullptr;
  int wake_fd_ = -1;
  bool stopping_ = false;
  int status_ = 0;
};

}  // namespace hvmd
