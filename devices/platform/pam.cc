#include "devices/platform/pam.h"

namespace hvmd::devices {

using namespace pam;

PamWindow::PamWindow(Dispatcher& dispatcher, GuestMemory& ram)
    : dispatcher_(dispatcher), ram_(ram) {
  mapping_ = dispatcher_.map_mmio(kStart, kEnd - kStart, this, "pam", Claim::kOverRam);
}

PamWindow::~PamWindow() {
  dispatcher_.unmap(mapping_);
}

uint8_t PamWindow::attributes(uint64_t address) const {
  if (address >= kBiosSegment) return (registers_[0] >> 4) & (kReadEnable | kWriteEnable);
  uint64_t segment = (address - kStart) / kSegmentSize;  // 0..11
  uint8_t reg = registers_[1 + segment / 2];
  return (segment % 2 ? reg >> 4 : reg) & (kReadEnable | kWriteEnable);
}

uint8_t PamWindow::read_byte(uint64_t address) {
  uint8_t byte = 0xff;
  if (attributes(address) & kReadEnable) {
    ram_.read(address, &byte, 1);  // all-ones where -m leaves no RAM
    return byte;
  }
  // The PCI side: the BIOS flash decodes its low alias; below it the option-ROM area holds no
  // ROM and reads zeros (as QEMU's empty pc.rom does).
  if (address < kFlashAliasStart) return 0;
  return static_cast<uint8_t>(dispatcher_.mmio_read(address + kFlashHighOffset, 1));
}

void PamWindow::write_byte(uint64_t address, uint8_t value) {
  // A write to the PCI side reaches ROM (or nothing): dropped.
  if (attributes(address) & kWriteEnable) ram_.write(address, &value, 1);
}

// Accesses are taken byte by byte: an unaligned one may straddle two segments, and these paths
// (firmware shadowing, tests) are not hot.
uint64_t PamWindow::read(uint64_t offset, unsigned size) {
  uint64_t value = 0;
  for (unsigned i = 0; i < size && offset + i < kEnd - kStart; ++i)
    value |= uint64_t{read_byte(kStart + offset + i)} << (8 * i);
  return value;
}

void PamWindow::write(uint64_t offset, unsigned size, uint64_t value) {
  for (unsigned i = 0; i < size && offset + i < kEnd - kStart; ++i)
    write_byte(kStart + offset + i, static_cast<uint8_t>(value >> (8 * i)));
}

}  // namespace hvmd::devices
