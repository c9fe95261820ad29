// SoftFunction: a host PCI function in software, for tests, the fuzzer and benchmarks. Its config
// space behaves as real hardware does (per-byte writable and write-1-to-clear bits; everything
// else, reserved bits included, reads back what the function holds), its BARs are memory, and it
// records what would matter on real hardware: every config write that reached it, every
// interrupt enable, every reset.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "passthrough/host_function.h"

namespace hvmd::passthrough {

class SoftFunction final : public HostFunction {
 public:
  // config_size: 256, or 4096 for a function with extended config space.
  explicit SoftFunction(std::string name, uint32_t config_size = 256);

  // -- The hardware side, as tests build it (no masks applied).
  uint8_t get8(uint32_t reg) const { return bytes_[reg]; }
  uint16_t get16(uint32_t reg) const;
  uint32_t get32(uint32_t reg) const;
  void set8(uint32_t reg, uint8_t value) { bytes_[reg] = value; }
  void set16(uint32_t reg, uint16_t value);
  void set32(uint32_t reg, uint32_t value);
  void set_write_mask(uint32_t reg, unsigned size, uint32_t mask);
  void set_w1c_mask(uint32_t reg, unsigned size, uint32_t mask);
  uint8_t write_mask(uint32_t reg) const { return write_mask_[reg]; }
  uint8_t w1c_mask(uint32_t reg) const { return w1c_mask_[reg]; }
  // A BAR (index 0-5) or the ROM (kRomRegion): its flags and sizing bits in config space, and
  // memory behind it. A 64-bit BAR takes index + 1 too.
  void add_region(int index, const HostRegion& region);
  void set_rom_image(std::vector<uint8_t> image) { rom_ = std::move(image); }
  void set_irq(unsigned irq) { irq_ = irq; }
  // Interrupts on eventfds, as VFIO gives them: an INTx trigger and resample eventfd now, one
  // eventfd per vector when MSI/MSI-X is enabled. Tests signal them.
  void use_eventfds();
  void set_name(std::string name) { name_ = std::move(name); }
  // What reset() returns to: the bytes as they are now.
  void snapshot_power_on() { power_on_ = bytes_; }
  bool reset_supported = true;

  // -- What reached the "hardware".
  struct ConfigWrite {
    uint32_t reg;
    unsigned size;
    uint32_t value;
  };
  std::vector<ConfigWrite> writes;
  std::vector<std::string> interrupt_log;  // "msi 4", "msix 0" (off), "reset"
  unsigned resets = 0;
  // Bytes of region memory written, for tests (absent pages read as zero).
  uint8_t region_byte(int index, uint64_t offset) const;

  // -- HostFunction.
  std::string name() const override { return name_; }
  PciAddress host_address() const override { return host_address_; }
  uint32_t config_size() const override { return static_cast<uint32_t>(bytes_.size()); }
  uint32_t read(uint32_t reg, unsigned size) override;
  void write(uint32_t reg, unsigned size, uint32_t value) override;
  uint32_t extended_read(uint32_t reg, unsigned size) override;
  void extended_write(uint32_t reg, unsigned size, uint32_t value) override;
  HostRegion region(int index) const override;
  uint64_t region_read(int index, uint64_t offset, unsigned size) override;
  void region_write(int index, uint64_t offset, unsigned size, uint64_t value) override;
  Result<std::vector<uint8_t>> read_rom() override { return rom_; }
  HostIntx intx() const override {
    return {.machine_irq = irq_, .trigger_fd = intx_fd_, .resample_fd = resample_fd_};
  }
  int vector_fd(bool msix, unsigned vector) const override;
  bool eventfd_vectors() const override { return eventfds_; }
  ~SoftFunction() override;
  SoftFunction(const SoftFunction& other);  // eventfds are not copied
  Result<void> set_msi(bool msix, unsigned count) override;
  Result<void> reset() override;

 private:
  static constexpr uint64_t kPage = 4096;
  bool in_config(uint32_t reg, unsigned size) const;
  uint32_t get(uint32_t reg, unsigned size) const;
  void hardware_write(uint32_t reg, unsigned size, uint32_t value);

  std::string name_;
  PciAddress host_address_;
  std::vector<uint8_t> bytes_;
  std::vector<uint8_t> write_mask_;
  std::vector<uint8_t> w1c_mask_;
  std::vector<uint8_t> power_on_;
  std::array<HostRegion, kRegionCount> regions_{};
  // Region memory, page by page as written (a 256 MiB BAR costs nothing until used).
  std::map<std::pair<int, uint64_t>, std::array<uint8_t, kPage>> pages_;
  std::vector<uint8_t> rom_;
  unsigned irq_ = 0;
  int intx_fd_ = -1, resample_fd_ = -1;
  std::vector<int> vector_fds_;
  bool vector_fds_msix_ = false;
  bool eventfds_ = false;
};

}  // namespace hvmd::passthrough
