#include "passthrough/sysfs_resource.h"

#include <cinttypes>
#include <cstdio>
#include <string>

namespace hvmd::passthrough {

Result<std::array<HostRegion, kRegionCount>> parse_resource(std::string_view text) {
  std::array<HostRegion, kRegionCount> regions{};
  for (int index = 0; index < kRegionCount; ++index) {
    size_t eol = text.find('\n');
    std::string line(text.substr(0, eol));
    text = eol == std::string_view::npos ? std::string_view{} : text.substr(eol + 1);
    if (line.empty()) break;  // fewer lines: the rest are absent
    uint64_t start = 0, end = 0, flags = 0;
    if (sscanf(line.c_str(), "%" SCNx64 " %" SCNx64 " %" SCNx64, &start, &end, &flags) != 3)
      return make_error("resource line %d '%s' is not 'START END FLAGS'", index, line.c_str());
    if (start == 0 && end == 0) continue;
    if (end < start)
      return make_error("resource line %d '%s' ends before it starts", index, line.c_str());
    HostRegion& r = regions[index];
    r.size = end - start + 1;
    r.host_address = start;
    if (flags & kResourceIo) {
      r.kind = RegionKind::kIo;
    } else if (flags & kResourceMem) {
      r.kind = (flags & kResourceMem64) && index != kRomRegion ? RegionKind::kMemory64
                                                               : RegionKind::kMemory32;
      r.prefetchable = (flags & kResourcePrefetch) != 0;
    } else {
      r = {};  // neither: not a region hvmd can give a guest
    }
  }
  return regions;
}

}  // namespace hvmd::passthrough
