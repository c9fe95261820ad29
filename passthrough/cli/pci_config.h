// Parsers for what sysfs gives about one PCI function: the config space bytes (`config`) and the
// BAR/ROM table (`resource`). Both inputs are untrusted: every offset is bounds-checked and every
// capability walk is bounded and cycle-safe. Pure functions, so the fuzz target calls them alone.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace hvmd::pcicli {

// Config header offsets and bits (PCI Local Bus 3.0, chapter 6).
inline constexpr size_t kCfgVendor = 0x00;
inline constexpr size_t kCfgDevice = 0x02;
inline constexpr size_t kCfgStatus = 0x06;
inline constexpr size_t kCfgClassRev = 0x08;
inline constexpr size_t kCfgHeaderType = 0x0e;
inline constexpr size_t kCfgCapPtr = 0x34;
inline constexpr size_t kCfgIntPin = 0x3d;
inline constexpr size_t kCfgHeaderSize = 0x40;
inline constexpr size_t kCfgLegacySize = 0x100;
inline constexpr size_t kCfgExtendedSize = 0x1000;
inline constexpr uint16_t kStatusCapList = 1u << 4;
inline constexpr uint8_t kHeaderTypeMask = 0x7f;

// Capability IDs.
inline constexpr uint8_t kCapPm = 0x01;
inline constexpr uint8_t kCapMsi = 0x05;
inline constexpr uint8_t kCapVendor = 0x09;
inline constexpr uint8_t kCapPcie = 0x10;
inline constexpr uint8_t kCapMsix = 0x11;
inline constexpr uint8_t kCapAf = 0x13;

// Register offsets inside capabilities.
inline constexpr size_t kPmCsr = 4;  // PMCSR
inline constexpr uint16_t kPmCsrNoSoftReset = 1u << 3;
inline constexpr size_t kMsiControl = 2;
inline constexpr uint16_t kMsiCtl64Bit = 1u << 7;
inline constexpr uint16_t kMsiCtlPerVectorMask = 1u << 8;
inline constexpr unsigned kMsiCtlMmcShift = 1;  // Multiple Message Capable, 3 bits
inline constexpr size_t kMsixControl = 2;
inline constexpr uint16_t kMsixCtlTableSizeMask = 0x7ff;  // N-1
inline constexpr size_t kMsixTable = 4;
inline constexpr size_t kMsixPba = 8;
inline constexpr uint32_t kMsixBirMask = 0x7;
inline constexpr size_t kPcieFlags = 2;
inline constexpr unsigned kPcieTypeShift = 4;
inline constexpr size_t kPcieDevCap = 4;
inline constexpr uint32_t kPcieDevCapFlr = 1u << 28;
inline constexpr size_t kAfCap = 3;
inline constexpr uint8_t kAfCapFlr = 1u << 1;

struct Capability {
  uint16_t id = 0;  // 8 bits for standard capabilities, 16 for extended ones
  uint16_t offset = 0;
};

struct MsiInfo {
  uint16_t offset = 0;
  bool is_64bit = false;
  bool per_vector_mask = false;
  unsigned vectors = 1;  // Multiple Message Capable, decoded
};

struct MsixInfo {
  uint16_t offset = 0;
  unsigned table_size = 0;  // vectors
  unsigned table_bar = 0;
  uint32_t table_offset = 0;
  unsigned pba_bar = 0;
  uint32_t pba_offset = 0;
  // The table (16 bytes a vector) and the PBA touch a common 4 KiB page: a device model must
  // trap that page for both (what QEMU's and ACRN's users trip over with some NICs).
  bool table_shares_page_with_pba() const;
};

struct ConfigInfo {
  size_t size = 0;      // bytes readable (64 for an unprivileged reader, 256 or 4096 for root)
  bool header = false;  // at least the 64-byte header was there
  uint16_t vendor = 0, device = 0, status = 0;
  uint32_t class_code = 0;  // base, sub, prog-if
  uint8_t revision = 0, header_type = 0, int_pin = 0;
  bool caps_readable = false;        // the list exists and lies in what we could read
  std::vector<Capability> caps;      // in chain order
  std::string cap_chain_problem;     // "" or why the walk stopped early (cycle, bad pointer)
  std::vector<Capability> ext_caps;  // extended capabilities (ID in 16 bits)
  std::string ext_chain_problem;
  std::optional<MsiInfo> msi;
  std::optional<MsixInfo> msix;
  bool pcie = false;
  unsigned pcie_type = 0;
  bool pcie_flr = false;  // Device Capabilities: Function Level Reset
  bool af_flr = false;    // Advanced Features capability: FLR
  bool pm = false;
  bool pm_no_soft_reset = false;  // D3hot->D0 keeps state: PM reset does nothing
};

ConfigInfo parse_config(std::span<const uint8_t> bytes);

// A short name for a capability ID ("MSI-X") or extended capability ID ("ACS").
std::string cap_name(uint8_t id);
std::string ext_cap_name(uint16_t id);

// The Linux resource flags that matter here (include/linux/ioport.h).
inline constexpr uint64_t kResIo = 0x100;
inline constexpr uint64_t kResMem = 0x200;
inline constexpr uint64_t kResPrefetch = 0x2000;
inline constexpr uint64_t kResReadOnly = 0x4000;
inline constexpr uint64_t kResMem64 = 0x100000;
inline constexpr uint64_t kResDisabled = 0x10000000;
inline constexpr uint64_t kResUnset = 0x20000000;
// Line 6 of `resource` is the expansion ROM; 0-5 are the BARs.
inline constexpr size_t kResRomIndex = 6;
inline constexpr size_t kResMaxLines = 64;

struct Resource {
  unsigned index = 0;
  uint64_t start = 0, end = 0, flags = 0;
  uint64_t size() const { return end >= start && (end || start) ? end - start + 1 : 0; }
  bool io() const { return flags & kResIo; }
  bool mem() const { return flags & kResMem; }
};

struct ResourceTable {
  std::vector<Resource> bars;         // used BARs (size > 0), index 0-5
  std::optional<Resource> rom;        // line 6 when used
  std::vector<std::string> problems;  // lines that did not parse, one sentence each
};

ResourceTable parse_resource(const std::string& text);

// "1 MiB", "16 KiB", "256 B".
std::string size_text(uint64_t bytes);

}  // namespace hvmd::pcicli
