#include "passthrough/cli/rmrr.h"

#include <cstdio>

#include "passthrough/cli/inventory.h"

namespace hvmd::pcicli {
namespace {

uint16_t get16(std::span<const uint8_t> b, size_t at) {
  return static_cast<uint16_t>(b[at] | b[at + 1] << 8);
}
uint64_t get64(std::span<const uint8_t> b, size_t at) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i) v |= static_cast<uint64_t>(b[at + i]) << (8 * i);
  return v;
}

constexpr size_t kStructHeader = 4;  // type, length
constexpr size_t kSecondaryBus = 0x19;
constexpr size_t kMaxRmrrs = 256;

}  // namespace

DmarInfo parse_dmar(std::span<const uint8_t> t) {
  DmarInfo info;
  if (t.size() < kDmarHeaderSize || t[0] != 'D' || t[1] != 'M' || t[2] != 'A' || t[3] != 'R') {
    info.problem = "not a DMAR table";
    return info;
  }
  // The table's own length, but never past what was read.
  size_t length = static_cast<size_t>(get16(t, 4)) | static_cast<size_t>(get16(t, 6)) << 16;
  if (length > t.size()) length = t.size();
  size_t at = kDmarHeaderSize;
  // Each structure is at least 4 bytes long, so the walk ends within length / 4 steps.
  while (at + kStructHeader <= length) {
    uint16_t type = get16(t, at), len = get16(t, at + 2);
    if (len < kStructHeader || len > length - at) {
      info.problem = "a remapping structure's length runs past the table";
      return info;
    }
    if (type == kDmarTypeRmrr && len >= kRmrrScopes && info.rmrrs.size() < kMaxRmrrs) {
      Rmrr r;
      uint16_t segment = get16(t, at + kRmrrSegment);
      r.base = get64(t, at + kRmrrBase);
      r.limit = get64(t, at + kRmrrLimit);
      size_t s = at + kRmrrScopes;
      while (s + kScopePath <= at + len) {
        size_t slen = t[s + 1];
        if (slen < kScopePath || slen > at + len - s) {
          info.problem = "a device scope's length runs past its RMRR";
          break;
        }
        RmrrScope scope{segment, t[s + kScopeStartBus], {}};
        for (size_t p = s + kScopePath; p + 2 <= s + slen; p += 2) {
          scope.path.emplace_back(t[p], t[p + 1]);
        }
        if (!scope.path.empty()) r.scopes.push_back(std::move(scope));
        s += slen;
      }
      info.rmrrs.push_back(std::move(r));
    }
    at += len;
  }
  return info;
}

std::string resolve_scope(const SysfsTree& tree, const RmrrScope& scope) {
  unsigned bus = scope.start_bus;
  for (size_t i = 0; i < scope.path.size(); ++i) {
    auto [dev, fn] = scope.path[i];
    if (dev > 0x1f || fn > 7) return "";
    char bdf[16];
    snprintf(bdf, sizeof bdf, "%04x:%02x:%02x.%x", scope.segment, bus, dev, fn);
    if (i + 1 == scope.path.size()) return bdf;
    // A bridge on the way: the next hop is on its secondary bus.
    auto config = tree.read_bytes(device_path(bdf, "config"), kSecondaryBus + 1);
    if (!config || config->size() <= kSecondaryBus) return "";
    bus = (*config)[kSecondaryBus];
  }
  return "";
}

}  // namespace hvmd::pcicli
