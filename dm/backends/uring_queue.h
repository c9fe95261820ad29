// UringQueue: block requests through io_uring, so a read of cached data costs one system call
// on the device thread (the kernel copies straight into the request's buffers and posts the
// completion) instead of a hand-off to a worker thread and back.
//
// The ring is set up before the sandbox (io_uring_setup and io_uring_register stay forbidden
// after it; only io_uring_enter is allowed) and restricted before it is enabled: it accepts
// readv, writev and fsync and nothing else, so a compromised hvmd cannot use it to open, connect
// or do anything its seccomp filter refuses. Completions wake the event loop through an eventfd.
#pragma once

#include <liburing.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include "dm/backends/block_io.h"
#include "dm/backends/io_executor.h"
#include "dm/event_loop.h"

namespace hvmd {

class UringQueue {
 public:
  // Requests in the kernel at once; more wait here in order (IDE moves at most a few chunks per
  // channel, so this is rarely reached).
  static constexpr unsigned kEntries = 64;

  // nullptr (and *why) where the kernel has no io_uring, refuses it (io_uring_disabled, a
  // container's filter) or lacks ring restrictions: the caller uses its worker pool instead.
  static std::unique_ptr<UringQueue> create(EventLoop& loop, std::string* why);
  ~UringQueue();
  UringQueue(const UringQueue&) = delete;
  UringQueue& operator=(const UringQueue&) = delete;

  // done runs on the device thread (from the loop or from wait()), never inside submit().
  void submit(BlockIo io, IoExecutor::Done done);
  unsigned in_flight() const { return in_ring_ + static_cast<unsigned>(waiting_.size()); }
  // Blocks until at least one request completes, then runs every completion that is ready.
  void wait();

 private:
  struct Request {
    BlockIo io;
    IoExecutor::Done done;
    size_t first = 0;  // first segment with bytes left (after a short transfer)
  };
  UringQueue(EventLoop& loop, int event_fd) : loop_(loop), event_fd_(event_fd) {}
  void start(std::unique_ptr<Request> request);
  void fill_ring();
  void run_completions();

  EventLoop& loop_;
  int event_fd_;
  io_uring ring_{};
  bool ring_ready_ = false;
  unsigned in_ring_ = 0;
  std::deque<std::unique_ptr<Request>> waiting_;
};

}  // namespace hvmd
