// DirectIo: the rules O_DIRECT (cache=none, cache=directsync) puts on a request, and the aligned
// buffer for requests that break them. The kernel refuses a direct transfer whose file offset or
// length is not a multiple of the device's logical block, or whose memory is not aligned as the
// file system needs (statx's STATX_DIOALIGN says both; 4096 is assumed where it says nothing). A
// guest's PRD entries can name any even address, so such a request is read into an aligned
// buffer covering whole blocks, or written by reading those blocks, changing the bytes and writing
// them back, one window at a time. Buffered read-modify-writes of one image are serialised, so
// two requests sharing a block never lose each other's bytes.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>

#include "dm/backends/block_io.h"

namespace hvmd {

class DirectIo {
 public:
  // The buffer moves at most this much per step, however large the request.
  static constexpr uint64_t kWindowBytes = 1 << 20;
  static constexpr uint32_t kAssumedAlignment = 4096;

  // The alignment for fd (opened O_DIRECT).
  static DirectIo for_fd(int fd);
  DirectIo(uint32_t offset_alignment, uint32_t memory_alignment);

  uint32_t offset_alignment() const { return offset_alignment_; }
  uint32_t memory_alignment() const { return memory_alignment_; }
  // Whether the kernel takes io as it is.
  bool aligned(const BlockIo& io) const;
  // Runs a read or write through the aligned buffer (on a worker: it blocks). image_size bounds
  // the blocks touched: the caller has checked the request lies within it.
  int64_t run_buffered(BlockIo& io, uint64_t image_size) const;

 private:
  uint32_t offset_alignment_;
  uint32_t memory_alignment_;
  std::shared_ptr<std::mutex> read_modify_write_ = std::make_shared<std::mutex>();
};

}  // namespace hvmd
