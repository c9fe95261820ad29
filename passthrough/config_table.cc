#include "passthrough/config_table.h"

#include <algorithm>

#include "dm/log.h"
#include "passthrough/cap_regs.h"

namespace hvmd::passthrough {
namespace {

using namespace pci;

constexpr uint32_t mask_of(unsigned size) {
  return size >= 4 ? ~0u : (1u << (8 * size)) - 1;
}

// Command: I/O and memory decoding, parity and SERR response are the guest's view only (the host
// keeps decoding on, Xen or the mmap serves the BARs); bus mastering reaches the device, since the
// guest must be able to stop its DMA; INTx-disable is emulated and set on the host whenever no
// interrupt is bound. The rest (special cycles, MWI, VGA snoop, stepping, fast back-to-back) is
// read-only 0, the top five bits reserved.
constexpr uint32_t kCommandEmulated =
    kCommandIo | kCommandMemory | kCommandParity | kCommandSerr | kCommandIntxDisable;
constexpr uint32_t kCommandReserved = 0xf800;
constexpr uint32_t kCommandReadOnly = 0xffff & ~(kCommandEmulated | kCommandBusMaster);

class Planner {
 public:
  Planner(HostConfigAccess& host, const std::array<HostRegion, kRegionCount>& regions)
      : host_(host), regions_(regions) {}

  ConfigPlan run() {
    header();
    auto read8 = [this](uint32_t reg) { return static_cast<uint8_t>(host_.read(reg, 1)); };
    CapabilityList list = walk_capabilities(read8);
    plan_.broken_chain = list.broken;
    for (const Capability& c : list.caps) {
      if (!keep(c, capability_length(c.id, c.offset, read8)))
        plan_.hidden.push_back(c);
      else
        plan_.kept.push_back(c);
    }
    for (const Capability& c : plan_.hidden)
      hardwire_hidden(c, capability_length(c.id, c.offset, read8));
    link();
    return std::move(plan_);
  }

 private:
  uint32_t host(uint32_t reg, unsigned size) { return host_.read(reg, size); }
  bool free(uint32_t offset, unsigned length) const {
    if (offset + length > kConfigSize) return false;
    return std::none_of(plan_.claimed.begin() + offset, plan_.claimed.begin() + offset + length,
                        [](bool b) { return b; });
  }
  void claim(uint32_t offset, unsigned length) {
    std::fill(plan_.claimed.begin() + offset, plan_.claimed.begin() + offset + length, true);
  }
  // Adds a rule unless it would overlap one already there (a host layout that overlaps itself).
  bool rule(RegisterRule r) {
    r.emulated &= mask_of(r.size);
    if (r.offset % r.size || !free(r.offset, r.size)) return false;
    claim(r.offset, r.size);
    plan_.rules.push_back(r);
    return true;
  }
  // A register the guest reads from the host's value at start and cannot change.
  void constant(uint32_t offset, unsigned size, const char* name, uint32_t and_mask = ~0u) {
    rule({.offset = offset,
          .size = size,
          .emulated = ~0u,
          .read_only = mask_of(size),
          .initial = host(offset, size) & and_mask,
          .name = name});
  }
  void zero(uint32_t offset, unsigned size, const char* name) {
    rule({.offset = offset,
          .size = size,
          .emulated = ~0u,
          .read_only = mask_of(size),
          .name = name});
  }
  // A register the guest programs freely, kept from the host (its value at start is the host's).
  void emulated_rw(uint32_t offset, unsigned size, const char* name, uint32_t read_only = 0) {
    rule({.offset = offset,
          .size = size,
          .emulated = ~0u,
          .read_only = read_only,
          .initial = host(offset, size) & ~read_only,
          .name = name});
  }

  void header() {
    constant(kVendorId, 4, "vendor/device");
    rule({.offset = kCommand,
          .size = 2,
          .emulated = kCommandEmulated,
          .read_only = kCommandReadOnly & ~kCommandReserved,
          .reserved = kCommandReserved,
          .name = "command",
          .command = true});
    // Status: the capabilities bit is the filtered chain's, the interrupt bit and the rest are
    // the host's, its error bits cleared by writing 1.
    rule({.offset = kStatus,
          .size = 2,
          .emulated = kStatusCapabilities,
          .read_only = 0xffff & ~kStatusErrorBits,
          .w1c = kStatusErrorBits,
          .name = "status"});
    constant(kRevisionId, 4, "revision/class");
    emulated_rw(kCacheLineSize, 1, "cache line size");
    emulated_rw(kLatencyTimer, 1, "latency timer");
    // One function in the guest's slot: the multi-function bit is not the host's to show.
    constant(kHeaderType, 1, "header type", static_cast<uint8_t>(~kHeaderTypeMultiFunction));
    zero(kHeaderType + 1, 1, "BIST");
    constant(0x28, 4, "CardBus CIS");
    constant(kSubsystemVendorId, 4, "subsystem");
    zero(kCapabilitiesPointer, 1, "capabilities pointer");  // set by link()
    zero(kCapabilitiesPointer + 1, 1, "reserved");
    zero(kCapabilitiesPointer + 2, 2, "reserved");
    zero(0x38, 4, "reserved");
    rule({.offset = kInterruptLine, .size = 1, .emulated = ~0u, .name = "interrupt line"});
    constant(kInterruptPin, 1, "interrupt pin");
    constant(kInterruptPin + 1, 2, "min grant/max latency");
  }

  // The capability's ID and next pointer: emulated, the pointer rewritten by link().
  bool cap_header(const Capability& c) {
    return rule({.offset = c.offset,
                 .size = 2,
                 .emulated = ~0u,
                 .read_only = 0xffff,
                 .initial = c.id,
                 .name = "capability header"});
  }

  bool keep(const Capability& c, unsigned length) {
    if (length == 0 || !free(c.offset, length)) return false;
    switch (c.id) {
      case kCapPm:
        return pm(c);
      case kCapMsi:
        return msi(c, length);
      case kCapMsix:
        return msix(c);
      case kCapPcie:
        return pcie(c, length);
      case kCapVendor:
      case kCapVpd:
        // Device-specific registers drivers program (virtio's configuration access, VPD's
        // address/data): through to the host.
        if (!cap_header(c)) return false;
        std::fill(plan_.writable_through.begin() + c.offset + 2,
                  plan_.writable_through.begin() + c.offset + length, true);
        return true;
      default:
        return false;
    }
  }

  // Power management: the guest's D-state and PME bits are emulated, so the device stays in D0
  // (a D3 transition would lose its BARs under the hypervisor's mappings).
  bool pm(const Capability& c) {
    if (!cap_header(c)) return false;
    constant(c.offset + 2, 2, "PM capabilities");
    uint32_t control = host(c.offset + kPmControl, 2);
    if (control & kPmControlStateMask)  // the host left it in a low-power state: wake it
      host_.write(c.offset + kPmControl, 2, control & ~kPmControlStateMask);
    rule({.offset = c.offset + kPmControl,
          .size = 2,
          .emulated = ~0u,
          .read_only = 0xffff & ~(kPmControlStateMask | kPmControlPmeEnable | kPmControlPmeStatus),
          .w1c = kPmControlPmeStatus,
          .initial = control & kPmControlNoSoftReset,
          .name = "PM control/status"});
    constant(c.offset + 6, 2, "PM bridge/data");
    return true;
  }

  bool msi(const Capability& c, unsigned length) {
    uint16_t control = static_cast<uint16_t>(host(c.offset + kMsiControl, 2));
    unsigned mmc = (control >> kMsiControlMmcShift) & 7;
    if (mmc > 5 || c.offset + length > kConfigSize) return false;
    claim(c.offset, length);
    plan_.msi = MsiPlan{.offset = c.offset,
                        .vectors = 1u << mmc,
                        .is_64bit = (control & kMsiControl64Bit) != 0,
                        .maskable = (control & kMsiControlMaskable) != 0};
    return true;
  }

  bool msix(const Capability& c) {
    uint16_t control = static_cast<uint16_t>(host(c.offset + kMsixControl, 2));
    uint32_t table = host(c.offset + kMsixTable, 4), pba = host(c.offset + kMsixPba, 4);
    unsigned vectors = (control & kMsixControlTableSizeMask) + 1u;
    unsigned bir = table & 7;
    if (bir >= kBarCount || (pba & 7) != bir) {
      HVMD_WARN("MSI-X at %#x: table in BAR%u and PBA in BAR%u not supported: hidden", c.offset,
                bir, pba & 7);
      return false;
    }
    const HostRegion& bar = regions_[bir];
    uint64_t table_offset = table & ~7u, pba_offset = pba & ~7u;
    if (bar.kind == RegionKind::kNone || bar.kind == RegionKind::kIo ||
        table_offset + uint64_t{vectors} * kMsixEntrySize > bar.size ||
        pba_offset + (vectors + 63) / 64 * 8 > bar.size) {
      HVMD_WARN("MSI-X at %#x: table or PBA outside BAR%u: hidden", c.offset, bir);
      return false;
    }
    claim(c.offset, kMsixCapLength);
    plan_.msix = MsixPlan{.offset = c.offset,
                          .vectors = vectors,
                          .bar = static_cast<int>(bir),
                          .table = static_cast<uint32_t>(table_offset),
                          .pba = static_cast<uint32_t>(pba_offset)};
    return true;
  }

  // PCI Express: capabilities as the host has them (FLR hidden: a guest-initiated reset would
  // pull the device's state from under the hypervisor's mappings), control registers emulated,
  // device status errors the host's (write 1 to clear), link status the host's.
  bool pcie(const Capability& c, unsigned length) {
    if (!cap_header(c)) return false;
    uint32_t o = c.offset;
    auto fits = [&](uint32_t at, unsigned size) { return at + size <= o + length; };
    constant(o + kPcieFlags, 2, "PCIe capabilities");
    if (fits(o + kPcieDevCap, 4))
      constant(o + kPcieDevCap, 4, "device capabilities", ~kPcieDevCapFlr);
    if (fits(o + kPcieDevCtl, 2))
      emulated_rw(o + kPcieDevCtl, 2, "device control", kPcieDevCtlInitiateFlr);
    if (fits(o + kPcieDevSta, 2))
      rule({.offset = o + kPcieDevSta,
            .size = 2,
            .read_only = 0xffff & ~kPcieDevStaErrors,
            .w1c = kPcieDevStaErrors,
            .name = "device status"});
    if (fits(o + kPcieLnkCap, 4)) constant(o + kPcieLnkCap, 4, "link capabilities");
    if (fits(o + kPcieLnkCtl, 2)) emulated_rw(o + kPcieLnkCtl, 2, "link control");
    if (fits(o + kPcieLnkSta, 2))
      rule({.offset = o + kPcieLnkSta, .size = 2, .read_only = 0xffff, .name = "link status"});
    for (uint32_t at = o + 0x14; at < o + kPcieDevCap2 && fits(at, 4); at += 4)
      constant(at, 4, "slot/root registers");
    if (fits(o + kPcieDevCap2, 4)) constant(o + kPcieDevCap2, 4, "device capabilities 2");
    if (fits(o + kPcieDevCtl2, 2)) emulated_rw(o + kPcieDevCtl2, 2, "device control 2");
    if (fits(o + kPcieDevCtl2 + 2, 2)) constant(o + kPcieDevCtl2 + 2, 2, "device status 2");
    if (fits(o + 0x2c, 4)) constant(o + 0x2c, 4, "link capabilities 2");
    if (fits(o + kPcieLnkCtl2, 2)) emulated_rw(o + kPcieLnkCtl2, 2, "link control 2");
    if (fits(o + kPcieLnkCtl2 + 2, 2)) constant(o + kPcieLnkCtl2 + 2, 2, "link status 2");
    for (uint32_t at = o + 0x34; fits(at, 4); at += 4) constant(at, 4, "slot registers 2");
    return true;
  }

  // A hidden capability of known length reads 0 and ignores writes, as qemu-xen's hardwired
  // groups do; one of unknown length stays unclaimed (read from the host, writes dropped unless
  // permissive).
  void hardwire_hidden(const Capability& c, unsigned length) {
    if (length == 0) length = 2;  // at least its header
    for (uint32_t at = c.offset; at < c.offset + length && at < kConfigSize; at += 4)
      if (free(at, 4)) zero(at, 4, "hidden capability");
  }

  // Each kept capability's next pointer skips the hidden ones; the header points at the first.
  void link() {
    auto& first = plan_.rules[index_of(kCapabilitiesPointer)];
    first.initial = plan_.kept.empty() ? 0 : plan_.kept.front().offset;
    if (!plan_.kept.empty()) plan_.rules[index_of(kStatus)].initial = kStatusCapabilities;
    for (size_t i = 0; i < plan_.kept.size(); ++i) {
      const Capability& c = plan_.kept[i];
      uint8_t next = i + 1 < plan_.kept.size() ? plan_.kept[i + 1].offset : 0;
      if (plan_.msi && plan_.msi->offset == c.offset) {
        plan_.msi->next = next;
      } else if (plan_.msix && plan_.msix->offset == c.offset) {
        plan_.msix->next = next;
      } else {
        RegisterRule& header = plan_.rules[index_of(c.offset)];
        header.initial = c.id | uint32_t{next} << 8;
      }
    }
  }
  size_t index_of(uint32_t offset) const {
    for (size_t i = 0; i < plan_.rules.size(); ++i)
      if (plan_.rules[i].offset == offset) return i;
    return 0;  // every caller names a rule it added
  }

  HostConfigAccess& host_;
  const std::array<HostRegion, kRegionCount>& regions_;
  ConfigPlan plan_;
};

}  // namespace

ConfigPlan plan_config(HostConfigAccess& host,
                       const std::array<HostRegion, kRegionCount>& regions) {
  return Planner(host, regions).run();
}

}  // namespace hvmd::passthrough
