// The extended part of a passthrough function's config space (0x100-0xfff, PCI Express Base 3.0
// section 7.9), reachable through VFIO (the host's 4 KiB region); under Xen the guest sees 256
// bytes, as qemu-xen exposes. The same filtering as the first 256 bytes: the chain is walked
// without trusting it (it may point below 0x100, past the end, at itself or in a cycle); supported
// capabilities stay in the guest's chain (AER, device serial number, vendor-specific: error
// reporting and identification, nothing that changes the function's layout), everything else is
// unlinked and reads 0 (SR-IOV would show the guest virtual functions it cannot have, ACS/ATS/PRI/
// PASID/resizable BAR describe the host's IOMMU and address decoding). Headers are emulated (the
// next pointers skip hidden capabilities; a hidden first capability leaves a null header at 0x100
// pointing at the first kept one). Kept bodies are read from the host; guest writes reach it only
// with permissive=on, otherwise they are dropped with one log line per register.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

namespace hvmd::passthrough {

struct ExtCapability {
  uint16_t id = 0;
  uint8_t version = 0;
  uint16_t offset = 0;
};

struct ExtCapabilityList {
  std::vector<ExtCapability> caps;  // in chain order, each offset once
  const char* broken = nullptr;     // why the walk stopped early; nullptr: it ended with 0
};

inline constexpr uint32_t kExtConfigStart = 0x100;
inline constexpr uint32_t kExtConfigSize = 0x1000;
inline constexpr unsigned kExtCapMaxHops = (kExtConfigSize - kExtConfigStart) / 4;

// read32(reg) reads one config dword of the host. config_size: the host's (256: no extended
// space, an empty list).
ExtCapabilityList walk_ext_capabilities(const std::function<uint32_t(uint32_t)>& read32,
                                        uint32_t config_size);

struct ExtendedPlan {
  uint32_t size = 0;                // 0: the guest sees no extended space (reads 0, writes ignored)
  std::vector<ExtCapability> kept;  // in the guest's chain, in order
  std::vector<ExtCapability> hidden;  // unlinked, read 0
  const char* broken_chain = nullptr;
  // Emulated header dwords (offset, value as the guest reads it), kept capabilities' and the
  // null header at 0x100 when the first capability is hidden.
  struct Header {
    uint16_t offset;
    uint32_t value;
  };
  std::vector<Header> headers;
  // Byte ranges [begin, end) of hidden capabilities: read 0, writes dropped.
  struct Range {
    uint16_t begin, end;
  };
  std::vector<Range> zeroed;
};

// read32 reads the host's extended space; enabled: the transport gives the guest extended space
// at all (VFIO yes, Xen no).
ExtendedPlan plan_extended(const std::function<uint32_t(uint32_t)>& read32, uint32_t config_size,
                           bool enabled);

// Whether a capability ID is one the guest keeps.
bool ext_capability_supported(uint16_t id);

}  // namespace hvmd::passthrough
