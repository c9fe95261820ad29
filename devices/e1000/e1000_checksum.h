// Frame helpers shared by transmit and receive: big-endian 16-bit fields, and the Internet
// checksum (RFC 1071), a 32-bit accumulator of big-endian 16-bit words, folded.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace hvmd::devices::e1000 {

constexpr unsigned kDescriptorSize = 16;  // transmit and receive descriptors alike

inline uint16_t load16be(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] << 8 | p[1]);
}
inline void store16be(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

}  // namespace hvmd::devices::e1000

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
