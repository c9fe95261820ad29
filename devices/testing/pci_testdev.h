// pci-testdev (1b36:0005, QEMU's ID for it): a PCI function with nothing but scratch registers,
// 4 KiB of them behind a memory BAR and 256 bytes behind an I/O BAR. Tests use it to exercise
// what every PCI device has (BAR sizing and moves, hotplug, an option ROM through romfile=) on
// every transport, including real Xen.
#pragma once

#include <array>

#include "dm/io_handler.h"
#include "dm/pci/pci_device.h"

namespace hvmd::devices {

// The scratch registers (any byte value is one a guest can write).
struct PciTestDeviceState {
  static constexpr uint64_t kMemorySize = 4096;
  static constexpr uint64_t kIoSize = 256;
  std::array<uint8_t, kMemorySize> memory_{};
  std::array<uint8_t, kIoSize> io_{};
  template <class V>
  void describe(V& v) {
    v("memory BAR bytes", memory_);
    v("I/O BAR bytes", io_);
  }
};

class PciTestDevice final : public pci::PciDevice, private PciTestDeviceState {
 public:
  static constexpr uint16_t kVendor = 0x1b36;  // Red Hat's ID for emulated test devices
  static constexpr uint16_t kDevice = 0x0005;
  static constexpr uint32_t kClassOther = 0x00ff00;
  using PciTestDeviceState::kIoSize;
  using PciTestDeviceState::kMemorySize;

  PciTestDevice();
  std::string_view type() const override { return "pci-testdev"; }

  uint64_t memory_read(uint64_t offset, unsigned size);
  void memory_write(uint64_t offset, unsigned size, uint64_t value);
  uint64_t io_read(uint64_t offset, unsigned size);
  void io_write(uint64_t offset, unsigned size, uint64_t value);

 protected:
  void reset_device() override;
  void save_device(StateWriter& out) const override;
  Result<std::unique_ptr<StagedState>> parse_device(StateReader& in, uint32_t version) override;

 private:
  uint64_t read_bytes(const uint8_t* bytes, size_t length, uint64_t offset, unsigned size) const;
  void write_bytes(uint8_t* bytes, size_t length, uint64_t offset, unsigned size, uint64_t value);

  MemberIoHandler<PciTestDevice, &PciTestDevice::memory_read, &PciTestDevice::memory_write>
      memory_io_{*this};
  MemberIoHandler<PciTestDevice, &PciTestDevice::io_read, &PciTestDevice::io_write> io_io_{*this};
};

}  // namespace hvmd::devices
