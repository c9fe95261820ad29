#include "dm/log.h"

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <ctime>

namespace hvmd {

Error make_error(const char* format, ...) {
  char buffer[512];
  va_list args;
  va_start(args, format);
  vsnprintf(buffer, sizeof(buffer), format, args);
  va_end(args);
  return Error{buffer};
}

namespace log {
namespace {

FILE* g_sink = nullptr;  // nullptr means stderr
Level g_level = Level::kInfo;

const char* level_name(Level level) {
  switch (level) {
    case Level::kError:
      return "error";
    case Level::kWarning:
      return "warning";
    case Level::kInfo:
      return "info";
    case Level::kDebug:
      return "debug";
  }
  return "?";
}

int64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

void vmessage(Level level, const char* prefix, const char* format, va_list args) {
  FILE* out = g_sink ? g_sink : stderr;
  char line[1024];
  vsnprintf(line, sizeof(line), format, args);
  fprintf(out, "hvmd: %s: %s%s\n", level_name(level), prefix, line);
  fflush(out);
}

}  // namespace

Result<void> open_file(const std::string& path) {
  FILE* f = fopen(path.c_str(), "ae");
  if (!f) return make_error("cannot open log file '%s': %s", path.c_str(), strerror(errno));
  if (g_sink) fclose(g_sink);
  g_sink = f;
  return ok();
}

void set_level(Level level) {
  g_level = level;
}
Level level() {
  return g_level;
}

void message(Level level, const char* format, ...) {
  if (level > g_level) return;
  va_list args;
  va_start(args, format);
  vmessage(level, "", format, args);
  va_end(args);
}

bool RateLimiter::allow(uint64_t* suppressed) {
  int64_t now = monotonic_ns();
  int64_t refill = (now - last_refill_ns_) * kPerSecond / 1'000'000'000;
  if (refill > 0) {
    tokens_ = static_cast<int>(std::min<int64_t>(kBurst, tokens_ + refill));
    last_refill_ns_ = now;
  }
  if (tokens_ == 0) {
    ++suppressed_;
    return false;
  }
  --tokens_;
  *suppressed = suppressed_;
  suppressed_ = 0;
  return true;
}

namespace {

void limited_message(RateLimiter& limiter, const char* source, const char* format, va_list args) {
  if (Level::kWarning > g_level) return;
  uint64_t suppressed = 0;
  if (!limiter.allow(&suppressed)) return;
  char prefix[64];
  if (suppressed)
    snprintf(prefix, sizeof(prefix), "%s (%llu similar suppressed): ", source,
             static_cast<unsigned long long>(suppressed));
  else
    snprintf(prefix, sizeof(prefix), "%s: ", source);
  vmessage(Level::kWarning, prefix, format, args);
}

}  // namespace

void guest_message(RateLimiter& limiter, const char* format, ...) {
  va_list args;
  va_start(args, format);
  limited_message(limiter, "guest", format, args);
  va_end(args);
}

void host_message(RateLimiter& limiter, const char* format, ...) {
  va_list args;
  va_start(args, format);
  limited_message(limiter, "host", format, args);
  va_end(args);
}

}  // namespace log
}  // namespace hvmd
