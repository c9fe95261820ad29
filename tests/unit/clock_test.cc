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
  clock.advance_to(25);
  EXPECT_EQ(ticks, 2);
  EXPECT_EQ(periodic->deadline(), 30);
  // Further behind than one period: the missed ticks coalesce (30 runs, 40 is skipped, 50 runs).
  clock.advance_to(55);
  EXPECT_EQ(ticks, 4);
  EXPECT_EQ(periodic->deadline(), 60);
  periodic->arm_at(100);  // re-arm replaces the old deadline
  clock.advance_to(99);
  EXPECT_EQ(ticks, 4);
  periodic->cancel();
  clock.advance_to(200);
  EXPECT_EQ(ticks, 4);
  periodic->arm_after(5);
  periodic.reset();  // destroying an armed timer cancels it
  EXPECT_EQ(clock.next_deadline(), Clock::kNever);
  clock.advance_to(300);
}

// Fault: clock_step of INT64_MAX ran a 1 Hz timer once per virtual second (minutes of CPU).
// A periodic timer now runs at most three times however far time jumps, the last time at its
// last deadline before the target, and stays in phase.
TEST(Clock, PeriodicTimersCatchUpInConstantTime) {
  Clock clock(Clock::Mode::kVirtual);
  constexpr int64_t kSecond = 1'000'000'000;
  int ticks = 0;
  int64_t last = 0;
  std::unique_ptr<Timer> rtc;
  rtc = std::make_unique<Timer>(clock, [&] {
    ++ticks;
    last = clock.now_ns();
    rtc->arm_after(kSecond);
  });
  rtc->arm_at(kSecond);
  EXPECT_EQ(clock.advance_to(Clock::kNever - 1), Clock::kNever - 1);
  EXPECT_LE(ticks, 3);
  EXPECT_EQ(last, (Clock::kNever - 1) / kSecond * kSecond);
  // The next second is past what the clock can count: the timer stays armed, never due.
  EXPECT_EQ(rtc->deadline(), Clock::kNever);
  // A one-shot timer at a different distance each time is never skipped.
  Clock other(Clock::Mode::kVirtual);
  std::vector<int64_t> seen;
  std::unique_ptr<Timer> growing;
  growing = std::make_unique<Timer>(other, [&] {
    seen.push_back(other.now_ns());
    if (seen.size() < 4) growing->arm_after(int64_t(seen.size()) * 10);
  });
  growing->arm_at(10);
  other.advance_to(1000);
  EXPECT_EQ(seen, (std::vector<int64_t>{10, 20, 40, 70}));
}

// The fuzzer reuses one machine: time goes back to 0 with every timer as far ahead as it was.
TEST(Clock, RewindKeepsTimerDistances) {
  Clock clock(Clock::Mode::kVirtual);
  int fired = 0;
  Timer a(clock, [&] { ++fired; });
  Timer b(clock, [&] { ++fired; });
  clock.advance_to(1000);
  a.arm_at(1500);
  b.arm_at(1200);
  clock.rewind();
  EXPECT_EQ(clock.now_ns(), 0);
  EXPECT_EQ(clock.next_deadline(), 200);
  EXPECT_EQ(a.deadline(), 500);
  clock.advance_to(499);
  EXPECT_EQ(fired, 1);
  clock.advance_to(500);
  EXPECT_EQ(fired, 2);
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
