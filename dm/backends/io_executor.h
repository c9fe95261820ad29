// IoExecutor: where blocking host I/O runs. Disk reads, writes and flushes must never stall the
// device thread (a slow disk would freeze every other device), so a job runs on a worker and its
// completion comes back to the device thread, where device code may run. Block requests
// (BlockIo) go through io_uring where the kernel offers it, the worker pool otherwise.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "dm/backends/block_io.h"
#include "dm/event_loop.h"
#include "dm/result.h"

namespace hvmd {

class IoExecutor {
 public:
  using Job = std::function<int64_t()>;              // runs off the device thread
  using Done = std::function<void(int64_t result)>;  // runs on the device thread

  virtual ~IoExecutor() = default;
  virtual void submit(Job job, Done done) = 0;
  // A block request; done gets 0 or a negative errno. The buffers it names stay the caller's
  // until done runs. By default it runs as a job (run_block_io).
  virtual void submit_io(BlockIo io, Done done);
  // Blocks until every submitted job has finished and its completion has run, including jobs
  // that completions submit meanwhile (a device must not reset or go away with I/O in flight).
  virtual void drain() = 0;
  virtual unsigned in_flight() const = 0;
};

class UringQueue;

// The daemon's executor: a few worker threads (started up front, before the sandbox forbids
// creating threads) and an eventfd that wakes the loop to run completions; and, where the kernel
// offers it, an io_uring (set up in start(), before the sandbox) that block requests use instead
// of the workers unless they ask for threads (aio=threads).
class ThreadPoolExecutor final : public IoExecutor {
 public:
  static constexpr unsigned kWorkers = 4;
  enum class Uring { kProbe, kOff };
  explicit ThreadPoolExecutor(EventLoop& loop, Uring uring = Uring::kProbe);
  // Creates the completion eventfd on the (initialised) loop, starts the workers and probes
  // io_uring.
  Result<void> start();
  ~ThreadPoolExecutor() override;
  ThreadPoolExecutor(const ThreadPoolExecutor&) = delete;
  ThreadPoolExecutor& operator=(const ThreadPoolExecutor&) = delete;

  void submit(Job job, Done done) override;
  void submit_io(BlockIo io, Done done) override;
  void drain() override;
  unsigned in_flight() const override;
  // Whether block requests can use io_uring, and why not if they cannot.
  bool has_uring() const { return uring_ != nullptr; }
  const std::string& uring_unavailable() const { return uring_why_; }

 private:
  struct Finished {
    Done done;
    int64_t result;
  };
  void worker();
  void run_finished();
  bool read_from_page_cache(BlockIo& io);
  void run_cached();

  EventLoop& loop_;
  int event_fd_ = -1;
  std::mutex mutex_;
  std::condition_variable work_ready_;
  std::condition_variable work_finished_;
  std::deque<std::pair<Job, Done>> queue_;
  std::deque<Finished> finished_;
  std::vector<std::thread> workers_;
  bool stopping_ = false;
  unsigned in_flight_ = 0;  // device thread only
  bool uring_wanted_;
  std::unique_ptr<UringQueue> uring_;
  std::string uring_why_;
  // Reads the page cache answered in submit_io, their completions posted to the loop.
  std::vector<Done> cached_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // the posted work checks it
};

// Runs each job at once on the calling thread and queues its completion for run_pending(): for
// the fuzzer and unit tests, where determinism matters more than overlap.
class InlineExecutor final : public IoExecutor {
 public:
  void submit(Job job, Done done) override;
  void drain() override { run_pending(); }
  unsigned in_flight() const override { return static_cast<unsigned>(pending_.size()); }
  // Runs queued completions (and those they cause); returns how many ran.
  unsigned run_pending();

 private:
  std::deque<std::pair<Done, int64_t>> pending_;
};

}  // namespace hvmd
