#include "dm/interrupts.h"

#include <gtest/gtest.h>

#include <map>
#include <utility>
#include <vector>

namespace hvmd::test {
namespace {

// Records what reaches the hypervisor's side of the lines.
struct RecordingSink final : InterruptSink {
  std::vector<std::pair<unsigned, bool>> isa;
  void set_isa_irq(unsigned irq, bool level) override { isa.emplace_back(irq, level); }
  void set_pci_intx(PciAddress, unsigned, bool) override {}
  void set_pci_link_route(unsigned, unsigned) override {}
  void send_msi(const MsiMessage&) override {}
};

// A device model restored into a fresh process cannot know the level the hypervisor restored
// for its line (Xen saves the ISA IRQ levels with the domain): the first level it sets, low
// included, reaches the sink, so a line left high there is lowered and the next raise is an
// edge again (Linux's ata_piix timed out on IDENTIFY after xl restore without this). After
// that only changes go through.
TEST(IrqLine, TheFirstLevelAlwaysReachesTheSinkThenOnlyChanges) {
  RecordingSink sink;
  IrqLine line = IrqLine::isa(&sink, 14);
  line.lower();
  line.lower();
  line.raise();
  line.raise();
  line.lower();
  EXPECT_EQ(sink.isa,
            (std::vector<std::pair<unsigned, bool>>{{14, false}, {14, true}, {14, false}}));
}

TEST(IntxRouter, SwizzlesPinsOntoLinksAndSharesLevels) {
  std::map<unsigned, bool> isa;
  IntxRouter router([&](unsigned irq, bool level) { isa[irq] = level; });
  router.set_link_route(0, 10);
  router.set_link_route(1, 11);
  router.set_link_route(2, 10);  // links A and C share IRQ 10
  PciAddress slot1 = PciAddress::make(0, 1, 0);
  PciAddress slot2 = PciAddress::make(0, 2, 0);
  // slot 1 INTA -> link B; slot 2 INTA -> link C; slot 1 INTB -> link C.
  EXPECT_EQ(IntxRouter::link_of(slot1, 0), 1u);
  router.set_pci_intx(slot1, 0, true);
  EXPECT_TRUE(isa[11]);
  router.set_pci_intx(slot2, 0, true);
  router.set_pci_intx(slot1, 1, true);
  EXPECT_TRUE(isa[10]);
  router.set_pci_intx(slot2, 0, false);
  EXPECT_TRUE(isa[10]);  // slot 1 INTB still holds link C
  router.set_pci_intx(slot1, 1, false);
  EXPECT_FALSE(isa[10]);
  // Re-routing an asserted link moves the level to the new IRQ.
  router.set_link_route(1, 5);
  EXPECT_FALSE(isa[11]);
  EXPECT_TRUE(isa[5]);
  // Disabled route (0) or a bogus IRQ: the level goes nowhere.
  router.set_link_route(1, 0);
  EXPECT_FALSE(isa[5]);
  router.set_link_route(1, 200);
  router.set_pci_intx(slot1, 0, false);
  router.set_pci_intx(slot1, 0, true);
  EXPECT_EQ(isa.count(200), 0u);
  // Repeated assertion of one source counts once.
  router.set_link_route(3, 9);
  PciAddress slot3 = PciAddress::make(0, 3, 0);
  router.set_pci_intx(slot3, 0, true);
  router.set_pci_intx(slot3, 0, true);
  router.set_pci_intx(slot3, 0, false);
  EXPECT_FALSE(isa[9]);
}

}  // namespace
}  // namespace hvmd::test
