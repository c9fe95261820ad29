// Passthrough under Xen against the simulated hypervisor: what XenHostPassthrough asks of Xen for
// BAR mappings, INTx and MSI/MSI-X, and a host BAR's trapped hole claimed by the ioreq server
// while the rest is mapped straight into the guest.
#include "ioreq/xen/xen_host_passthrough.h"

#include <gtest/gtest.h>

#include "dm/clock.h"
#include "dm/event_loop.h"
#include "dm/pci/pci_bus.h"
#include "dm/pci/pci_device.h"
#include "ioreq/xen/ioreq_server.h"
#include "ioreq/xen/map_cache.h"
#include "tests/unit/test_devices.h"
#include "tests/xen/sim_xen.h"

namespace hvmd::test {
namespace {

using Calls = std::vector<std::string>;
constexpr uint64_t kRam = 16 << 20;
constexpr HostMmioRegion kHostBar{.host_physical = 0xfe000000, .size = 0x4000};

class XenPassthroughTest : public ::testing::Test {
 protected:
  SimXen xen{1, kRam};
  xen::XenHostPassthrough pt{xen};
};

TEST_F(XenPassthroughTest, BarRegionsBecomeFrameAndPortMappings) {
  ASSERT_TRUE(pt.map_mmio(0xe0000000, kHostBar, 0x3000, 0x1000).ok());
  ASSERT_TRUE(pt.unmap_mmio(0xe0000000, kHostBar, 0x3000, 0x1000).ok());
  ASSERT_TRUE(pt.map_ports(0xc100, 0xc000, 0x20).ok());
  EXPECT_EQ(xen.passthrough_calls(),
            (Calls{"memory_mapping gfn=0xe0000 mfn=0xfe003 count=1 add",
                   "memory_mapping gfn=0xe0000 mfn=0xfe003 count=1 remove",
                   "ioport_mapping gport=0xc100 mport=0xc000 count=32 add"}));
  // What Xen cannot map exactly is refused before it reaches Xen.
  EXPECT_FALSE(pt.map_mmio(0xe0000800, kHostBar, 0, 0x1000).ok());
  EXPECT_FALSE(pt.map_mmio(0xe0000000, kHostBar, 0x3000, 0x2000).ok());  // past the region
  EXPECT_FALSE(pt.map_ports(0xfff0, 0xc000, 0x20).ok());
  EXPECT_EQ(xen.passthrough_calls().size(), 3u);
}

TEST_F(XenPassthroughTest, MsixVectorIsAPirqBoundToWhatTheGuestProgrammed) {
  HostMsiVector vector{.msix = true,
                       .entry = 1,
                       .host_function = PciAddress::make(3, 0, 0),
                       .host_table = 0xfe002000,
                       .guest_table = 0xe0002000};
  // Destination 3, redirection hint, logical mode; vector 0x71, lowest-priority delivery.
  MsiMessage message{0xfee0300c, 0x0171};
  ASSERT_TRUE(pt.route_msi(vector, message, /*masked=*/true).ok());
  ASSERT_TRUE(pt.route_msi(vector, message, /*masked=*/false).ok());  // same pirq, unmasked
  ASSERT_TRUE(pt.unroute_msi(vector).ok());
  ASSERT_TRUE(pt.unroute_msi(vector).ok());  // unbound already: nothing to do
  EXPECT_EQ(xen.passthrough_calls(),
            (Calls{"map_pirq_msi 03:00.0 entry=1 table=0xfe002000 -> 40",
                   "update_msi_irq gvec=0x71 pirq=40 gflags=0x1303 gtable=0xe0002000",
                   "update_msi_irq gvec=0x71 pirq=40 gflags=0x11303 gtable=0xe0002000",
                   "unbind_msi_irq gvec=0x71 pirq=40 gflags=0x11303", "unmap_pirq 40"}));
  EXPECT_TRUE(xen.mapped_pirqs().empty());
}

TEST_F(XenPassthroughTest, MsiHasNoTable) {
  HostMsiVector vector{.host_function = PciAddress::make(3, 0, 0), .host_table = 0xfe002000};
  ASSERT_TRUE(pt.route_msi(vector, {0xfee00000, 0x8031}, false).ok());  // level-triggered
  EXPECT_EQ(xen.passthrough_calls(),
            (Calls{"map_pirq_msi 03:00.0 entry=0 table=0 -> 40",
                   "update_msi_irq gvec=0x31 pirq=40 gflags=0x18000 gtable=0"}));
}

TEST_F(XenPassthroughTest, IntxIsAPirqXenDrivesOnTheGuestPin) {
  HostIntx host{.machine_irq = 16};
  PciAddress guest = PciAddress::make(0, 4, 0);
  ASSERT_TRUE(pt.bind_intx(host, guest, 0).ok());
  EXPECT_FALSE(pt.bind_intx(host, guest, 0).ok());  // one binding per guest pin
  ASSERT_TRUE(pt.unbind_intx(host, guest, 0).ok());
  EXPECT_EQ(xen.passthrough_calls(),
            (Calls{"map_pirq irq=16 -> 40", "bind_pt_intx pirq=40 00:04 pin=0",
                   "unbind_pt_intx pirq=40 00:04 pin=0", "unmap_pirq 40"}));
  EXPECT_TRUE(xen.mapped_pirqs().empty());
}

TEST(XenPassthroughPrivilege, OnlyKeptForPassthroughAfterSetup) {
  SimXen closed{1, kRam};
  closed.end_setup();
  xen::XenHostPassthrough without(closed);
  EXPECT_FALSE(without.map_mmio(0xe0000000, kHostBar, 0, 0x1000).ok());

  SimXen kept{1, kRam};
  kept.keep_passthrough();
  kept.end_setup();
  xen::XenHostPassthrough with(kept);
  EXPECT_TRUE(with.map_mmio(0xe0000000, kHostBar, 0, 0x1000).ok());
  EXPECT_FALSE(kept.populate(kRam / 4096 + 16, 1).ok());  // nothing else stays available
}

// A host BAR whose MSI-X page is trapped, on a bus whose dispatcher the ioreq server follows.
class HostBarDevice final : public pci::PciDevice {
 public:
  explicit HostBarDevice(HostPassthrough& pt) : PciDevice({.vendor = 0x8086, .device = 0x10d3}) {
    add_host_bar(
        0, pci::BarType::kMemory32, kHostBar.size,
        {.passthrough = &pt, .region = kHostBar, .holes = {{0x2000, 0x20}}, .trap = &trap});
  }
  std::string_view type() const override { return "host-bar"; }
  RecordingDevice trap;
};

TEST(XenPassthroughBar, HoleIsClaimedAsMmioAndTheRestMappedDirect) {
  SimXen xen{1, kRam};
  xen::MapCache memory{xen};
  Clock clock{Clock::Mode::kVirtual};
  EventLoop loop{clock};
  ASSERT_TRUE(loop.init().ok());
  Dispatcher dispatcher{&memory};
  pci::PciBus bus{dispatcher, nullptr};
  xen::XenHostPassthrough pt{xen};
  HostBarDevice device{pt};
  ASSERT_TRUE(bus.plug(device, 0x20).ok());
  xen::IoreqServer server{xen, dispatcher, memory, loop};
  ASSERT_TRUE(server.start().ok());

  dispatcher.pci_write(device.address(), pci::kBar0, 4, 0xe0000000);
  dispatcher.pci_write(device.address(), pci::kCommand, 2, pci::kCommandMemory);
  EXPECT_EQ(xen.passthrough_calls(), (Calls{"memory_mapping gfn=0xe0000 mfn=0xfe000 count=2 add",
                                            "memory_mapping gfn=0xe0003 mfn=0xfe003 count=1 add"}));
  EXPECT_TRUE(xen.claimed(IoKind::kMmio).count({0xe0002000, 0xe0002fff}));
  dispatcher.pci_write(device.address(), pci::kCommand, 2, 0);
  EXPECT_FALSE(xen.claimed(IoKind::kMmio).count({0xe0002000, 0xe0002fff}));
  EXPECT_EQ(xen.passthrough_calls().back(),
            "memory_mapping gfn=0xe0003 mfn=0xfe003 count=1 remove");
  server.stop();
}

}  // namespace
}  // namespace hvmd::test
