#include "dm/clock.h"

#include <gtest/gtest.h>

#include <memory>

namespace hvmd::test {
namespace {

TEST(Clock, VirtualTimersRunInDeadlineOrderAtTheirDeadlines) {
  Clock clock(Clock::Mode::kVirtual);
  std::vector<std::pair<char, int64_t>> fired;
  Timer a(clock, [&] { fired.push_back({'a', clock.now_ns()}); });
  Timer b(clock, [&] { fired.push_back({'b', clock.now_ns()}); });
  Timer c(clock, [&] { fired.push_back({'c', clock.now_ns()}); });
  a.arm_at(300);
  b.arm_at(100);
  c.arm_at(100);  // same deadline: arming order
  EXPECT_EQ(clock.next_deadline(), 100);
  EXPECT_EQ(clock.advance_to(250), 250);
  EXPECT_EQ(fired, (std::vector<std::pair<char, int64_t>>{{'b', 100}, {'c', 100}}));
  EXPECT_EQ(clock.next_deadline(), 300);
  clock.advance_to(1000);
  EXPECT_EQ(fired.back(), (std::pair<char, int64_t>{'a', 300}));
  EXPECT_EQ(clock.next_deadline(), Clock::kNever);
  EXPECT_EQ(clock.advance_to(10), 1000);  // never backwards
}

TEST(Clock, RearmCancelAndPeriodicCallbacks) {
  Clock clock(Clock::Mode::kVirtual);
  int ticks = 0;
  std::unique_ptr<Timer> periodic;
  periodic = std::make_unique<Timer>(clock, [&] {
    ++ticks;
    periodic->arm_after(10);
  });
  periodic->arm_at(10);
  clock.advance_to(55);
  EXPECT_EQ(ticks, 5);
  EXPECT_EQ(periodic->deadline(), 60);
  periodic->arm_at(100);  // re-arm replaces the old deadline
  clock.advance_to(99);
  EXPECT_EQ(ticks, 5);
  periodic->cancel();
  clock.advance_to(200);
  EXPECT_EQ(ticks, 5);
  periodic->arm_after(5);
  periodic.reset();  // destroying an armed timer cancels it
  EXPECT_EQ(clock.next_deadline(), Clock::kNever);
  clock.advance_to(300);
}

TEST(Clock, HostClockRunsExpiredTimers) {
  Clock clock(Clock::Mode::kHost);
  bool fired = false;
  Timer t(clock, [&] { fired = true; });
  t.arm_at(clock.now_ns() - 1);
  clock.run_expired();
  EXPECT_TRUE(fired);
  EXPECT_FALSE(t.armed());
}

}  // namespace
}  // namespace hvmd::test
