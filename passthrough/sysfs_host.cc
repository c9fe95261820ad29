#include "passthrough/sysfs_host.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "dm/file_io.h"
#include "dm/log.h"
#include "dm/pci/pci_regs.h"
#include "passthrough/bdf.h"
#include "passthrough/capabilities.h"
#include "passthrough/sysfs_resource.h"

namespace hvmd::passthrough {
namespace {

using namespace pci;

constexpr size_t kMaxRom = 16 << 20;  // PCI expansion ROMs are at most 16 MiB

Result<std::string> read_text(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return make_error("%s: %s", path.c_str(), strerror(errno));
  auto data = read_fd(fd, 64 << 10);
  close(fd);
  if (!data) return make_error("%s: %s", path.c_str(), data.error().message.c_str());
  return std::string(data->begin(), data->end());
}

// The ROM through sysfs: reading needs it enabled first ("1"), and off again after ("0"). A tree
// whose rom file reads without that (a test's) is read as it is.
std::vector<uint8_t> read_rom_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return {};
  std::vector<uint8_t> image(kMaxRom);
  ssize_t n = pread(fd, image.data(), image.size(), 0);
  bool enabled = false;
  if (n < 0 && errno == EINVAL) {
    enabled = pwrite(fd, "1", 1, 0) == 1;
    n = enabled ? pread(fd, image.data(), image.size(), 0) : -1;
  }
  if (enabled) (void)!pwrite(fd, "0", 1, 0);
  close(fd);
  image.resize(n > 0 ? static_cast<size_t>(n) : 0);
  // A ROM must start with the 55 AA signature; an unprogrammed or shadowed one does not.
  if (image.size() < 3 || image[0] != 0x55 || image[1] != 0xaa) return {};
  return image;
}

}  // namespace

Result<std::unique_ptr<SysfsHost>> SysfsHost::open(const std::string& root, PciAddress address) {
  std::unique_ptr<SysfsHost> host(new SysfsHost);
  host->address_ = address;
  host->name_ = format_host_address(address);
  host->dir_ = root + "/bus/pci/devices/" + host->name_;
  struct stat st {};
  if (stat(host->dir_.c_str(), &st) < 0)
    return make_error("host PCI function %s: %s: %s", host->name_.c_str(), host->dir_.c_str(),
                      strerror(errno));
  std::string config = host->dir_ + "/config";
  host->config_fd_ = ::open(config.c_str(), O_RDWR | O_CLOEXEC);
  if (host->config_fd_ < 0)
    return make_error("host PCI function %s: %s: %s", host->name_.c_str(), config.c_str(),
                      strerror(errno));
  if (fstat(host->config_fd_, &st) == 0 && st.st_size >= 4096) host->config_size_ = 4096;
  auto resource = read_text(host->dir_ + "/resource");
  if (!resource) return resource.error();
  auto regions = parse_resource(*resource);
  if (!regions)
    return make_error("host PCI function %s: resource: %s", host->name_.c_str(),
                      regions.error().message.c_str());
  host->regions_ = *regions;
  if (auto irq = read_text(host->dir_ + "/irq"))
    host->irq_ = static_cast<unsigned>(atoi(irq->c_str()));
  // The resourceN files serve trapped accesses (the MSI-X page's neighbours, sub-page BARs).
  for (int i = 0; i < kBarCount; ++i) {
    const HostRegion& r = host->regions_[i];
    if (r.kind == RegionKind::kNone) continue;
    std::string path = host->dir_ + "/resource" + std::to_string(i);
    Resource& res = host->resources_[i];
    res.fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (res.fd < 0) {
      HVMD_WARN("host %s: %s: %s (trapped accesses to BAR%d read all-ones)", host->name_.c_str(),
                path.c_str(), strerror(errno), i);
      continue;
    }
    if (r.kind != RegionKind::kIo) {
      void* map = mmap(nullptr, r.size, PROT_READ | PROT_WRITE, MAP_SHARED, res.fd, 0);
      if (map != MAP_FAILED) {
        res.map = map;
        res.map_size = r.size;
      }
    }
  }
  host->rom_ = read_rom_file(host->dir_ + "/rom");
  auto caps =
      walk_capabilities([&](uint32_t reg) { return static_cast<uint8_t>(host->read(reg, 1)); });
  for (const Capability& c : caps.caps) {
    if (c.id == kCapMsi && !host->msi_cap_) host->msi_cap_ = c.offset;
    if (c.id == kCapMsix && !host->msix_cap_) host->msix_cap_ = c.offset;
  }
  return host;
}

SysfsHost::~SysfsHost() {
  for (Resource& r : resources_) {
    if (r.map) munmap(r.map, r.map_size);
    if (r.fd >= 0) close(r.fd);
  }
  if (config_fd_ >= 0) close(config_fd_);
}

uint32_t SysfsHost::config_access(uint32_t reg, unsigned size, const uint32_t* write_value) {
  if (size == 0 || size > 4 || reg >= config_size_ || size > config_size_ - reg) return ~0u;
  uint8_t bytes[4] = {};
  ssize_t n;
  if (write_value) {
    for (unsigned i = 0; i < size; ++i) bytes[i] = static_cast<uint8_t>(*write_value >> (8 * i));
    n = pwrite(config_fd_, bytes, size, reg);
  } else {
    n = pread(config_fd_, bytes, size, reg);
  }
  if (n != static_cast<ssize_t>(size)) {
    if (!logged_error_)
      HVMD_HOST_LOG("host %s: config %s at %#x failed: %s", name_.c_str(),
                    write_value ? "write" : "read", reg, n < 0 ? strerror(errno) : "short");
    logged_error_ = true;
    return ~0u;
  }
  uint32_t value = 0;
  for (unsigned i = 0; i < size; ++i) value |= uint32_t{bytes[i]} << (8 * i);
  return value;
}

uint32_t SysfsHost::read(uint32_t reg, unsigned size) {
  return config_access(reg, size, nullptr);
}
void SysfsHost::write(uint32_t reg, unsigned size, uint32_t value) {
  config_access(reg, size, &value);
}
uint32_t SysfsHost::extended_read(uint32_t reg, unsigned size) {
  return reg >= kConfigSize ? config_access(reg, size, nullptr) : ~0u;
}
void SysfsHost::extended_write(uint32_t reg, unsigned size, uint32_t value) {
  if (reg >= kConfigSize) config_access(reg, size, &value);
}

HostRegion SysfsHost::region(int index) const {
  return index >= 0 && index < kRegionCount ? regions_[index] : HostRegion{};
}

uint64_t SysfsHost::region_read(int index, uint64_t offset, unsigned size) {
  if (index < 0 || index >= kBarCount) return ~0ull;
  const Resource& r = resources_[index];
  uint64_t length = regions_[index].size;
  if (size == 0 || size > 8 || offset >= length || size > length - offset) return ~0ull;
  uint64_t value = 0;
  if (r.map) {
    // One access of the guest's size: device registers may not tolerate being split.
    auto* at = static_cast<volatile uint8_t*>(r.map) + offset;
    switch (size) {
      case 1:
        return *at;
      case 2:
        return *reinterpret_cast<volatile uint16_t*>(at);
      case 4:
        return *reinterpret_cast<volatile uint32_t*>(at);
      case 8:
        return *reinterpret_cast<volatile uint64_t*>(at);
      default:
        break;
    }
  }
  if (r.fd < 0 || pread(r.fd, &value, size, static_cast<off_t>(offset)) != size) return ~0ull;
  return value;
}

void SysfsHost::region_write(int index, uint64_t offset, unsigned size, uint64_t value) {
  if (index < 0 || index >= kBarCount) return;
  const Resource& r = resources_[index];
  uint64_t length = regions_[index].size;
  if (size == 0 || size > 8 || offset >= length || size > length - offset) return;
  if (r.map) {
    auto* at = static_cast<volatile uint8_t*>(r.map) + offset;
    switch (size) {
      case 1:
        *at = static_cast<uint8_t>(value);
        return;
      case 2:
        *reinterpret_cast<volatile uint16_t*>(at) = static_cast<uint16_t>(value);
        return;
      case 4:
        *reinterpret_cast<volatile uint32_t*>(at) = static_cast<uint32_t>(value);
        return;
      case 8:
        *reinterpret_cast<volatile uint64_t*>(at) = value;
        return;
      default:
        break;
    }
  }
  if (r.fd >= 0) (void)!pwrite(r.fd, &value, size, static_cast<off_t>(offset));
}

Result<std::vector<uint8_t>> SysfsHost::read_rom() {
  return rom_;
}

// Xen binds the pirqs; the capability's enable bit in the device is the device model's to set
// (qemu-xen does the same). MSI's vector count goes with it.
Result<void> SysfsHost::set_msi(bool msix, unsigned count) {
  if (msix) {
    if (!msix_cap_) return make_error("host %s has no MSI-X", name_.c_str());
    uint32_t control = read(msix_cap_ + kMsixControl, 2);
    control &= ~uint32_t{kMsixControlEnable | kMsixControlFunctionMask};
    write(msix_cap_ + kMsixControl, 2, control | (count ? kMsixControlEnable : 0));
    return ok();
  }
  if (!msi_cap_) return make_error("host %s has no MSI", name_.c_str());
  uint32_t control =
      read(msi_cap_ + kMsiControl, 2) & ~uint32_t{kMsiControlEnable | kMsiControlMmeMask};
  if (count) {
    unsigned log2 = 0;
    while ((1u << log2) < count && log2 < 5) ++log2;
    control |= kMsiControlEnable | log2 << kMsiControlMmeShift;
  }
  write(msi_cap_ + kMsiControl, 2, control);
  return ok();
}

Result<void> SysfsHost::reset() {
  return make_error("host %s: reset is the toolstack's (libxl resets pciback devices)",
                    name_.c_str());
}

}  // namespace hvmd::passthrough
