#include "dm/backends/block.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "dm/log.h"

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

bool direct_cache(CacheMode cache) {
  return cache == CacheMode::kNone || cache == CacheMode::kDirectsync;
}

}  // namespace

Result<AioMode> parse_aio(const std::string& text) {
  if (text == "threads") return AioMode::kThreads;
  if (text == "native") return AioMode::kNative;
  if (text == "io_uring") return AioMode::kIoUring;
  return make_error("aio=%s: expected threads, native or io_uring", text.c_str());
}

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
  auto aio = reader.string("aio");
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
  if (aio) {
    auto mode = parse_aio(*aio);
    if (!mode) return make_error("-drive %s: %s", spec.text.c_str(), mode.error().message.c_str());
    // As QEMU: Linux AIO is only asynchronous on descriptors opened O_DIRECT.
    if (*mode == AioMode::kNative && !direct_cache(spec.cache))
      return make_error("-drive %s: aio=native needs cache=none or cache=directsync",
                        spec.text.c_str());
    spec.aio = *mode;
  }
  if (spec.file.empty() && !spec.cdrom && spec.interface != "none")
    return make_error("-drive %s: a disk needs file=", spec.text.c_str());
  if (spec.cdrom) spec.read_only = true;
  if (auto unread = reader.finish(); !unread) return unread.error();
  return spec;
}

Result<std::unique_ptr<BlockBackend>> BlockBackend::open(const std::string& path, bool read_only,
                                                         CacheMode cache, IoExecutor& executor,
                                                         AioMode aio) {
  int flags = (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC;
  if (!read_only && synchronous_writes(cache)) flags |= O_DSYNC;
  int fd = ::open(path.c_str(), flags | (direct_cache(cache) ? O_DIRECT : 0));
  if (fd < 0 && errno == EINVAL && direct_cache(cache)) {
    // A file system without O_DIRECT (tmpfs before Linux 6.6): the page cache it is, with the
    // same flush semantics.
    HVMD_WARN("%s: no O_DIRECT on this file system; cache=none goes through the page cache",
              path.c_str());
    fd = ::open(path.c_str(), flags);
  }
  if (fd < 0) return make_error("%s: %s", path.c_str(), strerror(errno));
  return from_fd(fd, path, read_only, cache, executor, aio);
}

Result<std::unique_ptr<BlockBackend>> BlockBackend::from_fd(int fd, std::string path,
                                                            bool read_only, CacheMode cache,
                                                            IoExecutor& executor, AioMode aio) {
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
  std::unique_ptr<BlockBackend> backend(
      new BlockBackend(fd, std::move(path), size, read_only, cache, executor));
  backend->aio_ = aio;
  if (fcntl(fd, F_GETFL) & O_DIRECT) {
    DirectIo direct = DirectIo::for_fd(fd);
    // A writable image that ends inside a block would need a write past its end to change its
    // last bytes: such an image goes through the page cache instead.
    if (!read_only && size % direct.offset_alignment() != 0) {
      HVMD_WARN("%s: size not a multiple of %u; cache=none goes through the page cache",
                backend->path_.c_str(), direct.offset_alignment());
      (void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_DIRECT);
    } else {
      backend->direct_ = direct;
    }
  }
  return backend;
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
  iovec segment{buffer.data(), buffer.size()};
  transfer(BlockIo::Op::kRead, offset, {&segment, 1}, std::move(done));
}

void BlockBackend::write(uint64_t offset, std::span<const uint8_t> buffer, Completion done) {
  iovec segment{const_cast<uint8_t*>(buffer.data()), buffer.size()};
  transfer(BlockIo::Op::kWrite, offset, {&segment, 1}, std::move(done));
}

void BlockBackend::readv(uint64_t offset, std::span<const iovec> segments, Completion done) {
  transfer(BlockIo::Op::kRead, offset, segments, std::move(done));
}

void BlockBackend::writev(uint64_t offset, std::span<const iovec> segments, Completion done) {
  transfer(BlockIo::Op::kWrite, offset, segments, std::move(done));
}

void BlockBackend::transfer(BlockIo::Op op, uint64_t offset, std::span<const iovec> segments,
                            Completion done) {
  BlockIo io{.op = op,
             .fd = fd_,
             .offset = offset,
             .iov = {segments.begin(), segments.end()},
             .threads_only = aio_ == AioMode::kThreads};
  uint64_t length = io.bytes();
  int error = op == BlockIo::Op::kWrite && read_only_                            ? EROFS
              : length <= size_ && in_range(offset, static_cast<size_t>(length)) ? 0
                                                                                 : EIO;
  auto complete = [done = std::move(done)](int64_t r) { done(static_cast<int>(-r)); };
  if (error) {
    executor_.submit([error] { return int64_t{-error}; }, std::move(complete));
    return;
  }
  if (direct_ && !direct_->aligned(io)) {
    // O_DIRECT would refuse it: through an aligned buffer, on a worker (it blocks).
    executor_.submit([io = std::move(io), direct = *direct_,
                      size = size_]() mutable { return direct.run_buffered(io, size); },
                     std::move(complete));
    return;
  }
  executor_.submit_io(std::move(io), std::move(complete));
}

void BlockBackend::flush(Completion done) {
  auto complete = [done = std::move(done)](int64_t r) { done(static_cast<int>(-r)); };
  if (read_only_ || cache_ == CacheMode::kUnsafe) {
    executor_.submit([] { return int64_t{0}; }, std::move(complete));
    return;
  }
  // Every write the device acknowledged has completed in the kernel (the ring's flush also waits
  // for whatever was submitted before it), so fdatasync covers them all.
  executor_.submit_io(
      BlockIo{.op = BlockIo::Op::kFlush, .fd = fd_, .threads_only = aio_ == AioMode::kThreads},
      std::move(complete));
}

}  // namespace hvmd
