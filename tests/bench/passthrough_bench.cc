// Cost of what a passthrough function traps, against a software host function: a guest config
// access through the register table (an emulated register, a register with host bits, an
// unclaimed vendor-capability byte passed to the host) and an MSI-X table write (a data write,
// and an unmask that routes the vector through the transport). The host function's own cost (a
// sysfs pread or a VFIO region access on real hardware) is not in these figures.
#include <benchmark/benchmark.h>

#include "dm/dispatcher.h"
#include "dm/guest_memory.h"
#include "dm/pci/pci_bus.h"
#include "passthrough/cap_regs.h"
#include "passthrough/fixtures.h"
#include "passthrough/passthrough_device.h"

namespace hvmd {
namespace {

using namespace pci;
using namespace passthrough;

// A transport that accepts everything and does nothing: the device model's share only.
class NullTransport final : public HostPassthrough {
 public:
  Result<void> map_mmio(uint64_t, const HostMmioRegion&, uint64_t, uint64_t) override {
    return ok();
  }
  Result<void> unmap_mmio(uint64_t, const HostMmioRegion&, uint64_t, uint64_t) override {
    return ok();
  }
  Result<void> map_ports(uint32_t, uint32_t, uint32_t) override { return ok(); }
  Result<void> unmap_ports(uint32_t, uint32_t, uint32_t) override { return ok(); }
  Result<void> bind_intx(const HostIntx&, PciAddress, unsigned) override { return ok(); }
  Result<void> unbind_intx(const HostIntx&, PciAddress, unsigned) override { return ok(); }
  Result<void> route_msi(const HostMsiVector&, const MsiMessage&, bool) override {
    ++routes;
    return ok();
  }
  Result<void> unroute_msi(const HostMsiVector&) override { return ok(); }
  uint64_t routes = 0;
};

constexpr uint64_t kMsixBar = 0xe0020000;

struct Rig {
  explicit Rig(const char* fixture) {
    auto created =
        PassthroughDevice::create(make_synthetic_fixture(fixture), {.transport = &transport});
    device = std::move(*created);
    (void)bus.plug(*device, 0x20);
    at = device->address();
    dispatcher.pci_write(at, kBar0 + 12, 4, static_cast<uint32_t>(kMsixBar));
    dispatcher.pci_write(at, kCommand, 2, kCommandMemory | kCommandBusMaster);
  }
  HostRam ram{RamLayout::pc(16 << 20)};
  Dispatcher dispatcher{&ram};
  PciBus bus{dispatcher, nullptr};
  NullTransport transport;
  std::unique_ptr<PassthroughDevice> device;
  PciAddress at;
};

void BM_ConfigReadEmulated(benchmark::State& state) {
  Rig rig("nic-pcie");
  for (auto _ : state) benchmark::DoNotOptimize(rig.dispatcher.pci_read(rig.at, kVendorId, 4));
}
BENCHMARK(BM_ConfigReadEmulated);

void BM_ConfigReadCommandAndStatus(
    benchmark::State& state) {  // emulated + host bits, two registers
  Rig rig("nic-pcie");
  for (auto _ : state) benchmark::DoNotOptimize(rig.dispatcher.pci_read(rig.at, kCommand, 4));
}
BENCHMARK(BM_ConfigReadCommandAndStatus);

void BM_ConfigWriteCommand(benchmark::State& state) {  // hook, host INTx-disable sync, BAR check
  Rig rig("nic-pcie");
  uint32_t value = kCommandMemory | kCommandBusMaster;
  for (auto _ : state) {
    rig.dispatcher.pci_write(rig.at, kCommand, 2, value);
    value ^= kCommandBusMaster;
  }
}
BENCHMARK(BM_ConfigWriteCommand);

void BM_ConfigReadVendorCapability(benchmark::State& state) {  // unclaimed: straight to the host
  Rig rig("gpu-64bit");
  for (auto _ : state) benchmark::DoNotOptimize(rig.dispatcher.pci_read(rig.at, 0x6c, 4));
}
BENCHMARK(BM_ConfigReadVendorCapability);

void BM_MsixTableDataWrite(benchmark::State& state) {  // enabled, vector masked: latched only
  Rig rig("nic-pcie");
  rig.dispatcher.pci_write(rig.at, 0x9c + kMsixControl, 2, kMsixControlEnable);
  uint32_t data = 0x4040;
  for (auto _ : state)
    rig.dispatcher.mmio_write(kMsixBar + 2 * kMsixEntrySize + kMsixEntryData, 4, ++data);
}
BENCHMARK(BM_MsixTableDataWrite);

void BM_MsixUnmaskMask(benchmark::State& state) {  // each write re-routes the vector
  Rig rig("nic-pcie");
  rig.dispatcher.pci_write(rig.at, 0x9c + kMsixControl, 2, kMsixControlEnable);
  rig.dispatcher.mmio_write(kMsixBar + kMsixEntryAddressLow, 4, 0xfee00000);
  uint32_t masked = 0;
  for (auto _ : state) {
    rig.dispatcher.mmio_write(kMsixBar + kMsixEntryControl, 4, masked);
    masked ^= kMsixEntryMasked;
  }
  state.counters["routes"] = static_cast<double>(rig.transport.routes);
}
BENCHMARK(BM_MsixUnmaskMask);

}  // namespace
}  // namespace hvmd

BENCHMARK_MAIN();
