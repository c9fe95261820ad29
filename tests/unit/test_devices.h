// Small devices and fakes shared by the unit tests.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <vector>

#include "dm/dispatcher.h"
#include "dm/guest_memory.h"
#include "dm/interrupts.h"
#include "dm/pci/pci_device.h"

namespace hvmd::test {

// A register file that records every access: offset -> value, plus a log.
class RecordingDevice final : public IoHandler {
 public:
  struct Access {
    bool is_write;
    uint64_t offset;
    unsigned size;
    uint64_t value;
    bool operator==(const Access&) const = default;
  };
  uint64_t read(uint64_t offset, unsigned size) override {
    uint64_t v = next_read_value ? next_read_value++ : 0x1000 + offset;
    log.push_back({false, offset, size, v});
    return v;
  }
  void write(uint64_t offset, unsigned size, uint64_t value) override {
    log.push_back({true, offset, size, value});
  }
  uint64_t next_read_value = 0;  // non-zero: reads return 1, 2, 3... from this value on
  std::vector<Access> log;
};

class FakeInterrupts final : public InterruptSink {
 public:
  void set_isa_irq(unsigned irq, bool level) override { isa[irq] = level; }
  void set_pci_intx(PciAddress device, unsigned pin, bool level) override {
    intx[{device.devfn, pin}] = level;
  }
  void set_pci_link_route(unsigned link, unsigned isa_irq) override { routes[link] = isa_irq; }
  void send_msi(const MsiMessage& message) override { msis.push_back(message); }

  bool intx_level(uint8_t devfn, unsigned pin) const {
    auto it = intx.find({devfn, pin});
    return it != intx.end() && it->second;
  }

  std::map<unsigned, bool> isa;
  std::map<std::pair<uint8_t, unsigned>, bool> intx;
  std::map<unsigned, unsigned> routes;
  std::vector<MsiMessage> msis;
};

// The BAR handler of a test device whose BAR holds its MSI-X table and PBA: the guest programs,
// masks and reads its vectors through it (add_msix places them; the handler may be passed to
// add_bar before that, as it asks the device on each access).
class MsixBarHandler final : public IoHandler {
 public:
  explicit MsixBarHandler(pci::PciDevice& device) : device_(device) {}
  uint64_t read(uint64_t offset, unsigned size) override {
    return device_.msix()->read(offset, size);
  }
  void write(uint64_t offset, unsigned size, uint64_t value) override {
    device_.msix()->write(offset, size, value);
  }

 private:
  pci::PciDevice& device_;
};

// A PCI function with one 32-bit register behind an I/O BAR (BAR0, 4 ports) and a 4 KiB memory
// BAR (BAR1) whose dwords are a small register file; state is saved. Hot-pluggable in the tests'
// registries.
class ScratchDevice final : public pci::PciDevice {
 public:
  static constexpr uint32_t kMemoryBarSize = 4096;
  explicit ScratchDevice(uint32_t initial)
      : PciDevice({.vendor = 0x1b36, .device = 0x0005, .class_code = 0xff0000}), value_(initial) {
    add_bar(0, pci::BarType::kIo, 4, &io_);
    add_bar(1, pci::BarType::kMemory32, kMemoryBarSize, &memory_);
  }
  std::string_view type() const override { return "scratch"; }
  uint64_t io_read(uint64_t, unsigned) { return value_; }
  void io_write(uint64_t, unsigned, uint64_t v) { value_ = static_cast<uint32_t>(v); }
  uint64_t mem_read(uint64_t offset, unsigned) {
    return registers_[offset / 4 % registers_.size()];
  }
  void mem_write(uint64_t offset, unsigned, uint64_t v) {
    registers_[offset / 4 % registers_.size()] = static_cast<uint32_t>(v);
  }

 protected:
  void save_device(StateWriter& out) const override { out.u32(value_); }
  Result<std::unique_ptr<StagedState>> parse_device(StateReader& in, uint32_t) override {
    auto v = in.u32();
    if (!v) return v.error();
    return staged([this, value = *v] { value_ = value; });
  }

 private:
  uint32_t value_;
  std::array<uint32_t, kMemoryBarSize / 4> registers_{};
  MemberIoHandler<ScratchDevice, &ScratchDevice::io_read, &ScratchDevice::io_write> io_{*this};
  MemberIoHandler<ScratchDevice, &ScratchDevice::mem_read, &ScratchDevice::mem_write> memory_{
      *this};
};

}  // namespace hvmd::test
