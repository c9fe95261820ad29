// BlockIo: one request to an image, as the IoExecutor carries it. A read or write names its
// buffers as an iovec list, so data can move between the image and guest RAM without a copy; a
// flush is fdatasync. run_block_io() is the synchronous version the worker pool and the fuzzer's
// inline executor use.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <vector>

namespace hvmd {

struct BlockIo {
  enum class Op : uint8_t { kRead, kWrite, kFlush };
  // The kernel's limit on one vectored call (UIO_MAXIOV); callers split longer lists.
  static constexpr size_t kMaxSegments = 1024;

  Op op = Op::kRead;
  int fd = -1;
  uint64_t offset = 0;
  // The request's own copy of the list: the buffers it names belong to the caller until the
  // completion runs, the list itself does not.
  std::vector<iovec> iov;
  // aio=threads: the worker pool even where io_uring is available.
  bool threads_only = false;
  // A buffered image (not O_DIRECT): a read may be answered from the page cache at once.
  bool page_cache = false;

  uint64_t bytes() const {
    uint64_t total = 0;
    for (const iovec& v : iov) total += v.iov_len;
    return total;
  }
};

// Moves every byte of a read or write (the kernel may move less than asked: signals, large
// requests) or flushes. 0, or a negative errno; a read or write that reaches the end of the file
// is -EIO (the image shrank under us).
int64_t run_block_io(BlockIo& io);

// Drops the first `bytes` of an iovec list in place (what a short transfer already moved) and
// returns the index of the first segment with bytes left.
size_t advance_iov(std::vector<iovec>& iov, size_t first, uint64_t bytes);

}  // namespace hvmd
