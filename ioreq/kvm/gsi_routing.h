// GsiRouting: the GSI routing table hvmd keeps for a KVM VM. KVM_SET_GSI_ROUTING replaces the
// whole table, so the table hvmd sets must hold what KVM routes by default with its in-kernel
// irqchip (ISA IRQs 0-15 to the PICs and IOAPIC, 16-23 to the IOAPIC: KVM_IRQ_LINE and the INTx
// irqfds go through these) as well as one MSI route per passed-through vector. This class only
// does the bookkeeping (no KVM calls, so it is unit-tested): it hands out GSIs from 24 on, keeps
// each MSI route's message, and says when the table changed and must be set again.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace hvmd::kvm {

struct GsiRoute {
  enum class Kind { kIrqchip, kMsi };
  unsigned gsi = 0;
  Kind kind = Kind::kIrqchip;
  unsigned irqchip = 0;  // kIrqchip: 0 PIC master, 1 PIC slave, 2 IOAPIC (KVM_IRQCHIP_*)
  unsigned pin = 0;
  uint64_t address = 0;  // kMsi: the guest's message
  uint32_t data = 0;
  bool operator==(const GsiRoute&) const = default;
};

class GsiRouting {
 public:
  static constexpr unsigned kIoapicPins = 24;
  static constexpr unsigned kIsaIrqs = 16;
  static constexpr unsigned kFirstMsiGsi = kIoapicPins;  // the GSIs below are the IOAPIC's pins
  // KVM accepts GSIs below KVM_MAX_IRQ_ROUTES (1024 on old kernels, 4096 since); hvmd needs far
  // fewer (a few devices with at most 2048 MSI-X vectors each would be odd).
  static constexpr unsigned kDefaultMaxGsi = 1024;

  explicit GsiRouting(unsigned max_gsi = kDefaultMaxGsi);

  // A new MSI route: the lowest free GSI from kFirstMsiGsi on, or none when all are taken.
  std::optional<unsigned> add_msi(uint64_t address, uint32_t data);
  // The guest changed the vector's message; true when the table changed (set it again).
  bool set_msi(unsigned gsi, uint64_t address, uint32_t data);
  // The GSI goes back to the free ones. Removing a GSI that is not an MSI route does nothing
  // and returns false.
  bool remove_msi(unsigned gsi);

  // The whole table in GSI order: the irqchip routes first (KVM's default), then the MSI routes.
  std::vector<GsiRoute> table() const;
  unsigned msi_routes() const;

 private:
  unsigned max_gsi_;
  // Indexed by gsi - kFirstMsiGsi; an empty optional is a free GSI.
  struct Message {
    uint64_t address;
    uint32_t data;
  };
  std::vector<std::optional<Message>> msi_;
};

}  // namespace hvmd::kvm
