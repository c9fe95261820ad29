// A device's saved state, described once. A state struct lists its fields in one member template,
//
//   template <class V> void describe(V& v) {
//     v("ier", ier_, Mask{kIerMask});        // loaded through the mask a guest write gets
//     v("rx", rx_, MaxSize{kFifoSize});       // containers always carry their bound
//     v.since(2, "scr", scr_, uint8_t{0});    // added in version 2: older streams get the default
//   }
//
// and the same list both writes the fields (FieldWriter) and reads them back (FieldReader). A
// reader treats the stream as hostile: each value is read into a new state object, never into a
// live device, and goes through the checks its field declares. A check either masks the value as
// the register write masks it (Mask) or refuses the stream (AtMost, InRange, MaxSize); which one
// a field gets is said where it is declared.
//
// Field types: integers, bool, enums (as their underlying integer), byte containers (vector,
// deque, string: length-prefixed, bounded by their MaxSize), arrays and vectors of wider integers
// (fixed length, see IsArray) and nested structs with a describe() of their own.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "dm/result.h"
#include "dm/state.h"

namespace hvmd {

// Checks a field may declare.
template <class T>
struct Mask {  // loaded & mask: bits a guest write could never set are dropped
  T bits;
};
template <class T>
Mask(T) -> Mask<T>;
template <class T>
struct AtMost {  // a larger value refuses the stream
  T max;
};
template <class T>
AtMost(T) -> AtMost<T>;
template <class T>
struct InRange {  // outside [min, max] refuses the stream
  T min, max;
};
template <class T>
InRange(T, T) -> InRange<T>;
struct MaxSize {  // a container longer than this refuses the stream (and bounds the read)
  size_t max;
};

namespace state_detail {

template <class T>
struct IsByteSequence : std::false_type {};
template <>
struct IsByteSequence<std::vector<uint8_t>> : std::true_type {};
template <>
struct IsByteSequence<std::deque<uint8_t>> : std::true_type {};
template <>
struct IsByteSequence<std::string> : std::true_type {};

// Element by element, no length: std::array, and vectors of wider integers, whose length the
// device's layout fixes (the state object is sized before it is read), never the stream.
template <class T>
struct IsArray : std::false_type {};
template <class T, size_t N>
struct IsArray<std::array<T, N>> : std::true_type {};
template <class T>
requires(!std::is_same_v<T, uint8_t>) struct IsArray<std::vector<T>> : std::true_type {
};

}  // namespace state_detail

// Writes every field in the order the description lists them.
class FieldWriter {
 public:
  explicit FieldWriter(StateWriter& out) : out_(out) {}

  template <class T, class... Checks>
  void operator()(const char* /*name*/, const T& field, const Checks&... /*checks*/) {
    write(field);
  }
  // Fields added later are always written: a stream is saved at the newest version.
  template <class T, class... Checks>
  void since(uint32_t /*version*/, const char* name, const T& field, const T& /*fallback*/,
             const Checks&... checks) {
    (*this)(name, field, checks...);
  }

 private:
  template <class T>
  void write(const T& field) {
    if constexpr (std::is_same_v<T, bool>) {
      out_.boolean(field);
    } else if constexpr (std::is_enum_v<T>) {
      write(static_cast<std::underlying_type_t<T>>(field));
    } else if constexpr (std::is_integral_v<T> && sizeof(T) == 1) {
      out_.u8(static_cast<uint8_t>(field));
    } else if constexpr (std::is_integral_v<T> && sizeof(T) == 2) {
      out_.u16(static_cast<uint16_t>(field));
    } else if constexpr (std::is_integral_v<T> && sizeof(T) == 4) {
      out_.u32(static_cast<uint32_t>(field));
    } else if constexpr (std::is_integral_v<T> && sizeof(T) == 8) {
      out_.u64(static_cast<uint64_t>(field));
    } else if constexpr (state_detail::IsByteSequence<T>::value) {
      out_.u32(static_cast<uint32_t>(field.size()));
      for (auto b : field) out_.u8(static_cast<uint8_t>(b));
    } else if constexpr (state_detail::IsArray<T>::value) {
      for (const auto& element : field) write(element);
    } else {
      // A nested state struct: its own description, in place.
      const_cast<T&>(field).describe(*this);
    }
  }

  StateWriter& out_;
};

// Reads the fields of a stream of a given version into a state object, applying each field's
// checks; the first failure is kept and the rest of the description reads nothing.
class FieldReader {
 public:
  FieldReader(StateReader& in, uint32_t version, const char* what)
      : in_(in), version_(version), what_(what) {}

  template <class T, class... Checks>
  void operator()(const char* name, T& field, const Checks&... checks) {
    if (!status_.ok()) return;
    read(name, field, checks...);
    if (status_.ok()) (check(name, field, checks), ...);
  }
  template <class T, class... Checks>
  void since(uint32_t version, const char* name, T& field, const T& fallback,
             const Checks&... checks) {
    if (version_ >= version) {
      (*this)(name, field, checks...);
    } else {
      field = fallback;
    }
  }
  Result<void> status() const { return status_; }

 private:
  void refuse(const char* name, const char* why) {
    if (status_.ok()) status_ = make_error("%s: saved %s %s", what_, name, why);
  }
  template <class T, class... Checks>
  void read(const char* name, T& field, const Checks&... checks) {
    if constexpr (std::is_same_v<T, bool>) {
      take(name, in_.boolean(), field);
    } else if constexpr (std::is_enum_v<T>) {
      std::underlying_type_t<T> raw{};
      read(name, raw);
      field = static_cast<T>(raw);
    } else if constexpr (std::is_integral_v<T> && sizeof(T) == 1) {
      take(name, in_.u8(), field);
    } else if constexpr (std::is_integral_v<T> && sizeof(T) == 2) {
      take(name, in_.u16(), field);
    } else if constexpr (std::is_integral_v<T> && sizeof(T) == 4) {
      take(name, in_.u32(), field);
    } else if constexpr (std::is_integral_v<T> && sizeof(T) == 8) {
      take(name, in_.u64(), field);
    } else if constexpr (state_detail::IsByteSequence<T>::value) {
      static_assert((std::is_same_v<Checks, MaxSize> || ...),
                    "a saved container needs its MaxSize");
      size_t max = 0;
      ((max = bound(checks)), ...);
      auto bytes = in_.bytes(max);
      if (!bytes) {
        status_ = make_error("%s: saved %s: %s", what_, name, bytes.error().message.c_str());
        return;
      }
      field.assign(bytes->begin(), bytes->end());
    } else if constexpr (state_detail::IsArray<T>::value) {
      for (auto& element : field) read(name, element);
    } else {
      field.describe(*this);
    }
  }
  template <class T, class U>
  void take(const char* name, Result<U> value, T& field) {
    if (!value) {
      status_ = make_error("%s: saved %s: %s", what_, name, value.error().message.c_str());
      return;
    }
    field = static_cast<T>(*value);
  }
  template <class C>
  static size_t bound(const C& check) {
    if constexpr (std::is_same_v<C, MaxSize>) return check.max;
    return 0;
  }

  template <class T, class U>
  void check(const char* /*name*/, T& field, const Mask<U>& mask) {
    field = static_cast<T>(field & mask.bits);
  }
  template <class T, class U>
  void check(const char* name, T& field, const AtMost<U>& limit) {
    if (raw(field) > raw(limit.max)) refuse(name, "is out of range");
  }
  template <class T, class U>
  void check(const char* name, T& field, const InRange<U>& range) {
    if (raw(field) < raw(range.min) || raw(field) > raw(range.max)) refuse(name, "is out of range");
  }
  template <class T>
  void check(const char* /*name*/, T& /*field*/, const MaxSize& /*limit*/) {}  // read() bounds it
  template <class T>
  static auto raw(T value) {
    if constexpr (std::is_enum_v<T>)
      return static_cast<std::underlying_type_t<T>>(value);
    else
      return value;
  }

  StateReader& in_;
  uint32_t version_;
  const char* what_;
  Result<void> status_ = ok();
};

template <class S>
void write_fields(StateWriter& out, const S& state) {
  FieldWriter writer(out);
  // describe() is one template for reading and writing; the writer only reads the fields.
  const_cast<S&>(state).describe(writer);
}

template <class S>
Result<void> read_fields(StateReader& in, uint32_t version, const char* what, S& state) {
  FieldReader reader(in, version, what);
  state.describe(reader);
  return reader.status();
}

// A device's state, read and checked, not yet in the device. apply() installs it and cannot fail;
// the device's post-load work (mappings, timers, interrupt lines) runs after every device applied.
class StagedState {
 public:
  virtual ~StagedState() = default;
  virtual void apply() = 0;
};

template <class F>
class StagedApply final : public StagedState {
 public:
  explicit StagedApply(F fn) : fn_(std::move(fn)) {}
  void apply() override { fn_(); }

 private:
  F fn_;
};

// Staged state that installs itself with fn (a lambda owning the parsed values).
template <class F>
std::unique_ptr<StagedState> staged(F fn) {
  return std::make_unique<StagedApply<F>>(std::move(fn));
}
inline std::unique_ptr<StagedState> nothing_staged() {
  return staged([] {});
}

// The common case: a device keeps its saved fields in a struct S (often a private base, so its
// code reads them as its own members). The stream is read into a copy of live (sized as the
// device is), check() then sees the whole new state (checks of one field against another) and may
// refuse it, and apply() assigns the copy to live.
template <class S, class Check>
Result<std::unique_ptr<StagedState>> stage_fields(StateReader& in, uint32_t version,
                                                  const char* what, S& live, Check check) {
  S next = live;
  HVMD_TRY(read_fields(in, version, what, next));
  HVMD_TRY(check(next));
  return staged([&live, next = std::move(next)]() mutable { live = std::move(next); });
}
template <class S>
Result<std::unique_ptr<StagedState>> stage_fields(StateReader& in, uint32_t version,
                                                  const char* what, S& live) {
  return stage_fields(in, version, what, live, [](const S&) { return ok(); });
}

}  // namespace hvmd
