// The register table of a passthrough function's config space, built from the host function at
// start: which bits of each register the guest sees from an emulated copy, which are the host's,
// which it cannot change, which it clears by writing 1, which are reserved; which capabilities
// stay in the chain (PM kept in D0, MSI, MSI-X, PCI Express with its control registers emulated,
// vendor-specific, VPD) and which are hidden (unlinked, and hardwired to 0 where their length is
// known). Pure data: PassthroughDevice turns it into the seam's ConfigRegisters, the fuzzer and
// the tests read it.
//
// Registers never overlap each other or the MSI/MSI-X capabilities, whatever the host's layout:
// a capability that overlaps an earlier one, runs past 0xff, or (MSI-X) names a table outside its
// BAR is hidden instead.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "dm/pci/config_registers.h"
#include "dm/pci/pci_regs.h"
#include "passthrough/capabilities.h"
#include "passthrough/host_function.h"

namespace hvmd::passthrough {

struct RegisterRule {
  uint32_t offset = 0;
  unsigned size = 4;       // 1, 2 or 4, naturally aligned
  uint32_t emulated = 0;   // served from the emulated copy; the rest are the host's
  uint32_t read_only = 0;  // the guest cannot change them
  uint32_t w1c = 0;        // the guest clears them by writing 1
  uint32_t reserved = 0;   // read-only, unless permissive: then the host's and writable
  uint32_t initial = 0;    // the emulated bits at start
  const char* name = "";
  bool command = false;  // the command register (its INTx-disable follows the binding)
};

struct MsiPlan {
  uint8_t offset = 0;
  unsigned vectors = 1;
  bool is_64bit = false;
  bool maskable = false;
  uint8_t next = 0;  // the chain as the guest sees it
};

struct MsixPlan {
  uint8_t offset = 0;
  unsigned vectors = 1;
  int bar = 0;
  uint32_t table = 0;  // offsets in the BAR
  uint32_t pba = 0;
  uint8_t next = 0;
};

struct ConfigPlan {
  std::vector<RegisterRule> rules;
  std::optional<MsiPlan> msi;
  std::optional<MsixPlan> msix;
  std::vector<Capability> kept;        // in the guest's chain, in order
  std::vector<Capability> hidden;      // unlinked
  const char* broken_chain = nullptr;  // why the host's chain walk stopped early
  // Unclaimed bytes whose guest writes reach the host without permissive (vendor capabilities,
  // VPD): registers drivers program that hvmd has no table for.
  std::array<bool, pci::kConfigSize> writable_through{};
  // Bytes a register or MSI/MSI-X covers.
  std::array<bool, pci::kConfigSize> claimed{};
};

// Reads the host's header and capability list; regions are the host's BARs (for MSI-X checks).
ConfigPlan plan_config(pci::HostConfigAccess& host,
                       const std::array<HostRegion, kRegionCount>& regions);

}  // namespace hvmd::passthrough
