#include "ioreq/kvm/gsi_routing.h"

#include <algorithm>

namespace hvmd::kvm {

namespace {
// KVM_IRQCHIP_PIC_MASTER, KVM_IRQCHIP_PIC_SLAVE, KVM_IRQCHIP_IOAPIC (this file stays free of
// <linux/kvm.h> so it builds and tests anywhere; kvm_vm.cc checks they agree).
constexpr unsigned kPicMaster = 0, kPicSlave = 1, kIoapic = 2;
constexpr unsigned kPicPins = 8;
}  // namespace

GsiRouting::GsiRouting(unsigned max_gsi) : max_gsi_(std::max(max_gsi, kFirstMsiGsi)) {}

std::optional<unsigned> GsiRouting::add_msi(uint64_t address, uint32_t data) {
  auto free = std::find_if(msi_.begin(), msi_.end(), [](const auto& m) { return !m; });
  if (free == msi_.end()) {
    if (kFirstMsiGsi + msi_.size() >= max_gsi_) return std::nullopt;
    free = msi_.emplace(msi_.end());
  }
  *free = Message{address, data};
  return kFirstMsiGsi + static_cast<unsigned>(free - msi_.begin());
}

bool GsiRouting::set_msi(unsigned gsi, uint64_t address, uint32_t data) {
  if (gsi < kFirstMsiGsi || gsi - kFirstMsiGsi >= msi_.size()) return false;
  auto& m = msi_[gsi - kFirstMsiGsi];
  if (!m || (m->address == address && m->data == data)) return false;
  *m = Message{address, data};
  return true;
}

bool GsiRouting::remove_msi(unsigned gsi) {
  if (gsi < kFirstMsiGsi || gsi - kFirstMsiGsi >= msi_.size()) return false;
  auto& m = msi_[gsi - kFirstMsiGsi];
  if (!m) return false;
  m.reset();
  // Trailing free GSIs are dropped, so the table stays as short as the routes in use.
  while (!msi_.empty() && !msi_.back()) msi_.pop_back();
  return true;
}

std::vector<GsiRoute> GsiRouting::table() const {
  std::vector<GsiRoute> table;
  // KVM's default with an in-kernel irqchip: each ISA IRQ drives both the PIC pin and the IOAPIC
  // pin of the same number (whichever the guest uses), IRQs 16-23 only the IOAPIC.
  for (unsigned gsi = 0; gsi < kIoapicPins; ++gsi) {
    table.push_back({.gsi = gsi, .kind = GsiRoute::Kind::kIrqchip, .irqchip = kIoapic, .pin = gsi});
    if (gsi < kIsaIrqs)
      table.push_back({.gsi = gsi,
                       .kind = GsiRoute::Kind::kIrqchip,
                       .irqchip = gsi < kPicPins ? kPicMaster : kPicSlave,
                       .pin = gsi % kPicPins});
  }
  for (unsigned i = 0; i < msi_.size(); ++i)
    if (msi_[i])
      table.push_back({.gsi = kFirstMsiGsi + i,
                       .kind = GsiRoute::Kind::kMsi,
                       .address = msi_[i]->address,
                       .data = msi_[i]->data});
  return table;
}

unsigned GsiRouting::msi_routes() const {
  return static_cast<unsigned>(
      std::count_if(msi_.begin(), msi_.end(), [](const auto& m) { return m.has_value(); }));
}

}  // namespace hvmd::kvm
