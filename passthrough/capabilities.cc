#include "passthrough/capabilities.h"

#include <algorithm>
#include <array>

#include "dm/pci/pci_regs.h"
#include "passthrough/cap_regs.h"

namespace hvmd::passthrough {

CapabilityList walk_capabilities(const std::function<uint8_t(uint32_t)>& read8) {
  CapabilityList list;
  std::array<bool, pci::kConfigSize> seen{};
  uint32_t at = read8(pci::kCapabilitiesPointer) & ~3u;
  for (uint32_t hops = 0; at != 0; ++hops) {
    if (at < pci::kFirstCapability || at > pci::kConfigSize - 4) {
      list.broken = "pointer outside 0x40-0xfc";
      break;
    }
    if (seen[at]) {
      list.broken = "cycle";
      break;
    }
    if (hops == kCapChainMaxHops) {
      list.broken = "too many capabilities";
      break;
    }
    seen[at] = true;
    list.caps.push_back({read8(at), static_cast<uint8_t>(at)});
    at = read8(at + kCapNext) & ~3u;
  }
  return list;
}

unsigned capability_length(uint8_t id, uint8_t offset,
                           const std::function<uint8_t(uint32_t)>& read8) {
  unsigned length = 0;
  switch (id) {
    case kCapPm:
      length = kPmCapLength;
      break;
    case kCapVpd:
    case kCapPcix:  // the type 0 layout: command, status
      length = 8;
      break;
    case kCapAgp:
      length = 12;
      break;
    case kCapSlotId:
      length = 4;
      break;
    case kCapPcie:
      length = kPcieCapLength;
      break;
    case pci::kCapMsix:
      length = pci::kMsixCapLength;
      break;
    case pci::kCapMsi: {
      uint16_t control = static_cast<uint16_t>(read8(offset + pci::kMsiControl) |
                                               read8(offset + pci::kMsiControl + 1) << 8);
      length = 10 + ((control & pci::kMsiControl64Bit) ? 4 : 0) +
               ((control & pci::kMsiControlMaskable) ? 10 : 0);
      break;
    }
    case kCapVendor:
      length = read8(offset + kCapVendorLength);
      if (length < 3) length = 3;
      break;
    default:
      return 0;
  }
  return std::min<unsigned>(length, pci::kConfigSize - offset);
}

}  // namespace hvmd::passthrough
