// The passthrough device's BARs and interrupts against a software function and a recording
// transport: what a Xen or KVM transport is asked to map and route as a guest driver programs it.
#include <gtest/gtest.h>

#include <unistd.h>

#include <map>
#include <random>

#include "passthrough/cap_regs.h"
#include "tests/unit/passthrough_test_support.h"

namespace hvmd::test {
namespace {

using namespace pci;
using namespace passthrough;
using Calls = std::vector<std::string>;

constexpr uint32_t kCommandDecode = kCommandIo | kCommandMemory;

TEST(PassthroughDevice, BarsMapDirectlyAroundTheMsixPage) {
  PassthroughRig rig(make_synthetic_fixture("nic-pcie"));
  rig.write(kBar0, 0xe0000000);
  rig.write(kBar0 + 8, 0xc100);
  rig.write(kBar0 + 12, 0xe0020000);
  rig.transport.take();
  rig.write(kCommand, kCommandDecode, 2);
  // BAR0 whole; the I/O BAR as ports; BAR3's first page holds the MSI-X table and the PBA and
  // stays trapped, the rest is mapped.
  EXPECT_EQ(rig.transport.take(), (Calls{"map_mmio 0xe0000000 host=0xfebc0000 len=0x20000",
                                         "map_ports 0xc100 host=0xc000 count=32",
                                         "map_mmio 0xe0021000 host=0xfebe1000 len=0x3000"}));
  EXPECT_EQ(rig.device->bar(3).address, 0xe0020000u);
  // The trapped page's other registers are the host's, through the function.
  rig.dispatcher.mmio_write(0xe0020f00, 4, 0x5555aaaa);
  EXPECT_EQ(rig.soft->region_read(3, 0xf00, 4), 0x5555aaaau);
  EXPECT_EQ(rig.dispatcher.mmio_read(0xe0020f00, 4), 0x5555aaaau);
  // A table write lands in the emulated table, never in the host's.
  rig.dispatcher.mmio_write(0xe0020000 + kMsixEntryData, 4, 0x4041);
  EXPECT_EQ(rig.soft->region_read(3, kMsixEntryData, 4), 0u);
  // Decoding off: everything unmapped.
  rig.write(kCommand, 0, 2);
  EXPECT_EQ(rig.transport.take(), (Calls{"unmap_mmio 0xe0000000 host=0xfebc0000 len=0x20000",
                                         "unmap_ports 0xc100 host=0xc000 count=32",
                                         "unmap_mmio 0xe0021000 host=0xfebe1000 len=0x3000"}));
  EXPECT_EQ(rig.dispatcher.mmio_read(0xe0020f00, 4), 0xffffffffu);
}

TEST(PassthroughDevice, SixtyFourBitBarsAboveFourGiB) {
  PassthroughRig rig(make_synthetic_fixture("gpu-64bit"));
  rig.write(kBar0 + 4, ~0u);
  rig.write(kBar0 + 8, ~0u);
  EXPECT_EQ(rig.read(kBar0 + 4), ~(0x10000000u - 1) | kBarMemType64 | kBarPrefetchable);
  EXPECT_EQ(rig.read(kBar0 + 8), ~0u);
  rig.write(kBar0 + 4, 0x00000000 | kBarMemType64);
  rig.write(kBar0 + 8, 0x1);  // 4 GiB
  rig.transport.take();
  rig.write(kCommand, kCommandMemory, 2);
  Calls calls = rig.transport.take();
  EXPECT_NE(
      std::find(calls.begin(), calls.end(), "map_mmio 0x100000000 host=0x800000000 len=0x10000000"),
      calls.end());
  // Moving it: unmapped there, mapped here.
  rig.write(kBar0 + 8, 0x2);
  EXPECT_EQ(rig.transport.take(), (Calls{"unmap_mmio 0x100000000 host=0x800000000 len=0x10000000",
                                         "map_mmio 0x200000000 host=0x800000000 len=0x10000000"}));
}

TEST(PassthroughDevice, WithoutATransportEveryBarIsTrappedToTheFunction) {
  PassthroughRig rig(make_synthetic_fixture("nic-pcie"), /*with_transport=*/false);
  rig.write(kBar0, 0xe0000000);
  rig.write(kBar0 + 8, 0xc100);
  rig.write(kCommand, kCommandDecode, 2);
  rig.dispatcher.mmio_write(0xe0010004, 4, 0x12345678);
  EXPECT_EQ(rig.soft->region_read(0, 0x10004, 4), 0x12345678u);
  EXPECT_EQ(rig.dispatcher.mmio_read(0xe0010004, 4), 0x12345678u);
  rig.dispatcher.port_write(0xc104, 2, 0xbeef);
  EXPECT_EQ(rig.soft->region_read(2, 4, 2), 0xbeefu);
  EXPECT_EQ(rig.dispatcher.port_read(0xc104, 2), 0xbeefu);
}

TEST(PassthroughDevice, SubPageBarIsTrappedWholeEvenWithATransport) {
  PassthroughRig rig(make_synthetic_fixture("sub-page-msix"));
  rig.read(kVendorId);  // INTx bound
  rig.transport.take();
  rig.write(kBar0, 0xe0000000);
  rig.write(kCommand, kCommandMemory, 2);
  EXPECT_TRUE(rig.transport.take().empty());
  rig.dispatcher.mmio_write(0xe0000010, 4, 7);
  EXPECT_EQ(rig.soft->region_read(0, 0x10, 4), 7u);
  rig.dispatcher.mmio_write(0xe0000080 + kMsixEntryData, 4, 0x4099);  // the table: emulated
  EXPECT_EQ(rig.soft->region_read(0, 0x80 + kMsixEntryData, 4), 0u);
  EXPECT_EQ(rig.device->msix()->read(0x80 + kMsixEntryData, 4), 0x4099u);
}

TEST(PassthroughDevice, IntxIsBoundOnceAndUnboundOnRemoval) {
  PassthroughRig rig(make_synthetic_fixture("nic-pcie"));
  rig.read(kVendorId);
  rig.read(kDeviceId);
  EXPECT_EQ(rig.transport.take(), (Calls{"bind_intx irq=11 devfn=0x20 pin=0"}));
  rig.device->unrealize();
  EXPECT_EQ(rig.transport.take(), (Calls{"unbind_intx irq=11 devfn=0x20 pin=0"}));
  EXPECT_TRUE(rig.soft->get16(kCommand) & kCommandIntxDisable);
  // No pin: nothing to bind.
  auto f = make_synthetic_fixture("nic-pcie");
  f->set8(kInterruptPin, 0);
  PassthroughRig no_pin(std::move(f));
  no_pin.read(kVendorId);
  EXPECT_TRUE(no_pin.transport.take().empty());
}

TEST(PassthroughDevice, MsiIsRoutedWhenEnabledMaskedAndUnrouted) {
  PassthroughRig rig(make_synthetic_fixture("nic-pcie"));
  rig.read(kVendorId);
  rig.transport.take();
  uint8_t msi = rig.guest_cap(kCapMsi);
  ASSERT_EQ(msi, 0x48);
  rig.soft->writes.clear();
  rig.write(msi + kMsiAddressLow, 0xfee01000);
  rig.write(msi + kMsiAddressHigh, 0);
  rig.write(msi + 0x0c, 0x4031, 2);
  EXPECT_TRUE(rig.transport.take().empty());
  rig.write(msi + kMsiControl, kMsiControlEnable, 2);
  EXPECT_EQ(rig.transport.take(),
            (Calls{"route_msi 0 0xfee01000/0x4031 host_table=0 guest_table=0 fn=03:00.0"}));
  EXPECT_EQ(rig.soft->interrupt_log, (std::vector<std::string>{"msi 1"}));
  rig.write(msi + 0x10, 1);  // mask vector 0
  EXPECT_EQ(rig.transport.take(),
            (Calls{"route_msi 0 0xfee01000/0x4031 masked host_table=0 guest_table=0 fn=03:00.0"}));
  rig.write(msi + kMsiControl, 0, 2);
  EXPECT_EQ(rig.transport.take(), (Calls{"unroute_msi 0"}));
  EXPECT_EQ(rig.soft->interrupt_log, (std::vector<std::string>{"msi 1", "msi 0"}));
  // The guest's MSI programming never reached the host's registers.
  EXPECT_FALSE(rig.host_written(msi, msi + 24));
}

TEST(PassthroughDevice, MsixVectorsFollowTheTableAndTheBar) {
  PassthroughRig rig(make_synthetic_fixture("nic-pcie"));
  uint8_t msix = rig.guest_cap(kCapMsix);
  rig.write(kBar0 + 12, 0xe0020000);
  rig.write(kCommand, kCommandMemory, 2);
  rig.transport.take();
  auto entry = [&](unsigned v, uint32_t reg, uint32_t value) {
    rig.dispatcher.mmio_write(0xe0020000 + v * kMsixEntrySize + reg, 4, value);
  };
  entry(2, kMsixEntryAddressLow, 0xfee00000);
  entry(2, kMsixEntryData, 0x4052);
  rig.write(msix + kMsixControl, kMsixControlEnable, 2);
  Calls calls = rig.transport.take();
  ASSERT_EQ(calls.size(), 5u);  // every vector, masked as after reset
  EXPECT_EQ(calls[2],
            "route_msix 2 0xfee00000/0x4052 masked host_table=0xfebe0000 guest_table=0xe0020000 "
            "fn=03:00.0");
  EXPECT_EQ(rig.soft->interrupt_log, (std::vector<std::string>{"msix 5"}));
  entry(2, kMsixEntryControl, 0);
  EXPECT_EQ(rig.transport.take(),
            (Calls{"route_msix 2 0xfee00000/0x4052 host_table=0xfebe0000 guest_table=0xe0020000 "
                   "fn=03:00.0"}));
  // The guest moves the BAR: the live vectors are told the table's new guest address.
  rig.write(kBar0 + 12, 0xe0040000);
  calls = rig.transport.take();
  ASSERT_FALSE(calls.empty());
  EXPECT_EQ(calls.back(),
            "route_msix 4 0/0 masked host_table=0xfebe0000 guest_table=0xe0040000 fn=03:00.0");
  // Removal unroutes every vector and turns MSI-X off on the host.
  rig.device->unrealize();
  calls = rig.transport.take();
  EXPECT_EQ(std::count_if(calls.begin(), calls.end(),
                          [](const std::string& c) { return c.rfind("unroute_msix", 0) == 0; }),
            5);
  EXPECT_EQ(rig.soft->interrupt_log.back(), "msix 0");
}

// What the fuzz target checks, here over a fixed random sequence of every access size: guest BAR
// and ROM addresses never reach the host, hidden and read-only header bits never change, the
// guest's chain stays acyclic.
TEST(PassthroughDevice, RandomGuestConfigTrafficKeepsTheInvariants) {
  for (const auto& name : synthetic_fixture_names()) {
    PassthroughRig rig(make_synthetic_fixture(name));
    ASSERT_EQ(rig.error, "") << name;
    std::mt19937 random(7);
    uint32_t vendor = rig.read(kVendorId);
    for (int i = 0; i < 20000; ++i) {
      unsigned size = 1u << (random() % 3);
      uint32_t reg = (random() % kConfigSize) & ~(size - 1);
      if (random() % 2)
        rig.write(reg, static_cast<uint32_t>(random()), size);
      else
        rig.read(reg, size);
    }
    EXPECT_FALSE(rig.host_written(kBar0, kBar0 + 24)) << name;
    EXPECT_FALSE(rig.host_written(kRomAddress, kRomAddress + 4)) << name;
    EXPECT_EQ(rig.read(kVendorId), vendor) << name;
    EXPECT_LT(rig.guest_caps().size(), 48u) << name;
  }
}

}  // namespace
}  // namespace hvmd::test

namespace hvmd::test {
namespace {

using namespace pci;
using namespace passthrough;

// Watches nothing for real: the test fires the callbacks after signalling the eventfd.
class ManualWatcher final : public FdWatcher {
 public:
  Result<void> watch(int fd, std::function<void()> readable) override {
    callbacks[fd] = std::move(readable);
    return ok();
  }
  void unwatch(int fd) override { callbacks.erase(fd); }
  bool signal(int fd) {
    uint64_t one = 1;
    if (::write(fd, &one, sizeof(one)) != sizeof(one) || !callbacks.count(fd)) return false;
    callbacks[fd]();
    return true;
  }
  std::map<int, std::function<void()>> callbacks;
};

uint64_t drain(int fd) {
  uint64_t count = 0;
  return ::read(fd, &count, sizeof(count)) == sizeof(count) ? count : 0;
}

// VFIO under qtest: no hypervisor takes the eventfds, so the device delivers them itself.
// A transport that cannot take an eventfd INTx (KVM without irqfd resample): hvmd's own path,
// as without a transport.
TEST(PassthroughDevice, IntxTheTransportRefusesFallsBackToTheDevice) {
  auto f = make_synthetic_fixture("nic-pcie");
  f->use_eventfds();
  ManualWatcher watcher;
  PassthroughRig rig(std::move(f), /*with_transport=*/true, false, &watcher);
  rig.transport.refuse_intx = true;
  rig.transport.refuse = true;  // BARs trapped, so the guest's acknowledgement is seen
  int trigger = rig.soft->intx().trigger_fd, resample = rig.soft->intx().resample_fd;
  rig.write(kBar0, 0xe0000000);
  rig.write(kCommand, kCommandMemory, 2);
  EXPECT_TRUE(rig.device->intx_bound());
  EXPECT_FALSE(rig.soft->get16(kCommand) & kCommandIntxDisable);
  ASSERT_TRUE(watcher.signal(trigger));
  EXPECT_TRUE(rig.irq.intx_level(0x20, 0));
  rig.dispatcher.mmio_write(0xe0000004, 4, 1);
  EXPECT_FALSE(rig.irq.intx_level(0x20, 0));
  EXPECT_EQ(drain(resample), 1u);
  rig.device->unrealize();
  EXPECT_FALSE(watcher.signal(trigger));  // no longer watched
  EXPECT_TRUE(rig.soft->get16(kCommand) & kCommandIntxDisable);
}

TEST(PassthroughDevice, EventfdInterruptsWithoutATransportAreDeliveredByTheDevice) {
  auto f = make_synthetic_fixture("nic-pcie");
  f->use_eventfds();
  ManualWatcher watcher;
  PassthroughRig rig(std::move(f), /*with_transport=*/false, false, &watcher);
  int trigger = rig.soft->intx().trigger_fd, resample = rig.soft->intx().resample_fd;
  rig.write(kBar0, 0xe0000000);
  rig.write(kCommand, kCommandMemory, 2);
  EXPECT_TRUE(rig.device->intx_bound());
  EXPECT_FALSE(rig.soft->get16(kCommand) & kCommandIntxDisable);
  ASSERT_TRUE(watcher.signal(trigger));
  EXPECT_TRUE(rig.irq.intx_level(0x20, 0));
  rig.dispatcher.mmio_read(0xe0000000, 4);  // the handler reads its status: still pending
  EXPECT_TRUE(rig.irq.intx_level(0x20, 0));
  EXPECT_EQ(drain(resample), 0u);
  rig.dispatcher.mmio_write(0xe0000004, 4, 1);  // and acknowledges: line down, VFIO unmasks
  EXPECT_FALSE(rig.irq.intx_level(0x20, 0));
  EXPECT_EQ(drain(resample), 1u);
  // The guest's INTx-disable holds the line down.
  rig.write(kCommand, kCommandMemory | kCommandIntxDisable, 2);
  ASSERT_TRUE(watcher.signal(trigger));
  EXPECT_FALSE(rig.irq.intx_level(0x20, 0));

  // MSI: the vector's eventfd becomes the guest's message.
  uint8_t msi = rig.guest_cap(kCapMsi);
  rig.write(msi + kMsiAddressLow, 0xfee02000);
  rig.write(msi + 0x0c, 0x4061, 2);
  rig.write(msi + kMsiControl, kMsiControlEnable, 2);
  int vector = rig.soft->vector_fd(false, 0);
  ASSERT_GE(vector, 0);
  ASSERT_TRUE(watcher.signal(vector));
  ASSERT_EQ(rig.irq.msis.size(), 1u);
  EXPECT_EQ(rig.irq.msis[0].address, 0xfee02000u);
  EXPECT_EQ(rig.irq.msis[0].data, 0x4061u);
  rig.write(msi + 0x10, 1);  // masked: held as pending, not sent
  ASSERT_TRUE(watcher.signal(vector));
  EXPECT_EQ(rig.irq.msis.size(), 1u);
  rig.write(msi + 0x10, 0);  // unmasked: the pending one goes
  EXPECT_EQ(rig.irq.msis.size(), 2u);
  rig.write(msi + kMsiControl, 0, 2);
  EXPECT_FALSE(watcher.callbacks.count(vector));
  rig.device->unrealize();
  EXPECT_TRUE(watcher.callbacks.empty());
}

}  // namespace
}  // namespace hvmd::test

namespace hvmd::test {
namespace {

using namespace pci;
using namespace passthrough;
using Calls = std::vector<std::string>;

// A VFIO function's MSI-X under a transport that takes eventfd vectors (KVM's irqfds): the
// transport delivers an unmasked routed vector and hvmd's loop never watches its eventfd; a
// masked one is the device's again, which records it in the PBA and sends it on unmask.
TEST(PassthroughDevice, RoutedEventfdVectorsAreWatchedOnlyWhileMasked) {
  auto f = make_synthetic_fixture("nic-pcie");
  f->use_eventfds();
  ManualWatcher watcher;
  PassthroughRig rig(std::move(f), /*with_transport=*/true, false, &watcher);
  uint8_t msix = rig.guest_cap(kCapMsix);
  const MsixPlan& plan = *rig.device->plan().msix;
  rig.write(kBar0 + 12, 0xe0020000);
  rig.write(kCommand, kCommandMemory, 2);
  rig.transport.take();
  auto entry = [&](unsigned v, uint32_t reg, uint32_t value) {
    rig.dispatcher.mmio_write(0xe0020000 + plan.table + v * kMsixEntrySize + reg, 4, value);
  };
  auto pba = [&] { return rig.dispatcher.mmio_read(0xe0020000 + plan.pba, 4); };
  entry(2, kMsixEntryAddressLow, 0xfee00000);
  entry(2, kMsixEntryData, 0x4052);
  rig.write(msix + kMsixControl, kMsixControlEnable, 2);
  // Every vector was routed with its eventfd (MSI-X was enabled on the host first), the first
  // one included.
  ASSERT_EQ(rig.transport.take().size(), 5u);
  ASSERT_EQ(rig.transport.trigger_fds.size(), 5u);
  for (unsigned v = 0; v < 5; ++v)
    EXPECT_EQ(rig.transport.trigger_fds[v], rig.soft->vector_fd(true, v));
  int fd = rig.soft->vector_fd(true, 2);
  EXPECT_TRUE(watcher.callbacks.count(fd));  // masked, as after reset: the device's
  entry(2, kMsixEntryControl, 0);            // unmasked: the transport's alone
  EXPECT_EQ(rig.transport.take(),
            (Calls{"route_msix 2 0xfee00000/0x4052 host_table=0xfebe0000 guest_table=0xe0020000 "
                   "fn=03:00.0"}));
  EXPECT_FALSE(watcher.callbacks.count(fd));
  EXPECT_FALSE(watcher.signal(fd));  // the loop does not read it (KVM's irqfd would)
  EXPECT_EQ(drain(fd), 1u);
  EXPECT_TRUE(rig.irq.msis.empty());
  // Masked: the transport is told (KVM detaches the irqfd) and the device watches again; an
  // interrupt now is pending, not sent.
  entry(2, kMsixEntryControl, kMsixEntryMasked);
  EXPECT_EQ(rig.transport.take(),
            (Calls{"route_msix 2 0xfee00000/0x4052 masked host_table=0xfebe0000 "
                   "guest_table=0xe0020000 fn=03:00.0"}));
  ASSERT_TRUE(watcher.signal(fd));
  EXPECT_TRUE(rig.irq.msis.empty());
  EXPECT_EQ(pba() & 0x1f, 1u << 2);
  // Unmasked: the pending interrupt is sent, the watch stops and the route is unmasked.
  entry(2, kMsixEntryControl, 0);
  ASSERT_EQ(rig.irq.msis.size(), 1u);
  EXPECT_EQ(rig.irq.msis[0].address, 0xfee00000u);
  EXPECT_EQ(rig.irq.msis[0].data, 0x4052u);
  EXPECT_EQ(pba() & 0x1f, 0u);
  EXPECT_FALSE(watcher.callbacks.count(fd));
  EXPECT_EQ(rig.transport.take().back(),
            "route_msix 2 0xfee00000/0x4052 host_table=0xfebe0000 guest_table=0xe0020000 "
            "fn=03:00.0");
  // A new message while unmasked is routed again, still not watched.
  entry(2, kMsixEntryData, 0x4053);
  EXPECT_EQ(rig.transport.take().back(),
            "route_msix 2 0xfee00000/0x4053 host_table=0xfebe0000 guest_table=0xe0020000 "
            "fn=03:00.0");
  EXPECT_FALSE(watcher.callbacks.count(fd));
  // Disabled: every vector unrouted while its eventfd still exists, nothing watched.
  rig.write(msix + kMsixControl, 0, 2);
  Calls calls = rig.transport.take();
  EXPECT_EQ(std::count_if(calls.begin(), calls.end(),
                          [](const std::string& c) { return c.rfind("unroute_msix", 0) == 0; }),
            5);
  EXPECT_TRUE(watcher.callbacks.empty());
  EXPECT_EQ(rig.soft->interrupt_log.back(), "msix 0");
}

// A transport that refuses the routes (KVM without KVM_CAP_IRQ_ROUTING, or a failed call): the
// device delivers every vector from its eventfd, as under qtest.
TEST(PassthroughDevice, RefusedEventfdVectorsFallBackToTheDevice) {
  auto f = make_synthetic_fixture("nic-pcie");
  f->use_eventfds();
  ManualWatcher watcher;
  PassthroughRig rig(std::move(f), /*with_transport=*/true, false, &watcher);
  rig.transport.refuse_msi = true;
  uint8_t msi = rig.guest_cap(kCapMsi);
  rig.write(msi + kMsiAddressLow, 0xfee02000);
  rig.write(msi + 0x0c, 0x4061, 2);
  rig.write(msi + kMsiControl, kMsiControlEnable, 2);
  int fd = rig.soft->vector_fd(false, 0);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(watcher.signal(fd));
  ASSERT_EQ(rig.irq.msis.size(), 1u);
  EXPECT_EQ(rig.irq.msis[0].data, 0x4061u);
  // Routing works again later (a new message): the transport takes it, the watch stops.
  rig.transport.refuse_msi = false;
  rig.write(msi + 0x0c, 0x4062, 2);
  EXPECT_EQ(rig.transport.trigger_fds, (std::vector<int>{fd}));
  EXPECT_FALSE(watcher.callbacks.count(fd));
  // And fails again: the transport forgets the vector and the device takes it back.
  rig.transport.refuse_msi = true;
  rig.transport.take();
  rig.write(msi + 0x0c, 0x4063, 2);
  EXPECT_EQ(rig.transport.take(), (Calls{"unroute_msi 0"}));
  ASSERT_TRUE(watcher.signal(fd));
  ASSERT_EQ(rig.irq.msis.size(), 2u);
  EXPECT_EQ(rig.irq.msis[1].data, 0x4063u);
  rig.device->unrealize();
  EXPECT_TRUE(watcher.callbacks.empty());
}

}  // namespace
}  // namespace hvmd::test
