// Block backends: the host side of a guest disk. A BlockBackend is a raw image file or block
// device (or QEMU's null-co: /dev/zero of a given size, writes dropped); reads, writes, flushes
// and discards run on the IoExecutor and complete on the device thread with 0 or an errno, which
// the device turns into its own error status. Nothing is written beyond the image's size, and a
// flush is fdatasync (write-through opens the image O_DSYNC instead). Reads and writes name their
// buffers as iovec lists, so a device can move data straight between the image and guest RAM;
// they go through io_uring unless the drive asks for aio=threads.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

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

// discard=: what a guest's TRIM does to the image. ignore (off): nothing, the command still
// succeeds; unmap (on): the range is deallocated (a hole punched, BLKDISCARD).
enum class DiscardMode { kIgnore, kUnmap };
// detect-zeroes=: accepted with QEMU's values (off, on, unmap); hvmd writes zeroes as data.
enum class DetectZeroes { kOff, kOn, kUnmap };
// rerror=/werror=: accepted with QEMU's values; hvmd always reports errors to the guest.
enum class ErrorAction { kReport, kIgnore, kStop, kEnospc };

// One -drive option, or one -blockdev node (then id is the node-name and interface "none").
struct DriveSpec {
  std::string id;
  std::string file;          // empty: a drive without a medium (an empty CD-ROM), unless null-co
  bool null_device = false;  // driver null-co: null_size bytes reading as zeroes, writes dropped
  uint64_t null_size = uint64_t{1} << 30;
  std::string interface = "ide";
  std::optional<unsigned> index;
  bool cdrom = false;  // media=cdrom
  bool read_only = false;
  bool auto_read_only = false;  // open read-only when the image cannot be opened read-write
  CacheMode cache = CacheMode::kWriteback;
  AioMode aio = AioMode::kIoUring;
  DiscardMode discard = DiscardMode::kIgnore;
  DetectZeroes detect_zeroes = DetectZeroes::kOff;
  ErrorAction read_error = ErrorAction::kReport, write_error = ErrorAction::kEnospc;
  std::string serial;
  std::string text;  // as given, for messages

  bool has_medium() const { return null_device || !file.empty(); }

  static Result<DriveSpec> from_options(const SubOptions& options);
  // -blockdev driver=raw|file|null-co,node-name=NAME,...; a raw node's file= may name an
  // earlier file node.
  static Result<DriveSpec> from_blockdev(const SubOptions& options,
                                         const std::vector<DriveSpec>& earlier_nodes);
};

// The -blockdev nodes of a command line, as drives named by node-name.
Result<std::vector<DriveSpec>> blockdev_drives(const std::vector<SubOptions>& blockdevs);

class BlockBackend {
 public:
  using Completion = std::function<void(int error)>;

  // Opens a raw image; a path of /dev/fdset/N has been resolved by the caller (QMP add-fd).
  static Result<std::unique_ptr<BlockBackend>> open(const std::string& path, bool read_only,
                                                    CacheMode cache, IoExecutor& executor,
                                                    AioMode aio = AioMode::kIoUring);
  // A drive's medium as its spec says: the image (auto-read-only falling back to read-only) or
  // the null device, with its discard mode. read_only adds to the spec's.
  static Result<std::unique_ptr<BlockBackend>> open(const DriveSpec& spec, bool read_only,
                                                    IoExecutor& executor);
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
  // Deallocates [offset, offset + length) when discard=unmap: a hole punched in a file (its size
  // kept), BLKDISCARD on a block device; otherwise, or where the host cannot, a success that
  // changes nothing (a discard is a hint). Outside [0, size): EIO; read-only: EROFS.
  // Ranges are (offset, length) in bytes, discarded in order; the first failure ends the list.
  struct Range {
    uint64_t offset, length;
  };
  void discard(std::vector<Range> ranges, Completion done);
  void discard(uint64_t offset, uint64_t length, Completion done) {
    discard(std::vector<Range>{{offset, length}}, std::move(done));
  }
  void set_discard(DiscardMode mode) { discard_ = mode; }
  DiscardMode discard_mode() const { return discard_; }
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
  DiscardMode discard_ = DiscardMode::kIgnore;
  IoExecutor& executor_;
};

}  // namespace hvmd
