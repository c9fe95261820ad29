#include "dm/rom_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>

#include "dm/machine.h"

namespace hvmd::rom_cache {
namespace {

// Path to image; nullptr records a default ROM that is not installed. Only the device thread
// (or the fuzzer's one thread) creates devices, so no lock.
std::map<std::string, Image>& cache() {
  static std::map<std::string, Image> images;
  return images;
}

Result<Image> open_image(const std::string& path, size_t max_bytes) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return make_error("%s", strerror(errno));
  struct stat st;
  Result<void> usable = ok();
  if (fstat(fd, &st) != 0)
    usable = make_error("%s", strerror(errno));
  else if (!S_ISREG(st.st_mode))
    usable = make_error("not a regular file");
  else if (st.st_size == 0)
    usable = make_error("empty file");
  else if (static_cast<uint64_t>(st.st_size) > max_bytes)
    usable = make_error("file is larger than %zu bytes", max_bytes);
  if (!usable) {
    close(fd);
    return usable.error();
  }
  return std::make_shared<const RomFile>(fd, static_cast<size_t>(st.st_size));
}

}  // namespace

RomFile::~RomFile() {
  close(fd_);
}

Result<void> RomFile::read(std::span<uint8_t> out) const {
  size_t done = 0;
  while (done < size_ && done < out.size()) {
    ssize_t n = pread(fd_, out.data() + done, out.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return make_error("read: %s", strerror(errno));
    if (n == 0) return make_error("the file shrank to %zu bytes since it was opened", done);
    done += static_cast<size_t>(n);
  }
  return ok();
}

Result<Image> load(const std::string& path, size_t max_bytes) {
  if (auto it = cache().find(path); it != cache().end() && it->second) return it->second;
  auto image = open_image(path, max_bytes);
  if (!image) return image.error();
  cache()[path] = *image;
  return *image;
}

Image load_default(const std::string& path, size_t max_bytes) {
  if (auto it = cache().find(path); it != cache().end()) return it->second;
  auto image = open_image(path, max_bytes);
  return cache()[path] = image ? *image : nullptr;
}

void preload_defaults(const DeviceRegistry& registry, size_t max_bytes) {
  for (const DeviceType& type : registry.types())
    if (!type.default_romfile.empty()) load_default(type.default_romfile, max_bytes);
}

}  // namespace hvmd::rom_cache
