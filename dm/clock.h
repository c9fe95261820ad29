// Clock and timers. Devices arm timers on the machine's Clock; the event loop runs them when due.
// Under qtest the clock is virtual: time moves only when the test says (clock_step/clock_set),
// so timer-driven behaviour is deterministic. Otherwise it follows CLOCK_MONOTONIC.
//
// Catching up: a timer whose callback re-arms it one period later, twice with the same period,
// is periodic. When time has moved past several of its periods at once (a clock_step of years,
// a host suspended for a day) the missed expiries coalesce, as lost ticks do on hardware: it
// runs at most three times, the last at its last deadline before now, so the cost of a jump is
// O(1) per timer rather than O(periods).
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <vector>

namespace hvmd {

class Clock;

// A one-shot timer owned by a device. Destroying it cancels it.
class Timer {
 public:
  using Callback = std::function<void()>;
  Timer(Clock& clock, Callback callback);
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  void arm_at(int64_t deadline_ns);
  void arm_after(int64_t delay_ns);
  void cancel();
  bool armed() const { return armed_; }
  int64_t deadline() const { return deadline_; }

 private:
  friend class Clock;
  Clock& clock_;
  Callback callback_;
  int64_t deadline_ = 0;
  uint64_t generation_ = 0;  // invalidates stale heap entries on re-arm/cancel
  int64_t period_ = 0;       // the last re-arm distance seen while catching up (0: none)
  bool armed_ = false;
};

class Clock {
 public:
  static constexpr int64_t kNever = std::numeric_limits<int64_t>::max();
  enum class Mode { kHost, kVirtual };

  explicit Clock(Mode mode);
  Mode mode() const { return mode_; }
  int64_t now_ns() const;

  // Earliest armed deadline, or kNever.
  int64_t next_deadline();
  // Runs every timer due at now_ns(), in deadline order (a callback may re-arm).
  void run_expired();
  // Virtual mode: moves time to target (never backwards), running timers due on the way at
  // their own deadlines. Returns the new time.
  int64_t advance_to(int64_t target_ns);
  // Virtual mode: time back to 0, armed timers keeping their distance from now (the fuzzer
  // reuses one machine for many inputs, each starting at time 0).
  void rewind();

 private:
  friend class Timer;
  struct Entry {
    int64_t deadline;
    uint64_t sequence;  // ties run in arming order
    Timer* timer;
    uint64_t generation;
    bool operator>(const Entry& other) const {
      return deadline != other.deadline ? deadline > other.deadline : sequence > other.sequence;
    }
  };
  void schedule(Timer* timer);
  void forget(Timer* timer);
  bool pop_due(int64_t now, Timer** timer);
  // Runs a due timer that expired at deadline; skips the periods of a periodic one up to now.
  void fire(Timer* timer, int64_t deadline, int64_t now);

  Mode mode_;
  int64_t virtual_now_ = 0;
  uint64_t sequence_ = 0;
  std::vector<Entry> heap_;  // min-heap by deadline
};

}  // namespace hvmd
