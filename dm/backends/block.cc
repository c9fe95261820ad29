#include "dm/backends/block.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace hvmd {

namespace {

Result<CacheMode> parse_cache(const std::string& text) {
  if (text == "writeback") return CacheMode::kWriteback;
  if (text == "writethrough") return CacheMode::kWritethrough;
  if (text == "none") return CacheMode::kNone;
  if (text == "directsync") return CacheMode::kDirectsync;
  if (text == "unsafe") return CacheMode::kUnsafe;
  return make_error("cache=%s: expected writeback, writethrough, none, directsync or unsafe",
                    text.c_str());
}

bool synchronous_writes(CacheMode cache) {
  return cache == CacheMode::kWritethrough || cache == CacheMode::kDirectsync;
}

// pread/pwrite until done: the kernel may transfer less than asked (signals, large requests).
template <typename Buffer, typename Op>
int64_t full_transfer(Buffer* data, size_t length, uint64_t offset, Op op) {
  size_t done = 0;
  while (done < length) {
    ssize_t n = op(data + done, length - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -errno;
    if (n == 0) return -EIO;  // the image shrank under us
    done += static_cast<size_t>(n);
  }
  return 0;
}

}  // namespace

Result<DriveSpec> DriveSpec::from_options(const SubOptions& options) {
  DriveSpec spec;
  spec.text = options.to_string();
  OptionReader reader(options, "-drive " + spec.text);
  auto id = reader.string("id");
  auto file = reader.string("file");
  auto interface = reader.string("if");
  auto index = reader.number("index", 3);
  auto media = reader.string("media");
  auto format = reader.string("format");
  auto cache = reader.string("cache");
  auto serial = reader.string("serial");
  auto read_only = reader.boolean("readonly");
  if (!index) return index.error();
  if (!read_only) return read_only.error();
  if (id) spec.id = *id;
  if (file) spec.file = *file;
  if (interface) spec.interface = *interface;
  spec.index =
      index->has_value() ? std::optional<unsigned>(static_cast<unsigned>(**index)) : std::nullopt;
  if (serial) spec.serial = *serial;
  spec.read_only = read_only->value_or(false);
  if (spec.interface != "ide" && spec.interface != "none")
    return make_error("-drive %s: if=%s is not supported (ide, none)", spec.text.c_str(),
                      spec.interface.c_str());
  if (media && *media != "disk" && *media != "cdrom")
    return make_error("-drive %s: media=%s: expected disk or cdrom", spec.text.c_str(),
                      media->c_str());
  spec.cdrom = media && *media == "cdrom";
  if (format && *format != "raw")
    return make_error("-drive %s: format=%s is not supported (raw)", spec.text.c_str(),
                      format->c_str());
  if (cache) {
    auto mode = parse_cache(*cache);
    if (!mode) return make_error("-drive %s: %s", spec.text.c_str(), mode.error().message.c_str());
    spec.cache = *mode;
  }
  if (spec.file.empty() && !spec.cdrom && spec.interface != "none")
    return make_error("-drive %s: a disk needs file=", spec.text.c_str());
  if (spec.cdrom) spec.read_only = true;
  if (auto unread = reader.finish(); !unread) return unread.error();
  return spec;
}

Result<std::unique_ptr<BlockBackend>> BlockBackend::open(const std::string& path, bool read_only,
                                                         CacheMode cache, IoExecutor& executor) {
  int flags = (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC;
  if (!read_only && synchronous_writes(cache)) flags |= O_DSYNC;
  int fd = ::open(path.c_str(), flags);
  if (fd < 0) return make_error("%s: %s", path.c_str(), strerror(errno));
  return from_fd(fd, path, read_only, cache, executor);
}

Result<std::unique_ptr<BlockBackend>> BlockBackend::from_fd(int fd, std::string path,
                                                            bool read_only, CacheMode cache,
                                                            IoExecutor& executor) {
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    int error = errno;
    close(fd);
    return make_error("%s: %s", path.c_str(), strerror(error));
  }
  uint64_t size = 0;
  if (S_ISBLK(st.st_mode)) {
    if (ioctl(fd, BLKGETSIZE64, &size) != 0) {
      int error = errno;
      close(fd);
      return make_error("%s: cannot read the device size: %s", path.c_str(), strerror(error));
    }
  } else if (S_ISREG(st.st_mode)) {
    size = static_cast<uint64_t>(st.st_size);
  } else {
    close(fd);
    return make_error("%s: not a regular file or block device", path.c_str());
  }
  // A descriptor passed in read-only cannot take writes whatever the drive says.
  int access = fcntl(fd, F_GETFL) & O_ACCMODE;
  if (access == O_RDONLY) read_only = true;
  return std::unique_ptr<BlockBackend>(
      new BlockBackend(fd, std::move(path), size, read_only, cache, executor));
}

BlockBackend::BlockBackend(int fd, std::string path, uint64_t size, bool read_only, CacheMode cache,
                           IoExecutor& executor)
    : fd_(fd),
      path_(std::move(path)),
      size_(size),
      read_only_(read_only),
      cache_(cache),
      executor_(executor) {}

BlockBackend::~BlockBackend() {
  executor_.drain();
  close(fd_);
}

bool BlockBackend::in_range(uint64_t offset, size_t length) const {
  return offset <= size_ && length <= size_ - offset;
}

void BlockBackend::read(uint64_t offset, std::span<uint8_t> buffer, Completion done) {
  if (!in_range(offset, buffer.size())) {
    executor_.submit([] { return int64_t{-EIO}; },
                     [done = std::move(done)](int64_t r) { done(static_cast<int>(-r)); });
    return;
  }
  int fd = fd_;
  executor_.submit(
      [fd, buffer, offset] {
        return full_transfer(buffer.data(), buffer.size(), offset,
                             [fd](uint8_t* p, size_t n, off_t at) { return pread(fd, p, n, at); });
      },
      [done = std::move(done)](int64_t r) { done(static_cast<int>(-r)); });
}

void BlockBackend::write(uint64_t offset, std::span<const uint8_t> buffer, Completion done) {
  int error = read_only_ ? EROFS : in_range(offset, buffer.size()) ? 0 : EIO;
  if (error) {
    executor_.submit([error] { return int64_t{-error}; },
                     [done = std::move(done)](int64_t r) { done(static_cast<int>(-r)); });
    return;
  }
  int fd = fd_;
  executor_.submit(
      [fd, buffer, offset] {
        return full_transfer(
            buffer.data(), buffer.size(), offset,
            [fd](const uint8_t* p, size_t n, off_t at) { return pwrite(fd, p, n, at); });
      },
      [done = std::move(done)](int64_t r) { done(static_cast<int>(-r)); });
}

void BlockBackend::flush(Completion done) {
  int fd = fd_;
  bool skip = read_only_ || cache_ == CacheMode::kUnsafe;
  executor_.submit(
      [fd, skip]() -> int64_t {
        if (skip) return 0;
        return fdatasync(fd) == 0 ? 0 : -errno;
      },
      [done = std::move(done)](int64_t r) { done(static_cast<int>(-r)); });
}

}  // namespace hvmd
