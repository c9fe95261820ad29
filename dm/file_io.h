// Whole-file reads and writes on descriptors (device state through QMP fdsets and -incoming).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "dm/result.h"

namespace hvmd {

// Reads to end of file; a file larger than max_bytes is an error, not a memory exhaustion.
Result<std::vector<uint8_t>> read_fd(int fd, size_t max_bytes);
Result<void> write_fd(int fd, std::span<const uint8_t> data);

}  // namespace hvmd
