// The block layer's request paths: vectored reads and writes through io_uring and through the
// worker pool, a flush ordered after the writes before it, short transfers (an image that shrank),
// O_DIRECT with requests its alignment rules refuse going through the aligned buffer, and aio=
// as QEMU takes it.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "dm/backends/block.h"
#include "dm/event_loop.h"

namespace hvmd {
namespace {

struct Image {
  std::string path;
  explicit Image(size_t size) {
    char name[] = "/tmp/hvmd-block-io-XXXXXX";
    int fd = mkstemp(name);
    path = name;
    std::vector<uint8_t> data(size);
    for (size_t i = 0; i < size; ++i) data[i] = static_cast<uint8_t>(i * 13 + (i >> 12));
    EXPECT_EQ(pwrite(fd, data.data(), size, 0), static_cast<ssize_t>(size));
    close(fd);
  }
  ~Image() { unlink(path.c_str()); }
  std::vector<uint8_t> read(uint64_t offset, size_t length) const {
    std::vector<uint8_t> data(length);
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    EXPECT_EQ(pread(fd, data.data(), length, static_cast<off_t>(offset)),
              static_cast<ssize_t>(length));
    close(fd);
    return data;
  }
};

uint8_t original(uint64_t i) {
  return static_cast<uint8_t>(i * 13 + (i >> 12));
}

struct Rig {
  Clock clock{Clock::Mode::kVirtual};
  EventLoop loop{clock};
  std::unique_ptr<ThreadPoolExecutor> pool;
  explicit Rig(ThreadPoolExecutor::Uring uring) {
    EXPECT_TRUE(loop.init());
    pool = std::make_unique<ThreadPoolExecutor>(loop, uring);
    EXPECT_TRUE(pool->start());
  }
  // Runs the loop (not drain) until done is set: completions arrive the way the daemon gets them.
  void wait(const int& done) {
    for (int i = 0; i < 10000 && done == -1; ++i) loop.run_once(100);
  }
};

struct Mode {
  const char* name;
  ThreadPoolExecutor::Uring uring;
  CacheMode cache;
  AioMode aio;
};

class BlockIoTest : public ::testing::TestWithParam<Mode> {};

TEST_P(BlockIoTest, VectoredReadsAndWritesMoveEveryByte) {
  Mode mode = GetParam();
  Rig rig(mode.uring);
  Image image(1 << 20);
  auto backend = BlockBackend::open(image.path, false, mode.cache, *rig.pool, mode.aio);
  ASSERT_TRUE(backend) << backend.error().message;
  // Three segments of odd lengths at odd addresses: O_DIRECT takes none of them directly.
  std::vector<uint8_t> memory(3 * 4096 + 64);
  std::vector<iovec> segments = {
      {memory.data() + 1, 1000}, {memory.data() + 4096 + 3, 24}, {memory.data() + 8192 + 5, 4096}};
  int done = -1;
  (*backend)->readv(5000, segments, [&](int e) { done = e; });
  rig.wait(done);
  ASSERT_EQ(done, 0);
  uint64_t at = 5000;
  for (const iovec& v : segments)
    for (size_t i = 0; i < v.iov_len; ++i, ++at)
      ASSERT_EQ(static_cast<uint8_t*>(v.iov_base)[i], original(at)) << at;

  for (auto& byte : memory) byte = 0xa5;
  done = -1;
  (*backend)->writev(70001, segments, [&](int e) { done = e; });
  rig.wait(done);
  ASSERT_EQ(done, 0);
  auto written = image.read(70000, 5122);
  EXPECT_EQ(written.front(), original(70000));  // the neighbours of a partial block are kept
  EXPECT_EQ(written.back(), original(70000 + 5121));
  EXPECT_EQ(std::vector<uint8_t>(written.begin() + 1, written.end() - 1),
            std::vector<uint8_t>(5120, 0xa5));

  // Aligned, large, and a flush submitted before the write completes: it completes after it.
  std::vector<uint8_t> block(256 * 1024 + 4096);
  uint8_t* aligned = block.data() + (4096 - reinterpret_cast<uintptr_t>(block.data()) % 4096);
  std::memset(aligned, 0x3c, 256 * 1024);
  iovec one{aligned, 256 * 1024};
  std::vector<int> order;
  int write_done = -1, flush_done = -1;
  (*backend)->writev(512 * 1024, {&one, 1}, [&](int e) {
    write_done = e;
    order.push_back(1);
  });
  (*backend)->flush([&](int e) {
    flush_done = e;
    order.push_back(2);
  });
  rig.pool->drain();
  EXPECT_EQ(write_done, 0);
  EXPECT_EQ(flush_done, 0);
  if (mode.aio != AioMode::kThreads && rig.pool->has_uring()) {
    EXPECT_EQ(order, (std::vector<int>{1, 2}));  // the ring drains before a flush
  }
  EXPECT_EQ(image.read(512 * 1024, 256 * 1024), std::vector<uint8_t>(256 * 1024, 0x3c));
}

TEST_P(BlockIoTest, AnImageThatShrankFailsTheRead) {
  Mode mode = GetParam();
  Rig rig(mode.uring);
  Image image(1 << 20);
  auto backend = BlockBackend::open(image.path, false, mode.cache, *rig.pool, mode.aio);
  ASSERT_TRUE(backend) << backend.error().message;
  ASSERT_EQ(truncate(image.path.c_str(), 64 * 1024), 0);
  std::vector<uint8_t> buffer(128 * 1024 + 4096);
  uint8_t* aligned = buffer.data() + (4096 - reinterpret_cast<uintptr_t>(buffer.data()) % 4096);
  int done = -1;
  (*backend)->read(0, {aligned, 128 * 1024}, [&](int e) { done = e; });
  rig.wait(done);
  EXPECT_EQ(done, EIO);
}

// A read the page cache answers completes on the device thread without a worker or the ring; its
// completion is still never run inside the call, and a drain (before a save, a reset) runs it.
TEST_P(BlockIoTest, ACachedReadCompletesByTheNextDrainNeverInsideTheCall) {
  Mode mode = GetParam();
  Rig rig(mode.uring);
  Image image(1 << 20);
  (void)image.read(0, 1 << 20);  // in the page cache
  auto backend = BlockBackend::open(image.path, false, mode.cache, *rig.pool, mode.aio);
  ASSERT_TRUE(backend) << backend.error().message;
  std::vector<uint8_t> buffer(8192);
  int done = -1;
  (*backend)->read(12345, {buffer.data(), buffer.size()}, [&](int e) { done = e; });
  EXPECT_EQ(done, -1);
  EXPECT_EQ(rig.pool->in_flight(), 1u);
  rig.pool->drain();
  EXPECT_EQ(done, 0);
  EXPECT_EQ(rig.pool->in_flight(), 0u);
  for (size_t i = 0; i < buffer.size(); ++i) ASSERT_EQ(buffer[i], original(12345 + i)) << i;
}

INSTANTIATE_TEST_SUITE_P(
    Paths, BlockIoTest,
    ::testing::Values(
        Mode{"uring", ThreadPoolExecutor::Uring::kProbe, CacheMode::kWriteback, AioMode::kIoUring},
        Mode{"threads", ThreadPoolExecutor::Uring::kProbe, CacheMode::kWriteback,
             AioMode::kThreads},
        Mode{"no_uring", ThreadPoolExecutor::Uring::kOff, CacheMode::kWriteback, AioMode::kIoUring},
        Mode{"direct_uring", ThreadPoolExecutor::Uring::kProbe, CacheMode::kNone, AioMode::kNative},
        Mode{"direct_threads", ThreadPoolExecutor::Uring::kProbe, CacheMode::kNone,
             AioMode::kThreads},
        Mode{"directsync", ThreadPoolExecutor::Uring::kProbe, CacheMode::kDirectsync,
             AioMode::kIoUring}),
    [](const ::testing::TestParamInfo<Mode>& param) { return std::string(param.param.name); });

TEST(BlockIo, DirectIoAlignmentRules) {
  DirectIo direct(512, 512);
  alignas(4096) static uint8_t memory[8192];
  BlockIo io{.op = BlockIo::Op::kRead, .fd = -1, .offset = 1024, .iov = {{memory, 1024}}};
  EXPECT_TRUE(direct.aligned(io));
  io.offset = 1000;
  EXPECT_FALSE(direct.aligned(io));
  io.offset = 1024;
  io.iov = {{memory + 2, 1024}};
  EXPECT_FALSE(direct.aligned(io));
  io.iov = {{memory, 1024}, {memory + 4096, 1000}};
  EXPECT_FALSE(direct.aligned(io));
}

TEST(BlockIo, ARingWhereTheKernelHasOne) {
  Rig rig(ThreadPoolExecutor::Uring::kProbe);
  // This host's kernel has io_uring; where it had not, the reason would say why.
  if (!rig.pool->has_uring()) GTEST_SKIP() << rig.pool->uring_unavailable();
  Rig off(ThreadPoolExecutor::Uring::kOff);
  EXPECT_FALSE(off.pool->has_uring());
}

Result<DriveSpec> drive(const std::string& text) {
  auto options = SubOptions::parse(text, "");
  if (!options) return options.error();
  return DriveSpec::from_options(*options);
}

TEST(BlockIo, AioAsQemuTakesIt) {
  EXPECT_EQ(drive("file=x,aio=threads")->aio, AioMode::kThreads);
  EXPECT_EQ(drive("file=x,aio=io_uring")->aio, AioMode::kIoUring);
  EXPECT_EQ(drive("file=x,cache=none,aio=native")->aio, AioMode::kNative);
  EXPECT_EQ(drive("file=x")->aio, AioMode::kIoUring);
  auto bad = drive("file=x,aio=posix");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("aio=posix"), std::string::npos);
  auto native = drive("file=x,aio=native");
  ASSERT_FALSE(native);
  EXPECT_NE(native.error().message.find("aio=native"), std::string::npos);
}

}  // namespace
}  // namespace hvmd
