#include "tests/fuzz/fuzz_passthrough.h"

#include <array>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "dm/dispatcher.h"
#include "dm/guest_memory.h"
#include "dm/pci/pci_bus.h"
#include "passthrough/fixtures.h"
#include "passthrough/passthrough_device.h"

namespace hvmd::fuzz {
namespace {

using namespace pci;
using namespace passthrough;

[[noreturn]] void violated(const char* what, const std::string& fixture) {
  fprintf(stderr, "hvmd-fuzz: passthrough invariant broken on %s: %s\n", fixture.c_str(), what);
  abort();
}

// Every fixture once, copied for each input.
struct Prototype {
  std::string name;
  std::unique_ptr<SoftFunction> function;
};
const std::vector<Prototype>& prototypes() {
  static const std::vector<Prototype> list = [] {
    std::vector<Prototype> p;
    for (const auto& name : synthetic_fixture_names())
      p.push_back({name, make_synthetic_fixture(name)});
    std::string dir = HVMD_SOURCE_DIR "/tests/passthrough/fixtures";
    for (const auto& stem : recorded_fixture_stems(dir))
      if (auto f = load_recorded_fixture(dir, stem)) p.push_back({stem, std::move(*f)});
    return p;
  }();
  return list;
}

// A transport that checks what it is asked for.
class CheckingTransport final : public HostPassthrough {
 public:
  unsigned msix_vectors = 0;
  unsigned msi_vectors = 0;
  std::string fixture;
  Result<void> map_mmio(uint64_t g, const HostMmioRegion& r, uint64_t o, uint64_t l) override {
    if ((g | o | l) % 4096 || o + l > std::max<uint64_t>(r.size, 4096) * 2)
      violated("a direct mapping that is not whole pages of the region", fixture);
    return ok();
  }
  Result<void> unmap_mmio(uint64_t, const HostMmioRegion&, uint64_t, uint64_t) override {
    return ok();
  }
  Result<void> map_ports(uint32_t g, uint32_t, uint32_t c) override {
    if (g + c > 0x10000) violated("ports mapped past 0xffff", fixture);
    return ok();
  }
  Result<void> unmap_ports(uint32_t, uint32_t, uint32_t) override { return ok(); }
  Result<void> bind_intx(const HostIntx&, PciAddress, unsigned pin) override {
    if (pin > 3) violated("INTx pin beyond INTD#", fixture);
    return ok();
  }
  Result<void> unbind_intx(const HostIntx&, PciAddress, unsigned) override { return ok(); }
  Result<void> route_msi(const HostMsiVector& v, const MsiMessage&, bool) override {
    if (v.entry >= (v.msix ? msix_vectors : msi_vectors)) violated("vector out of range", fixture);
    return ok();
  }
  Result<void> unroute_msi(const HostMsiVector&) override { return ok(); }
};

}  // namespace

void run_passthrough_target(const uint8_t* data, size_t size) {
  if (size < 2) return;
  const auto& protos = prototypes();
  const Prototype& proto = protos[data[0] % protos.size()];
  bool permissive = data[1] & 1;
  data += 2;
  size -= 2;
  auto function = std::make_unique<SoftFunction>(*proto.function);
  SoftFunction* soft = function.get();
  CheckingTransport transport;
  transport.fixture = proto.name;
  // The bus outlives inputs (building a dispatcher per input would cost more than the input);
  // each input's device leaves it as it found it: unrealized, unplugged.
  struct Slot {
    HostRam ram{RamLayout::pc(16 << 20)};
    Dispatcher dispatcher{&ram};
    PciBus bus{dispatcher, nullptr};
  };
  static Slot slot;
  Dispatcher& dispatcher = slot.dispatcher;
  PciBus& bus = slot.bus;
  auto created = PassthroughDevice::create(std::move(function),
                                           {.transport = &transport, .permissive = permissive});
  if (!created) return;  // a fixture hvmd refuses (none today)
  PassthroughDevice& device = **created;
  transport.msix_vectors = device.msix() ? device.msix()->vectors() : 0;
  transport.msi_vectors = device.plan().msi ? device.plan().msi->vectors : 0;
  if (!bus.plug(device, 0x20)) return;
  PciAddress at = device.address();
  uint32_t identity = dispatcher.pci_read(at, kVendorId, 4);
  uint32_t class_rev = dispatcher.pci_read(at, kRevisionId, 4);
  soft->writes.clear();
  // Operations of 8 bytes: kind, register (or table offset), size, value.
  for (size_t op = 0; op + 8 <= size && op < 8 * 1024; op += 8) {
    const uint8_t* o = data + op;
    unsigned access = 1u << (o[2] % 3);
    uint32_t value = o[3] | o[4] << 8 | o[5] << 16 | uint32_t{o[6]} << 24;
    uint32_t reg = (o[1] | (o[7] & 0x3) << 8) % kConfigSize;
    switch (o[0] % 4) {
      case 0:
        dispatcher.pci_read(at, reg, access);
        break;
      case 1:
        dispatcher.pci_write(at, reg, access, value);
        break;
      case 2:
      case 3:
        // The MSI-X table and PBA where the guest decodes them (if it does).
        if (const auto& m = device.plan().msix) {
          uint64_t bar = device.bar(m->bar).address;
          if (bar == BarInfo::kUnmapped) break;
          uint64_t span = std::max<uint64_t>(m->pba + 8, m->table + m->vectors * kMsixEntrySize);
          uint64_t offset = (uint64_t{o[1]} << 8 | o[7]) % span & ~uint64_t{access - 1};
          if (o[0] % 4 == 2)
            dispatcher.mmio_write(bar + offset, access, value);
          else
            dispatcher.mmio_read(bar + offset, access);
        }
        break;
    }
  }
  for (const auto& w : soft->writes) {
    if (w.reg < kBar0 + 24 && w.reg + w.size > kBar0)
      violated("a BAR write reached the host", proto.name);
    if (w.reg < kRomAddress + 4 && w.reg + w.size > kRomAddress)
      violated("a ROM BAR write reached the host", proto.name);
  }
  if (dispatcher.pci_read(at, kVendorId, 4) != identity ||
      dispatcher.pci_read(at, kRevisionId, 4) != class_rev)
    violated("the identity changed", proto.name);
  std::array<bool, kConfigSize> seen{};
  for (uint32_t cap = dispatcher.pci_read(at, kCapabilitiesPointer, 1); cap;
       cap = dispatcher.pci_read(at, cap + 1, 1)) {
    if (cap < kFirstCapability || cap > kConfigSize - 4 || cap % 4)
      violated("a capability pointer outside 0x40-0xfc", proto.name);
    if (seen[cap]) violated("the capability chain has a cycle", proto.name);
    seen[cap] = true;
  }
  for (const Capability& c : device.plan().hidden)
    if (seen[c.offset]) violated("a hidden capability is linked", proto.name);
  device.unrealize();
  bus.unplug(device);
}

}  // namespace hvmd::fuzz
