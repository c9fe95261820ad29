// Walking a function's capability list without trusting it: the list is read from hardware (or a
// guest-reachable copy), and may point below the header, past the end, at itself or in a cycle.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

namespace hvmd::passthrough {

struct Capability {
  uint8_t id = 0;
  uint8_t offset = 0;
};

struct CapabilityList {
  std::vector<Capability> caps;  // in chain order, each offset once
  // Why the walk stopped early, or nullptr: the chain ended with 0.
  const char* broken = nullptr;
};

// read8(reg) reads one config byte. The walk starts at the capabilities pointer (0x34), ignores
// its low two bits as the spec says, and stops at 0, at an offset below 0x40 or past 0xfc, at an
// offset seen before (a cycle), or after kCapChainMaxHops.
CapabilityList walk_capabilities(const std::function<uint8_t(uint32_t)>& read8);

// The bytes a capability occupies, from its ID (and for vendor capabilities its length byte),
// bounded by the next capability at a higher offset and the end of the 256 bytes; 0 when unknown.
unsigned capability_length(uint8_t id, uint8_t offset,
                           const std::function<uint8_t(uint32_t)>& read8);

}  // namespace hvmd::passthrough
