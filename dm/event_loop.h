// The device thread's event loop (epoll). All device code runs here, so devices need no locks:
// sockets, vCPU request channels, block/net completions and the clock's timers all arrive as
// callbacks on this one thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
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

  // Runs until stop(); returns the exit status passed to stop().
  int run();
  // One round: waits at most timeout_ms (-1: until something happens) and dispatches.
  void run_once(int timeout_ms);
  void stop(int status) {
    stopping_ = true;
    status_ = status;
  }
  bool stopping() const { return stopping_; }
  // Runs fn on the loop once the current callback has returned (a reset a guest asked for in the
  // middle of an access, for instance).
  void post(std::function<void()> fn) { posted_.push_back(std::move(fn)); }

 private:
  void arm_timerfd();
  void run_posted();

  Clock& clock_;
  int epoll_fd_ = -1;
  int timer_fd_ = -1;
  int64_t armed_deadline_ = Clock::kNever;
  std::unordered_map<int, std::shared_ptr<Callback>> callbacks_;
  std::vector<std::function<void()>> posted_;
  bool stopping_ = false;
  int status_ = 0;
};

}  // namespace hvmd
