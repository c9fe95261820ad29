// Block backends: the host side of a guest disk. A BlockBackend is a raw image file or block
// device; reads, writes and flushes run on the IoExecutor and complete on the device thread with
// 0 or an errno, which the device turns into its own error status. Nothing is written beyond the
// image's size, and a flush is fdatasync (write-through opens the image O_DSYNC instead).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "dm/backends/io_executor.h"
#include "dm/result.h"
#include "dm/sub_options.h"

namespace hvmd {

// QEMU's cache= modes. hvmd always goes through the host page cache (no O_DIRECT, which would
// need every guest request aligned to the host's logical block size): writeback and none flush
// on the guest's FLUSH; writethrough and directsync complete a write only once it is on stable
// storage; unsafe ignores flushes.
enum class CacheMode { kWriteback, kWritethrough, kNone, kDirectsync, kUnsafe };

// One -drive option.
struct DriveSpec {
  std::string id;
  std::string file;  // empty: a drive without a medium (an empty CD-ROM)
  std::string interface = "ide";
  std::optional<unsigned> index;
  bool cdrom = false;  // media=cdrom
  bool read_only = false;
  CacheMode cache = CacheMode::kWriteback;
  std::string serial;
  std::string text;  // as given, for messages

  static Result<DriveSpec> from_options(const SubOptions& options);
};

class BlockBackend {
 public:
  using Completion = std::function<void(int error)>;

  // Opens a raw image; a path of /dev/fdset/N has been resolved by the caller (QMP add-fd).
  static Result<std::unique_ptr<BlockBackend>> open(const std::string& path, bool read_only,
                                                    CacheMode cache, IoExecutor& executor);
  // An already-open descriptor (QMP fdsets); takes ownership.
  static Result<std::unique_ptr<BlockBackend>> from_fd(int fd, std::string path, bool read_only,
                                                       CacheMode cache, IoExecutor& executor);
  ~BlockBackend();
  BlockBackend(const BlockBackend&) = delete;
  BlockBackend& operator=(const BlockBackend&) = delete;

  uint64_t size() const { return size_; }
  bool read_only() const { return read_only_; }
  const std::string& path() const { return path_; }
  CacheMode cache() const { return cache_; }

  // The buffer must stay valid until done runs. Requests outside [0, size) fail with EIO.
  void read(uint64_t offset, std::span<uint8_t> buffer, Completion done);
  void write(uint64_t offset, std::span<const uint8_t> buffer, Completion done);
  void flush(Completion done);
  // Waits for this machine's outstanding I/O (before a reset, an eject or destruction).
  void drain() { executor_.drain(); }

 private:
  BlockBackend(int fd, std::string path, uint64_t size, bool read_only, CacheMode cache,
               IoExecutor& executor);
  bool in_range(uint64_t offset, size_t length) const;

  int fd_;
  std::string path_;
  uint64_t size_;
  bool read_only_;
  CacheMode cache_;
  IoExecutor& executor_;
};

}  // namespace hvmd
