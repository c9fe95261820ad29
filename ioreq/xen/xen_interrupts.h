// The InterruptSink of the Xen transport: every level change and MSI goes to Xen, whose virtual
// PIC/IOAPIC and PCI link table (programmed from the PIIX3's route registers) do the rest.
#pragma once

#include "dm/interrupts.h"
#include "ioreq/xen/xen_platform.h"

namespace hvmd::xen {

// The vector field of an MSI data word.
inline constexpr uint32_t kMsiDataVector = 0xff;

class XenInterrupts final : public InterruptSink {
 public:
  explicit XenInterrupts(XenPlatform& platform) : platform_(platform) {}
  void set_isa_irq(unsigned irq, bool level) override { platform_.set_isa_irq_level(irq, level); }
  void set_pci_intx(PciAddress device, unsigned pin, bool level) override {
    platform_.set_pci_intx_level(device, pin, level);
  }
  void set_pci_link_route(unsigned link, unsigned isa_irq) override {
    platform_.set_pci_link_route(link, isa_irq);
  }
  void send_msi(const MsiMessage& message) override {
    platform_.inject_msi(message.address, message.data);
  }
  // Xen's hvm_inject_msi takes a message with vector 0 as a pirq (an event channel).
  bool masked_by_hypervisor(const MsiMessage& message) const override {
    return (message.data & kMsiDataVector) == 0;
  }

 private:
  XenPlatform& platform_;
};

}  // namespace hvmd::xen
