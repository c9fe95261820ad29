// PIIX4 power management at 00:01.3: the PMBA/PMREGMISC config registers firmware programs, the
// PM1 event and control registers and the ACPI PM timer in the I/O block they place, the SCI on
// IRQ 9, and the APM control port 0xb2 through which the OS enables ACPI. Writing SLP_EN with the
// soft-off type powers the machine off. Under Xen, the hypervisor keeps PM1 status/enable and the
// timer itself and hvmd serves only PM1 control.
#pragma once

#include "dm/clock.h"
#include "dm/interrupts.h"
#include "dm/io_handler.h"
#include "dm/machine.h"
#include "dm/pci/pci_device.h"

namespace hvmd::devices {

// The PM1 and APM registers a save carries (the rest is config space or derived from it).
struct Piix4PmState {
  uint16_t status_ = 0;
  uint16_t enable_ = 0;
  uint16_t control_ = 0;
  uint8_t apm_status_ = 0;
  template <class V>
  void describe(V& v);
};

class Piix4Pm final : public pci::PciDevice, private Piix4PmState {
 public:
  Piix4Pm(Machine& machine, bool control_only);
  std::string_view type() const override { return "PIIX4_PM"; }
  void unrealize() override;

  uint64_t pm_read(uint64_t offset, unsigned size);
  void pm_write(uint64_t offset, unsigned size, uint64_t value);
  uint64_t apm_read(uint64_t offset, unsigned size);
  void apm_write(uint64_t offset, unsigned size, uint64_t value);

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
  void update_pm_mapping();
  void write_control(uint16_t value);

  Machine& machine_;
  bool control_only_;
  IrqLine sci_;
  Timer overflow_timer_;
  MemberIoHandler<Piix4Pm, &Piix4Pm::pm_read, &Piix4Pm::pm_write> pm_io_{*this};
  MemberIoHandler<Piix4Pm, &Piix4Pm::apm_read, &Piix4Pm::apm_write> apm_io_{*this};
  Dispatcher::MappingId pm_mapping_ = Dispatcher::kNoMapping;
  Dispatcher::MappingId apm_mapping_ = Dispatcher::kNoMapping;
  uint64_t pm_base_ = 0;  // where the block is decoded, or 0
};

}  // namespace hvmd::devices
