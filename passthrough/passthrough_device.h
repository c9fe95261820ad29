// PassthroughDevice: a host PCI function given to the guest. Config space follows the register
// table (config_table.h) on top of the seam's ConfigRegisters; BARs are the host's regions mapped
// straight into the guest through the transport's HostPassthrough wherever the guest places them,
// with the MSI-X table and PBA (and anything the transport refuses, and every BAR when there is
// no transport) trapped and forwarded to the host function; INTx is bound through the transport
// once the function has a guest address; MSI and MSI-X vectors are routed through it as the guest
// enables, programs, masks and unmasks them.
#pragma once

#include <array>
#include <functional>
#include <memory>
#include <vector>

#include "dm/host_passthrough.h"
#include "dm/pci/pci_device.h"
#include "passthrough/config_table.h"
#include "passthrough/ext_config.h"
#include "passthrough/fd_watcher.h"
#include "passthrough/host_function.h"

namespace hvmd::passthrough {

struct PassthroughOptions {
  std::string type = "xen-pci-passthrough";  // the driver name users gave
  HostPassthrough* transport = nullptr;      // nullptr: every BAR trapped, no interrupt bound
  bool permissive = false;  // writes to registers without a table entry reach the host
  // The guest sees the host's extended config space (0x100-0xfff) through the extended table
  // (ext_config.h): VFIO yes; Xen no (256 bytes, as qemu-xen).
  bool extended_config = false;
  // The host function is hvmd's to reset (VFIO: on system reset and removal, a failure logged
  // once); under Xen libxl resets pciback functions.
  bool host_resets = false;
  bool rom = true;  // expose the host's expansion ROM (rombar=0: none)
  DeviceMemoryBacking* rom_backing = nullptr;
  // Takes the host function back when the device goes (device_del), so a later device_add of
  // the same function finds it open: hvmd cannot open it again once its privileges are gone.
  std::function<void(std::unique_ptr<HostFunction>)> release;
  // Host interrupts that arrive on eventfds (VFIO) and that no transport took are delivered by
  // the device itself when it has a watcher: MSI/MSI-X vectors whose route was refused or
  // missing, and INTx when there is no transport at all (its end of interrupt is the guest's
  // next write to its BARs, as every BAR is trapped then).
  FdWatcher* watcher = nullptr;
};

class PassthroughDevice final : public pci::PciDevice {
 public:
  static Result<std::unique_ptr<PassthroughDevice>> create(std::unique_ptr<HostFunction> host,
                                                           PassthroughOptions options);
  ~PassthroughDevice() override;
  std::string_view type() const override { return options_.type; }

  // reg >= 0x100: the extended table (an ECAM access; the i440FX board's mechanism #1 never
  // reaches it).
  uint32_t config_read(uint32_t reg, unsigned size) override;
  void config_write(uint32_t reg, unsigned size, uint32_t value) override;
  void unrealize() override;

  const ConfigPlan& plan() const { return plan_; }
  const ExtendedPlan& extended_plan() const { return ext_plan_; }
  HostFunction& host() { return *host_; }
  bool intx_bound() const { return intx_bound_ || intx_soft_; }
  // Guest writes dropped because no table entry covers them (one log line per register).
  unsigned dropped_writes() const { return dropped_.count; }
  // Host function resets that succeeded (system resets and removal).
  unsigned host_resets() const { return host_resets_; }

 private:
  PassthroughDevice(std::unique_ptr<HostFunction> host, PassthroughOptions options);
  Result<void> lay_out_bars();
  void apply_plan();
  uint32_t extended_read(uint32_t reg, unsigned size);
  void extended_write(uint32_t reg, unsigned size, uint32_t value);
  // The guest's value of an extended byte the table emulates (a header or a hidden body).
  bool extended_emulated(uint32_t reg, uint8_t* value) const;
  // Where one byte of a guest config write goes: to the host, nowhere (the table emulates it), or
  // nowhere with a log line (nothing lets it through).
  enum class ByteRoute { kHost, kEmulated, kDropped };
  // A guest write to bytes the table does not claim (the first 256 bytes or extended space), as
  // route(reg) says per byte: whole to the host when every byte goes there, else byte by byte.
  // what/why name the register and the reason in the drop's log line.
  template <typename Route, typename HostWrite>
  void filter_write(uint32_t reg, unsigned size, uint32_t value, const char* what, const char* why,
                    Route route, HostWrite host_write);
  void bind_intx();
  void sync_host_command();
  uint64_t bar_read(int index, uint64_t offset, unsigned size);
  void bar_write(int index, uint64_t offset, unsigned size, uint64_t value);
  void bar_relocated(int index);
  void reset_device() override;
  void reset_host(const char* why);
  void intx_fired();
  void end_of_intx();

  // Unclaimed bytes: read from the host; written to it only where the table allows (vendor
  // capabilities, VPD) or permissive says so; other writes are dropped, logged once per register.
  struct Filter final : pci::HostConfigAccess {
    PassthroughDevice* device = nullptr;
    uint32_t read(uint32_t reg, unsigned size) override { return device->host_->read(reg, size); }
    void write(uint32_t reg, unsigned size, uint32_t value) override;
  };
  // A BAR's trapped accesses, with offsets from the BAR's start.
  struct BarTrap final : IoHandler {
    PassthroughDevice* device = nullptr;
    int index = 0;
    uint64_t read(uint64_t offset, unsigned size) override {
      return device->bar_read(index, offset, size);
    }
    void write(uint64_t offset, unsigned size, uint64_t value) override {
      device->bar_write(index, offset, size, value);
    }
  };
  // Follows one capability's vectors and routes them through the transport. A vector with an
  // eventfd (VFIO) is watched on the loop, and delivered by the device, while no transport takes
  // it: its route was refused or missing, or it is masked (KVM detaches its irqfd then, and the
  // device records the interrupt as pending; the unmask delivers it and re-attaches the irqfd).
  struct VectorRouter final : pci::MsiListener {
    PassthroughDevice* device = nullptr;
    bool msix = false;
    bool host_enabled = false;
    std::vector<bool> routed;
    std::vector<MsiMessage> messages;
    std::vector<bool> masked;
    std::vector<int> watched;  // the eventfd watched for each vector, -1 none
    void vector_programmed(unsigned vector, const MsiMessage& message, bool is_masked) override;
    void vector_masked(unsigned vector, bool is_masked) override;
    void vectors_disabled() override;
    void enable_host();
    void update(unsigned vector);
    void route(unsigned vector);
    void sync_watch(unsigned vector);
    void unwatch(unsigned vector);
    HostMsiVector host_vector(unsigned vector) const;
  };

  std::unique_ptr<HostFunction> host_;
  PassthroughOptions options_;
  std::array<HostRegion, kRegionCount> regions_{};
  ConfigPlan plan_;
  ExtendedPlan ext_plan_;
  // Guest writes dropped, in the first 256 bytes and in extended space: how many, and per config
  // dword (0-0x3ff) whether its drop was logged.
  struct DroppedWrites {
    unsigned count = 0;
    std::vector<bool> logged = std::vector<bool>(kExtConfigSize / 4);
  } dropped_;
  unsigned host_resets_ = 0;
  bool reset_refusal_logged_ = false;
  Filter filter_;
  std::array<BarTrap, pci::kBarCount> traps_{};
  VectorRouter msi_router_, msix_router_;
  bool intx_tried_ = false;
  bool intx_bound_ = false;
  bool intx_soft_ = false;     // delivered from the trigger eventfd by this device
  bool intx_pending_ = false;  // raised, waiting for the guest's next BAR write
};

}  // namespace hvmd::passthrough
