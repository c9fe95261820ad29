#include "passthrough/fixtures.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "dm/file_io.h"
#include "dm/pci/pci_regs.h"
#include "passthrough/cap_regs.h"
#include "passthrough/capabilities.h"
#include "passthrough/sysfs_resource.h"

namespace hvmd::passthrough {
namespace {

using namespace pci;

// Lays capabilities out one after another from 0x40 and links them, as a function's designer does.
class Builder {
 public:
  Builder(SoftFunction& f, uint16_t vendor, uint16_t device, uint32_t class_code) : f_(f) {
    f.set16(kVendorId, vendor);
    f.set16(kDeviceId, device);
    f.set8(kRevisionId, 1);
    f.set8(kClassProgIf, static_cast<uint8_t>(class_code));
    f.set16(kClassProgIf + 1, static_cast<uint16_t>(class_code >> 8));
    f.set16(kSubsystemVendorId, vendor);
    f.set16(kSubsystemId, 0x0001);
    f.set8(kInterruptPin, 1);
    f.set_irq(11);
  }
  uint8_t cap(uint8_t id, unsigned length, uint32_t at = 0) {
    if (at == 0) at = next_;
    f_.set8(at, id);
    if (last_)
      f_.set8(last_ + kCapNext, static_cast<uint8_t>(at));
    else
      f_.set8(kCapabilitiesPointer, static_cast<uint8_t>(at));
    f_.set16(kStatus, f_.get16(kStatus) | kStatusCapabilities);
    last_ = static_cast<uint8_t>(at);
    next_ = (at + length + 3) & ~3u;
    return last_;
  }
  void msi(bool is_64bit, bool maskable, unsigned log2_vectors) {
    uint8_t c = cap(kCapMsi, 10 + (is_64bit ? 4 : 0) + (maskable ? 10 : 0));
    f_.set16(c + kMsiControl, static_cast<uint16_t>((is_64bit ? kMsiControl64Bit : 0) |
                                                    (maskable ? kMsiControlMaskable : 0) |
                                                    log2_vectors << kMsiControlMmcShift));
  }
  void msix(unsigned vectors, unsigned bir, uint32_t table, uint32_t pba) {
    uint8_t c = cap(kCapMsix, kMsixCapLength);
    f_.set16(c + kMsixControl, static_cast<uint16_t>(vectors - 1));
    f_.set32(c + kMsixTable, table | bir);
    f_.set32(c + kMsixPba, pba | bir);
  }
  void pcie(bool flr) {
    uint8_t c = cap(kCapPcie, kPcieCapLength);
    f_.set16(c + kPcieFlags, 0x0002);  // version 2, endpoint
    f_.set32(c + kPcieDevCap, 0x00008fc0 | (flr ? kPcieDevCapFlr : 0));
    f_.set16(c + kPcieDevCtl, 0x2810);
    f_.set32(c + kPcieLnkCap, 0x00011c11);
    f_.set16(c + kPcieLnkSta, 0x1011);
  }
  void pm() {
    uint8_t c = cap(kCapPm, kPmCapLength);
    f_.set16(c + 2, 0xc823);  // PME from D0/D3hot/D3cold, D1/D2 unsupported, version 3
  }

 private:
  SoftFunction& f_;
  uint8_t last_ = 0;
  uint32_t next_ = kFirstCapability;
};

// A PCI Express NIC: FLR, PM, 64-bit maskable MSI, MSI-X whose table and PBA share one page of
// BAR3, an I/O BAR, a ROM and an extended capability (AER).
std::unique_ptr<SoftFunction> nic_pcie() {
  auto f = std::make_unique<SoftFunction>("0000:03:00.0", 4096);
  Builder b(*f, 0x8086, 0x10d3, 0x020000);
  b.pm();
  b.msi(/*is_64bit=*/true, /*maskable=*/true, /*log2_vectors=*/2);
  b.pcie(/*flr=*/true);
  b.msix(5, 3, 0x0000, 0x0800);
  f->add_region(0, {RegionKind::kMemory32, 0x20000, false, 0xfebc0000});
  f->add_region(2, {RegionKind::kIo, 0x20, false, 0xc000});
  f->add_region(3, {RegionKind::kMemory32, 0x4000, false, 0xfebe0000});
  f->add_region(kRomRegion, {RegionKind::kMemory32, 0x20000, false, 0xfeb80000});
  std::vector<uint8_t> rom(0x800, 0);
  rom[0] = 0x55;
  rom[1] = 0xaa;
  rom[2] = 0x04;  // 4 x 512 bytes
  f->set_rom_image(std::move(rom));
  f->set32(kExtCapStart, 0x00010000u | kExtCapAer);  // AER v1, end of the extended list
  return f;
}

// A PCI Express physical function with extended capabilities hvmd hides and keeps: SR-IOV at
// 0x100 (the first: hidden, its VF BAR and counts must not show), AER v2 at 0x140, ACS at 0x188
// (hidden), device serial number at 0x1a0 (the last).
std::unique_ptr<SoftFunction> pcie_sriov() {
  auto f = std::make_unique<SoftFunction>("0000:05:00.0", 4096);
  Builder b(*f, 0x8086, 0x1521, 0x020000);
  b.pm();
  b.msi(/*is_64bit=*/true, /*maskable=*/true, 0);
  b.pcie(/*flr=*/true);
  f->add_region(0, {RegionKind::kMemory32, 0x20000, false, 0xfe000000});
  auto ext = [&](uint32_t at, uint16_t id, uint8_t version, uint32_t next) {
    f->set32(at, id | uint32_t{version} << 16 | next << 20);
  };
  ext(0x100, kExtCapSriov, 1, 0x140);
  f->set16(0x10e, 8);           // TotalVFs
  f->set32(0x124, 0xfd00000c);  // VF BAR0: 64-bit prefetchable
  ext(0x140, kExtCapAer, 2, 0x188);
  f->set32(0x148, 0x00400000);  // uncorrectable error mask: UR masked
  f->set_write_mask(0x148, 4, 0x03fff030);
  f->set_w1c_mask(0x144, 4, 0x03fff030);  // uncorrectable error status
  ext(0x188, kExtCapAcs, 1, 0x1a0);
  f->set16(0x18c, 0x001f);  // ACS capabilities
  ext(0x1a0, kExtCapDsn, 1, 0);
  f->set32(0x1a4, 0x9abcdef0);  // serial number
  f->set32(0x1a8, 0x12345678);
  return f;
}

// A GPU: 64-bit prefetchable BARs (one of 256 MiB above 4 GiB), an I/O BAR, 32-bit MSI without
// masking, a vendor capability, and capabilities hvmd hides (AGP, PCI-X) in the middle of the
// chain.
std::unique_ptr<SoftFunction> gpu_64bit() {
  auto f = std::make_unique<SoftFunction>("0000:01:00.0");
  Builder b(*f, 0x10de, 0x1db6, 0x030000);
  b.pm();
  b.cap(kCapAgp, 12);
  b.msi(/*is_64bit=*/false, /*maskable=*/false, 0);
  b.cap(kCapPcix, 8);
  uint8_t vendor = b.cap(kCapVendor, 0x14);
  f->set8(vendor + kCapVendorLength, 0x14);
  b.pcie(/*flr=*/false);
  f->add_region(0, {RegionKind::kMemory32, 16 << 20, false, 0xfd000000});
  f->add_region(1, {RegionKind::kMemory64, 256 << 20, true, 0x800000000});
  f->add_region(3, {RegionKind::kMemory64, 32 << 20, true, 0x810000000});
  f->add_region(5, {RegionKind::kIo, 0x80, false, 0xe000});
  return f;
}

// A small device: a 256-byte BAR holding the MSI-X table and PBA (trapped whole).
std::unique_ptr<SoftFunction> sub_page_msix() {
  auto f = std::make_unique<SoftFunction>("0000:04:00.0");
  Builder b(*f, 0x1b36, 0x0005, 0x00ff00);
  b.msix(2, 0, 0x80, 0xc0);
  f->add_region(0, {RegionKind::kMemory32, 0x100, false, 0xfe800000});
  f->add_region(1, {RegionKind::kIo, 0x100, false, 0xd000});
  return f;
}

// PM then MSI, whose next pointer leads back to PM.
std::unique_ptr<SoftFunction> cyclic_caps() {
  auto f = std::make_unique<SoftFunction>("0000:05:00.0");
  Builder b(*f, 0x1234, 0x11e8, 0x00ff00);
  b.pm();
  b.msi(false, false, 0);
  f->set8(0x48 + kCapNext, 0x40);
  f->add_region(0, {RegionKind::kMemory32, 0x100000, false, 0xfea00000});
  return f;
}

// A vendor capability whose length runs past the end, then a pointer into the header; a second
// vendor capability at 0xfc, never reached.
std::unique_ptr<SoftFunction> broken_caps() {
  auto f = std::make_unique<SoftFunction>("0000:06:00.0");
  Builder b(*f, 0x1af4, 0x1000, 0x020000);
  uint8_t vendor = b.cap(kCapVendor, 4, 0xf0);
  f->set8(vendor + kCapVendorLength, 0xff);
  f->set8(vendor + kCapNext, 0x08);
  f->set8(0xfc, kCapVendor);
  f->add_region(0, {RegionKind::kIo, 0x20, false, 0xc040});
  return f;
}

struct Synthetic {
  const char* name;
  std::unique_ptr<SoftFunction> (*make)();
};
constexpr Synthetic kSynthetic[] = {{"nic-pcie", nic_pcie},       {"gpu-64bit", gpu_64bit},
                                    {"pcie-sriov", pcie_sriov},   {"sub-page-msix", sub_page_msix},
                                    {"cyclic-caps", cyclic_caps}, {"broken-caps", broken_caps}};

Result<std::vector<uint8_t>> read_file(const std::string& path, size_t max) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return make_error("%s: %s", path.c_str(), strerror(errno));
  auto data = read_fd(fd, max);
  close(fd);
  if (!data) return make_error("%s: %s", path.c_str(), data.error().message.c_str());
  return data;
}

}  // namespace

void apply_spec_masks(SoftFunction& f) {
  f.set_write_mask(kCommand, 2,
                   kCommandIo | kCommandMemory | kCommandBusMaster | kCommandParity | kCommandSerr |
                       kCommandIntxDisable);
  f.set_w1c_mask(kStatus, 2, kStatusErrorBits);
  f.set_write_mask(kCacheLineSize, 1, 0xff);
  f.set_write_mask(kLatencyTimer, 1, 0xff);
  f.set_write_mask(kInterruptLine, 1, 0xff);
  auto read8 = [&f](uint32_t reg) { return f.get8(reg); };
  for (const Capability& c : walk_capabilities(read8).caps) {
    uint32_t at = c.offset;
    switch (c.id) {
      case kCapPm:
        f.set_write_mask(at + kPmControl, 2, kPmControlStateMask | kPmControlPmeEnable);
        f.set_w1c_mask(at + kPmControl, 2, kPmControlPmeStatus);
        break;
      case kCapMsi: {
        uint16_t control = f.get16(at + kMsiControl);
        f.set_write_mask(at + kMsiControl, 2, kMsiControlEnable | kMsiControlMmeMask);
        f.set_write_mask(at + kMsiAddressLow, 4, ~3u);
        uint32_t data = at + 8;
        if (control & kMsiControl64Bit) {
          f.set_write_mask(at + kMsiAddressHigh, 4, ~0u);
          data += 4;
        }
        f.set_write_mask(data, 2, 0xffff);
        if (control & kMsiControlMaskable) f.set_write_mask(data + 4, 4, ~0u);
        break;
      }
      case kCapMsix:
        f.set_write_mask(at + kMsixControl, 2, kMsixControlEnable | kMsixControlFunctionMask);
        break;
      case kCapPcie:
        f.set_write_mask(at + kPcieDevCtl, 2, 0xffff);
        f.set_w1c_mask(at + kPcieDevSta, 2, kPcieDevStaErrors);
        f.set_write_mask(at + kPcieLnkCtl, 2, 0x0fff);
        f.set_write_mask(at + kPcieDevCtl2, 2, 0xffff);
        f.set_write_mask(at + kPcieLnkCtl2, 2, 0xffff);
        break;
      case kCapVendor:
      case kCapVpd: {
        unsigned length = capability_length(c.id, c.offset, read8);
        for (uint32_t reg = at + 2; reg < at + length; ++reg) f.set_write_mask(reg, 1, 0xff);
        break;
      }
      default:
        break;
    }
  }
}

std::vector<std::string> synthetic_fixture_names() {
  std::vector<std::string> names;
  for (const auto& s : kSynthetic) names.emplace_back(s.name);
  return names;
}

std::unique_ptr<SoftFunction> make_synthetic_fixture(std::string_view name) {
  for (const auto& s : kSynthetic) {
    if (name != s.name) continue;
    auto f = s.make();
    apply_spec_masks(*f);
    f->snapshot_power_on();
    return f;
  }
  return nullptr;
}

Result<std::unique_ptr<SoftFunction>> load_recorded_fixture(const std::string& dir,
                                                            const std::string& stem) {
  std::string base = dir + "/" + stem;
  auto config = read_file(base + ".config", 4096);
  if (!config) return config.error();
  if (config->size() != 256 && config->size() != 4096)
    return make_error("%s.config: %zu bytes, not 256 or 4096", base.c_str(), config->size());
  auto resource = read_file(base + ".resource", 64 << 10);
  if (!resource) return resource.error();
  auto regions = parse_resource(
      std::string_view(reinterpret_cast<const char*>(resource->data()), resource->size()));
  if (!regions) return make_error("%s.resource: %s", base.c_str(), regions.error().message.c_str());
  std::string name = stem;
  std::replace(name.begin(), name.end(), '_', ':');
  auto f = std::make_unique<SoftFunction>(name, static_cast<uint32_t>(config->size()));
  for (uint32_t i = 0; i < config->size(); ++i) f->set8(i, (*config)[i]);
  for (int i = 0; i < kRegionCount; ++i)
    if ((*regions)[i].kind != RegionKind::kNone) f->add_region(i, (*regions)[i]);
  f->set_irq(f->get8(kInterruptPin) ? 10 + f->host_address().device() : 0);
  apply_spec_masks(*f);
  f->snapshot_power_on();
  return f;
}

std::vector<std::string> recorded_fixture_stems(const std::string& dir) {
  std::vector<std::string> stems;
  DIR* d = opendir(dir.c_str());
  if (!d) return stems;
  while (dirent* e = readdir(d)) {
    std::string file = e->d_name;
    const std::string suffix = ".config";
    if (file.size() > suffix.size() &&
        file.compare(file.size() - suffix.size(), suffix.size(), suffix) == 0)
      stems.push_back(file.substr(0, file.size() - suffix.size()));
  }
  closedir(d);
  std::sort(stems.begin(), stems.end());
  return stems;
}

}  // namespace hvmd::passthrough
