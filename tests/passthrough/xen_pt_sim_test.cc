// A passthrough function under Xen, against the simulated hypervisor: what hvmd asks Xen for as a
// guest driver brings the function up (the pirq for INTx, p2m mappings of the host's BAR frames
// around the MSI-X page, MSI-X vectors as pirqs bound to the guest's messages and table, all of it
// undone on removal). The real hypervisor path, short of the Xen passthrough lab.
#include <gtest/gtest.h>

#include <algorithm>

#include "dm/guest_memory.h"
#include "dm/pci/pci_bus.h"
#include "ioreq/xen/xen_host_passthrough.h"
#include "passthrough/fixtures.h"
#include "passthrough/passthrough_device.h"
#include "tests/xen/sim_xen.h"

namespace hvmd::test {
namespace {

using namespace pci;
using Calls = std::vector<std::string>;

Calls since(const SimXen& xen, size_t seen) {
  Calls all = xen.passthrough_calls();
  return Calls(all.begin() + static_cast<long>(std::min(seen, all.size())), all.end());
}

TEST(XenPassthroughDevice, DriverBringUpAndRemovalAskXenForTheRightThings) {
  SimXen xen{1, 16 << 20};
  xen::XenHostPassthrough transport{xen};
  HostRam ram{RamLayout::pc(16 << 20)};
  Dispatcher dispatcher{&ram};
  PciBus bus{dispatcher, nullptr};
  auto soft = passthrough::make_synthetic_fixture("nic-pcie");
  passthrough::SoftFunction* host = soft.get();
  auto device = passthrough::PassthroughDevice::create(std::move(soft), {.transport = &transport});
  ASSERT_TRUE(device) << device.error().message;
  ASSERT_TRUE(bus.plug(**device, 0x20).ok());
  PciAddress at = (*device)->address();

  // hvmloader's scan: INTx bound as a pirq on the first access.
  EXPECT_EQ(dispatcher.pci_read(at, kVendorId, 4), 0x10d38086u);
  EXPECT_EQ(xen.passthrough_calls(),
            (Calls{"map_pirq irq=11 -> 40", "bind_pt_intx pirq=40 00:04 pin=0"}));
  size_t seen = xen.passthrough_calls().size();
  // BAR0 and BAR3 placed, memory decoding on: the host's frames straight into the guest, except
  // BAR3's first page (MSI-X table and PBA).
  dispatcher.pci_write(at, kBar0, 4, 0xf0000000);
  dispatcher.pci_write(at, kBar0 + 12, 4, 0xf0020000);
  dispatcher.pci_write(at, kCommand, 2, kCommandMemory | kCommandBusMaster);
  EXPECT_EQ(since(xen, seen), (Calls{"memory_mapping gfn=0xf0000 mfn=0xfebc0 count=32 add",
                                     "memory_mapping gfn=0xf0021 mfn=0xfebe1 count=3 add"}));
  seen = xen.passthrough_calls().size();
  // The driver's MSI-X set-up: enable with the function masked, program vector 0, unmask.
  dispatcher.pci_write(at, 0x9c + kMsixControl, 2, kMsixControlEnable | kMsixControlFunctionMask);
  dispatcher.mmio_write(0xf0020000 + kMsixEntryAddressLow, 4, 0xfee00000);
  dispatcher.mmio_write(0xf0020000 + kMsixEntryData, 4, 0x0041);
  dispatcher.mmio_write(0xf0020000 + kMsixEntryControl, 4, 0);
  dispatcher.pci_write(at, 0x9c + kMsixControl, 2, kMsixControlEnable);
  Calls calls = since(xen, seen);
  ASSERT_FALSE(calls.empty());
  EXPECT_EQ(calls.front(), "map_pirq_msi 03:00.0 entry=0 table=0xfebe0000 -> 41");
  EXPECT_EQ(calls.back(), "update_msi_irq gvec=0x41 pirq=41 gflags=0x10000 gtable=0xf0020000");
  EXPECT_EQ(host->interrupt_log, (std::vector<std::string>{"msix 5"}));  // enabled in the device
  seen = xen.passthrough_calls().size();
  // Removal (device_del, eject): every pirq unbound and unmapped, every mapping removed.
  (*device)->unrealize();
  calls = since(xen, seen);
  auto has = [&](const std::string& c) {
    return std::find(calls.begin(), calls.end(), c) != calls.end();
  };
  EXPECT_TRUE(has("unbind_pt_intx pirq=40 00:04 pin=0"));
  EXPECT_TRUE(has("memory_mapping gfn=0xf0000 mfn=0xfebc0 count=32 remove"));
  EXPECT_TRUE(has("memory_mapping gfn=0xf0021 mfn=0xfebe1 count=3 remove"));
  EXPECT_TRUE(has("unmap_pirq 41"));
  EXPECT_TRUE(has("unmap_pirq 40"));
  EXPECT_EQ(host->interrupt_log.back(), "msix 0");
}

}  // namespace
}  // namespace hvmd::test
