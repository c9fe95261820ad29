// Interrupt delivery. A transport implements InterruptSink: Xen forwards these to device-model
// calls (its own PIC/IOAPIC and PCI link table do the rest); qtest and KVM do the PCI routing in
// hvmd through IntxRouter. Devices hold IrqLines and never see the sink's kind.
#pragma once

#include <array>
#include <cstdint>
#include <functional>

#include "dm/io_request.h"

namespace hvmd {

struct MsiMessage {
  uint64_t address = 0;
  uint32_t data = 0;
  bool operator==(const MsiMessage&) const = default;
};

class InterruptSink {
 public:
  virtual ~InterruptSink() = default;
  // Level of one of the 16 ISA IRQs (as ISA devices and the PIIX3 drive them).
  virtual void set_isa_irq(unsigned irq, bool level) = 0;
  // Level of a PCI function's INTx pin (0 = INTA#).
  virtual void set_pci_intx(PciAddress device, unsigned pin, bool level) = 0;
  // The PIIX3 PIRQ route register for link 0..3: isa_irq, or 0 when routing is disabled.
  virtual void set_pci_link_route(unsigned link, unsigned isa_irq) = 0;
  virtual void send_msi(const MsiMessage& message) = 0;
  // Whether the hypervisor masks this message itself, so the device's own MSI/MSI-X mask bits do
  // not apply. Under Xen a guest that takes MSIs as event channels (Linux with XENFEAT_hvm_pirqs)
  // writes a vector of 0 and the pirq in the address, masks through the event channel and never
  // clears the table's mask bits (it sets pci_msi_ignore_mask): a device that honoured them would
  // never interrupt.
  virtual bool masked_by_hypervisor(const MsiMessage&) const { return false; }
};

// PCI INTx routing for transports without a hypervisor to do it: pins are swizzled onto the four
// PIRQ links as the PIIX3 wires them, links are ORed (level-triggered, shared) and routed to the
// ISA IRQ the route register names.
class IntxRouter {
 public:
  using IsaLevelFn = std::function<void(unsigned irq, bool level)>;
  explicit IntxRouter(IsaLevelFn set_isa_level) : set_isa_level_(std::move(set_isa_level)) {}

  static constexpr unsigned link_of(PciAddress device, unsigned pin) {
    return (device.device() + pin) & 3;
  }
  void set_pci_intx(PciAddress device, unsigned pin, bool level);
  void set_link_route(unsigned link, unsigned isa_irq);
  bool link_level(unsigned link) const { return link_assertions_[link & 3] > 0; }

 private:
  void drive(unsigned link, bool level);

  IsaLevelFn set_isa_level_;
  // Which (device, pin) sources currently assert: one bit per devfn and pin, bus 0.
  std::array<uint64_t, 16> asserted_{};
  std::array<int, 4> link_assertions_{};
  std::array<unsigned, 4> route_{};  // 0 = disabled
};

// A device's interrupt output. set() forwards only changes, so devices can call it freely after
// every register update.
class IrqLine {
 public:
  IrqLine() = default;
  static IrqLine isa(InterruptSink* sink, unsigned irq);
  static IrqLine pci(InterruptSink* sink, PciAddress device, unsigned pin);

  void set(bool level);
  void raise() { set(true); }
  void lower() { set(false); }
  bool level() const { return level_; }
  bool connected() const { return sink_ != nullptr; }

 private:
  enum class Kind : uint8_t { kIsa, kPci };
  InterruptSink* sink_ = nullptr;
  Kind kind_ = Kind::kIsa;
  unsigned number_ = 0;
  PciAddress device_;
  bool level_ = false;
  // Whether the sink has been told a level. The first set() always reaches it: a device model
  // restored into a fresh process must not trust that the hypervisor's copy of the line (saved
  // with the domain) matches its own, or a line left high there swallows the next edge.
  bool told_ = false;
};

}  // namespace hvmd
