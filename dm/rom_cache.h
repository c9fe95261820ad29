// Option ROM images by path, read once per process. A device added at run time (device_add
// inside the sandbox, which may not search the file system) and every fuzz input get their ROM
// from memory; the daemon reads each device type's default ROM before it enters the sandbox.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dm/result.h"

namespace hvmd {

class DeviceRegistry;

namespace rom_cache {

using Image = std::shared_ptr<const std::vector<uint8_t>>;

// A romfile= the user named: read the first time (an empty or larger file is an error), then
// the same bytes.
Result<Image> load(const std::string& path, size_t max_bytes);
// A device type's default ROM, or nullptr where it is not installed (remembered too, so a
// missing file is looked for once).
Image load_default(const std::string& path, size_t max_bytes);
// Reads every registered type's default ROM now.
void preload_defaults(const DeviceRegistry& registry, size_t max_bytes);

}  // namespace rom_cache
}  // namespace hvmd
