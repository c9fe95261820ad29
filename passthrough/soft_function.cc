#include "passthrough/soft_function.h"

#include <algorithm>
#include <cassert>
#include <cstring>

#include <sys/eventfd.h>
#include <unistd.h>

#include "dm/pci/pci_regs.h"
#include "passthrough/bdf.h"

namespace hvmd::passthrough {

SoftFunction::SoftFunction(std::string name, uint32_t config_size)
    : name_(std::move(name)),
      bytes_(config_size),
      write_mask_(config_size),
      w1c_mask_(config_size),
      power_on_(config_size) {
  assert(config_size == 256 || config_size == 4096);
  if (auto address = parse_host_address(name_)) host_address_ = *address;
}

SoftFunction::SoftFunction(const SoftFunction& other)
    : HostFunction(other),
      reset_supported(other.reset_supported),
      writes(other.writes),
      interrupt_log(other.interrupt_log),
      resets(other.resets),
      name_(other.name_),
      host_address_(other.host_address_),
      bytes_(other.bytes_),
      write_mask_(other.write_mask_),
      w1c_mask_(other.w1c_mask_),
      power_on_(other.power_on_),
      regions_(other.regions_),
      pages_(other.pages_),
      rom_(other.rom_),
      irq_(other.irq_) {}

SoftFunction::~SoftFunction() {
  for (int fd : vector_fds_) close(fd);
  if (intx_fd_ >= 0) close(intx_fd_);
  if (resample_fd_ >= 0) close(resample_fd_);
}

void SoftFunction::use_eventfds() {
  eventfds_ = true;
  if (intx_fd_ < 0) intx_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (resample_fd_ < 0) resample_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

int SoftFunction::vector_fd(bool msix, unsigned vector) const {
  return msix == vector_fds_msix_ && vector < vector_fds_.size() ? vector_fds_[vector] : -1;
}

uint16_t SoftFunction::get16(uint32_t reg) const {
  return static_cast<uint16_t>(get(reg, 2));
}
uint32_t SoftFunction::get32(uint32_t reg) const {
  return get(reg, 4);
}
void SoftFunction::set16(uint32_t reg, uint16_t value) {
  for (unsigned i = 0; i < 2; ++i) bytes_[reg + i] = static_cast<uint8_t>(value >> (8 * i));
}
void SoftFunction::set32(uint32_t reg, uint32_t value) {
  for (unsigned i = 0; i < 4; ++i) bytes_[reg + i] = static_cast<uint8_t>(value >> (8 * i));
}
void SoftFunction::set_write_mask(uint32_t reg, unsigned size, uint32_t mask) {
  for (unsigned i = 0; i < size; ++i) write_mask_[reg + i] = static_cast<uint8_t>(mask >> (8 * i));
}
void SoftFunction::set_w1c_mask(uint32_t reg, unsigned size, uint32_t mask) {
  for (unsigned i = 0; i < size; ++i) w1c_mask_[reg + i] = static_cast<uint8_t>(mask >> (8 * i));
}

bool SoftFunction::in_config(uint32_t reg, unsigned size) const {
  return size >= 1 && size <= 4 && reg < bytes_.size() && size <= bytes_.size() - reg;
}

uint32_t SoftFunction::get(uint32_t reg, unsigned size) const {
  uint32_t value = 0;
  for (unsigned i = 0; i < size; ++i) value |= uint32_t{bytes_[reg + i]} << (8 * i);
  return value;
}

// Per byte: writable bits take the value, write-1-to-clear bits clear where the value has a 1,
// every other bit (read-only, reserved) keeps what the function holds.
void SoftFunction::hardware_write(uint32_t reg, unsigned size, uint32_t value) {
  writes.push_back({reg, size, value});
  for (unsigned i = 0; i < size; ++i) {
    auto v = static_cast<uint8_t>(value >> (8 * i));
    uint8_t& b = bytes_[reg + i];
    uint8_t wm = write_mask_[reg + i], w1c = w1c_mask_[reg + i];
    b = static_cast<uint8_t>((b & ~wm & ~w1c) | (v & wm) | (b & w1c & ~v));
  }
}

uint32_t SoftFunction::read(uint32_t reg, unsigned size) {
  return in_config(reg, size) ? get(reg, size) : ~0u;
}
void SoftFunction::write(uint32_t reg, unsigned size, uint32_t value) {
  if (in_config(reg, size)) hardware_write(reg, size, value);
}
uint32_t SoftFunction::extended_read(uint32_t reg, unsigned size) {
  return reg >= pci::kConfigSize && in_config(reg, size) ? get(reg, size) : ~0u;
}
void SoftFunction::extended_write(uint32_t reg, unsigned size, uint32_t value) {
  if (reg >= pci::kConfigSize && in_config(reg, size)) hardware_write(reg, size, value);
}

void SoftFunction::add_region(int index, const HostRegion& region) {
  assert(index >= 0 && index < kRegionCount);
  regions_[index] = region;
  if (region.kind == RegionKind::kNone || region.size == 0) return;
  if (index == kRomRegion) {
    set32(pci::kRomAddress, static_cast<uint32_t>(region.host_address));
    set_write_mask(
        pci::kRomAddress, 4,
        (static_cast<uint32_t>(~(region.size - 1)) & pci::kRomAddressMask) | pci::kRomEnable);
    return;
  }
  uint32_t reg = pci::kBar0 + 4 * static_cast<uint32_t>(index);
  uint64_t size = region.size;
  if (region.kind == RegionKind::kIo) {
    set32(reg, static_cast<uint32_t>(region.host_address) | pci::kBarIoSpace);
    set_write_mask(
        reg, 4, static_cast<uint32_t>(~(std::max<uint64_t>(size, 4) - 1)) & pci::kBarIoAddressMask);
    return;
  }
  uint32_t flags = (region.kind == RegionKind::kMemory64 ? pci::kBarMemType64 : 0) |
                   (region.prefetchable ? pci::kBarPrefetchable : 0);
  size = std::max<uint64_t>(size, 16);
  set32(reg, static_cast<uint32_t>(region.host_address) | flags);
  set_write_mask(reg, 4, static_cast<uint32_t>(~(size - 1)) & pci::kBarMemAddressMask);
  if (region.kind == RegionKind::kMemory64) {
    assert(index < 5);
    set32(reg + 4, static_cast<uint32_t>(region.host_address >> 32));
    set_write_mask(reg + 4, 4, static_cast<uint32_t>(~(size - 1) >> 32));
  }
}

HostRegion SoftFunction::region(int index) const {
  return index >= 0 && index < kRegionCount ? regions_[index] : HostRegion{};
}

uint8_t SoftFunction::region_byte(int index, uint64_t offset) const {
  auto it = pages_.find({index, offset / kPage});
  return it == pages_.end() ? 0 : it->second[offset % kPage];
}

uint64_t SoftFunction::region_read(int index, uint64_t offset, unsigned size) {
  HostRegion r = region(index);
  if (size == 0 || size > 8 || offset >= r.size || size > r.size - offset) return ~0ull;
  uint64_t value = 0;
  for (unsigned i = 0; i < size; ++i) value |= uint64_t{region_byte(index, offset + i)} << (8 * i);
  return value;
}

void SoftFunction::region_write(int index, uint64_t offset, unsigned size, uint64_t value) {
  HostRegion r = region(index);
  if (size == 0 || size > 8 || offset >= r.size || size > r.size - offset) return;
  for (unsigned i = 0; i < size; ++i) {
    uint64_t at = offset + i;
    auto [it, fresh] = pages_.try_emplace({index, at / kPage});
    if (fresh) it->second.fill(0);
    it->second[at % kPage] = static_cast<uint8_t>(value >> (8 * i));
  }
}

Result<void> SoftFunction::set_msi(bool msix, unsigned count) {
  interrupt_log.push_back(std::string(msix ? "msix " : "msi ") + std::to_string(count));
  if (eventfds_) {
    for (int fd : vector_fds_) close(fd);
    vector_fds_.clear();
    vector_fds_msix_ = msix;
    for (unsigned i = 0; i < count; ++i)
      vector_fds_.push_back(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  }
  return ok();
}

Result<void> SoftFunction::reset() {
  if (!reset_supported) return make_error("%s has no reset method", name_.c_str());
  ++resets;
  interrupt_log.push_back("reset");
  bytes_ = power_on_;
  return ok();
}

}  // namespace hvmd::passthrough
