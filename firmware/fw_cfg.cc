#include "firmware/fw_cfg.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "dm/log.h"
#include "firmware/fw_cfg_regs.h"

namespace hvmd::firmware {

using namespace fw_cfg;

namespace {

constexpr uint16_t kNothingSelected = 0xffff;  // what a write-bit selector selects

void put_be(std::vector<uint8_t>& out, uint64_t value, unsigned bytes) {
  for (unsigned i = bytes; i-- > 0;) out.push_back(static_cast<uint8_t>(value >> (8 * i)));
}

std::vector<uint8_t> little_endian(uint64_t value, unsigned bytes) {
  std::vector<uint8_t> out(bytes);
  for (unsigned i = 0; i < bytes; ++i) out[i] = static_cast<uint8_t>(value >> (8 * i));
  return out;
}

uint64_t load_be(const uint8_t* p, unsigned bytes) {
  uint64_t v = 0;
  for (unsigned i = 0; i < bytes; ++i) v = v << 8 | p[i];
  return v;
}

}  // namespace

FwCfg::FwCfg(Dispatcher& dispatcher, GuestMemory& memory)
    : dispatcher_(dispatcher), memory_(memory) {
  set_item(kSignature, {'Q', 'E', 'M', 'U'});
  set_u32(kId, kIdTraditional | kIdDma);
  set_item(kFileDir, {0, 0, 0, 0});
  control_mapping_ = dispatcher_.map_ports(kSelectorPort, 2, &control_io_, "fw_cfg");
  dma_mapping_ = dispatcher_.map_ports(kDmaPort, 8, &dma_io_, "fw_cfg-dma");
}

void FwCfg::unrealize() {
  dispatcher_.unmap(control_mapping_);
  dispatcher_.unmap(dma_mapping_);
}

void FwCfg::reset() {
  selected_ = 0;
  offset_ = 0;
  dma_high_ = 0;
}

void FwCfg::set_item(uint16_t key, std::vector<uint8_t> data) {
  port_window_item_ = nullptr;
  items_[key] = Item{std::move(data), nullptr};
}
void FwCfg::set_item(uint16_t key, std::shared_ptr<FwCfgSource> source) {
  port_window_item_ = nullptr;
  items_[key] = Item{{}, std::move(source)};
}
void FwCfg::set_u16(uint16_t key, uint16_t value) {
  set_item(key, little_endian(value, 2));
}
void FwCfg::set_u32(uint16_t key, uint32_t value) {
  set_item(key, little_endian(value, 4));
}
void FwCfg::set_u64(uint16_t key, uint64_t value) {
  set_item(key, little_endian(value, 8));
}

Result<void> FwCfg::add_file(const std::string& name, std::vector<uint8_t> data) {
  if (name.empty() || name.size() >= kFileNameSize)
    return make_error("fw_cfg file name '%s' must be 1 to %u bytes", name.c_str(),
                      kFileNameSize - 1);
  if (has_file(name)) return make_error("fw_cfg file '%s' given twice", name.c_str());
  if (file_names_.size() >= kMaxFiles) return make_error("too many fw_cfg files");
  if (data.size() > UINT32_MAX) return make_error("fw_cfg file '%s' is too large", name.c_str());
  uint16_t key = static_cast<uint16_t>(kFirstFile + file_names_.size());
  file_names_.push_back(name);
  set_item(key, std::move(data));
  // The directory, sorted by name as firmware expects to find it.
  std::vector<uint16_t> order(file_names_.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<uint16_t>(i);
  std::sort(order.begin(), order.end(),
            [&](uint16_t a, uint16_t b) { return file_names_[a] < file_names_[b]; });
  std::vector<uint8_t> dir;
  put_be(dir, order.size(), 4);
  for (uint16_t i : order) {
    put_be(dir, items_[static_cast<uint16_t>(kFirstFile + i)].size(), 4);
    put_be(dir, kFirstFile + i, 2);
    put_be(dir, 0, 2);
    char name_field[kFileNameSize] = {};
    std::memcpy(name_field, file_names_[i].data(), file_names_[i].size());
    dir.insert(dir.end(), name_field, name_field + kFileNameSize);
  }
  set_item(kFileDir, std::move(dir));
  return ok();
}

bool FwCfg::has_file(const std::string& name) const {
  return std::find(file_names_.begin(), file_names_.end(), name) != file_names_.end();
}

const FwCfg::Item* FwCfg::current() const {
  auto it = items_.find(selected_);
  return it == items_.end() ? nullptr : &it->second;
}

void FwCfg::select(uint16_t key) {
  // Writing through fw_cfg is not offered: a write selector selects nothing.
  selected_ = (key & kWriteBit) ? kNothingSelected : key;
  offset_ = 0;
}

uint64_t FwCfg::control_read(uint64_t offset, unsigned size) {
  if (offset != kDataPort - kSelectorPort || size != 1) return 0;
  const auto* item = current();
  if (!item || offset_ >= item->size()) return 0;
  return byte_at(*item, offset_++);
}

uint8_t FwCfg::byte_at(const Item& item, uint64_t offset) {
  if (!item.source) return item.bytes[offset];
  if (port_window_item_ != &item || offset < port_window_offset_ ||
      offset - port_window_offset_ >= port_window_.size()) {
    uint64_t start = offset - offset % kPortWindow;
    port_window_.resize(std::min(kPortWindow, item.size() - start));
    port_window_item_ = &item;
    port_window_offset_ = start;
    if (!item.source->read(start, port_window_)) {
      HVMD_GUEST_LOG("fw_cfg: reading item bytes at %#llx failed",
                     static_cast<unsigned long long>(start));
      std::fill(port_window_.begin(), port_window_.end(), 0);
    }
  }
  return port_window_[offset - port_window_offset_];
}

bool FwCfg::copy_to_guest(const Item& item, uint64_t offset, uint64_t address, uint64_t length) {
  if (!item.source) return memory_.write(address, item.bytes.data() + offset, length);
  // Through a bounce buffer a chunk at a time: the file is never held whole.
  constexpr uint64_t kChunk = 64 << 10;
  std::vector<uint8_t> chunk(std::min(kChunk, length));
  for (uint64_t done = 0; done < length;) {
    uint64_t n = std::min(kChunk, length - done);
    std::span<uint8_t> part(chunk.data(), n);
    if (!item.source->read(offset + done, part)) {
      HVMD_GUEST_LOG("fw_cfg: reading item bytes at %#llx failed",
                     static_cast<unsigned long long>(offset + done));
      return false;
    }
    if (!memory_.write(address + done, part.data(), n)) return false;
    done += n;
  }
  return true;
}

void FwCfg::control_write(uint64_t offset, unsigned size, uint64_t value) {
  if (offset == 0 && size == 2) select(static_cast<uint16_t>(value));
}

uint64_t FwCfg::dma_read(uint64_t offset, unsigned size) {
  // The signature, big-endian: a guest reading byte by byte sees "QEMU CFG".
  uint64_t value = 0;
  for (unsigned i = 0; i < size && offset + i < 8; ++i)
    value |= ((kDmaSignature >> (8 * (7 - offset - i))) & 0xff) << (8 * i);
  return value;
}

void FwCfg::dma_write(uint64_t offset, unsigned size, uint64_t value) {
  // The descriptor's address, big-endian: the high half at 0x514, the low at 0x518 starts it.
  if (offset == 0 && size == 8) {
    run_dma(__builtin_bswap64(value));
  } else if (offset == 0 && size == 4) {
    dma_high_ = __builtin_bswap32(static_cast<uint32_t>(value));
  } else if (offset == 4 && size == 4) {
    run_dma(uint64_t{dma_high_} << 32 | __builtin_bswap32(static_cast<uint32_t>(value)));
    dma_high_ = 0;
  }
}

void FwCfg::run_dma(uint64_t descriptor_address) {
  uint8_t raw[kDmaDescriptorSize];
  if (!memory_.read(descriptor_address, raw, sizeof(raw))) {
    HVMD_GUEST_LOG("fw_cfg: DMA descriptor at %#llx is not in RAM",
                   static_cast<unsigned long long>(descriptor_address));
    return;
  }
  uint32_t control = static_cast<uint32_t>(load_be(raw, 4));
  uint32_t length = static_cast<uint32_t>(load_be(raw + 4, 4));
  uint64_t address = load_be(raw + 8, 8);
  bool failed = false;
  if (control & kDmaSelect) select(static_cast<uint16_t>(control >> 16));
  if (control & kDmaWrite) {
    failed = true;  // nothing here is writable
  } else if (control & (kDmaRead | kDmaSkip)) {
    const auto* item = current();
    uint64_t available = item && offset_ < item->size() ? item->size() - offset_ : 0;
    uint64_t copied = std::min<uint64_t>(length, available);
    if (control & kDmaRead) {
      // Past the end of the item the firmware reads zeros; none of it may leave guest RAM.
      failed = (copied && !copy_to_guest(*item, offset_, address, copied)) ||
               (length > copied && !memory_.fill(address + copied, 0, length - copied));
      if (!failed) memory_.mark_dirty(address, length);
    }
    offset_ = static_cast<uint32_t>(std::min<uint64_t>(uint64_t{offset_} + length, UINT32_MAX));
  }
  uint8_t status[4] = {0, 0, 0, static_cast<uint8_t>(failed ? kDmaError : 0)};
  if (failed)
    HVMD_GUEST_LOG("fw_cfg: DMA of %u bytes to %#llx failed", length,
                   static_cast<unsigned long long>(address));
  memory_.write(descriptor_address, status, sizeof(status));
}

template <class V>
void FwCfgState::describe(V& v) {
  v("selector", selected_);  // checked in parse_state
  // Any position: DMA skips move it anywhere up to UINT32_MAX, and reads past an item see none.
  v("offset", offset_);
  v("DMA address high", dma_high_);
}

void FwCfg::save(StateWriter& out) const {
  write_fields(out, static_cast<const FwCfgState&>(*this));
}

Result<std::unique_ptr<StagedState>> FwCfg::parse_state(StateReader& in, uint32_t version) {
  return stage_fields<FwCfgState>(
      in, version, "fw_cfg", *this, [](const FwCfgState& s) -> Result<void> {
        // select() turns any key with the write bit into "nothing selected".
        if ((s.selected_ & kWriteBit) && s.selected_ != kNothingSelected)
          return make_error("fw_cfg: selector %#x", s.selected_);
        return ok();
      });
}

}  // namespace hvmd::firmware
