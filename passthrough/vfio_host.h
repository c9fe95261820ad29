// VfioHost: a host function through VFIO's legacy container/group interface (the kvm and qtest
// runners; dom0s with an IOMMU of their own). Config space and non-mappable regions by pread/
// pwrite at the region offsets, BARs mmapped where VFIO allows it, INTx on an eventfd with a
// resample eventfd (writing it unmasks the line), MSI/MSI-X on one eventfd per vector, the guest's
// RAM mapped for DMA at its guest-physical addresses (so the device DMAs into guest RAM and
// nowhere else), VFIO_DEVICE_RESET where the device has a reset.
#pragma once

#include <array>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "passthrough/host_function.h"

namespace hvmd::passthrough {

// A function a bus/slot hot reset of another would reset too, as VFIO_DEVICE_GET_PCI_HOT_RESET_INFO
// lists it (the function itself included).
struct HotResetDevice {
  PciAddress address;
  int group_id = -1;
};

// The group fds VFIO_DEVICE_PCI_HOT_RESET needs: one per IOMMU group among affected, each owned by
// this process (owned_groups: group id -> fd). An error names the first group hvmd does not own
// and its device: resetting it would take a device from under another user.
Result<std::vector<int>> hot_reset_group_fds(const std::string& name,
                                             const std::vector<HotResetDevice>& affected,
                                             const std::map<int, int>& owned_groups);

struct DmaRange {
  uint64_t iova = 0;  // the guest-physical address
  void* host = nullptr;
  uint64_t size = 0;
};

class VfioHost final : public HostFunction {
 public:
  // sysfs_root finds the IOMMU group; ram is mapped for the device's DMA.
  static Result<std::unique_ptr<VfioHost>> open(const std::string& sysfs_root, PciAddress address,
                                                const std::vector<DmaRange>& ram);
  ~VfioHost() override;
  VfioHost(const VfioHost&) = delete;
  VfioHost& operator=(const VfioHost&) = delete;

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
  HostIntx intx() const override { return {.trigger_fd = intx_fd_, .resample_fd = resample_fd_}; }
  Result<void> set_msi(bool msix, unsigned count) override;
  int vector_fd(bool msix, unsigned vector) const override;
  bool eventfd_vectors() const override { return true; }
  // VFIO_DEVICE_RESET where the device has a function reset (FLR, PM reset, a device-specific
  // one); otherwise a bus or slot hot reset, when every function it affects is in a group hvmd
  // holds; otherwise an error saying which.
  Result<void> reset() override;
  // How reset() would reset the function, for logs and tests: "function", "hot reset" or the
  // reason there is none.
  std::string reset_method() const;

 private:
  VfioHost() = default;
  Result<void> setup(const std::string& sysfs_root, const std::vector<DmaRange>& ram);
  uint32_t config_access(uint32_t reg, unsigned size, const uint32_t* value);
  Result<void> set_irqs(unsigned index, unsigned count, const int* fds);
  Result<void> arm_intx();

  std::string name_;
  PciAddress address_;
  int container_ = -1;
  int group_ = -1;
  int device_ = -1;
  uint32_t device_flags_ = 0;
  uint64_t config_offset_ = 0;
  uint32_t config_size_ = 256;
  struct Region {
    uint64_t offset = 0;  // in the device fd
    uint64_t size = 0;
    uint32_t flags = 0;
    void* map = nullptr;
  };
  std::array<Region, kRegionCount> vfio_regions_{};
  std::array<HostRegion, kRegionCount> regions_{};
  int intx_fd_ = -1;
  int resample_fd_ = -1;
  std::vector<int> msi_fds_, msix_fds_;
  int group_id_ = -1;
  // The hot reset's reach, asked at open (the sandbox allows only the reset itself later);
  // hot_reset_error_ says why there is none.
  std::vector<HotResetDevice> hot_reset_;
  std::string hot_reset_error_;
  Result<void> query_hot_reset();
  unsigned msi_count_ = 0, msix_count_ = 0;  // vectors VFIO offers
};

}  // namespace hvmd::passthrough
