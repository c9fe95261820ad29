#include "dm/pci/msi.h"

#include <algorithm>
#include <bit>

namespace hvmd::pci {

Msi::Msi(ConfigSpace& config, uint8_t cap, unsigned vectors, bool is_64bit, bool maskable)
    : config_(config), cap_(cap), vectors_(vectors), is_64bit_(is_64bit), maskable_(maskable) {
  uint16_t control = static_cast<uint16_t>(std::countr_zero(vectors) << kMsiControlMmcShift);
  if (is_64bit) control |= kMsiControl64Bit;
  if (maskable) control |= kMsiControlMaskable;
  config_.set16(cap_ + kMsiControl, control);
  config_.set_write_mask(cap_ + kMsiControl, 2, kMsiControlEnable | kMsiControlMmeMask);
  config_.set_write_mask(cap_ + kMsiAddressLow, 4, 0xfffffffc);
  if (is_64bit) config_.set_write_mask(cap_ + kMsiAddressHigh, 4, 0xffffffff);
  config_.set_write_mask(data_reg(), 2, 0xffff);
  if (maskable) {
    uint32_t vector_bits = vectors == 32 ? 0xffffffff : (1u << vectors) - 1;
    config_.set_write_mask(mask_reg(), 4, vector_bits);
  }
}

unsigned Msi::capability_length(bool is_64bit, bool maskable) {
  return (is_64bit ? 14 : 10) + (maskable ? 10 : 0);
}

bool Msi::enabled() const {
  return config_.get16(cap_ + kMsiControl) & kMsiControlEnable;
}

unsigned Msi::enabled_vectors() const {
  unsigned log2 = (config_.get16(cap_ + kMsiControl) & kMsiControlMmeMask) >> kMsiControlMmeShift;
  // A guest may enable more than the device is capable of; hardware caps it.
  return std::min(1u << std::min(log2, 5u), vectors_);
}

MsiMessage Msi::message(unsigned vector) const {
  MsiMessage m;
  m.address = config_.get32(cap_ + kMsiAddressLow);
  if (is_64bit_) m.address |= uint64_t{config_.get32(cap_ + kMsiAddressHigh)} << 32;
  // With n vectors enabled the device replaces the low log2(n) bits of the data with the vector.
  uint32_t data = config_.get16(data_reg());
  unsigned n = enabled_vectors();
  m.data = (data & ~(n - 1)) | (vector & (n - 1));
  return m;
}

void Msi::notify(InterruptSink* sink, unsigned vector) {
  if (!enabled() || vector >= enabled_vectors() || !sink) return;
  MsiMessage m = message(vector);
  if (vector_masked(vector) && !sink->masked_by_hypervisor(m)) {
    config_.set32(pending_reg(), config_.get32(pending_reg()) | 1u << vector);
    return;
  }
  sink->send_msi(m);
}

bool Msi::vector_masked(unsigned vector) const {
  return maskable_ && (config_.get32(mask_reg()) >> vector & 1);
}

Msi::Programmed Msi::programmed() const {
  Programmed p;
  p.enabled = enabled();
  if (!p.enabled) return p;
  p.vectors = enabled_vectors();
  p.address = config_.get32(cap_ + kMsiAddressLow);
  if (is_64bit_) p.address |= uint64_t{config_.get32(cap_ + kMsiAddressHigh)} << 32;
  p.data = config_.get16(data_reg());
  p.mask = maskable_ ? config_.get32(mask_reg()) : 0;
  return p;
}

void Msi::report_changes() {
  Programmed before = reported_;
  reported_ = programmed();
  const Programmed& now = reported_;
  if (!listener_) return;
  if (!now.enabled) {
    if (before.enabled) listener_->vectors_disabled();
    return;
  }
  // A new vector count renumbers the messages: every vector is reported afresh.
  bool recount = before.enabled && now.vectors != before.vectors;
  if (recount) listener_->vectors_disabled();
  bool reprogram =
      !before.enabled || recount || now.address != before.address || now.data != before.data;
  for (unsigned v = 0; v < now.vectors; ++v) {
    if (reprogram)
      listener_->vector_programmed(v, message(v), vector_masked(v));
    else if ((now.mask ^ before.mask) >> v & 1)
      listener_->vector_masked(v, vector_masked(v));
  }
}

void Msi::config_written(InterruptSink* sink) {
  report_changes();
  if (!maskable_ || !enabled() || !sink) return;
  uint32_t deliverable = config_.get32(pending_reg()) & ~config_.get32(mask_reg());
  for (unsigned v = 0; v < enabled_vectors(); ++v) {
    if (!(deliverable >> v & 1)) continue;
    config_.set32(pending_reg(), config_.get32(pending_reg()) & ~(1u << v));
    sink->send_msi(message(v));
  }
}

void Msi::reset() {
  config_.set16(cap_ + kMsiControl,
                config_.get16(cap_ + kMsiControl) & ~(kMsiControlEnable | kMsiControlMmeMask));
  config_.set32(cap_ + kMsiAddressLow, 0);
  if (is_64bit_) config_.set32(cap_ + kMsiAddressHigh, 0);
  config_.set16(data_reg(), 0);
  if (maskable_) {
    config_.set32(mask_reg(), 0);
    config_.set32(pending_reg(), 0);
  }
  report_changes();
}

Msix::Msix(ConfigSpace& config, uint8_t cap, unsigned vectors, uint8_t bar, uint32_t table_offset,
           uint32_t pba_offset)
    : config_(config),
      cap_(cap),
      vectors_(vectors),
      table_offset_(table_offset),
      pba_offset_(pba_offset),
      table_(size_t{vectors} * 4),
      pending_((size_t{vectors} + 63) / 64) {
  config_.set16(cap_ + kMsixControl, static_cast<uint16_t>(vectors - 1));
  config_.set32(cap_ + kMsixTable, table_offset | bar);
  config_.set32(cap_ + kMsixPba, pba_offset | bar);
  config_.set_write_mask(cap_ + kMsixControl, 2, kMsixControlEnable | kMsixControlFunctionMask);
  reset();
}

bool Msix::enabled() const {
  return config_.get16(cap_ + kMsixControl) & kMsixControlEnable;
}
bool Msix::function_masked() const {
  return config_.get16(cap_ + kMsixControl) & kMsixControlFunctionMask;
}
bool Msix::vector_masked(unsigned vector) const {
  return table_[vector * 4 + kMsixEntryControl / 4] & kMsixEntryMasked;
}

void Msix::reset() {
  config_.set16(cap_ + kMsixControl, static_cast<uint16_t>(vectors_ - 1));
  std::fill(table_.begin(), table_.end(), 0);
  for (unsigned v = 0; v < vectors_; ++v) table_[v * 4 + 3] = kMsixEntryMasked;
  std::fill(pending_.begin(), pending_.end(), 0);
  report_control_change();
}

void Msix::notify(InterruptSink* sink, unsigned vector) {
  if (!enabled() || vector >= vectors_ || !sink) return;
  MsiMessage m = message(vector);
  if ((function_masked() || vector_masked(vector)) && !sink->masked_by_hypervisor(m)) {
    pending_[vector / 64] |= 1ull << (vector % 64);
    return;
  }
  sink->send_msi(m);
}

MsiMessage Msix::message(unsigned vector) const {
  const uint32_t* e = &table_[vector * 4];
  return {uint64_t{e[0]} | uint64_t{e[1]} << 32, e[2]};
}

void Msix::report_control_change() {
  bool was_enabled = reported_enabled_;
  bool was_function_masked = reported_function_mask_;
  reported_enabled_ = enabled();
  reported_function_mask_ = function_masked();
  if (!listener_) return;
  if (!reported_enabled_) {
    if (was_enabled) listener_->vectors_disabled();
    return;
  }
  bool function_mask = reported_function_mask_;
  for (unsigned v = 0; v < vectors_; ++v) {
    if (!was_enabled)
      listener_->vector_programmed(v, message(v), function_mask || vector_masked(v));
    else if (function_mask != was_function_masked && !vector_masked(v))
      listener_->vector_masked(v, function_mask);
  }
}

void Msix::report_entry_change(unsigned vector, const uint32_t (&before)[4]) {
  if (!listener_ || !enabled()) return;
  const uint32_t* now = &table_[vector * 4];
  bool message_changed = now[0] != before[0] || now[1] != before[1] || now[2] != before[2];
  bool mask_changed = (now[3] ^ before[3]) & kMsixEntryMasked;
  bool masked = function_masked() || vector_masked(vector);
  if (message_changed)
    listener_->vector_programmed(vector, message(vector), masked);
  else if (mask_changed && !function_masked())  // under the function mask nothing changes
    listener_->vector_masked(vector, masked);
}

void Msix::deliver_pending(InterruptSink* sink) {
  if (!enabled() || function_masked() || !sink) return;
  for (unsigned v = 0; v < vectors_; ++v) {
    uint64_t bit = 1ull << (v % 64);
    if (!(pending_[v / 64] & bit) || vector_masked(v)) continue;
    pending_[v / 64] &= ~bit;
    notify(sink, v);
  }
}

void Msix::config_written(InterruptSink* sink) {
  sink_ = sink;
  report_control_change();
  deliver_pending(sink);
}

bool Msix::claims(uint64_t offset) const {
  return (offset >= table_offset_ && offset < table_offset_ + vectors_ * kMsixEntrySize) ||
         (offset >= pba_offset_ && offset < pba_offset_ + pending_.size() * 8);
}

uint64_t Msix::read(uint64_t offset, unsigned size) {
  uint64_t value = 0;
  for (unsigned i = 0; i < size; ++i) {
    uint64_t o = offset + i;
    uint8_t byte = 0;
    if (o >= table_offset_ && o < table_offset_ + vectors_ * kMsixEntrySize) {
      uint64_t t = o - table_offset_;
      byte = static_cast<uint8_t>(table_[t / 4] >> (8 * (t % 4)));
    } else if (o >= pba_offset_ && o < pba_offset_ + pending_.size() * 8) {
      uint64_t p = o - pba_offset_;
      byte = static_cast<uint8_t>(pending_[p / 8] >> (8 * (p % 8)));
    }
    value |= uint64_t{byte} << (8 * i);
  }
  return value;
}

void Msix::write(uint64_t offset, unsigned size, uint64_t value) {
  if (size == 0) return;
  // The entries the access touches (at most two: entries are 16 bytes, accesses at most 8), as
  // they were, so the listener hears what changed.
  struct Before {
    unsigned vector;
    uint32_t entry[4];
  } before[2];
  unsigned touched = 0;
  uint64_t table_end = table_offset_ + uint64_t{vectors_} * kMsixEntrySize;
  for (uint64_t o : {offset, offset + size - 1}) {
    if (o < table_offset_ || o >= table_end) continue;
    auto vector = static_cast<unsigned>((o - table_offset_) / kMsixEntrySize);
    if (touched && before[touched - 1].vector == vector) continue;
    before[touched].vector = vector;
    std::copy_n(&table_[vector * 4], 4, before[touched].entry);
    ++touched;
  }
  // Only the table is writable (the PBA is read-only); entries take byte, dword or qword writes.
  for (unsigned i = 0; i < size; ++i) {
    uint64_t o = offset + i;
    if (o < table_offset_ || o >= table_offset_ + vectors_ * kMsixEntrySize) continue;
    uint64_t t = o - table_offset_;
    uint32_t& word = table_[t / 4];
    unsigned shift = 8 * (t % 4);
    word = (word & ~(0xffu << shift)) | static_cast<uint32_t>((value >> (8 * i)) & 0xff) << shift;
    // Vector control bits other than the mask are reserved and read as zero.
    if (t % kMsixEntrySize >= kMsixEntryControl) word &= kMsixEntryMasked;
  }
  for (unsigned i = 0; i < touched; ++i) report_entry_change(before[i].vector, before[i].entry);
  deliver_pending(sink_);
}

void Msix::sanitize(State& state) const {
  for (unsigned v = 0; v < vectors_; ++v) state.table[v * 4 + 3] &= kMsixEntryMasked;
  if (vectors_ % 64) state.pending.back() &= (1ull << (vectors_ % 64)) - 1;
}

void Msix::restore(State state) {
  table_ = std::move(state.table);
  pending_ = std::move(state.pending);
}

}  // namespace hvmd::pci
