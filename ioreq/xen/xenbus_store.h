// XenbusStore: the xenstore operations a PV backend makes (read, write, watch), behind an
// interface so backends can be tested against an in-memory store. open_xenbus_store() connects
// to the real xenstore through libxenstore; watch events then arrive on watch_fd(), which the
// event loop polls, and are taken with next_watch() (never blocks).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "dm/result.h"

namespace hvmd::xen {

class XenbusStore {
 public:
  virtual ~XenbusStore() = default;
  // The value at path, or nullopt when there is none (or it cannot be read).
  virtual std::optional<std::string> read(const std::string& path) = 0;
  virtual Result<void> write(const std::string& path, const std::string& value) = 0;
  // A watch fires once when set and then on every change at or below path.
  virtual Result<void> watch(const std::string& path) = 0;
  virtual void unwatch(const std::string& path) = 0;
  // Readable while watch events are pending.
  virtual int watch_fd() = 0;
  // The path of one pending watch event, or nullopt at once when none is pending.
  virtual std::optional<std::string> next_watch() = 0;
};

// libxenstore's connection. Watches start libxenstore's reader thread: set the first one before
// the sandbox is entered (thread creation is allowed after it, but only as a thread).
Result<std::unique_ptr<XenbusStore>> open_xenbus_store();

// Strict number parsing for values in xenstore, which a guest may write anything into: all
// decimal digits, no sign, no trailing text, at most max.
std::optional<uint64_t> parse_xenstore_number(const std::optional<std::string>& value,
                                              uint64_t max);

}  // namespace hvmd::xen
