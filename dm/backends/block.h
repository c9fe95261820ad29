// Block backends: the host side of a guest disk. A BlockBackend is a raw image file or block
// device; reads, writes and flushes run on the IoExecutor and complete on the device thread with
// 0 or an errno, which the device turns into its own error status. Nothing is written beyond the
// image's size, and a flush is fdatasync (write-through opens the image O_DSYNC instead). Reads
// and writes name their buffers as iovec lists, so a device can move data straight between the
// image and guest RAM; they go through io_uring unless the drive asks for aio=threads.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "dm/backends/direct_io.h"
#include "dm/backends/io_executor.h"
#include "dm/result.h"
#include "dm/sub_options.h"

namespace hvmd {

// QEMU's cache= modes. writeback and none flush on the guest's FLUSH; writethrough and directsync
// complete a write only once it is on stable storage; unsafe ignores flushes. none and
// directsync bypass the host page cache (O_DIRECT; requests the host's alignment rules refuse go
// through an aligned buffer, direct_io.h), where the file system allows it.
enum class CacheMode { kWriteback, kWritethrough, kNone, kDirectsync, kUnsafe };

// QEMU's aio= modes. hvmd serves io_uring and native (QEMU's Linux AIO) with io_uring where the
// kernel offers it and its worker pool otherwise; threads always uses the worker pool.
enum class AioMode { kIoUring, kNative, kThreads };
Result<AioMode> parse_aio(const std::string& text);

// One -drive option.
struct DriveSpec {
  std::string id;
  std::string file;  // empty: a drive without a medium (an empty CD-ROM)
  std::string interface = "ide";
  std::optional<unsigned> index;
  bool cdrom = false;  // media=cdrom
  bool read_only = false;
  CacheMode cache = CacheMode::kWriteback;
  AioMode aio = AioMode::kIoUring;
  std::string serial;
  std::string text;  // as given, for messages

  static Result<DriveSpec> from_options(const SubOptions& options);
};

class BlockBackend {
 public:
  using Completion = std::function<void(int error)>;

  // Opens a raw image; a path of /dev/fdset/N has been resolved by the caller (QMP add-fd).
  static Result<std::unique_ptr<BlockBackend>> open(const std::string& path, bool read_only,
                                                    CacheMode cache, IoExecutor& executor,
                                                    AioMode aio = AioMode::kIoUring);
  // An already-open descriptor (QMP fdsets); takes ownership.
  static Result<std::unique_ptr<BlockBackend>> from_fd(int fd, std::string path, bool read_only,
                                                       CacheMode cache, IoExecutor& executor,
                                                       AioMode aio = AioMode::kIoUring);
  ~BlockBackend();
  BlockBackend(const BlockBackend&) = delete;
  BlockBackend& operator=(const BlockBackend&) = delete;

  uint64_t size() const { return size_; }
  bool read_only() const { return read_only_; }
  const std::string& path() const { return path_; }
  CacheMode cache() const { return cache_; }
  AioMode aio() const { return aio_; }
  bool direct() const { return direct_.has_value(); }  // O_DIRECT in effect

  // The buffer must stay valid until done runs. Requests outside [0, size) fail with EIO.
  void read(uint64_t offset, std::span<uint8_t> buffer, Completion done);
  void write(uint64_t offset, std::span<const uint8_t> buffer, Completion done);
  // Vectored: the memory the segments name must stay valid until done runs; the list itself
  // need not (the request copies it).
  void readv(uint64_t offset, std::span<const iovec> segments, Completion done);
  void writev(uint64_t offset, std::span<const iovec> segments, Completion done);
  // Completes once every write acknowledged before it is on the image.
  void flush(Completion done);
  // Waits for this machine's outstanding I/O (before a reset, an eject or destruction).
  void drain() { executor_.drain(); }

 private:
  BlockBackend(int fd, std::string path, uint64_t size, bool read_only, CacheMode cache,
               IoExecutor& executor);
  bool in_range(uint64_t offset, size_t length) const;
  void transfer(BlockIo::Op op, uint64_t offset, std::span<const iovec> segments, Completion done);

  int fd_;
  std::string path_;
  uint64_t size_;
  bool read_only_;
  CacheMode cache_;
  AioMode aio_ = AioMode::kIoUring;
  std::optional<DirectIo> direct_;  // cache=none/directsync where O_DIRECT took
  IoExecutor& executor_;
};

}  // namespace hvmd
