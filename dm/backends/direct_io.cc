#include "dm/backends/direct_io.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <linux/stat.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace hvmd {

namespace {

bool power_of_two(uint32_t value) {
  return value != 0 && (value & (value - 1)) == 0;
}

// Reads [offset, offset + length) of the aligned window; bytes past the end of the file (the
// image's last block may be partial) read as zeros.
int64_t read_window(int fd, uint8_t* buffer, uint64_t length, uint64_t offset) {
  uint64_t done = 0;
  while (done < length) {
    ssize_t n = pread(fd, buffer + done, length - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -errno;
    if (n == 0) break;
    done += static_cast<uint64_t>(n);
  }
  std::memset(buffer + done, 0, length - done);
  return 0;
}

int64_t write_window(int fd, const uint8_t* buffer, uint64_t length, uint64_t offset) {
  uint64_t done = 0;
  while (done < length) {
    ssize_t n = pwrite(fd, buffer + done, length - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -errno;
    if (n == 0) return -EIO;
    done += static_cast<uint64_t>(n);
  }
  return 0;
}

// Copies between the window and the request's segments: `length` bytes starting `skip` bytes
// into the segments from index `first`.
void copy_segments(std::vector<iovec>& iov, size_t& first, uint8_t* window, uint64_t length,
                   bool to_segments) {
  uint64_t done = 0;
  while (done < length && first < iov.size()) {
    uint64_t n = std::min<uint64_t>(length - done, iov[first].iov_len);
    auto* segment = static_cast<uint8_t*>(iov[first].iov_base);
    if (to_segments) {
      std::memcpy(segment, window + done, n);
    } else {
      std::memcpy(window + done, segment, n);
    }
    done += n;
    first = advance_iov(iov, first, n);
  }
}

}  // namespace

DirectIo::DirectIo(uint32_t offset_alignment, uint32_t memory_alignment)
    : offset_alignment_(offset_alignment), memory_alignment_(memory_alignment) {}

DirectIo DirectIo::for_fd(int fd) {
  uint32_t offset = kAssumedAlignment, memory = kAssumedAlignment;
  struct statx st {};
  if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &st) == 0 && (st.stx_mask & STATX_DIOALIGN) &&
      power_of_two(st.stx_dio_offset_align) && power_of_two(st.stx_dio_mem_align)) {
    offset = st.stx_dio_offset_align;
    memory = st.stx_dio_mem_align;
  } else if (struct stat s{}; fstat(fd, &s) == 0 && S_ISBLK(s.st_mode)) {
    int block = 0;
    if (ioctl(fd, BLKSSZGET, &block) == 0 && block > 0 && power_of_two(uint32_t(block)))
      offset = memory = static_cast<uint32_t>(block);
  }
  // Kernels before 6.0 checked every segment against the logical block size: never assume less.
  return DirectIo(std::min<uint32_t>(offset, kAssumedAlignment),
                  std::min<uint32_t>(std::max(memory, offset), kAssumedAlignment));
}

bool DirectIo::aligned(const BlockIo& io) const {
  if (io.offset % offset_alignment_) return false;
  for (const iovec& v : io.iov) {
    if (reinterpret_cast<uintptr_t>(v.iov_base) % memory_alignment_) return false;
    if (v.iov_len % offset_alignment_) return false;
  }
  return true;
}

int64_t DirectIo::run_buffered(BlockIo& io, uint64_t image_size) const {
  const uint64_t block = offset_alignment_;
  void* memory = nullptr;
  if (posix_memalign(&memory, std::max<uint32_t>(memory_alignment_, block), kWindowBytes) != 0)
    return -ENOMEM;
  std::unique_ptr<uint8_t, decltype(&free)> window(static_cast<uint8_t*>(memory), &free);
  std::unique_lock lock(*read_modify_write_, std::defer_lock);
  if (io.op == BlockIo::Op::kWrite) lock.lock();

  uint64_t offset = io.offset;
  uint64_t end = io.offset + io.bytes();
  size_t first = advance_iov(io.iov, 0, 0);
  while (offset < end) {
    uint64_t start = offset / block * block;
    uint64_t limit = std::min(start + kWindowBytes, (end + block - 1) / block * block);
    uint64_t n = std::min(end, limit) - offset;  // request bytes in this window
    uint64_t window_bytes = limit - start;
    bool whole = offset == start && n == window_bytes;
    if (io.op == BlockIo::Op::kRead || !whole) {
      if (int64_t r = read_window(io.fd, window.get(), window_bytes, start); r < 0) return r;
    }
    if (io.op == BlockIo::Op::kRead) {
      copy_segments(io.iov, first, window.get() + (offset - start), n, true);
    } else {
      copy_segments(io.iov, first, window.get() + (offset - start), n, false);
      // The caller keeps writable O_DIRECT images whole blocks long, so this stays inside.
      if (limit > image_size) return -EIO;
      if (int64_t r = write_window(io.fd, window.get(), window_bytes, start); r < 0) return r;
    }
    offset += n;
  }
  return 0;
}

}  // namespace hvmd
