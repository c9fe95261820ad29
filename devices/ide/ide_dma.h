// The bus-master engine's chunks in flight (ide_dma.cc): each chunk is a stretch of the transfer
// whose PRD pieces are pinned guest RAM, read or written by the block layer straight from and to
// those pages, several at once. None is in flight once the channel is quiesced, so none is saved.
#pragma once

#include <sys/uio.h>

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "devices/ide/ide_channel.h"

namespace hvmd::devices::ide {

struct IdeChannel::DmaChunk {
  struct Pin {
    uint64_t gpa;
    std::span<uint8_t> view;
  };
  bool busy = false;
  bool to_host = true;
  std::vector<iovec> iov;  // the pins, neighbours in host memory merged
  std::vector<Pin> pins;
};

struct IdeChannel::DmaInFlight {
  // Chunks in flight at once, and how much each moves: enough to keep a disk and the worker
  // pool busy while the device thread plans the next, little enough to stop soon after a fault.
  static constexpr unsigned kMaxChunks = 4;
  static constexpr uint64_t kChunkBytes = 1 << 20;
  // Segments per chunk: a guest scattering a transfer over single pages fills a chunk with 256.
  static constexpr size_t kMaxSegments = 256;
  // Why the engine stops starting chunks: it ends the command once those in flight are done.
  enum class Stop : uint8_t { kNone, kError, kShort, kFault };

  std::array<DmaChunk, kMaxChunks> chunks;
  unsigned in_flight = 0;  // chunks, plus a bounce chunk
  bool bounce_in_flight = false;
  Stop stop = Stop::kNone;
  int error = 0;
};

}  // namespace hvmd::devices::ide
