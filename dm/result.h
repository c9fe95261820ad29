// Result<T>: a value or a host/configuration error, shaped like std::expected (which GCC 12 only
// offers under C++23). Guest misbehaviour is never an Error: devices handle it like hardware does.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace hvmd {

struct Error {
  std::string message;
};

// Builds an Error from printf-style arguments.
Error make_error(const char* format, ...) __attribute__((format(printf, 1, 2)));

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & {
    assert(ok());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(v_));
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(v_);
  }
  T* operator->() { return &value(); }
  T& operator*() { return value(); }
  const Error& error() const {
    assert(!ok());
    return std::get<1>(v_);
  }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return error_; }

 private:
  Error error_;
  bool ok_ = true;
};

inline Result<void> ok() {
  return {};
}

}  // namespace hvmd

// Propagates an error from an expression yielding Result<...>. The temporary's name carries the
// line number so nested uses do not shadow each other.
#define HVMD_TRY_CONCAT_(a, b) a##b
#define HVMD_TRY_NAME_(line) HVMD_TRY_CONCAT_(hvmd_try_result_, line)
#define HVMD_TRY(expr)                                                           \
  do {                                                                           \
    auto HVMD_TRY_NAME_(__LINE__) = (expr);                                      \
    if (!HVMD_TRY_NAME_(__LINE__).ok()) return HVMD_TRY_NAME_(__LINE__).error(); \
  } while (0)
