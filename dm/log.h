// Logging. Everything goes to one sink (stderr, or the file given with -D), one line per message.
// Messages caused by the guest go through HVMD_GUEST_LOG, which is rate-limited per call site so a
// hostile guest cannot flood the log or slow the device thread.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

#include "dm/result.h"

namespace hvmd::log {

enum class Level { kError, kWarning, kInfo, kDebug };

// Redirects output to a file (append). Returns an error naming the path.
Result<void> open_file(const std::string& path);
void set_level(Level level);
Level level();

void message(Level level, const char* format, ...) __attribute__((format(printf, 2, 3)));

// A token bucket: at most kBurst messages, refilled at kPerSecond; counts what it suppressed.
class RateLimiter {
 public:
  static constexpr int kBurst = 10;
  static constexpr int kPerSecond = 5;
  // True if a message may be printed now; *suppressed receives how many were dropped before it.
  bool allow(uint64_t* suppressed);

 private:
  int64_t last_refill_ns_ = 0;
  int tokens_ = kBurst;
  uint64_t suppressed_ = 0;
};

void guest_message(RateLimiter& limiter, const char* format, ...)
    __attribute__((format(printf, 2, 3)));
void host_message(RateLimiter& limiter, const char* format, ...)
    __attribute__((format(printf, 2, 3)));

}  // namespace hvmd::log

#define HVMD_ERROR(...) ::hvmd::log::message(::hvmd::log::Level::kError, __VA_ARGS__)
#define HVMD_WARN(...) ::hvmd::log::message(::hvmd::log::Level::kWarning, __VA_ARGS__)
#define HVMD_INFO(...) ::hvmd::log::message(::hvmd::log::Level::kInfo, __VA_ARGS__)
#define HVMD_DEBUG(...)                                              \
  do {                                                               \
    if (::hvmd::log::level() >= ::hvmd::log::Level::kDebug)          \
      ::hvmd::log::message(::hvmd::log::Level::kDebug, __VA_ARGS__); \
  } while (0)

// A host failure a guest can make us meet again and again (I/O errors on a failing image): a
// warning about the host, rate-limited like guest messages.
#define HVMD_HOST_LOG(...)                                 \
  do {                                                     \
    static ::hvmd::log::RateLimiter hvmd_limiter_;         \
    ::hvmd::log::host_message(hvmd_limiter_, __VA_ARGS__); \
  } while (0)

// For anything a guest can trigger: a device doing what hardware would with bad input.
#define HVMD_GUEST_LOG(...)                                 \
  do {                                                      \
    static ::hvmd::log::RateLimiter hvmd_limiter_;          \
    ::hvmd::log::guest_message(hvmd_limiter_, __VA_ARGS__); \
  } while (0)
