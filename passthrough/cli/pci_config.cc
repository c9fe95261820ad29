#include "passthrough/cli/pci_config.h"

#include <bitset>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>

namespace hvmd::pcicli {
namespace {

uint8_t get8(std::span<const uint8_t> b, size_t at) {
  return at < b.size() ? b[at] : 0;
}
uint16_t get16(std::span<const uint8_t> b, size_t at) {
  return static_cast<uint16_t>(get8(b, at) | get8(b, at + 1) << 8);
}
uint32_t get32(std::span<const uint8_t> b, size_t at) {
  return static_cast<uint32_t>(get16(b, at)) | static_cast<uint32_t>(get16(b, at + 2)) << 16;
}
bool has(std::span<const uint8_t> b, size_t at, size_t len) {
  return at <= b.size() && len <= b.size() - at;
}
std::string hex(uint64_t v) {
  char buf[24];
  snprintf(buf, sizeof buf, "0x%" PRIx64, v);
  return buf;
}

// Reads the registers this tool reports from one capability, where they lie in the bytes read.
void decode_cap(std::span<const uint8_t> b, uint16_t at, uint8_t id, ConfigInfo& info) {
  switch (id) {
    case kCapPm:
      if (!has(b, at + kPmCsr, 2)) return;
      info.pm = true;
      info.pm_no_soft_reset = get16(b, at + kPmCsr) & kPmCsrNoSoftReset;
      return;
    case kCapMsi: {
      if (!has(b, at + kMsiControl, 2) || info.msi) return;
      uint16_t ctl = get16(b, at + kMsiControl);
      unsigned mmc = (ctl >> kMsiCtlMmcShift) & 7;
      info.msi = MsiInfo{at, (ctl & kMsiCtl64Bit) != 0, (ctl & kMsiCtlPerVectorMask) != 0,
                         1u << (mmc > 5 ? 5 : mmc)};  // 6 and 7 are reserved encodings
      return;
    }
    case kCapMsix: {
      if (!has(b, at + kMsixPba, 4) || info.msix) return;
      uint32_t table = get32(b, at + kMsixTable), pba = get32(b, at + kMsixPba);
      info.msix = MsixInfo{at,
                           (get16(b, at + kMsixControl) & kMsixCtlTableSizeMask) + 1u,
                           table & kMsixBirMask,
                           table & ~kMsixBirMask,
                           pba & kMsixBirMask,
                           pba & ~kMsixBirMask};
      return;
    }
    case kCapPcie:
      if (!has(b, at + kPcieDevCap, 4) || info.pcie) return;
      info.pcie = true;
      info.pcie_type = (get16(b, at + kPcieFlags) >> kPcieTypeShift) & 0xf;
      info.pcie_flr = get32(b, at + kPcieDevCap) & kPcieDevCapFlr;
      return;
    case kCapAf:
      if (!has(b, at + kAfCap, 1)) return;
      info.af_flr = get8(b, at + kAfCap) & kAfCapFlr;
      return;
    default:
      return;
  }
}

void walk_caps(std::span<const uint8_t> b, ConfigInfo& info) {
  size_t limit = b.size() < kCfgLegacySize ? b.size() : kCfgLegacySize;
  std::bitset<kCfgLegacySize> seen;
  uint8_t ptr = get8(b, kCfgCapPtr) & 0xfc;  // the low two bits are reserved
  // At most one capability per dword after the header: a longer chain must loop.
  for (size_t steps = 0; ptr != 0; ++steps) {
    if (steps >= (kCfgLegacySize - kCfgHeaderSize) / 4) {
      info.cap_chain_problem = "capability chain too long";
      return;
    }
    if (ptr < kCfgHeaderSize) {
      info.cap_chain_problem = "capability pointer " + hex(ptr) + " points into the header";
      return;
    }
    if (static_cast<size_t>(ptr) + 2 > limit) {
      info.cap_chain_problem =
          "capability at " + hex(ptr) + " lies past the " + std::to_string(limit) + " bytes read";
      return;
    }
    if (seen[ptr]) {
      info.cap_chain_problem = "capability chain loops back to " + hex(ptr);
      return;
    }
    seen[ptr] = true;
    uint8_t id = b[ptr];
    info.caps.push_back({id, ptr});
    decode_cap(b, ptr, id, info);
    ptr = b[ptr + 1] & 0xfc;
  }
}

// Extended capabilities: a dword header at 0x100 (ID 15:0, version 19:16, next 31:20).
void walk_ext_caps(std::span<const uint8_t> b, ConfigInfo& info) {
  if (b.size() < kCfgLegacySize + 4) return;
  size_t limit = b.size() < kCfgExtendedSize ? b.size() : kCfgExtendedSize;
  std::bitset<kCfgExtendedSize / 4> seen;
  size_t at = kCfgLegacySize;
  for (size_t steps = 0;; ++steps) {
    if (steps >= (kCfgExtendedSize - kCfgLegacySize) / 4) {
      info.ext_chain_problem = "extended capability chain too long";
      return;
    }
    if (at + 4 > limit) {
      info.ext_chain_problem = "extended capability at " + hex(at) + " lies past the " +
                               std::to_string(limit) + " bytes read";
      return;
    }
    uint32_t head = get32(b, at);
    // An empty list reads 0 (or all-ones from a function that does not decode the space).
    if (head == 0 || head == 0xffffffffu) return;
    if (seen[at / 4]) {
      info.ext_chain_problem = "extended capability chain loops back to " + hex(at);
      return;
    }
    seen[at / 4] = true;
    info.ext_caps.push_back({static_cast<uint16_t>(head & 0xffff), static_cast<uint16_t>(at)});
    size_t next = (head >> 20) & 0xffc;
    if (next == 0) return;
    if (next < kCfgLegacySize) {
      info.ext_chain_problem = "extended capability pointer " + hex(next) + " below 0x100";
      return;
    }
    at = next;
  }
}

}  // namespace

ConfigInfo parse_config(std::span<const uint8_t> b) {
  ConfigInfo info;
  info.size = b.size();
  if (b.size() < kCfgHeaderSize) return info;
  info.header = true;
  info.vendor = get16(b, kCfgVendor);
  info.device = get16(b, kCfgDevice);
  info.status = get16(b, kCfgStatus);
  uint32_t class_rev = get32(b, kCfgClassRev);
  info.revision = class_rev & 0xff;
  info.class_code = class_rev >> 8;
  info.header_type = get8(b, kCfgHeaderType) & kHeaderTypeMask;
  info.int_pin = get8(b, kCfgIntPin);
  if (!(info.status & kStatusCapList)) return info;
  // An unprivileged reader gets only the header: the list is there but cannot be walked.
  if (b.size() <= kCfgHeaderSize) {
    info.cap_chain_problem = "only the 64-byte header is readable (run as root)";
    return info;
  }
  info.caps_readable = true;
  walk_caps(b, info);
  walk_ext_caps(b, info);
  return info;
}

bool MsixInfo::table_shares_page_with_pba() const {
  if (table_bar != pba_bar || table_size == 0) return false;
  constexpr uint64_t kPage = 4096, kEntryBytes = 16;
  uint64_t table_first = table_offset / kPage;
  uint64_t table_last = (table_offset + uint64_t{table_size} * kEntryBytes - 1) / kPage;
  uint64_t pba_bytes = (uint64_t{table_size} + 63) / 64 * 8;  // one bit a vector, in qwords
  uint64_t pba_first = pba_offset / kPage, pba_last = (pba_offset + pba_bytes - 1) / kPage;
  return table_first <= pba_last && pba_first <= table_last;
}

std::string cap_name(uint8_t id) {
  switch (id) {
    case 0x01:
      return "PM";
    case 0x02:
      return "AGP";
    case 0x03:
      return "VPD";
    case 0x04:
      return "Slot-ID";
    case 0x05:
      return "MSI";
    case 0x06:
      return "CompactPCI-HS";
    case 0x07:
      return "PCI-X";
    case 0x08:
      return "HyperTransport";
    case 0x09:
      return "Vendor";
    case 0x0a:
      return "Debug";
    case 0x0c:
      return "Hot-plug";
    case 0x0d:
      return "Subsystem-ID";
    case 0x0e:
      return "AGP8x";
    case 0x0f:
      return "Secure";
    case 0x10:
      return "PCIe";
    case 0x11:
      return "MSI-X";
    case 0x12:
      return "SATA";
    case 0x13:
      return "AF";
    case 0x14:
      return "EA";
    default:
      return "cap-" + hex(id);
  }
}

std::string ext_cap_name(uint16_t id) {
  switch (id) {
    case 0x0001:
      return "AER";
    case 0x0002:
      return "VC";
    case 0x0003:
      return "Serial";
    case 0x0004:
      return "Power-budget";
    case 0x000b:
      return "Vendor";
    case 0x000d:
      return "ACS";
    case 0x000e:
      return "ARI";
    case 0x000f:
      return "ATS";
    case 0x0010:
      return "SR-IOV";
    case 0x0013:
      return "PRI";
    case 0x0015:
      return "ReBAR";
    case 0x0017:
      return "TPH";
    case 0x0018:
      return "LTR";
    case 0x0019:
      return "Secondary-PCIe";
    case 0x001b:
      return "PASID";
    case 0x001e:
      return "L1SS";
    case 0x0023:
      return "DVSEC";
    default:
      return "ext-" + hex(id);
  }
}

namespace {

// One "0x... 0x... 0x..." line; false when it is not exactly three hex numbers.
bool parse_resource_line(const std::string& line, uint64_t out[3]) {
  const char* p = line.c_str();
  for (int i = 0; i < 3; ++i) {
    while (*p == ' ' || *p == '\t') ++p;
    if (p[0] != '0' || (p[1] != 'x' && p[1] != 'X')) return false;
    const char* digits = p + 2;
    size_t n = 0;
    uint64_t v = 0;
    for (; n < 17; ++n) {
      char c = digits[n];
      int d = c >= '0' && c <= '9'   ? c - '0'
              : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                     : -1;
      if (d < 0) break;
      v = v << 4 | static_cast<uint64_t>(d);
    }
    if (n == 0 || n > 16) return false;
    out[i] = v;
    p = digits + n;
  }
  while (*p == ' ' || *p == '\t' || *p == '\r') ++p;
  return *p == '\0';
}

}  // namespace

ResourceTable parse_resource(const std::string& text) {
  ResourceTable table;
  size_t pos = 0;
  for (unsigned index = 0; pos < text.size() && index < kResMaxLines; ++index) {
    size_t nl = text.find('\n', pos);
    std::string line = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    pos = nl == std::string::npos ? text.size() : nl + 1;
    if (index > kResRomIndex) continue;  // bridge windows and SR-IOV BARs: not reported
    uint64_t v[3];
    if (!parse_resource_line(line, v)) {
      table.problems.push_back("resource line " + std::to_string(index) + " is not three numbers");
      continue;
    }
    if (v[1] < v[0]) {
      table.problems.push_back("resource line " + std::to_string(index) + " ends before it starts");
      continue;
    }
    if (v[0] == 0 && v[1] == UINT64_MAX) {
      table.problems.push_back("resource line " + std::to_string(index) +
                               " covers the whole address space");
      continue;
    }
    Resource r{index, v[0], v[1], v[2]};
    if (r.size() == 0 || !(r.io() || r.mem())) continue;
    if (index == kResRomIndex) {
      table.rom = r;
    } else {
      table.bars.push_back(r);
    }
  }
  return table;
}

std::string size_text(uint64_t bytes) {
  static const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  unsigned unit = 0;
  uint64_t v = bytes;
  while (unit + 1 < std::size(units) && v >= 1024 && v % 1024 == 0) {
    v /= 1024;
    ++unit;
  }
  return std::to_string(v) + " " + units[unit];
}

}  // namespace hvmd::pcicli
