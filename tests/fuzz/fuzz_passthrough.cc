#include "tests/fuzz/fuzz_passthrough.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "dm/dispatcher.h"
#include "dm/guest_memory.h"
#include "dm/pci/pci_bus.h"
#include "passthrough/cap_regs.h"
#include "passthrough/ext_config.h"
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

// Extended capability header (PCI Express Base 3.0 section 7.9.3): ID in bits 15:0, version in
// 19:16, next pointer in 31:20 (its low two bits reserved). Written here from the spec, not taken
// from ext_config.cc, so the checks do not share its mistakes.
constexpr uint32_t ext_header(uint16_t id, uint8_t version, uint32_t next) {
  return id | uint32_t{version} << 16 | next << 20;
}
constexpr uint16_t ext_id(uint32_t header) {
  return static_cast<uint16_t>(header);
}
constexpr uint32_t ext_next_raw(uint32_t header) {
  return header >> 20;
}
// What the guest may see in its extended chain: error reporting and identification.
bool ext_id_shown(uint16_t id) {
  return id == kExtCapAer || id == kExtCapDsn || id == kExtCapVendor;
}

// Malformed extended chains, each a copy of pcie-sriov (SR-IOV 0x100 -> AER 0x140 -> ACS 0x188 ->
// DSN 0x1a0, the first and third hidden) with its chain broken the way firmware and broken
// devices break it.
struct ExtVariant {
  const char* name;
  void (*apply)(SoftFunction&);
};
const ExtVariant kExtVariants[] = {
    // The last capability links back to a kept one.
    {"ext-cycle", [](SoftFunction& f) { f.set32(0x1a0, ext_header(kExtCapDsn, 1, 0x140)); }},
    // A kept capability links to itself.
    {"ext-self", [](SoftFunction& f) { f.set32(0x140, ext_header(kExtCapAer, 2, 0x140)); }},
    // A hidden capability links below 0x100 (into the capabilities of the first 256 bytes).
    {"ext-below", [](SoftFunction& f) { f.set32(0x188, ext_header(kExtCapAcs, 1, 0x0c0)); }},
    // Reserved pointer bits set, and a kept capability's header inside SR-IOV's (hidden) body.
    {"ext-into-body",
     [](SoftFunction& f) {
       f.set32(0x100, ext_header(kExtCapSriov, 1, 0x143));
       f.set32(0x140, ext_header(kExtCapAer, 2, 0x124));
       f.set32(0x124, ext_header(kExtCapDsn, 1, 0x188));
     }},
    // An all-ones header in the middle of the chain (a read the host could not complete).
    {"ext-ones-mid",
     [](SoftFunction& f) {
       f.set32(0x140, ext_header(kExtCapAer, 2, 0x200));
       f.set32(0x200, ~0u);
     }},
    // The whole extended space all-ones, as a conventional function behind a PCIe bridge reads.
    {"ext-all-ones",
     [](SoftFunction& f) {
       for (uint32_t reg = kExtConfigStart; reg < kExtConfigSize; reg += 4) f.set32(reg, ~0u);
     }},
    // Every dword a capability linking to the next, kept and hidden ones in turn.
    {"ext-every-dword",
     [](SoftFunction& f) {
       const uint16_t ids[] = {kExtCapVendor, kExtCapAcs, kExtCapDsn, kExtCapSriov, kExtCapAer};
       for (uint32_t reg = kExtConfigStart; reg < kExtConfigSize; reg += 4)
         f.set32(reg, ext_header(ids[reg / 4 % 5], 1, reg + 4 < kExtConfigSize ? reg + 4 : 0));
     }},
    // The chain ends with a vendor capability in the last dword.
    {"ext-last-dword",
     [](SoftFunction& f) {
       f.set32(0x1a0, ext_header(kExtCapDsn, 1, 0xffc));
       f.set32(0xffc, ext_header(kExtCapVendor, 1, 0));
     }},
};

// Every fixture once, copied for each input: the synthetic ones, the recorded ones, then the
// malformed extended chains (appended, so the corpus's first bytes keep naming the same fixture).
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
    for (const ExtVariant& v : kExtVariants) {
      auto f = make_synthetic_fixture("pcie-sriov");
      v.apply(*f);
      f->snapshot_power_on();
      p.push_back({std::string("pcie-sriov/") + v.name, std::move(f)});
    }
    return p;
  }();
  return list;
}

// The host's extended capabilities (offset -> ID), walked as the spec defines the chain and
// bounded as a guest must: out of range, a second visit, a 0 or all-ones header ends it.
std::map<uint32_t, uint16_t> host_ext_capabilities(const SoftFunction& f) {
  std::map<uint32_t, uint16_t> caps;
  if (f.config_size() < kExtConfigSize) return caps;
  for (uint32_t at = kExtConfigStart;
       at >= kExtConfigStart && at <= kExtConfigSize - 4 && !caps.count(at);) {
    uint32_t header = f.get32(at);
    if (header == 0 || header == ~0u) break;
    caps[at] = ext_id(header);
    at = ext_next_raw(header) & ~3u;
  }
  return caps;
}

// The extended chain as a guest driver walks it from 0x100 (offset, header), checked as it goes:
// every pointer aligned and within 0x100-0xffc, no capability visited twice.
std::vector<std::pair<uint32_t, uint32_t>> guest_ext_chain(PassthroughDevice& device,
                                                           const std::string& fixture) {
  std::vector<std::pair<uint32_t, uint32_t>> chain;
  std::vector<bool> seen(kExtConfigSize / 4);
  for (uint32_t at = kExtConfigStart; at;) {
    if (at < kExtConfigStart || at > kExtConfigSize - 4 || at % 4)
      violated("an extended capability pointer outside 0x100-0xffc", fixture);
    if (seen[at / 4]) violated("the extended capability chain has a cycle", fixture);
    seen[at / 4] = true;
    uint32_t header = device.config_read(at, 4);
    if (header == 0) break;
    chain.emplace_back(at, header);
    at = ext_next_raw(header);
  }
  return chain;
}

// The guest's whole extended space, a dword at a time.
std::vector<uint32_t> guest_ext_space(PassthroughDevice& device) {
  std::vector<uint32_t> dwords;
  for (uint32_t reg = kExtConfigStart; reg < kExtConfigSize; reg += 4)
    dwords.push_back(device.config_read(reg, 4));
  return dwords;
}

// The extended chain the guest sees shows only supported capabilities, each where the host has it
// (a null capability may stand at 0x100 for a hidden first one); every hidden capability's header
// reads 0, and so does SR-IOV's body (its VF counts and BARs) up to the next capability.
void check_ext_chain(PassthroughDevice& device, const std::map<uint32_t, uint16_t>& host_caps,
                     const std::vector<std::pair<uint32_t, uint32_t>>& chain,
                     const std::string& fixture) {
  std::vector<bool> visible(kExtConfigSize / 4);
  for (const auto& [at, header] : chain) {
    visible[at / 4] = true;
    if (ext_id(header) == 0 && at == kExtConfigStart && (header & 0xf0000) == 0) continue;
    if (!ext_id_shown(ext_id(header)))
      violated("a hidden extended capability is in the guest's chain", fixture);
    auto host = host_caps.find(at);
    if (host == host_caps.end() || host->second != ext_id(header))
      violated("the guest's extended chain shows a capability the host does not have there",
               fixture);
  }
  for (auto it = host_caps.begin(); it != host_caps.end(); ++it) {
    auto [at, id] = *it;
    if (ext_id_shown(id)) continue;
    if (at != kExtConfigStart && device.config_read(at, 4) != 0)
      violated("a hidden extended capability's header shows", fixture);
    if (id != kExtCapSriov) continue;
    auto above = host_caps.upper_bound(at);
    uint32_t end =
        std::min<uint32_t>(at + 0x40, above == host_caps.end() ? kExtConfigSize : above->first);
    for (uint32_t reg = at + 4; reg + 4 <= end; reg += 4)
      if (!visible[reg / 4] && device.config_read(reg, 4) != 0)
        violated("a hidden SR-IOV capability's body shows", fixture);
  }
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

// An operation's 12-bit register: o[1] is the low byte, o[7]'s low nibble the high bits.
uint32_t op_register(const uint8_t* o) {
  return o[1] | (o[7] & 0xfu) << 8;
}
uint32_t op_value(const uint8_t* o) {
  return o[3] | o[4] << 8 | o[5] << 16 | uint32_t{o[6]} << 24;
}

}  // namespace

void run_passthrough_target(const uint8_t* data, size_t size) {
  if (size < 2) return;
  const auto& protos = prototypes();
  const Prototype& proto = protos[data[0] % protos.size()];
  bool permissive = data[1] & 1;
  bool extended = data[1] & 2;  // the VFIO view: extended config space shown
  unsigned patches = (data[1] >> 2) & 3;
  data += 2;
  size -= 2;
  auto function = std::make_unique<SoftFunction>(*proto.function);
  SoftFunction* soft = function.get();
  // Host patches (an operation's register and value): dwords of the host's extended space set
  // before the device sees it, so inputs build extended chains of their own.
  for (; patches && size >= 8; --patches, data += 8, size -= 8)
    if (soft->config_size() == kExtConfigSize)
      soft->set32(kExtConfigStart + (op_register(data) % (kExtConfigSize - kExtConfigStart) & ~3u),
                  op_value(data));
  const std::map<uint32_t, uint16_t> host_caps = host_ext_capabilities(*soft);
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
  auto created = PassthroughDevice::create(
      std::move(function),
      {.transport = &transport, .permissive = permissive, .extended_config = extended});
  if (!created) return;  // a fixture hvmd refuses (none today)
  PassthroughDevice& device = **created;
  transport.msix_vectors = device.msix() ? device.msix()->vectors() : 0;
  transport.msi_vectors = device.plan().msi ? device.plan().msi->vectors : 0;
  if (!bus.plug(device, 0x20)) return;
  PciAddress at = device.address();
  uint32_t identity = dispatcher.pci_read(at, kVendorId, 4);
  uint32_t class_rev = dispatcher.pci_read(at, kRevisionId, 4);
  const ExtendedPlan& ext = device.extended_plan();
  auto chain = guest_ext_chain(device, proto.name);
  if (ext.size == 0 && !chain.empty()) violated("extended space shown though absent", proto.name);
  check_ext_chain(device, host_caps, chain, proto.name);
  // The guest's extended space before, for read-only (a thousand reads: taken at the input's first
  // extended write).
  std::vector<uint32_t> ext_before;
  soft->writes.clear();
  // Operations of 8 bytes: kind, register (or table offset), size, value.
  for (size_t op = 0; op + 8 <= size && op < 8 * 1024; op += 8) {
    const uint8_t* o = data + op;
    unsigned access = 1u << (o[2] % 3);
    uint32_t value = op_value(o);
    uint32_t reg = op_register(o) % kConfigSize;
    switch (o[0] % 6) {
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
          if (o[0] % 6 == 2)
            dispatcher.mmio_write(bar + offset, access, value);
          else
            dispatcher.mmio_read(bar + offset, access);
        }
        break;
      case 4:
        // The whole 4 KiB as an ECAM access reaches it (the i440FX's 0xcf8/0xcfc stop at 256).
        device.config_read(op_register(o), access);
        break;
      case 5:
        if (ext.size && !permissive && ext_before.empty()) ext_before = guest_ext_space(device);
        device.config_write(op_register(o), access, value);
        break;
    }
  }
  for (const auto& w : soft->writes) {
    if (w.reg < kBar0 + 24 && w.reg + w.size > kBar0)
      violated("a BAR write reached the host", proto.name);
    if (w.reg < kRomAddress + 4 && w.reg + w.size > kRomAddress)
      violated("a ROM BAR write reached the host", proto.name);
    if (w.reg + w.size <= kExtConfigStart) continue;
    // Extended space is read-only to the guest unless permissive, and its headers and hidden
    // bodies are the table's even then.
    if (!permissive || ext.size == 0)
      violated("a dropped extended config write reached the host", proto.name);
    for (uint32_t reg = w.reg; reg < w.reg + w.size; ++reg) {
      bool header = std::any_of(ext.headers.begin(), ext.headers.end(),
                                [&](const auto& h) { return reg / 4 == h.offset / 4u; });
      bool zeroed = std::any_of(ext.zeroed.begin(), ext.zeroed.end(),
                                [&](const auto& r) { return reg >= r.begin && reg < r.end; });
      if (header || zeroed)
        violated("a write to an emulated extended register reached the host", proto.name);
    }
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
  // The guest's extended chain is the one it started with, and (read-only unless permissive) so
  // is every byte of its extended space.
  if (guest_ext_chain(device, proto.name) != chain)
    violated("the guest changed the extended capability chain", proto.name);
  check_ext_chain(device, host_caps, chain, proto.name);
  if (ext.size == 0 && device.config_read(kExtConfigStart, 4) != 0)
    violated("extended space reads other than 0 though absent", proto.name);
  if (!ext_before.empty() && guest_ext_space(device) != ext_before)
    violated("a read-only extended register changed", proto.name);
  device.unrealize();
  bus.unplug(device);
}

}  // namespace hvmd::fuzz
