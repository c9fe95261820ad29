// Option ROM files by path, opened once per process. A device added at run time (device_add
// inside the sandbox, which may not search the file system) and every fuzz input get their ROM
// through a descriptor opened earlier; the daemon opens each device type's default ROM before it
// enters the sandbox. The bytes are read straight into the device's ROM memory each time a device
// takes the image, so the process keeps no second copy of them (the page cache holds the file,
// shared by every hvmd on the host).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "dm/result.h"

namespace hvmd {

class DeviceRegistry;

namespace rom_cache {

class RomFile {
 public:
  RomFile(int fd, size_t size) : fd_(fd), size_(size) {}
  ~RomFile();
  RomFile(const RomFile&) = delete;
  RomFile& operator=(const RomFile&) = delete;

  size_t size() const { return size_; }
  // Reads the whole image into out (out.size() == size()). A file that shrank since it was
  // opened is an error, not a short ROM.
  Result<void> read(std::span<uint8_t> out) const;

 private:
  int fd_;
  size_t size_;
};

using Image = std::shared_ptr<const RomFile>;

// A romfile= the user named: opened the first time (an empty, larger or non-regular file is an
// error), then the same descriptor.
Result<Image> load(const std::string& path, size_t max_bytes);
// A device type's default ROM, or nullptr where it is not installed (remembered too, so a
// missing file is looked for once).
Image load_default(const std::string& path, size_t max_bytes);
// Opens every registered type's default ROM now.
void preload_defaults(const DeviceRegistry& registry, size_t max_bytes);

}  // namespace rom_cache
}  // namespace hvmd
