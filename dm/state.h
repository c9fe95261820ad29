// Device state save/restore (xen-save-devices-state, xen-load-devices-state, and live migration).
// The format is hvmd's own: a magic and version, then one section per device, each tagged with the
// device's id, type and the section's version, holding explicit little-endian fields. A reader
// treats the stream as hostile: every length is checked and a short or malformed stream is an
// error.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dm/result.h"

namespace hvmd {

class StateWriter {
 public:
  void u8(uint8_t v) { put(&v, 1); }
  void u16(uint16_t v);
  void u32(uint32_t v);
  void u64(uint64_t v);
  void boolean(bool v) { u8(v ? 1 : 0); }
  void bytes(std::span<const uint8_t> data);  // length-prefixed
  void string(std::string_view s);

  // Sections: begin writes a header and reserves the length, end patches it.
  void begin_section(std::string_view id, std::string_view type, uint32_t version);
  void end_section();

  const std::vector<uint8_t>& data() const { return data_; }

 private:
  void put(const void* p, size_t n);
  std::vector<uint8_t> data_;
  size_t section_start_ = 0;
};

class StateReader {
 public:
  explicit StateReader(std::span<const uint8_t> data) : data_(data) {}

  Result<uint8_t> u8();
  Result<uint16_t> u16();
  Result<uint32_t> u32();
  Result<uint64_t> u64();
  Result<bool> boolean();
  // Reads a length-prefixed blob that must be exactly out.size() bytes long.
  Result<void> bytes_exact(std::span<uint8_t> out);
  // Reads a length-prefixed blob of at most max_length bytes (a view into the stream).
  Result<std::span<const uint8_t>> bytes(size_t max_length);
  Result<std::string> string(size_t max_length);

  struct Section {
    std::string id;
    std::string type;
    uint32_t version = 0;
    std::span<const uint8_t> body;
  };
  bool at_end() const { return pos_ == data_.size(); }
  Result<Section> section();

 private:
  Result<void> take(void* out, size_t n);
  std::span<const uint8_t> data_;
  size_t pos_ = 0;
};

// Header of a whole machine's state.
inline constexpr uint32_t kStateMagic = 0x44564d48;  // "HMVD" little-endian
// 2: sections are written from each device's field description (dm/state_fields.h), a PCI
// device's section begins with the version of the PCI layer's own fields, and the machine's
// emulated-device unplug mask follows this version.
inline constexpr uint32_t kStateFormatVersion = 2;

}  // namespace hvmd
