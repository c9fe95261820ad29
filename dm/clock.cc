#include "dm/clock.h"

#include <algorithm>
#include <ctime>
#include <functional>

namespace hvmd {

Timer::Timer(Clock& clock, Callback callback) : clock_(clock), callback_(std::move(callback)) {}
Timer::~Timer() {
  cancel();
}

void Timer::arm_at(int64_t deadline_ns) {
  deadline_ = deadline_ns;
  armed_ = true;
  ++generation_;
  clock_.schedule(this);
}

void Timer::arm_after(int64_t delay_ns) {
  // Saturates: a deadline past the end of time is never due (it does not wrap to the past).
  int64_t now = clock_.now_ns();
  delay_ns = std::max<int64_t>(0, delay_ns);
  arm_at(delay_ns > Clock::kNever - now ? Clock::kNever : now + delay_ns);
}

void Timer::cancel() {
  if (!armed_) return;
  armed_ = false;
  ++generation_;
  clock_.forget(this);
}

Clock::Clock(Mode mode) : mode_(mode) {}

int64_t Clock::now_ns() const {
  if (mode_ == Mode::kVirtual) return virtual_now_;
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

void Clock::schedule(Timer* timer) {
  heap_.push_back({timer->deadline_, sequence_++, timer, timer->generation_});
  std::push_heap(heap_.begin(), heap_.end(), std::greater<>());
}

void Clock::forget(Timer* timer) {
  // Drop the timer's entries now: the Timer may be destroyed before its deadline.
  std::erase_if(heap_, [timer](const Entry& e) { return e.timer == timer; });
  std::make_heap(heap_.begin(), heap_.end(), std::greater<>());
}

int64_t Clock::next_deadline() {
  while (!heap_.empty()) {
    const Entry& top = heap_.front();
    if (top.timer->armed_ && top.generation == top.timer->generation_) return top.deadline;
    std::pop_heap(heap_.begin(), heap_.end(), std::greater<>());
    heap_.pop_back();
  }
  return kNever;
}

bool Clock::pop_due(int64_t now, Timer** timer) {
  int64_t deadline = next_deadline();
  if (deadline == kNever || deadline > now) return false;
  *timer = heap_.front().timer;
  std::pop_heap(heap_.begin(), heap_.end(), std::greater<>());
  heap_.pop_back();
  (*timer)->armed_ = false;
  return true;
}

void Clock::fire(Timer* timer, int64_t deadline, int64_t now) {
  timer->callback_();
  if (!timer->armed_ || timer->deadline_ <= deadline) {
    timer->period_ = 0;
    return;
  }
  int64_t period = timer->deadline_ - deadline;
  bool periodic = period == timer->period_;
  timer->period_ = period;
  if (!periodic || timer->deadline_ > now - period) return;
  // Still at least two periods behind: jump to the last expiry at or before now.
  int64_t skipped = (now - timer->deadline_) / period;
  timer->arm_at(timer->deadline_ + skipped * period);
}

void Clock::run_expired() {
  int64_t now = now_ns();
  Timer* timer = nullptr;
  while (true) {
    int64_t deadline = next_deadline();
    if (!pop_due(now, &timer)) break;
    fire(timer, deadline, now);
  }
}

int64_t Clock::advance_to(int64_t target_ns) {
  if (mode_ != Mode::kVirtual) return now_ns();
  Timer* timer = nullptr;
  while (true) {
    int64_t deadline = next_deadline();
    if (deadline == kNever || deadline > target_ns) break;
    virtual_now_ = std::max(virtual_now_, deadline);
    if (pop_due(virtual_now_, &timer)) fire(timer, deadline, target_ns);
  }
  virtual_now_ = std::max(virtual_now_, target_ns);
  return virtual_now_;
}

void Clock::rewind() {
  if (mode_ != Mode::kVirtual) return;
  for (Entry& e : heap_) {
    e.deadline -= virtual_now_;
    if (e.timer->armed_ && e.generation == e.timer->generation_) e.timer->deadline_ = e.deadline;
  }
  virtual_now_ = 0;  // the same shift for all keeps the heap ordered
}

}  // namespace hvmd
