#include "dm/state.h"

#include <cstring>

namespace hvmd {

void StateWriter::put(const void* p, size_t n) {
  const auto* b = static_cast<const uint8_t*>(p);
  data_.insert(data_.end(), b, b + n);
}

void StateWriter::u16(uint16_t v) {
  uint8_t b[2] = {uint8_t(v), uint8_t(v >> 8)};
  put(b, 2);
}
void StateWriter::u32(uint32_t v) {
  u16(uint16_t(v));
  u16(uint16_t(v >> 16));
}
void StateWriter::u64(uint64_t v) {
  u32(uint32_t(v));
  u32(uint32_t(v >> 32));
}
void StateWriter::bytes(std::span<const uint8_t> data) {
  u32(static_cast<uint32_t>(data.size()));
  put(data.data(), data.size());
}
void StateWriter::string(std::string_view s) {
  bytes({reinterpret_cast<const uint8_t*>(s.data()), s.size()});
}

void StateWriter::begin_section(std::string_view id, std::string_view type, uint32_t version) {
  string(id);
  string(type);
  u32(version);
  section_start_ = data_.size();
  u32(0);  // body length, patched by end_section
}

void StateWriter::end_section() {
  auto length = static_cast<uint32_t>(data_.size() - section_start_ - 4);
  for (int i = 0; i < 4; ++i) data_[section_start_ + i] = uint8_t(length >> (8 * i));
}

Result<void> StateReader::take(void* out, size_t n) {
  if (n > data_.size() - pos_) return make_error("device state truncated at byte %zu", pos_);
  std::memcpy(out, data_.data() + pos_, n);
  pos_ += n;
  return ok();
}

Result<uint8_t> StateReader::u8() {
  uint8_t v = 0;
  HVMD_TRY(take(&v, 1));
  return v;
}
Result<uint16_t> StateReader::u16() {
  uint8_t b[2];
  HVMD_TRY(take(b, 2));
  return static_cast<uint16_t>(b[0] | b[1] << 8);
}
Result<uint32_t> StateReader::u32() {
  uint8_t b[4];
  HVMD_TRY(take(b, 4));
  return uint32_t{b[0]} | uint32_t{b[1]} << 8 | uint32_t{b[2]} << 16 | uint32_t{b[3]} << 24;
}
Result<uint64_t> StateReader::u64() {
  auto lo = u32();
  if (!lo) return lo.error();
  auto hi = u32();
  if (!hi) return hi.error();
  return uint64_t{*lo} | uint64_t{*hi} << 32;
}
Result<bool> StateReader::boolean() {
  auto v = u8();
  if (!v) return v.error();
  if (*v > 1) return make_error("device state: bad boolean %u", *v);
  return *v == 1;
}

Result<void> StateReader::bytes_exact(std::span<uint8_t> out) {
  auto length = u32();
  if (!length) return length.error();
  if (*length != out.size())
    return make_error("device state: field of %u bytes where %zu expected", *length, out.size());
  return take(out.data(), out.size());
}

Result<std::span<const uint8_t>> StateReader::bytes(size_t max_length) {
  auto length = u32();
  if (!length) return length.error();
  if (*length > max_length || *length > data_.size() - pos_)
    return make_error("device state: field of %u bytes is too long", *length);
  std::span<const uint8_t> view = data_.subspan(pos_, *length);
  pos_ += *length;
  return view;
}

Result<std::string> StateReader::string(size_t max_length) {
  auto length = u32();
  if (!length) return length.error();
  if (*length > max_length || *length > data_.size() - pos_)
    return make_error("device state: string of %u bytes is too long", *length);
  std::string s(reinterpret_cast<const char*>(data_.data() + pos_), *length);
  pos_ += *length;
  return s;
}

Result<StateReader::Section> StateReader::section() {
  Section s;
  auto id = string(256);
  if (!id) return id.error();
  auto type = string(256);
  if (!type) return type.error();
  auto version = u32();
  if (!version) return version.error();
  auto length = u32();
  if (!length) return length.error();
  if (*length > data_.size() - pos_)
    return make_error("device state: section '%s' runs past the end", id->c_str());
  s.id = std::move(*id);
  s.type = std::move(*type);
  s.version = *version;
  s.body = data_.subspan(pos_, *length);
  pos_ += *length;
  return s;
}

}  // namespace hvmd
