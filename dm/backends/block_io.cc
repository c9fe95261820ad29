#include "dm/backends/block_io.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace hvmd {

size_t advance_iov(std::vector<iovec>& iov, size_t first, uint64_t bytes) {
  while (first < iov.size() && bytes > 0) {
    uint64_t n = std::min<uint64_t>(bytes, iov[first].iov_len);
    iov[first].iov_base = static_cast<uint8_t*>(iov[first].iov_base) + n;
    iov[first].iov_len -= n;
    bytes -= n;
    if (iov[first].iov_len == 0) ++first;
  }
  while (first < iov.size() && iov[first].iov_len == 0) ++first;
  return first;
}

int64_t run_block_io(BlockIo& io) {
  if (io.op == BlockIo::Op::kFlush) return fdatasync(io.fd) == 0 ? 0 : -errno;
  uint64_t offset = io.offset;
  size_t first = advance_iov(io.iov, 0, 0);
  while (first < io.iov.size()) {
    int count = static_cast<int>(std::min(io.iov.size() - first, BlockIo::kMaxSegments));
    ssize_t n = io.op == BlockIo::Op::kRead
                    ? preadv(io.fd, io.iov.data() + first, count, static_cast<off_t>(offset))
                    : pwritev(io.fd, io.iov.data() + first, count, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -errno;
    if (n == 0) return -EIO;
    offset += static_cast<uint64_t>(n);
    first = advance_iov(io.iov, first, static_cast<uint64_t>(n));
  }
  return 0;
}

}  // namespace hvmd
