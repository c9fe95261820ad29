// Reserved memory regions the firmware keeps for devices (Intel VT-d's RMRR structures in the
// ACPI DMAR table, /sys/firmware/acpi/tables/DMAR). A device with one is trouble to pass through:
// Linux refuses it to VFIO unless it is USB or graphics, and Xen wants the range kept out of the
// guest's memory (rdm_policy). The table is untrusted input: every length is checked.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "passthrough/cli/sysfs_tree.h"

namespace hvmd::pcicli {

inline constexpr const char* kDmarTable = "sys/firmware/acpi/tables/DMAR";

// DMAR layout (VT-d specification, chapter 8).
inline constexpr size_t kDmarHeaderSize = 48;  // ACPI header (36) + width, flags, reserved
inline constexpr uint16_t kDmarTypeRmrr = 1;
inline constexpr size_t kRmrrBase = 8;    // 64-bit base address
inline constexpr size_t kRmrrLimit = 16;  // 64-bit limit address (inclusive)
inline constexpr size_t kRmrrSegment = 6;
inline constexpr size_t kRmrrScopes = 24;  // device scope entries start here
inline constexpr size_t kScopeStartBus = 5;
inline constexpr size_t kScopePath = 6;  // (device, function) pairs from here
inline constexpr size_t kMaxDmarBytes = 1 << 20;

struct RmrrScope {
  uint16_t segment = 0;
  uint8_t start_bus = 0;
  std::vector<std::pair<uint8_t, uint8_t>> path;  // (device, function), first hop first
};

struct Rmrr {
  uint64_t base = 0, limit = 0;
  std::vector<RmrrScope> scopes;
};

struct DmarInfo {
  std::vector<Rmrr> rmrrs;
  std::string problem;  // "" or why parsing stopped early
};

DmarInfo parse_dmar(std::span<const uint8_t> table);

// The BDFs a scope names, following bridges' secondary bus numbers through sysfs config.
// "" when a hop cannot be followed.
std::string resolve_scope(const SysfsTree& tree, const RmrrScope& scope);

}  // namespace hvmd::pcicli
