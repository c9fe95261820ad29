#include "dm/event_loop.h"

#include <gtest/gtest.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "dm/device_memory.h"
#include "dm/log.h"

namespace hvmd::test {
namespace {

TEST(EventLoop, DispatchesFdsAndHostTimers) {
  Clock clock(Clock::Mode::kHost);
  EventLoop loop(clock);
  ASSERT_TRUE(loop.init().ok());
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  std::string got;
  ASSERT_TRUE(loop.watch(fds[0], EPOLLIN,
                         [&](uint32_t) {
                           char buf[16];
                           ssize_t n = read(fds[0], buf, sizeof(buf));
                           got.append(buf, size_t(n));
                         })
                  .ok());
  ASSERT_EQ(write(fds[1], "hi", 2), 2);
  loop.run_once(1000);
  EXPECT_EQ(got, "hi");

  // A host-clock timer wakes the loop through its timerfd and can stop it.
  int64_t armed_at = clock.now_ns();
  Timer timer(clock, [&] { loop.stop(7); });
  timer.arm_after(2'000'000);
  EXPECT_EQ(loop.run(), 7);
  EXPECT_GE(clock.now_ns() - armed_at, 2'000'000);

  // An unwatched fd no longer dispatches.
  loop.unwatch(fds[0]);
  ASSERT_EQ(write(fds[1], "x", 1), 1);
  loop.run_once(10);
  EXPECT_EQ(got, "hi");
  close(fds[0]);
  close(fds[1]);
}

// Rounds read the clock only for a timer the timerfd does not cover yet: one armed by a timer's
// callback, already due, still runs on the next round and may stop the loop there; run() has
// released the start-up code pages first, and everything still runs.
TEST(EventLoop, TimerArmedByATimerRunsAndStopsTheLoop) {
  Clock clock(Clock::Mode::kHost);
  EventLoop loop(clock);
  ASSERT_TRUE(loop.init().ok());
  int fired = 0;
  Timer second(clock, [&] {
    ++fired;
    loop.stop(7);
  });
  Timer first(clock, [&] {
    ++fired;
    second.arm_at(clock.now_ns());  // already due
  });
  first.arm_after(1'000'000);
  EXPECT_EQ(loop.run(), 7);
  EXPECT_EQ(fired, 2);
}

TEST(DeviceMemory, GuestWritesMarkPagesDirtyAndRomIgnoresThem) {
  DeviceMemory vram("vram", 4 * DirtyBitmap::kPageSize, DeviceMemory::Access::kReadWrite);
  vram.write(DirtyBitmap::kPageSize - 2, 4, 0xaabbccdd);  // straddles pages 0 and 1
  vram.write(3 * DirtyBitmap::kPageSize, 1, 0x11);
  EXPECT_EQ(vram.read(DirtyBitmap::kPageSize - 2, 4), 0xaabbccddu);
  EXPECT_EQ(vram.dirty().take(), (std::vector<bool>{true, true, false, true}));
  EXPECT_EQ(vram.dirty().take(), (std::vector<bool>{false, false, false, false}));
  // Out of range: reads all-ones, writes dropped, nothing marked.
  EXPECT_EQ(vram.read(4 * DirtyBitmap::kPageSize - 1, 2), 0xffffu);
  vram.write(4 * DirtyBitmap::kPageSize, 4, 1);
  EXPECT_EQ(vram.dirty().take(), (std::vector<bool>{false, false, false, false}));

  DeviceMemory rom("rom", 2048, DeviceMemory::Access::kReadOnly);
  rom.host_data()[0] = 0x55;
  rom.write(0, 1, 0);
  EXPECT_EQ(rom.read(0, 1), 0x55u);
  EXPECT_FALSE(rom.dirty().is_dirty(0));
}

TEST(RateLimiter, BurstThenSuppressesAndCounts) {
  log::RateLimiter limiter;
  uint64_t suppressed = 0;
  int allowed = 0;
  for (int i = 0; i < 1000; ++i) allowed += limiter.allow(&suppressed);
  EXPECT_EQ(allowed, log::RateLimiter::kBurst);
  usleep(1'000'000 / log::RateLimiter::kPerSecond + 50'000);
  ASSERT_TRUE(limiter.allow(&suppressed));
  EXPECT_EQ(suppressed, 1000u - log::RateLimiter::kBurst);
}

}  // namespace
}  // namespace hvmd::test
