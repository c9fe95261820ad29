#include "devices/testing/pci_testdev.h"

#include <cstring>

namespace hvmd::devices {

PciTestDevice::PciTestDevice()
    : PciDevice({.vendor = kVendor,
                 .device = kDevice,
                 .class_code = kClassOther,
                 .subsystem_vendor = kVendor,
                 .subsystem = kDevice}) {
  add_bar(0, pci::BarType::kMemory32, kMemorySize, &memory_io_);
  add_bar(1, pci::BarType::kIo, kIoSize, &io_io_);
}

void PciTestDevice::reset_device() {
  memory_.fill(0);
  io_.fill(0);
}

uint64_t PciTestDevice::read_bytes(const uint8_t* bytes, size_t length, uint64_t offset,
                                   unsigned size) const {
  if (offset >= length || size > length - offset) return all_ones(size);
  uint64_t value = 0;
  std::memcpy(&value, bytes + offset, size);
  return value;
}

void PciTestDevice::write_bytes(uint8_t* bytes, size_t length, uint64_t offset, unsigned size,
                                uint64_t value) {
  if (offset >= length || size > length - offset) return;
  std::memcpy(bytes + offset, &value, size);
}

uint64_t PciTestDevice::memory_read(uint64_t offset, unsigned size) {
  return read_bytes(memory_.data(), memory_.size(), offset, size);
}
void PciTestDevice::memory_write(uint64_t offset, unsigned size, uint64_t value) {
  write_bytes(memory_.data(), memory_.size(), offset, size, value);
}
uint64_t PciTestDevice::io_read(uint64_t offset, unsigned size) {
  return read_bytes(io_.data(), io_.size(), offset, size);
}
void PciTestDevice::io_write(uint64_t offset, unsigned size, uint64_t value) {
  write_bytes(io_.data(), io_.size(), offset, size, value);
}

void PciTestDevice::save_device(StateWriter& out) const {
  write_fields(out, static_cast<const PciTestDeviceState&>(*this));
}

Result<std::unique_ptr<StagedState>> PciTestDevice::parse_device(StateReader& in,
                                                                 uint32_t version) {
  return stage_fields<PciTestDeviceState>(in, version, "pci-testdev", *this);
}

}  // namespace hvmd::devices
