// SysfsHost: a host function through sysfs, the way a Xen device model reaches a device bound to
// xen-pciback (Xen owns the IOMMU, so dom0 has no VFIO): config space by pread/pwrite of
// ROOT/bus/pci/devices/BDF/config, BARs from `resource` (Xen maps them into the guest from the
// host-physical addresses there), trapped BAR accesses through `resourceN` (mmap for memory, pread/
// pwrite for I/O), the machine IRQ from `irq`, the ROM from `rom`. Reset is libxl's, as for
// qemu-xen. Every file is opened here, before hvmd drops its privileges: sysfs checks the opener's
// capabilities, so a config descriptor opened as root keeps working afterwards.
#pragma once

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "passthrough/host_function.h"

namespace hvmd::passthrough {

class SysfsHost final : public HostFunction {
 public:
  // root: "/sys", or a fake tree in tests.
  static Result<std::unique_ptr<SysfsHost>> open(const std::string& root, PciAddress address);
  ~SysfsHost() override;
  SysfsHost(const SysfsHost&) = delete;
  SysfsHost& operator=(const SysfsHost&) = delete;

  std::string name() const override { return name_; }
  PciAddress host_address() const override { return address_; }
  uint32_t config_size() const override { return config_size_; }
  uint32_t read(uint32_t reg, unsigned size) override;
  void write(uint32_t reg, unsigned size, uint32_t value) override;
  uint32_t extended_read(uint32_t reg, unsigned size) override;
  void extended_write(uint32_t reg, unsigned size, uint32_t value) override;
  HostRegion region(int index) const override;
  uint64_t region_read(int index, uint64_t offset, unsigned size) override;
  void region_write(int index, uint64_t offset, unsigned size, uint64_t value) override;
  Result<std::vector<uint8_t>> read_rom() override;
  HostIntx intx() const override { return {.machine_irq = irq_}; }
  Result<void> set_msi(bool msix, unsigned count) override;
  Result<void> reset() override;

 private:
  SysfsHost() = default;
  uint32_t config_access(uint32_t reg, unsigned size, const uint32_t* write_value);

  std::string name_;
  std::string dir_;
  PciAddress address_;
  int config_fd_ = -1;
  uint32_t config_size_ = 256;
  unsigned irq_ = 0;
  std::array<HostRegion, kRegionCount> regions_{};
  struct Resource {
    int fd = -1;
    void* map = nullptr;  // memory BARs
    uint64_t map_size = 0;
  };
  std::array<Resource, kRegionCount> resources_{};
  std::vector<uint8_t> rom_;  // read at open
  uint8_t msi_cap_ = 0;
  uint8_t msix_cap_ = 0;
  bool logged_error_ = false;
};

}  // namespace hvmd::passthrough
