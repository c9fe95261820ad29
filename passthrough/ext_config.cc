#include "passthrough/ext_config.h"

#include <algorithm>

#include "passthrough/cap_regs.h"

namespace hvmd::passthrough {
namespace {

// Extended capability header: ID in bits 15:0, version in 19:16, next pointer in 31:20 (its low
// two bits reserved).
constexpr uint16_t id_of(uint32_t header) {
  return static_cast<uint16_t>(header & 0xffff);
}
constexpr uint8_t version_of(uint32_t header) {
  return static_cast<uint8_t>((header >> 16) & 0xf);
}
constexpr uint32_t next_of(uint32_t header) {
  return (header >> 20) & 0xffc;
}
constexpr uint32_t make_header(uint16_t id, uint8_t version, uint32_t next) {
  return id | uint32_t{version} << 16 | next << 20;
}

// Bytes of the capabilities hvmd hides whose length the spec fixes (the rest run to the next
// capability above them).
unsigned known_length(uint16_t id) {
  switch (id) {
    case kExtCapSriov:
      return 0x40;
    case kExtCapAcs:
      return 0x08;  // without the egress control vector
    default:
      return 0;
  }
}

}  // namespace

bool ext_capability_supported(uint16_t id) {
  return id == kExtCapAer || id == kExtCapDsn || id == kExtCapVendor;
}

ExtCapabilityList walk_ext_capabilities(const std::function<uint32_t(uint32_t)>& read32,
                                        uint32_t config_size) {
  ExtCapabilityList list;
  if (config_size < kExtConfigSize) return list;
  std::vector<bool> seen(kExtConfigSize / 4);
  uint32_t at = kExtConfigStart;
  for (unsigned hops = 0;; ++hops) {
    if (at < kExtConfigStart || at > kExtConfigSize - 4) {
      list.broken = "pointer outside 0x100-0xffc";
      break;
    }
    if (seen[at / 4]) {
      list.broken = "cycle";
      break;
    }
    if (hops == kExtCapMaxHops) {
      list.broken = "too many capabilities";
      break;
    }
    seen[at / 4] = true;
    uint32_t header = read32(at);
    // No extended capabilities: 0 at 0x100 (or all-ones where the read failed).
    if (header == 0 || header == ~0u) break;
    list.caps.push_back({id_of(header), version_of(header), static_cast<uint16_t>(at)});
    at = next_of(header);
    if (at == 0) break;
  }
  return list;
}

ExtendedPlan plan_extended(const std::function<uint32_t(uint32_t)>& read32, uint32_t config_size,
                           bool enabled) {
  ExtendedPlan plan;
  if (!enabled || config_size < kExtConfigSize) return plan;
  plan.size = kExtConfigSize;
  ExtCapabilityList list = walk_ext_capabilities(read32, config_size);
  plan.broken_chain = list.broken;
  for (const ExtCapability& c : list.caps)
    (ext_capability_supported(c.id) ? plan.kept : plan.hidden).push_back(c);
  // The guest's chain: each kept header points at the next kept one.
  for (size_t i = 0; i < plan.kept.size(); ++i) {
    const ExtCapability& c = plan.kept[i];
    uint32_t next = i + 1 < plan.kept.size() ? plan.kept[i + 1].offset : 0;
    plan.headers.push_back({c.offset, make_header(c.id, c.version, next)});
  }
  // The chain starts at 0x100 whatever the host has there: a hidden capability there leaves a
  // null capability (ID 0, version 0) linking to the first kept one, or 0 when none is kept.
  if (plan.kept.empty() || plan.kept.front().offset != kExtConfigStart)
    plan.headers.push_back({static_cast<uint16_t>(kExtConfigStart),
                            plan.kept.empty() ? 0u : make_header(0, 0, plan.kept.front().offset)});
  // Hidden bodies read 0: up to the spec's length where it is fixed, else up to the next
  // capability above (every capability the walk saw, kept or not, ends where another begins).
  std::vector<uint16_t> starts;
  for (const ExtCapability& c : list.caps) starts.push_back(c.offset);
  std::sort(starts.begin(), starts.end());
  for (const ExtCapability& c : plan.hidden) {
    auto above = std::upper_bound(starts.begin(), starts.end(), c.offset);
    uint32_t end = above == starts.end() ? kExtConfigSize : *above;
    if (unsigned length = known_length(c.id); length && c.offset + length < end)
      end = c.offset + length;
    uint32_t begin = c.offset == kExtConfigStart ? c.offset + 4 : c.offset;  // 0x100: a header
    if (begin < end)
      plan.zeroed.push_back({static_cast<uint16_t>(begin), static_cast<uint16_t>(end)});
  }
  return plan;
}

}  // namespace hvmd::passthrough
