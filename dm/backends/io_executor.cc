#include "dm/backends/io_executor.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "dm/backends/uring_queue.h"
#include "dm/log.h"

namespace hvmd {

ThreadPoolExecutor::ThreadPoolExecutor(EventLoop& loop, Uring uring)
    : loop_(loop), uring_wanted_(uring == Uring::kProbe) {}

Result<void> ThreadPoolExecutor::start() {
  event_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (event_fd_ < 0) return make_error("block I/O: eventfd: %s", strerror(errno));
  HVMD_TRY(loop_.watch(event_fd_, EPOLLIN, [this](uint32_t) {
    uint64_t count;
    (void)!read(event_fd_, &count, sizeof(count));
    run_finished();
  }));
  for (unsigned i = 0; i < kWorkers; ++i) workers_.emplace_back([this] { worker(); });
  if (uring_wanted_) {
    uring_ = UringQueue::create(loop_, &uring_why_);
    // Not an error: the worker pool serves every request, only with a hand-off more per request.
    if (!uring_) HVMD_INFO("block I/O: no io_uring (%s); using worker threads", uring_why_.c_str());
  } else {
    uring_why_ = "not wanted";
  }
  return ok();
}

void IoExecutor::submit_io(BlockIo io, Done done) {
  submit([io = std::move(io)]() mutable { return run_block_io(io); }, std::move(done));
}

void ThreadPoolExecutor::submit_io(BlockIo io, Done done) {
  if (read_from_page_cache(io)) {
    cached_.push_back(std::move(done));
    if (cached_.size() == 1) {
      loop_.post([this, alive = std::weak_ptr<bool>(alive_)] {
        if (!alive.expired()) run_cached();
      });
    }
    return;
  }
  if (uring_ && !io.threads_only) {
    uring_->submit(std::move(io), std::move(done));
    return;
  }
  IoExecutor::submit_io(std::move(io), std::move(done));
}

unsigned ThreadPoolExecutor::in_flight() const {
  return in_flight_ + static_cast<unsigned>(cached_.size()) + (uring_ ? uring_->in_flight() : 0);
}

// A read of data the page cache holds is done here at once, with one system call, instead of a
// trip through the ring or a worker and back (what makes 4 KiB reads at queue depth 1 slow):
// RWF_NOWAIT returns EAGAIN rather than wait for the disk. True when the whole read was done;
// otherwise io keeps what is left (all of it, or the part past a short read) for the usual path.
// Images opened O_DIRECT skip this (their reads always wait for the disk).
bool ThreadPoolExecutor::read_from_page_cache(BlockIo& io) {
  if (io.op != BlockIo::Op::kRead || !io.page_cache) return false;
  size_t first = advance_iov(io.iov, 0, 0);
  while (first < io.iov.size()) {
    auto count = static_cast<int>(std::min(io.iov.size() - first, BlockIo::kMaxSegments));
    ssize_t n =
        preadv2(io.fd, io.iov.data() + first, count, static_cast<off_t>(io.offset), RWF_NOWAIT);
    if (n <= 0) return false;  // EAGAIN, EOPNOTSUPP, the end of the file: the usual path decides
    io.offset += static_cast<uint64_t>(n);
    first = advance_iov(io.iov, first, static_cast<uint64_t>(n));
  }
  return true;
}

void ThreadPoolExecutor::run_cached() {
  auto cached = std::move(cached_);
  cached_.clear();
  for (auto& done : cached) done(0);
}

ThreadPoolExecutor::~ThreadPoolExecutor() {
  uring_.reset();  // waits for what the kernel still has
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
  // Completions may submit more, to either side: loop until both are empty. Each side finishes
  // its requests by itself, so waiting on one never blocks the other's progress.
  for (;;) {
    if (!cached_.empty()) {
      run_cached();
      continue;
    }
    if (uring_ && uring_->in_flight() > 0) {
      uring_->wait();
      continue;
    }
    if (in_flight_ == 0) return;
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
