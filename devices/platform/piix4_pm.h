// PIIX4 power management at 00:01.3: the PMBA/PMREGMISC config registers firmware programs, the
// PM1 event and control registers and the ACPI PM timer in the I/O block they place, the SCI on
// IRQ 9, and the APM control port 0xb2 through which the OS enables ACPI. Writing SLP_EN with the
// soft-off type powers the machine off. Under Xen, the hypervisor keeps PM1 status/enable and the
// timer itself and hvmd serves only PM1 control.
//
// Like QEMU's PIIX4 it also has, at fixed ports on every board and transport, the GPE0 block
// (0xafe0) and ACPI PCI hot-plug (0xae00, acpi_pci_hotplug.h), which the DSDTs of hvmloader and
// SeaBIOS drive: it is the PCI bus's hot-plug controller. The SCI is raised while SCI_EN is set
// and an enabled PM1 or GPE0 status bit is set.
#pragma once

#include "devices/platform/acpi_pci_hotplug.h"
#include "dm/clock.h"
#include "dm/dispatcher.h"
#include "dm/interrupts.h"
#include "dm/io_handler.h"
#include "dm/pci/pci_bus.h"
#include "dm/pci/pci_device.h"
#include "dm/power_control.h"

namespace hvmd::devices {

// The PM1, APM, GPE0 and hot-plug registers a save carries (the rest is config space or derived
// from it).
struct Piix4PmState {
  uint16_t status_ = 0;
  uint16_t enable_ = 0;
  uint16_t control_ = 0;
  uint8_t apm_status_ = 0;
  uint16_t gpe_status_ = 0;
  uint16_t gpe_enable_ = 0;
  HotplugSlots hotplug_slots_;
  template <class V>
  void describe(V& v);
};

class Piix4Pm final : public pci::PciDevice, private Piix4PmState {
 public:
  Piix4Pm(Dispatcher& dispatcher, pci::PciBus& bus, InterruptSink& interrupts, Clock& clock,
          PowerControl& power, bool control_only);
  std::string_view type() const override { return "PIIX4_PM"; }
  void unrealize() override;

  uint64_t pm_read(uint64_t offset, unsigned size);
  void pm_write(uint64_t offset, unsigned size, uint64_t value);
  uint64_t apm_read(uint64_t offset, unsigned size);
  void apm_write(uint64_t offset, unsigned size, uint64_t value);
  uint64_t gpe_read(uint64_t offset, unsigned size);
  void gpe_write(uint64_t offset, unsigned size, uint64_t value);

 protected:
  void config_written(uint32_t reg, unsigned size, uint32_t value) override;
  void reset_device() override;
  void save_device(StateWriter& out) const override;
  Result<std::unique_ptr<StagedState>> parse_device(StateReader& in, uint32_t version) override;
  void post_load_device() override;

 private:
  uint32_t timer_value() const;
  void arm_timer_overflow();
  void update_sci();
  void raise_gpe(uint16_t bits);
  void update_pm_mapping();
  void write_control(uint16_t value);

  Dispatcher& dispatcher_;
  Clock& clock_;
  PowerControl& power_;
  bool control_only_;
  IrqLine sci_;
  AcpiPciHotplug hotplug_;  // the PCI bus's hot-plug controller; its events are GPE 1
  Timer overflow_timer_;
  MemberIoHandler<Piix4Pm, &Piix4Pm::pm_read, &Piix4Pm::pm_write> pm_io_{*this};
  MemberIoHandler<Piix4Pm, &Piix4Pm::apm_read, &Piix4Pm::apm_write> apm_io_{*this};
  MemberIoHandler<Piix4Pm, &Piix4Pm::gpe_read, &Piix4Pm::gpe_write> gpe_io_{*this};
  ScopedMapping pm_mapping_;
  ScopedMapping apm_mapping_;
  ScopedMapping gpe_mapping_;
  uint64_t pm_base_ = 0;  // where the block is decoded, or 0
};

}  // namespace hvmd::devices
