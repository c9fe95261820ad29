// The i440FX's Programmable Attribute Map: how reads and writes to the BIOS area 0xc0000-0xfffff
// are routed (Intel 440FX PCIset datasheet, 290549, PAM0-PAM6 at config 0x59-0x5f). Thirteen
// segments, each with read-enable and write-enable: an enabled direction goes to DRAM, a disabled
// one to the PCI/ISA side, where the BIOS flash answers for 0xe0000-0xfffff (its low alias, the
// same bytes as the image's last 128 KiB at the top of 4 GiB) and nothing ROM-like sits below.
// This is how firmware shadows itself: copy the ROM into RAM with writes enabled, then make the
// segment read-only so the copy answers reads and writes are dropped.
//
// Standalone machines only. Under qtest the window is MMIO over RAM (Claim::kOverRam), so the
// test's accesses follow the PAM. Under KVM the RAM slot hides it (KVM keeps RAM there, with the
// low alias copied in at reset, as the BIOS leaves it after shadowing). Under Xen, Xen owns the
// guest's memory map and the window is not mapped.
#pragma once

#include <array>
#include <cstdint>

#include "dm/dispatcher.h"
#include "dm/guest_memory.h"
#include "dm/io_handler.h"

namespace hvmd::devices {

namespace pam {
inline constexpr uint64_t kStart = 0xc0000;
inline constexpr uint64_t kEnd = 0x100000;
inline constexpr uint64_t kBiosSegment = 0xf0000;      // PAM0 bits 5:4, 64 KiB
inline constexpr uint64_t kSegmentSize = 0x4000;       // PAM1-PAM6: two 16 KiB segments each
inline constexpr uint64_t kFlashAliasStart = 0xe0000;  // the BIOS flash's low alias
// The flash's low alias lies this far below its top-of-4-GiB copy.
inline constexpr uint64_t kFlashHighOffset = 0xfff00000;
inline constexpr uint8_t kReadEnable = 0x1;  // per 4-bit field
inline constexpr uint8_t kWriteEnable = 0x2;
inline constexpr unsigned kRegisters = 7;
}  // namespace pam

class PamWindow final : public IoHandler {
 public:
  // Maps the window (MMIO over RAM). ram holds the DRAM side; ROM-side reads of the flash alias
  // go back through the dispatcher to the image at the top of 4 GiB.
  PamWindow(Dispatcher& dispatcher, GuestMemory& ram);
  ~PamWindow() override;
  PamWindow(const PamWindow&) = delete;
  PamWindow& operator=(const PamWindow&) = delete;

  // The PAM0..PAM6 bytes as config space holds them.
  void set_registers(const std::array<uint8_t, pam::kRegisters>& registers) {
    registers_ = registers;
  }

  uint64_t read(uint64_t offset, unsigned size) override;
  void write(uint64_t offset, unsigned size, uint64_t value) override;

 private:
  uint8_t attributes(uint64_t address) const;  // RE/WE of the segment holding address
  uint8_t read_byte(uint64_t address);
  void write_byte(uint64_t address, uint8_t value);

  Dispatcher& dispatcher_;
  GuestMemory& ram_;
  Dispatcher::MappingId mapping_;
  std::array<uint8_t, pam::kRegisters> registers_{};
};

}  // namespace hvmd::devices
