// The sysfs `resource` file of a PCI function: one line per region ("0xSTART 0xEND 0xFLAGS"),
// BARs 0-5 then the expansion ROM (later lines, bridge windows and SR-IOV BARs, are ignored).
#pragma once

#include <array>
#include <string_view>

#include "dm/result.h"
#include "passthrough/host_function.h"

namespace hvmd::passthrough {

// Linux's IORESOURCE_* flags that matter here.
inline constexpr uint64_t kResourceIo = 0x100;
inline constexpr uint64_t kResourceMem = 0x200;
inline constexpr uint64_t kResourcePrefetch = 0x2000;
inline constexpr uint64_t kResourceMem64 = 0x100000;

// An unparsable line is an error naming it; an all-zero line is an absent region.
Result<std::array<HostRegion, kRegionCount>> parse_resource(std::string_view text);

}  // namespace hvmd::passthrough
