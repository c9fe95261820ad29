#include "dm/backends/block.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>

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

// The -drive and -blockdev keys about behaviour rather than the image.
Result<void> read_common_keys(OptionReader& reader, DriveSpec& spec) {
  if (auto discard = reader.string("discard")) {
    if (*discard == "ignore" || *discard == "off") {
      spec.discard = DiscardMode::kIgnore;
    } else if (*discard == "unmap" || *discard == "on") {
      spec.discard = DiscardMode::kUnmap;
    } else {
      return make_error("discard=%s: expected ignore, off, unmap or on", discard->c_str());
    }
  }
  if (auto detect = reader.string("detect-zeroes")) {
    if (*detect == "off") {
      spec.detect_zeroes = DetectZeroes::kOff;
    } else if (*detect == "on") {
      spec.detect_zeroes = DetectZeroes::kOn;
    } else if (*detect == "unmap") {
      spec.detect_zeroes = DetectZeroes::kUnmap;
    } else {
      return make_error("detect-zeroes=%s: expected off, on or unmap", detect->c_str());
    }
  }
  for (const char* key : {"rerror", "werror"}) {
    auto text = reader.string(key);
    if (!text) continue;
    bool read = key[0] == 'r';
    ErrorAction action;
    if (*text == "report") {
      action = ErrorAction::kReport;
    } else if (*text == "ignore") {
      action = ErrorAction::kIgnore;
    } else if (*text == "stop") {
      action = ErrorAction::kStop;
    } else if (*text == "enospc" && !read) {
      action = ErrorAction::kEnospc;
    } else {
      return make_error("%s=%s: expected report, ignore, stop%s", key, text->c_str(),
                        read ? "" : " or enospc");
    }
    (read ? spec.read_error : spec.write_error) = action;
  }
  auto auto_read_only = reader.boolean("auto-read-only");
  if (!auto_read_only) return auto_read_only.error();
  spec.auto_read_only = auto_read_only->value_or(false);
  return ok();
}

// A protocol node's keys under prefix ("" for -blockdev driver=file|null-co, "file." below a raw
// node): file's filename=, null-co's size= and read-zeroes=.
Result<void> read_protocol_node(OptionReader& reader, const std::string& prefix,
                                const std::string& driver, DriveSpec& spec) {
  if (driver == "file" || driver == "host_device") {
    auto filename = reader.string(prefix + "filename");
    if (!filename || filename->empty()) return make_error("%sfilename= is missing", prefix.c_str());
    spec.file = *filename;
    return ok();
  }
  if (driver == "null-co") {
    spec.null_device = true;
    auto size = reader.number(prefix + "size", std::numeric_limits<int64_t>::max());
    if (!size) return size.error();
    if (*size) spec.null_size = **size;
    // Reads return zeroes whatever read-zeroes says (QEMU leaves them unspecified when off).
    auto zeroes = reader.boolean(prefix + "read-zeroes");
    if (!zeroes) return zeroes.error();
    return ok();
  }
  return make_error("driver %s is not supported (raw, file, null-co)", driver.c_str());
}

// -drive's protocol keys: file=PATH or file=null-co://, file.driver=, file.filename=, and the
// null-co keys under file.
Result<void> read_protocol_keys(OptionReader& reader, const std::string& prefix, DriveSpec& spec) {
  auto driver = reader.string(prefix + "driver");
  bool null_url = spec.file.rfind("null-co://", 0) == 0;
  if (null_url) {
    if (spec.file != "null-co://")
      return make_error("file=%s: expected null-co://", spec.file.c_str());
    spec.file.clear();
    if (driver && *driver != "null-co")
      return make_error("file=null-co:// with %sdriver=%s", prefix.c_str(), driver->c_str());
    driver = "null-co";
  }
  if (!driver) {
    if (reader.string(prefix + "filename"))
      return make_error("%sfilename= needs %sdriver=file", prefix.c_str(), prefix.c_str());
    return ok();
  }
  if (*driver == "file" || *driver == "host_device") {
    if (!spec.file.empty() && !reader.string(prefix + "filename")) return ok();
  }
  return read_protocol_node(reader, prefix, *driver, spec);
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
  if (auto common = read_common_keys(reader, spec); !common)
    return make_error("-drive %s: %s", spec.text.c_str(), common.error().message.c_str());
  // The protocol layer: file=PATH (or null-co://), file.driver=file|null-co, file.filename=.
  if (auto protocol = read_protocol_keys(reader, "file.", spec); !protocol)
    return make_error("-drive %s: %s", spec.text.c_str(), protocol.error().message.c_str());
  if (!spec.has_medium() && !spec.cdrom && spec.interface != "none")
    return make_error("-drive %s: a disk needs file=", spec.text.c_str());
  if (spec.cdrom) spec.read_only = true;
  if (auto unread = reader.finish(); !unread) return unread.error();
  return spec;
}

Result<DriveSpec> DriveSpec::from_blockdev(const SubOptions& options,
                                           const std::vector<DriveSpec>& earlier_nodes) {
  DriveSpec spec;
  spec.text = options.to_string();
  spec.interface = "none";
  OptionReader reader(options, "-blockdev " + spec.text);
  auto fail = [&](const Error& error) {
    return make_error("-blockdev %s: %s", spec.text.c_str(), error.message.c_str());
  };
  auto driver = reader.string("driver");
  auto node_name = reader.string("node-name");
  auto read_only = reader.boolean("read-only");
  if (!read_only) return read_only.error();
  if (!driver) return make_error("-blockdev %s: driver= is missing", spec.text.c_str());
  if (!node_name || node_name->empty())
    return make_error("-blockdev %s: node-name= is missing", spec.text.c_str());
  spec.id = *node_name;
  spec.read_only = read_only->value_or(false);
  if (auto cache_direct = reader.boolean("cache.direct"); !cache_direct)
    return cache_direct.error();
  if (auto no_flush = reader.boolean("cache.no-flush"); !no_flush) {
    return no_flush.error();
  } else if (no_flush->value_or(false)) {
    spec.cache = CacheMode::kUnsafe;
  }
  if (auto common = read_common_keys(reader, spec); !common) return fail(common.error());
  if (*driver == "raw") {
    // The format node over a protocol node: file=NODE names an earlier node, file.* opens one.
    auto file = reader.string("file");
    if (file && !options.has("file.driver") && !options.has("file.filename")) {
      auto node = std::find_if(earlier_nodes.begin(), earlier_nodes.end(),
                               [&](const DriveSpec& n) { return n.id == *file; });
      if (node == earlier_nodes.end())
        return make_error("-blockdev %s: file=%s: no such node (define it first)",
                          spec.text.c_str(), file->c_str());
      spec.file = node->file;
      spec.null_device = node->null_device;
      spec.null_size = node->null_size;
      spec.read_only = spec.read_only || node->read_only;
    } else {
      if (file)
        return make_error("-blockdev %s: give file= or file.*, not both", spec.text.c_str());
      auto file_driver = reader.string("file.driver");
      if (!file_driver)
        return make_error("-blockdev %s: file.driver= is missing", spec.text.c_str());
      if (auto protocol = read_protocol_node(reader, "file.", *file_driver, spec); !protocol)
        return fail(protocol.error());
    }
  } else if (auto protocol = read_protocol_node(reader, "", *driver, spec); !protocol) {
    return fail(protocol.error());
  }
  if (auto unread = reader.finish(); !unread) return unread.error();
  return spec;
}

Result<std::vector<DriveSpec>> blockdev_drives(const std::vector<SubOptions>& blockdevs) {
  std::vector<DriveSpec> nodes;
  for (const auto& options : blockdevs) {
    auto node = DriveSpec::from_blockdev(options, nodes);
    if (!node) return node.error();
    for (const auto& other : nodes)
      if (other.id == node->id)
        return make_error("-blockdev %s: node-name '%s' is already in use", node->text.c_str(),
                          node->id.c_str());
    nodes.push_back(std::move(*node));
  }
  return nodes;
}

Result<std::unique_ptr<BlockBackend>> BlockBackend::open(const DriveSpec& spec, bool read_only,
                                                         IoExecutor& executor) {
  read_only = read_only || spec.read_only;
  Result<std::unique_ptr<BlockBackend>> backend = make_error("no medium");
  if (spec.null_device) {
    // /dev/zero reads as zeroes and swallows writes; it has nothing to flush.
    int fd = ::open("/dev/zero", (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    if (fd < 0) return make_error("/dev/zero: %s", strerror(errno));
    backend = std::unique_ptr<BlockBackend>(new BlockBackend(
        fd, "null-co://", spec.null_size, read_only, CacheMode::kUnsafe, executor));
  } else {
    backend = open(spec.file, read_only, spec.cache, executor, spec.aio);
    if (!backend && spec.auto_read_only && !read_only)
      backend = open(spec.file, /*read_only=*/true, spec.cache, executor, spec.aio);
  }
  if (backend) (*backend)->set_discard(spec.discard);
  return backend;
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
             .threads_only = aio_ == AioMode::kThreads,
             .page_cache = !direct_};
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

void BlockBackend::discard(std::vector<Range> ranges, Completion done) {
  int error = 0;
  if (read_only_) error = EROFS;
  for (const Range& r : ranges)
    if (!error && !in_range(r.offset, r.length)) error = EIO;
  bool unmap = discard_ == DiscardMode::kUnmap;
  int fd = fd_;
  executor_.submit(
      [fd, ranges = std::move(ranges), error, unmap]() -> int64_t {
        if (error) return -error;
        if (!unmap) return 0;
        struct stat st {};
        if (fstat(fd, &st) != 0) return -errno;
        for (const Range& r : ranges) {
          if (r.length == 0) continue;
          int result = 0;
          if (S_ISBLK(st.st_mode)) {
            uint64_t range[2] = {r.offset, r.length};
            result = ioctl(fd, BLKDISCARD, range);
          } else if (S_ISREG(st.st_mode)) {
            result = fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                               static_cast<off_t>(r.offset), static_cast<off_t>(r.length));
          }
          // A host that cannot deallocate leaves the data: a discard is only a hint.
          if (result != 0 && errno != EOPNOTSUPP && errno != ENOTTY && errno != EINVAL)
            return -errno;
        }
        return 0;
      },
      [done = std::move(done)](int64_t r) { done(static_cast<int>(-r)); });
}

}  // namespace hvmd
