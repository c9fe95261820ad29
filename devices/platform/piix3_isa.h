// The PIIX3 PCI-to-ISA bridge at 00:01.0: the chipset registers firmware programs, above all the
// four PIRQ route registers, which steer PCI INTA#-INTD# to ISA IRQs: each change goes to the
// transport (Xen's PCI link table, or hvmd's own IntxRouter under kvm and qtest).
#pragma once

#include <array>

#include "dm/interrupts.h"
#include "dm/pci/pci_device.h"

namespace hvmd::devices {

class Piix3Isa final : public pci::PciDevice {
 public:
  explicit Piix3Isa(InterruptSink& sink);
  std::string_view type() const override { return "PIIX3"; }

 protected:
  void config_written(uint32_t reg, unsigned size, uint32_t value) override;
  void reset_device() override { push_routes(); }
  // Its state is config space alone; the routes follow from it.
  void post_load_device() override { push_routes(); }

 private:
  void push_routes();
  InterruptSink& sink_;
  std::array<int, 4> pushed_ = {-1, -1, -1, -1};  // what the transport was last told
};

}  // namespace hvmd::devices
