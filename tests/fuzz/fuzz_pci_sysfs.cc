// hvmd-pci-fuzz: hvmd-pci's parsers of what sysfs gives (a function's `config` bytes and its
// `resource` table), then the verdict and both renderings, on hostile inputs.
//
//   input: byte 0 = host flags (bit 0 IOMMU, 1 Xen dom0, 2 vfio-pci, 3 pciback, 4 bound to
//          vfio-pci, 5 bound to pciback), bytes 1-2 = config length L (little endian, at most
//          4096), then L config bytes, then the resource text; or, with bit 6 of byte 0 set,
//          the rest is an ACPI DMAR table (RMRRs).
//   libFuzzer build (clang, -DHVMD_LIBFUZZER=ON): hvmd-pci-fuzz [libFuzzer flags] CORPUS...
//   plain build: hvmd-pci-fuzz [-runs=N] [-seed=S] FILE|DIR...
// Invariants checked beyond "no crash": the capability walks stay within their bounds and never
// list an offset twice, MSI-X sizes stay within the 11-bit field, BARs are indexes 0-5.
#include <dirent.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "passthrough/cli/assess.h"
#include "passthrough/cli/names.h"
#include "passthrough/cli/pci_config.h"
#include "passthrough/cli/report.h"
#include "passthrough/cli/rmrr.h"

namespace {

using namespace hvmd::pcicli;

[[noreturn]] void broken(const char* what) {
  fprintf(stderr, "hvmd-pci-fuzz: invariant broken: %s\n", what);
  abort();
}

void check_chain(const std::vector<Capability>& caps, size_t lo, size_t hi, const char* what) {
  std::set<uint16_t> seen;
  for (auto& c : caps) {
    if (c.offset < lo || c.offset >= hi) broken(what);
    if (!seen.insert(c.offset).second) broken(what);
  }
}

void run_one(const uint8_t* data, size_t size) {
  if (size < 3) return;
  uint8_t flags = data[0];
  if (flags & 0x40) {  // the rest is an ACPI DMAR table
    DmarInfo dmar = parse_dmar(std::span<const uint8_t>(data + 1, size - 1));
    for (auto& r : dmar.rmrrs) {
      for (auto& scope : r.scopes) {
        if (scope.path.empty() || scope.path.size() > 125) broken("RMRR scope path length");
      }
    }
    return;
  }
  size_t len = static_cast<size_t>(data[1] | data[2] << 8);
  if (len > kCfgExtendedSize) len = kCfgExtendedSize;
  if (len > size - 3) len = size - 3;
  std::span<const uint8_t> config(data + 3, len);
  std::string resource(reinterpret_cast<const char*>(data + 3 + len), size - 3 - len);

  DeviceInfo d;
  d.bdf = "0000:00:03.0";
  d.config_read = true;
  d.config = parse_config(config);
  d.vendor = d.config.vendor;
  d.device = d.config.device;
  d.class_code = d.config.class_code;
  d.resource_read = true;
  d.resources = parse_resource(resource);
  d.driver = (flags & 0x10) ? kVfioDriver : (flags & 0x20) ? kPcibackDriver : "";
  if (flags & 0x01) {
    d.iommu_group = "1";
    d.group.push_back({d.bdf, d.driver, d.class_code, false});
  }

  check_chain(d.config.caps, kCfgHeaderSize, kCfgLegacySize, "capability offsets");
  if (d.config.caps.size() > (kCfgLegacySize - kCfgHeaderSize) / 4) broken("capability count");
  check_chain(d.config.ext_caps, kCfgLegacySize, kCfgExtendedSize, "extended capability offsets");
  if (d.config.msix && (d.config.msix->table_size < 1 || d.config.msix->table_size > 2048)) {
    broken("MSI-X table size");
  }
  if (d.config.msi && d.config.msi->vectors > 32) broken("MSI vectors");
  for (auto& bar : d.resources.bars) {
    if (bar.index > 5 || bar.size() == 0) broken("BAR index or size");
  }

  HostInfo host;
  host.iommu_groups = (flags & 0x01) ? 1 : 0;
  host.xen = host.xen_dom0 = (flags & 0x02) != 0;
  host.vfio_pci_loaded = (flags & 0x04) != 0;
  host.pciback_loaded = (flags & 0x08) != 0;
  Assessment a = assess(host, d);
  // No ID database: names are hex, the same for every input, and nothing is read per input.
  static PciNames names("/nonexistent/pci.ids");
  std::string text = check_text(d, a, names) + list_line(host, d, a, names);
  std::string json = device_json(d, a, names).dump();
  if (text.empty() || json.empty()) broken("empty report");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  run_one(data, size);
  return 0;
}

#ifndef HVMD_LIBFUZZER
namespace {

int replay(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    fprintf(stderr, "hvmd-pci-fuzz: cannot read '%s'\n", path.c_str());
    exit(1);
  }
  if (S_ISDIR(st.st_mode)) {
    int count = 0;
    DIR* dir = opendir(path.c_str());
    if (!dir) return 0;
    while (dirent* entry = readdir(dir)) {
      if (entry->d_name[0] != '.') count += replay(path + "/" + entry->d_name);
    }
    closedir(dir);
    return count;
  }
  std::ifstream f(path, std::ios::binary);
  std::vector<uint8_t> data{std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
  run_one(data.data(), data.size());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  long runs = 0;
  unsigned long seed = 1;
  int replayed = 0;
  std::vector<std::vector<uint8_t>> seeds;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("-runs=", 0) == 0) {
      runs = strtol(arg.c_str() + 6, nullptr, 10);
    } else if (arg.rfind("-seed=", 0) == 0) {
      seed = strtoul(arg.c_str() + 6, nullptr, 10);
    } else if (arg[0] == '-') {
      fprintf(stderr, "hvmd-pci-fuzz: unknown option '%s'\n", arg.c_str());
      return 1;
    } else {
      replayed += replay(arg);
    }
  }
  // Random inputs: a plausible header (capability list bit and pointer set) over random bytes,
  // so the walks run rather than stop at the first check.
  std::mt19937_64 rng(seed);
  for (long i = 0; i < runs; ++i) {
    std::vector<uint8_t> in(3 + rng() % 4400);
    for (auto& b : in) b = static_cast<uint8_t>(rng());
    size_t cfg = rng() % 2 ? 256 : 4096;
    in[1] = cfg & 0xff;
    in[2] = static_cast<uint8_t>(cfg >> 8);
    if (in.size() > 3 + 0x34) {
      in[3 + 6] |= 0x10;
      in[3 + 0x34] = static_cast<uint8_t>(0x40 | (in[3 + 0x34] & 0xbc));
    }
    run_one(in.data(), in.size());
  }
  printf("hvmd-pci-fuzz: %d corpus inputs replayed, %ld random inputs run, no crash\n", replayed,
         runs);
  return 0;
}
#endif
