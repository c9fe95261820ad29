// The GSI routing table hvmd sets under KVM (ioreq/kvm/gsi_routing.h): KVM's default irqchip
// routes always present (ISA IRQs and the INTx irqfds depend on them once hvmd sets a table), one
// MSI route per passed-through vector from GSI 24 on, GSIs reused after unrouting.
#include "ioreq/kvm/gsi_routing.h"

#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>

#include "ioreq/kvm/kvm_vm.h"

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

// KvmVm's HostPassthrough side against the real /dev/kvm (skipped without it): each vector gets
// a GSI and an irqfd the kernel accepted, masking detaches it, a new message keeps the GSI,
// unrouting frees it.
TEST(KvmMsiRouting, KvmVmRoutesVectorsAsIrqfdsOnMsiRoutes) {
  auto vm = KvmVm::create();
  if (!vm) GTEST_SKIP() << vm.error().message;
  int fd0 = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), fd1 = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  ASSERT_GE(fd0, 0);
  ASSERT_GE(fd1, 0);
  PciAddress function{.bus = 0, .devfn = 0x28};
  HostMsiVector v0{.msix = true, .entry = 0, .host_function = function, .trigger_fd = fd0};
  HostMsiVector v1{.msix = true, .entry = 1, .host_function = function, .trigger_fd = fd1};
  using Irqfds = std::vector<std::pair<unsigned, bool>>;
  auto r = (*vm)->route_msi(v0, {0xfee00000, 0x40}, /*masked=*/true);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ((*vm)->msi_irqfds(), (Irqfds{{24, false}}));  // masked: no irqfd
  ASSERT_TRUE((*vm)->route_msi(v0, {0xfee00000, 0x40}, false));
  EXPECT_EQ((*vm)->msi_irqfds(), (Irqfds{{24, true}}));
  ASSERT_TRUE((*vm)->route_msi(v1, {0xfee00000, 0x41}, false));
  ASSERT_TRUE((*vm)->route_msi(v0, {0xfee01000, 0x42}, false));  // new message, same GSI
  EXPECT_EQ((*vm)->msi_irqfds(), (Irqfds{{24, true}, {25, true}}));
  ASSERT_TRUE((*vm)->route_msi(v0, {0xfee01000, 0x42}, true));
  EXPECT_EQ((*vm)->msi_irqfds(), (Irqfds{{24, false}, {25, true}}));
  EXPECT_TRUE((*vm)->unroute_msi(v0));
  EXPECT_TRUE((*vm)->unroute_msi(v0));  // unrouted already: nothing to do
  EXPECT_EQ((*vm)->msi_irqfds(), (Irqfds{{25, true}}));
  // A vector without an eventfd is refused (the device then delivers it itself).
  EXPECT_FALSE((*vm)->route_msi({.msix = false, .entry = 0, .host_function = function},
                                {0xfee00000, 0x43}, false));
  ASSERT_TRUE((*vm)->route_msi(v0, {0xfee00000, 0x44}, false));  // the freed GSI again
  EXPECT_EQ((*vm)->msi_irqfds(), (Irqfds{{25, true}, {24, true}}));
  EXPECT_TRUE((*vm)->unroute_msi(v0));
  EXPECT_TRUE((*vm)->unroute_msi(v1));
  EXPECT_TRUE((*vm)->msi_irqfds().empty());
  close(fd0);
  close(fd1);
}

}  // namespace
}  // namespace hvmd::kvm
