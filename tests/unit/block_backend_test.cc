// The block layer: raw images through the worker pool and inline executors, range checks (never
// beyond the image), read-only images, flushes, -drive parsing.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "dm/backends/block.h"
#include "dm/event_loop.h"

namespace hvmd {
namespace {

struct TempImage {
  std::string path;
  explicit TempImage(size_t size) {
    char name[] = "/tmp/hvmd-block-XXXXXX";
    int fd = mkstemp(name);
    path = name;
    EXPECT_EQ(ftruncate(fd, static_cast<off_t>(size)), 0);
    close(fd);
  }
  ~TempImage() { unlink(path.c_str()); }
  off_t size() const {
    struct stat st {};
    stat(path.c_str(), &st);
    return st.st_size;
  }
};

Result<DriveSpec> drive(const std::string& text) {
  auto options = SubOptions::parse(text, "");
  if (!options) return options.error();
  return DriveSpec::from_options(*options);
}

TEST(BlockBackend, ReadsAndWritesThroughTheWorkerPool) {
  TempImage image(1 << 20);
  Clock clock(Clock::Mode::kVirtual);
  EventLoop loop(clock);
  ASSERT_TRUE(loop.init());
  ThreadPoolExecutor pool(loop);
  ASSERT_TRUE(pool.start());
  auto backend = BlockBackend::open(image.path, false, CacheMode::kWriteback, pool);
  ASSERT_TRUE(backend) << backend.error().message;
  EXPECT_EQ((*backend)->size(), 1u << 20);
  std::vector<uint8_t> out(4096, 0x5a), in(4096, 0);
  int write_error = -1, flush_error = -1, read_error = -1;
  (*backend)->write(8192, out, [&](int e) { write_error = e; });
  EXPECT_EQ(pool.in_flight(), 1u);
  for (int i = 0; i < 1000 && write_error < 0; ++i) loop.run_once(100);
  EXPECT_EQ(write_error, 0);
  (*backend)->flush([&](int e) { flush_error = e; });
  (*backend)->read(8192, in, [&](int e) { read_error = e; });
  pool.drain();  // runs both completions here
  EXPECT_EQ(flush_error, 0);
  EXPECT_EQ(read_error, 0);
  EXPECT_EQ(in, out);
  EXPECT_EQ(pool.in_flight(), 0u);
}

TEST(BlockBackend, NeverBeyondTheImageAndNotWhenReadOnly) {
  TempImage image(64 * 1024);
  InlineExecutor inline_io;
  auto backend = BlockBackend::open(image.path, false, CacheMode::kWriteback, inline_io);
  ASSERT_TRUE(backend);
  std::vector<uint8_t> data(4096, 1);
  int error = 0;
  (*backend)->write(64 * 1024 - 2048, data, [&](int e) { error = e; });
  inline_io.run_pending();
  EXPECT_EQ(error, EIO);
  (*backend)->write(~0ull - 100, data, [&](int e) { error = e; });  // offset + length wraps
  inline_io.run_pending();
  EXPECT_EQ(error, EIO);
  (*backend)->read(64 * 1024, data, [&](int e) { error = e; });
  inline_io.run_pending();
  EXPECT_EQ(error, EIO);
  EXPECT_EQ(image.size(), 64 * 1024) << "the image did not grow";

  auto read_only = BlockBackend::open(image.path, true, CacheMode::kWriteback, inline_io);
  ASSERT_TRUE(read_only);
  EXPECT_TRUE((*read_only)->read_only());
  (*read_only)->write(0, data, [&](int e) { error = e; });
  inline_io.run_pending();
  EXPECT_EQ(error, EROFS);
}

TEST(BlockBackend, OpenErrorsNameThePath) {
  InlineExecutor inline_io;
  auto missing = BlockBackend::open("/nonexistent/x.img", true, CacheMode::kWriteback, inline_io);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("/nonexistent/x.img"), std::string::npos);
  auto directory = BlockBackend::open("/tmp", true, CacheMode::kWriteback, inline_io);
  ASSERT_FALSE(directory);
  EXPECT_NE(directory.error().message.find("not a regular file or block device"),
            std::string::npos);
}

TEST(DriveSpec, ParsesWhatLibxlPasses) {
  auto disk =
      drive("file=/var/lib/xen/disk.img,if=ide,index=1,media=disk,format=raw,cache=writeback");
  ASSERT_TRUE(disk) << disk.error().message;
  EXPECT_EQ(disk->file, "/var/lib/xen/disk.img");
  EXPECT_EQ(disk->index, 1u);
  EXPECT_FALSE(disk->cdrom);
  EXPECT_EQ(disk->cache, CacheMode::kWriteback);
  auto cd = drive("if=none,readonly=on,id=ide-5632");
  ASSERT_TRUE(cd) << cd.error().message;
  EXPECT_EQ(cd->id, "ide-5632");
  EXPECT_TRUE(cd->file.empty());
  EXPECT_TRUE(cd->read_only);
  auto with_commas = drive("file=/images/a,,b.iso,if=ide,index=2,media=cdrom");
  ASSERT_TRUE(with_commas);
  EXPECT_EQ(with_commas->file, "/images/a,b.iso");
  EXPECT_TRUE(with_commas->read_only) << "CD-ROMs are read-only";
  for (const char* bad : {"file=x,if=virtio", "file=x,format=qcow2", "file=x,cache=maybe",
                          "file=x,media=tape", "file=x,index=4", "if=ide", "file=x,bogus=1"})
    EXPECT_FALSE(drive(bad)) << bad;
}

}  // namespace
}  // namespace hvmd
