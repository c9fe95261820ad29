// The GSI routing table hvmd sets under KVM (ioreq/kvm/gsi_routing.h): KVM's default irqchip
// routes always present (ISA IRQs and the INTx irqfds depend on them once hvmd sets a table), one
// MSI route per passed-through vector from GSI 24 on, GSIs reused after unrouting.
#include "ioreq/kvm/gsi_routing.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace hvmd::kvm {
namespace {

using Kind = GsiRoute::Kind;

std::vector<GsiRoute> msi_routes(const GsiRouting& routing) {
  std::vector<GsiRoute> out;
  for (const GsiRoute& r : routing.table())
    if (r.kind == Kind::kMsi) out.push_back(r);
  return out;
}

TEST(KvmMsiRouting, AnEmptyTableIsKvmsDefaultIrqchipRouting) {
  GsiRouting routing;
  std::vector<GsiRoute> table = routing.table();
  ASSERT_EQ(table.size(), 24u + 16u);  // every IOAPIC pin, and the PIC pin of each ISA IRQ
  for (unsigned gsi = 0; gsi < 24; ++gsi) {
    auto count =
        std::count_if(table.begin(), table.end(), [&](const GsiRoute& r) { return r.gsi == gsi; });
    EXPECT_EQ(count, gsi < 16 ? 2 : 1) << "GSI " << gsi;
    EXPECT_NE(std::find(table.begin(), table.end(),
                        GsiRoute{.gsi = gsi, .kind = Kind::kIrqchip, .irqchip = 2, .pin = gsi}),
              table.end())
        << "IOAPIC pin " << gsi;
  }
  // IRQ 3 on the master PIC's pin 3, IRQ 11 on the slave's pin 3.
  EXPECT_NE(std::find(table.begin(), table.end(),
                      GsiRoute{.gsi = 3, .kind = Kind::kIrqchip, .irqchip = 0, .pin = 3}),
            table.end());
  EXPECT_NE(std::find(table.begin(), table.end(),
                      GsiRoute{.gsi = 11, .kind = Kind::kIrqchip, .irqchip = 1, .pin = 3}),
            table.end());
  EXPECT_EQ(routing.msi_routes(), 0u);
}

TEST(KvmMsiRouting, VectorsGetGsisAboveTheIoapicAndKeepTheIrqchipRoutes) {
  GsiRouting routing;
  auto a = routing.add_msi(0xfee00000, 0x4041);
  auto b = routing.add_msi(0x1fee01000, 0x4052);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(*a, 24u);
  EXPECT_EQ(*b, 25u);
  std::vector<GsiRoute> table = routing.table();
  EXPECT_EQ(table.size(), 40u + 2u);
  EXPECT_EQ(msi_routes(routing),
            (std::vector<GsiRoute>{
                {.gsi = 24, .kind = Kind::kMsi, .address = 0xfee00000, .data = 0x4041},
                {.gsi = 25, .kind = Kind::kMsi, .address = 0x1fee01000, .data = 0x4052}}));
  // The table is in GSI order, irqchip routes first.
  EXPECT_TRUE(std::is_sorted(table.begin(), table.end(),
                             [](const GsiRoute& x, const GsiRoute& y) { return x.gsi < y.gsi; }));
}

TEST(KvmMsiRouting, ANewMessageChangesTheTableOnlyWhenItDiffers) {
  GsiRouting routing;
  unsigned gsi = *routing.add_msi(0xfee00000, 0x4041);
  EXPECT_FALSE(routing.set_msi(gsi, 0xfee00000, 0x4041));  // same: nothing to set
  EXPECT_TRUE(routing.set_msi(gsi, 0xfee01000, 0x4041));
  EXPECT_TRUE(routing.set_msi(gsi, 0xfee01000, 0x4042));
  EXPECT_EQ(msi_routes(routing),
            (std::vector<GsiRoute>{
                {.gsi = gsi, .kind = Kind::kMsi, .address = 0xfee01000, .data = 0x4042}}));
  // GSIs that are not MSI routes are not changed.
  EXPECT_FALSE(routing.set_msi(11, 0xfee00000, 0x4041));
  EXPECT_FALSE(routing.set_msi(gsi + 1, 0xfee00000, 0x4041));
  EXPECT_EQ(routing.table().size(), 41u);
}

TEST(KvmMsiRouting, UnroutedGsisAreFreedAndReused) {
  GsiRouting routing;
  unsigned a = *routing.add_msi(0xfee00000, 1);
  unsigned b = *routing.add_msi(0xfee00000, 2);
  unsigned c = *routing.add_msi(0xfee00000, 3);
  EXPECT_TRUE(routing.remove_msi(b));
  EXPECT_FALSE(routing.remove_msi(b));  // already free
  EXPECT_FALSE(routing.remove_msi(5));  // an irqchip GSI is never removed
  EXPECT_FALSE(routing.remove_msi(999));
  EXPECT_EQ(routing.msi_routes(), 2u);
  EXPECT_EQ(*routing.add_msi(0xfee00000, 4), b);  // the lowest free one
  EXPECT_TRUE(routing.remove_msi(a));
  EXPECT_TRUE(routing.remove_msi(b));
  EXPECT_TRUE(routing.remove_msi(c));
  EXPECT_EQ(routing.table().size(), 40u);  // back to the irqchip routes alone
  EXPECT_EQ(*routing.add_msi(0xfee00000, 5), 24u);
}

TEST(KvmMsiRouting, GsisRunOutAtTheLimit) {
  GsiRouting routing(/*max_gsi=*/28);
  for (unsigned i = 0; i < 4; ++i) EXPECT_EQ(routing.add_msi(0xfee00000, i), 24u + i);
  EXPECT_FALSE(routing.add_msi(0xfee00000, 9).has_value());
  EXPECT_TRUE(routing.remove_msi(26));
  EXPECT_EQ(routing.add_msi(0xfee00000, 9), 26u);
  EXPECT_EQ(routing.msi_routes(), 4u);
}

}  // namespace
}  // namespace hvmd::kvm
