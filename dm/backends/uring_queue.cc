#include "dm/backends/uring_queue.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace hvmd {

std::unique_ptr<UringQueue> UringQueue::create(EventLoop& loop, std::string* why) {
  int event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (event_fd < 0) {
    *why = std::string("eventfd: ") + strerror(errno);
    return nullptr;
  }
  std::unique_ptr<UringQueue> queue(new UringQueue(loop, event_fd));
  // Created disabled so the restrictions are in place before the first request can be queued.
  io_uring_params params{};
  params.flags = IORING_SETUP_R_DISABLED;
  int rc = io_uring_queue_init_params(kEntries, &queue->ring_, &params);
  if (rc < 0) {
    *why = std::string("io_uring_setup: ") + strerror(-rc);
    return nullptr;
  }
  queue->ring_ready_ = true;
  rc = io_uring_register_eventfd(&queue->ring_, event_fd);
  if (rc < 0) {
    *why = std::string("io_uring eventfd: ") + strerror(-rc);
    return nullptr;
  }
  io_uring_restriction allowed[4] = {};
  allowed[0].opcode = IORING_RESTRICTION_SQE_OP;
  allowed[0].sqe_op = IORING_OP_READV;
  allowed[1].opcode = IORING_RESTRICTION_SQE_OP;
  allowed[1].sqe_op = IORING_OP_WRITEV;
  allowed[2].opcode = IORING_RESTRICTION_SQE_OP;
  allowed[2].sqe_op = IORING_OP_FSYNC;
  allowed[3].opcode = IORING_RESTRICTION_SQE_FLAGS_ALLOWED;
  allowed[3].sqe_flags = IOSQE_IO_DRAIN;
  rc = io_uring_register_restrictions(&queue->ring_, allowed, 4);
  if (rc < 0) {
    *why = std::string("io_uring restrictions: ") + strerror(-rc);
    return nullptr;
  }
  rc = io_uring_enable_rings(&queue->ring_);
  if (rc < 0) {
    *why = std::string("io_uring enable: ") + strerror(-rc);
    return nullptr;
  }
  UringQueue* self = queue.get();
  auto watched = loop.watch(event_fd, EPOLLIN, [self](uint32_t) {
    uint64_t count;
    (void)!read(self->event_fd_, &count, sizeof(count));
    self->run_completions();
  });
  if (!watched) {
    *why = watched.error().message;
    close(event_fd);
    queue->event_fd_ = -1;
    return nullptr;
  }
  return queue;
}

UringQueue::~UringQueue() {
  if (ring_ready_) {
    // Whatever is still in the kernel finishes before the buffers can go; nobody waits for the
    // completions any more, so they are dropped.
    while (in_ring_ > 0) {
      io_uring_cqe* cqe = nullptr;
      if (io_uring_wait_cqe(&ring_, &cqe) < 0) break;
      delete static_cast<Request*>(io_uring_cqe_get_data(cqe));
      io_uring_cqe_seen(&ring_, cqe);
      --in_ring_;
    }
    io_uring_queue_exit(&ring_);
  }
  if (event_fd_ >= 0) {
    loop_.unwatch(event_fd_);
    close(event_fd_);
  }
}

void UringQueue::submit(BlockIo io, IoExecutor::Done done) {
  auto request = std::make_unique<Request>(Request{std::move(io), std::move(done)});
  request->first = advance_iov(request->io.iov, 0, 0);
  if (!waiting_.empty() || in_ring_ >= kEntries) {
    waiting_.push_back(std::move(request));  // keeps submission order
    return;
  }
  start(std::move(request));
}

// Queues the request's next step in the ring: all of a read or write that is left, or the flush.
void UringQueue::start(std::unique_ptr<Request> request) {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  if (!sqe) {  // cannot happen while in_ring_ < kEntries, but never drop a request
    waiting_.push_front(std::move(request));
    return;
  }
  BlockIo& io = request->io;
  auto count =
      static_cast<unsigned>(std::min(io.iov.size() - request->first, BlockIo::kMaxSegments));
  switch (io.op) {
    case BlockIo::Op::kRead:
      io_uring_prep_readv(sqe, io.fd, io.iov.data() + request->first, count, io.offset);
      break;
    case BlockIo::Op::kWrite:
      io_uring_prep_writev(sqe, io.fd, io.iov.data() + request->first, count, io.offset);
      break;
    case BlockIo::Op::kFlush:
      // IO_DRAIN: the flush starts only after every request submitted before it has completed,
      // so it covers each write the guest has already been told is done, whatever the order in
      // which the kernel runs them.
      io_uring_prep_fsync(sqe, io.fd, IORING_FSYNC_DATASYNC);
      io_uring_sqe_set_flags(sqe, IOSQE_IO_DRAIN);
      break;
  }
  io_uring_sqe_set_data(sqe, request.release());
  ++in_ring_;
  // A failure here (EAGAIN, EBUSY: the kernel is short of memory) leaves the entry in the
  // submission queue, and the next submit or wait passes it on.
  (void)io_uring_submit(&ring_);
}

void UringQueue::fill_ring() {
  while (!waiting_.empty() && in_ring_ < kEntries) {
    auto request = std::move(waiting_.front());
    waiting_.pop_front();
    start(std::move(request));
  }
}

void UringQueue::run_completions() {
  io_uring_cqe* cqe = nullptr;
  while (io_uring_peek_cqe(&ring_, &cqe) == 0) {
    std::unique_ptr<Request> request(static_cast<Request*>(io_uring_cqe_get_data(cqe)));
    int result = cqe->res;
    io_uring_cqe_seen(&ring_, cqe);
    --in_ring_;
    if (result == -EAGAIN || result == -EINTR) {
      start(std::move(request));  // nothing moved: try again
      continue;
    }
    if (result >= 0 && request->io.op != BlockIo::Op::kFlush) {
      // A short read or write: the rest goes back into the ring, from where it stopped.
      request->io.offset += static_cast<uint64_t>(result);
      request->first = advance_iov(request->io.iov, request->first, static_cast<uint64_t>(result));
      bool left = request->first < request->io.iov.size();
      if (left && result > 0) {
        start(std::move(request));
        continue;
      }
      if (left) result = -EIO;  // the end of the file: the image shrank under us
    }
    fill_ring();
    request->done(result < 0 ? result : 0);
  }
  fill_ring();
}

void UringQueue::wait() {
  // Submits anything a failed submit left behind, then waits for one completion.
  if (in_ring_ > 0) io_uring_submit_and_wait(&ring_, 1);
  run_completions();
}

}  // namespace hvmd
