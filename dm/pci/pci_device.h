// PciDevice: a PCI function. It owns its ConfigSpace, lays out its BARs, expansion ROM and
// capabilities at construction, and keeps the dispatcher's mappings in step with what the guest
// programs: a BAR is decoded only while its command-register enable is set and its address is
// sane, and moves when the guest writes a new address.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>

#include "dm/device.h"
#include "dm/device_memory.h"
#include "dm/dispatcher.h"
#include "dm/interrupts.h"
#include "dm/pci/config_registers.h"
#include "dm/pci/config_space.h"
#include "dm/pci/host_bar.h"
#include "dm/pci/msi.h"

namespace hvmd::pci {

// What a function reports in its subsystem registers unless its type names its own: QEMU's
// (Red Hat's vendor ID, its "QEMU" subsystem), so guests and their driver quirks see the board
// functions (i440FX, PIIX3, its IDE, PIIX4) as they do under qemu-xen.
inline constexpr uint16_t kDefaultSubsystemVendor = 0x1af4;
inline constexpr uint16_t kDefaultSubsystem = 0x1100;

struct Identity {
  uint16_t vendor = 0;
  uint16_t device = 0;
  uint32_t class_code = 0;  // class << 16 | subclass << 8 | prog-if
  uint8_t revision = 0;
  uint16_t subsystem_vendor = kDefaultSubsystemVendor;
  uint16_t subsystem = kDefaultSubsystem;
  bool multi_function = false;
  uint8_t interrupt_pin = 0;  // 0 none, 1 INTA# .. 4 INTD#
};

enum class BarType { kIo, kMemory32, kMemory64 };

struct BarInfo {
  BarType type = BarType::kIo;
  uint64_t size = 0;  // 0: BAR not implemented
  bool prefetchable = false;
  uint64_t address = 0;  // where it is decoded, or kUnmapped
  static constexpr uint64_t kUnmapped = ~0ull;
};

class PciBus;

class PciDevice : public Device, public PciConfigTarget {
 public:
  explicit PciDevice(const Identity& identity);
  ~PciDevice() override;

  // Called by PciBus when the function is plugged in.
  void attach(PciBus& bus, PciAddress address);
  void unrealize() override;
  PciAddress address() const { return address_; }
  // "/pci@i0cf8/NAME@SLOT[,FUNCTION]", NAME from the class (or "pciVENDOR,DEVICE").
  std::string firmware_path() const override;

  uint32_t config_read(uint32_t reg, unsigned size) override;
  void config_write(uint32_t reg, unsigned size, uint32_t value) override;

  void reset() override;
  // A PCI device's section: the PCI layer's fields (with a version of their own, kStateVersion
  // below) and then the subclass's, whose version is the section's (state_version()).
  void save(StateWriter& out) const final;
  Result<std::unique_ptr<StagedState>> parse_state(StateReader& in, uint32_t version) final;
  void post_load() final;
  // Version of the PCI layer's own fields (config space, INTx level, MSI-X).
  static constexpr uint32_t kStateVersion = 1;

  const ConfigSpace& config() const { return config_; }
  const BarInfo& bar(int index) const { return bars_[index].info; }
  const BarInfo& rom_bar() const { return rom_.info; }
  // An option ROM image for the expansion-ROM BAR (romfile=), in device memory of its own.
  void set_rom_image(std::span<const uint8_t> image, DeviceMemoryBacking* backing);
  // Gives the device ROM memory for an image of image_bytes and returns the part the image goes
  // in, for the caller to fill (the rest reads as zero).
  std::span<uint8_t> make_rom(size_t image_bytes, DeviceMemoryBacking* backing);
  Msix* msix() { return msix_.get(); }
  Msi* msi() { return msi_.get(); }

 protected:
  ConfigSpace& mutable_config() { return config_; }
  // Layout, during construction. Sizes are powers of two (I/O >= 4, memory >= 16 bytes).
  void add_bar(int index, BarType type, uint64_t size, IoHandler* handler,
               bool prefetchable = false);
  // A memory BAR that is device memory (VRAM): a transport may map it into the guest directly.
  void add_memory_bar(int index, BarType type, DeviceMemory& memory, bool prefetchable = false);
  // A BAR that is a host function's region (passthrough): mapped straight into the guest through
  // host.passthrough wherever the guest places it, except host.holes, trapped to host.trap.
  void add_host_bar(int index, BarType type, uint64_t size, HostBar host,
                    bool prefetchable = false);
  void set_rom(std::unique_ptr<DeviceMemory> rom);
  uint8_t add_capability(uint8_t id, unsigned length);
  void add_msi(unsigned vectors, bool is_64bit, bool maskable);
  void add_msix(unsigned vectors, int bar, uint32_t table_offset, uint32_t pba_offset);
  // The same at a capability offset the device chose and links into its chain itself (a
  // passthrough function keeps its host's layout): only the ID byte is written.
  void place_msi(uint8_t cap, unsigned vectors, bool is_64bit, bool maskable);
  void place_msix(uint8_t cap, unsigned vectors, int bar, uint32_t table_offset,
                  uint32_t pba_offset);
  // A register with emulated and host bits, read-only and write-1-to-clear bits and a write hook
  // (config_registers.h). It takes over the ConfigSpace masks of its emulated bits.
  void add_config_register(ConfigRegister reg) { registers_.add(config_, std::move(reg)); }
  // A passthrough function's real config space: host bits of registers, and every byte no
  // register claims, go there, except the BARs, the ROM BAR and the MSI/MSI-X capabilities, which
  // the base emulates.
  void set_host_config(HostConfigAccess* host);

  // INTx output through the pin in the identity; honours the command register's INTx disable
  // and mirrors the level into the status register's interrupt bit.
  void set_intx(bool level);
  void notify_msi(unsigned vector);
  void notify_msix(unsigned vector);

  // Hook for device-specific registers, called after the generic write was applied.
  virtual void config_written(uint32_t reg, unsigned size, uint32_t value);
  // Hook to reset device-specific state; the base resets config space and mappings.
  virtual void reset_device() {}
  // The subclass's state, as Device::save/parse_state/post_load; version is the section's.
  // post_load_device() runs after the PCI layer has remapped the BARs and driven INTx.
  virtual void save_device(StateWriter& /*out*/) const {}
  virtual Result<std::unique_ptr<StagedState>> parse_device(StateReader& /*in*/,
                                                            uint32_t /*version*/) {
    return nothing_staged();
  }
  virtual void post_load_device() {}

  Dispatcher* dispatcher() const;
  InterruptSink* interrupt_sink() const;

 private:
  struct Bar {
    BarInfo info;
    IoHandler* handler = nullptr;
    DeviceMemory* memory = nullptr;  // the ROM: mapped as device memory, not plain MMIO
    Dispatcher::MappingId mapping = Dispatcher::kNoMapping;
    std::unique_ptr<HostBarMapper> host;  // a host region mapped into the guest
  };
  uint64_t decoded_address(const Bar& bar, uint32_t reg) const;
  void update_mapping(Bar& bar, uint32_t reg, const char* what);
  void update_mappings();
  void update_intx();
  void unmap_all();
  struct SavedFields;
  SavedFields saved_fields() const;

  ConfigSpace config_;
  ConfigRegisters registers_;
  std::array<uint8_t, kConfigSize> power_on_config_{};
  std::array<Bar, kBarCount> bars_{};
  Bar rom_;
  std::unique_ptr<DeviceMemory> rom_memory_;
  std::unique_ptr<Msi> msi_;
  std::unique_ptr<Msix> msix_;
  uint8_t last_capability_ = 0;
  uint32_t next_capability_ = kFirstCapability;
  bool intx_level_ = false;
  IrqLine intx_;
  PciBus* bus_ = nullptr;
  PciAddress address_;
};

}  // namespace hvmd::pci
