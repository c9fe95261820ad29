#include "dm/file_io.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace hvmd {

Result<std::vector<uint8_t>> read_fd(int fd, size_t max_bytes) {
  std::vector<uint8_t> data;
  uint8_t buffer[65536];
  while (true) {
    ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return make_error("read: %s", strerror(errno));
    if (n == 0) return data;
    if (data.size() + static_cast<size_t>(n) > max_bytes)
      return make_error("file is larger than %zu bytes", max_bytes);
    data.insert(data.end(), buffer, buffer + n);
  }
}

Result<void> write_fd(int fd, std::span<const uint8_t> data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return make_error("write: %s", strerror(errno));
    done += static_cast<size_t>(n);
  }
  return ok();
}

}  // namespace hvmd
