#include "dm/rom_cache.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>

#include "dm/file_io.h"
#include "dm/machine.h"

namespace hvmd::rom_cache {
namespace {

// Path to image; nullptr records a default ROM that is not installed. Only the device thread
// (or the fuzzer's one thread) creates devices, so no lock.
std::map<std::string, Image>& cache() {
  static std::map<std::string, Image> images;
  return images;
}

Result<Image> read_image(const std::string& path, size_t max_bytes) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return make_error("%s", strerror(errno));
  auto bytes = read_fd(fd, max_bytes);
  close(fd);
  if (!bytes) return bytes.error();
  if (bytes->empty()) return make_error("empty file");
  return std::make_shared<const std::vector<uint8_t>>(std::move(*bytes));
}

}  // namespace

Result<Image> load(const std::string& path, size_t max_bytes) {
  if (auto it = cache().find(path); it != cache().end() && it->second) return it->second;
  auto image = read_image(path, max_bytes);
  if (!image) return image.error();
  cache()[path] = *image;
  return *image;
}

Image load_default(const std::string& path, size_t max_bytes) {
  if (auto it = cache().find(path); it != cache().end()) return it->second;
  auto image = read_image(path, max_bytes);
  return cache()[path] = image ? *image : nullptr;
}

void preload_defaults(const DeviceRegistry& registry, size_t max_bytes) {
  for (const DeviceType& type : registry.types())
    if (!type.default_romfile.empty()) load_default(type.default_romfile, max_bytes);
}

}  // namespace hvmd::rom_cache
