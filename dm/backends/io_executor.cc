#include "dm/backends/io_executor.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace hvmd {

Result<void> ThreadPoolExecutor::start() {
  event_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (event_fd_ < 0) return make_error("block I/O: eventfd: %s", strerror(errno));
  HVMD_TRY(loop_.watch(event_fd_, EPOLLIN, [this](uint32_t) {
    uint64_t count;
    (void)!read(event_fd_, &count, sizeof(count));
    run_finished();
  }));
  for (unsigned i = 0; i < kWorkers; ++i) workers_.emplace_back([this] { worker(); });
  return ok();
}

ThreadPoolExecutor::~ThreadPoolExecutor() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  work_ready_.notify_all();
  for (auto& thread : workers_) thread.join();
  if (event_fd_ >= 0) {
    loop_.unwatch(event_fd_);
    close(event_fd_);
  }
}

void ThreadPoolExecutor::submit(Job job, Done done) {
  ++in_flight_;
  {
    std::lock_guard lock(mutex_);
    queue_.emplace_back(std::move(job), std::move(done));
  }
  work_ready_.notify_one();
}

void ThreadPoolExecutor::worker() {
  for (;;) {
    std::pair<Job, Done> item;
    {
      std::unique_lock lock(mutex_);
      work_ready_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      // Jobs still queued at shutdown are dropped: the devices that wanted them are gone.
      if (stopping_) return;
      item = std::move(queue_.front());
      queue_.pop_front();
    }
    int64_t result = item.first();
    {
      std::lock_guard lock(mutex_);
      finished_.push_back({std::move(item.second), result});
    }
    work_finished_.notify_all();
    uint64_t one = 1;
    (void)!write(event_fd_, &one, sizeof(one));
  }
}

void ThreadPoolExecutor::run_finished() {
  std::deque<Finished> finished;
  {
    std::lock_guard lock(mutex_);
    finished.swap(finished_);
  }
  for (auto& item : finished) {
    --in_flight_;
    item.done(item.result);
  }
}

void ThreadPoolExecutor::drain() {
  while (in_flight_ > 0) {
    {
      std::unique_lock lock(mutex_);
      work_finished_.wait(lock, [this] { return !finished_.empty(); });
    }
    run_finished();
  }
}

void InlineExecutor::submit(Job job, Done done) {
  int64_t result = job();
  pending_.emplace_back(std::move(done), result);
}

unsigned InlineExecutor::run_pending() {
  unsigned ran = 0;
  while (!pending_.empty()) {
    auto [done, result] = std::move(pending_.front());
    pending_.pop_front();
    done(result);
    ++ran;
  }
  return ran;
}

}  // namespace hvmd
