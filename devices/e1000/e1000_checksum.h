// The Internet checksum (RFC 1071): a 32-bit accumulator of big-endian 16-bit words, folded.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace hvmd::devices::e1000::checksum {

inline uint32_t add(uint32_t sum, std::span<const uint8_t> data) {
  size_t i = 0;
  for (; i + 1 < data.size(); i += 2) sum += uint32_t{data[i]} << 8 | data[i + 1];
  if (i < data.size()) sum += uint32_t{data[i]} << 8;
  // Keep the accumulator from overflowing on long inputs.
  return (sum & 0xffff) + (sum >> 16);
}

inline uint16_t fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

}  // namespace hvmd::devices::e1000::checksum
