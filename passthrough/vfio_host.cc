#include "passthrough/vfio_host.h"

#include <fcntl.h>
#include <linux/vfio.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>

#include "dm/log.h"
#include "dm/pci/pci_regs.h"
#include "passthrough/bdf.h"

namespace hvmd::passthrough {
namespace {

using namespace pci;

void close_fd(int& fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

// The IOMMU groups this process holds (group id -> fd), for hot resets: VFIO wants the fd of
// every group a bus reset touches, as proof that their devices are ours to reset.
std::map<int, int>& owned_groups() {
  static std::map<int, int> groups;
  return groups;
}

}  // namespace

Result<std::vector<int>> hot_reset_group_fds(const std::string& name,
                                             const std::vector<HotResetDevice>& affected,
                                             const std::map<int, int>& owned_groups) {
  std::vector<int> fds;
  std::vector<int> seen;
  for (const HotResetDevice& d : affected) {
    if (std::find(seen.begin(), seen.end(), d.group_id) != seen.end()) continue;
    auto it = owned_groups.find(d.group_id);
    if (it == owned_groups.end())
      return make_error(
          "%s: a bus reset would also reset %s in IOMMU group %d, which hvmd does not hold "
          "(give that device to this guest too, or unbind it): not reset",
          name.c_str(), format_host_address(d.address).c_str(), d.group_id);
    seen.push_back(d.group_id);
    fds.push_back(it->second);
  }
  if (fds.empty()) return make_error("%s: the bus reset names no function", name.c_str());
  return fds;
}

Result<std::unique_ptr<VfioHost>> VfioHost::open(const std::string& sysfs_root, PciAddress address,
                                                 const std::vector<DmaRange>& ram) {
  std::unique_ptr<VfioHost> host(new VfioHost);
  host->address_ = address;
  host->name_ = format_host_address(address);
  if (auto r = host->setup(sysfs_root, ram); !r)
    return make_error("vfio-pci host=%s: %s", host->name_.c_str(), r.error().message.c_str());
  return host;
}

Result<void> VfioHost::setup(const std::string& sysfs_root, const std::vector<DmaRange>& ram) {
  std::string link = sysfs_root + "/bus/pci/devices/" + name_ + "/iommu_group";
  char target[PATH_MAX];
  ssize_t n = readlink(link.c_str(), target, sizeof(target) - 1);
  if (n < 0)
    return make_error("%s: %s (no IOMMU group: IOMMU off, or no such device)", link.c_str(),
                      strerror(errno));
  target[n] = 0;
  const char* group_name = strrchr(target, '/');
  group_name = group_name ? group_name + 1 : target;
  char* end = nullptr;
  long id = strtol(group_name, &end, 10);
  if (*group_name == 0 || *end != 0 || id < 0 || id > INT_MAX)
    return make_error("%s: IOMMU group %s is not a number", link.c_str(), group_name);
  container_ = ::open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
  if (container_ < 0) return make_error("/dev/vfio/vfio: %s", strerror(errno));
  if (ioctl(container_, VFIO_GET_API_VERSION) != VFIO_API_VERSION)
    return make_error("/dev/vfio/vfio: unknown VFIO API version");
  int iommu = ioctl(container_, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) > 0 ? VFIO_TYPE1v2_IOMMU
              : ioctl(container_, VFIO_CHECK_EXTENSION, VFIO_TYPE1_IOMMU) > 0 ? VFIO_TYPE1_IOMMU
                                                                              : 0;
  if (!iommu) return make_error("the VFIO container offers no type 1 IOMMU");
  std::string group_path = std::string("/dev/vfio/") + group_name;
  group_ = ::open(group_path.c_str(), O_RDWR | O_CLOEXEC);
  if (group_ < 0)
    return make_error("%s: %s (is the device bound to vfio-pci?)", group_path.c_str(),
                      strerror(errno));
  vfio_group_status status{.argsz = sizeof(status)};
  if (ioctl(group_, VFIO_GROUP_GET_STATUS, &status) < 0)
    return make_error("%s: VFIO_GROUP_GET_STATUS: %s", group_path.c_str(), strerror(errno));
  if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE))
    return make_error("IOMMU group %s is not viable: bind every device in it to vfio-pci",
                      group_name);
  group_id_ = static_cast<int>(id);
  owned_groups()[group_id_] = group_;
  if (ioctl(group_, VFIO_GROUP_SET_CONTAINER, &container_) < 0)
    return make_error("%s: VFIO_GROUP_SET_CONTAINER: %s", group_path.c_str(), strerror(errno));
  if (ioctl(container_, VFIO_SET_IOMMU, iommu) < 0)
    return make_error("VFIO_SET_IOMMU: %s", strerror(errno));
  device_ = ioctl(group_, VFIO_GROUP_GET_DEVICE_FD, name_.c_str());
  if (device_ < 0) return make_error("VFIO_GROUP_GET_DEVICE_FD: %s", strerror(errno));
  vfio_device_info info{.argsz = sizeof(info)};
  if (ioctl(device_, VFIO_DEVICE_GET_INFO, &info) < 0)
    return make_error("VFIO_DEVICE_GET_INFO: %s", strerror(errno));
  if (!(info.flags & VFIO_DEVICE_FLAGS_PCI)) return make_error("not a PCI device");
  device_flags_ = info.flags;
  if (!(device_flags_ & VFIO_DEVICE_FLAGS_RESET)) {
    if (auto r = query_hot_reset(); !r) hot_reset_error_ = r.error().message;
  }
  vfio_region_info config{.argsz = sizeof(config), .index = VFIO_PCI_CONFIG_REGION_INDEX};
  if (info.num_regions <= VFIO_PCI_CONFIG_REGION_INDEX ||
      ioctl(device_, VFIO_DEVICE_GET_REGION_INFO, &config) < 0 || config.size < kConfigSize)
    return make_error("no config region");
  config_offset_ = config.offset;
  config_size_ = config.size >= 4096 ? 4096 : kConfigSize;
  for (unsigned i = 0; i < kRegionCount && i < info.num_regions; ++i) {
    vfio_region_info r{.argsz = sizeof(r), .index = i};
    if (ioctl(device_, VFIO_DEVICE_GET_REGION_INFO, &r) < 0 || r.size == 0) continue;
    vfio_regions_[i] = {.offset = r.offset, .size = r.size, .flags = r.flags};
    HostRegion& h = regions_[i];
    h.size = r.size;
    if (i == static_cast<unsigned>(kRomRegion)) {
      h.kind = RegionKind::kMemory32;
      continue;
    }
    uint32_t bar = read(kBar0 + 4 * i, 4);
    if (bar & kBarIoSpace) {
      h.kind = RegionKind::kIo;
    } else {
      h.kind = (bar & 0x6) == kBarMemType64 ? RegionKind::kMemory64 : RegionKind::kMemory32;
      h.prefetchable = bar & kBarPrefetchable;
      if (r.flags & VFIO_REGION_INFO_FLAG_MMAP) {
        void* map = mmap(nullptr, r.size, PROT_READ | PROT_WRITE, MAP_SHARED, device_,
                         static_cast<off_t>(r.offset));
        if (map != MAP_FAILED) {
          vfio_regions_[i].map = map;
          h.mapping = map;
        }
      }
    }
  }
  // The device DMAs to guest-physical addresses: guest RAM is mapped there, and only there.
  for (const DmaRange& range : ram) {
    vfio_iommu_type1_dma_map map{.argsz = sizeof(map),
                                 .flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
                                 .vaddr = reinterpret_cast<uint64_t>(range.host),
                                 .iova = range.iova,
                                 .size = range.size};
    if (ioctl(container_, VFIO_IOMMU_MAP_DMA, &map) < 0)
      return make_error("VFIO_IOMMU_MAP_DMA of guest RAM [%#llx+%#llx]: %s",
                        static_cast<unsigned long long>(range.iova),
                        static_cast<unsigned long long>(range.size), strerror(errno));
  }
  // How many vectors VFIO offers, asked now: the sandbox allows only SET_IRQS later.
  for (unsigned index : {VFIO_PCI_MSI_IRQ_INDEX, VFIO_PCI_MSIX_IRQ_INDEX}) {
    vfio_irq_info vectors{.argsz = sizeof(vectors), .index = index};
    if (ioctl(device_, VFIO_DEVICE_GET_IRQ_INFO, &vectors) == 0)
      (index == VFIO_PCI_MSI_IRQ_INDEX ? msi_count_ : msix_count_) = vectors.count;
  }
  // INTx: the trigger eventfd, and the resample eventfd that unmasks the auto-masked line.
  vfio_irq_info irq{.argsz = sizeof(irq), .index = VFIO_PCI_INTX_IRQ_INDEX};
  if (read(kInterruptPin, 1) && ioctl(device_, VFIO_DEVICE_GET_IRQ_INFO, &irq) == 0 && irq.count) {
    intx_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    resample_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    return arm_intx();
  }
  return ok();
}

// INTx on its trigger eventfd, unmasked through the resample eventfd.
Result<void> VfioHost::arm_intx() {
  auto trigger = set_irqs(VFIO_PCI_INTX_IRQ_INDEX, 1, &intx_fd_);
  if (!trigger) return trigger;
  char buf[sizeof(vfio_irq_set) + sizeof(int)];
  auto* set = reinterpret_cast<vfio_irq_set*>(buf);
  *set = {.argsz = sizeof(buf),
          .flags = static_cast<uint32_t>(VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_UNMASK),
          .index = VFIO_PCI_INTX_IRQ_INDEX,
          .start = 0,
          .count = 1};
  memcpy(set->data, &resample_fd_, sizeof(int));
  if (ioctl(device_, VFIO_DEVICE_SET_IRQS, set) < 0)
    return make_error("INTx resample eventfd: %s", strerror(errno));
  return ok();
}

VfioHost::~VfioHost() {
  for (int index : {VFIO_PCI_MSI_IRQ_INDEX, VFIO_PCI_MSIX_IRQ_INDEX, VFIO_PCI_INTX_IRQ_INDEX})
    if (device_ >= 0) (void)set_irqs(index, 0, nullptr);
  for (int& fd : msi_fds_) close_fd(fd);
  for (int& fd : msix_fds_) close_fd(fd);
  close_fd(intx_fd_);
  close_fd(resample_fd_);
  for (Region& r : vfio_regions_)
    if (r.map) munmap(r.map, r.size);
  close_fd(device_);
  if (group_id_ >= 0) owned_groups().erase(group_id_);
  close_fd(group_);
  close_fd(container_);
}

// The functions a bus or slot reset would reach (VFIO asks for the count first: ENOSPC).
Result<void> VfioHost::query_hot_reset() {
  vfio_pci_hot_reset_info probe{.argsz = sizeof(probe)};
  if (ioctl(device_, VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, &probe) < 0 && errno != ENOSPC)
    return make_error("no bus or slot reset (VFIO_DEVICE_GET_PCI_HOT_RESET_INFO: %s)",
                      strerror(errno));
  constexpr uint32_t kMaxFunctions = 256;  // one bus
  if (probe.count == 0 || probe.count > kMaxFunctions)
    return make_error("the bus reset names %u functions", probe.count);
  std::vector<uint8_t> buf(sizeof(vfio_pci_hot_reset_info) +
                           probe.count * sizeof(vfio_pci_dependent_device));
  auto* info = reinterpret_cast<vfio_pci_hot_reset_info*>(buf.data());
  info->argsz = static_cast<uint32_t>(buf.size());
  info->count = probe.count;
  if (ioctl(device_, VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, info) < 0)
    return make_error("VFIO_DEVICE_GET_PCI_HOT_RESET_INFO: %s", strerror(errno));
  auto* devices = reinterpret_cast<const vfio_pci_dependent_device*>(info + 1);
  for (uint32_t i = 0; i < std::min(info->count, probe.count); ++i)
    hot_reset_.push_back({.address = {.segment = devices[i].segment,
                                      .bus = devices[i].bus,
                                      .devfn = devices[i].devfn},
                          .group_id = static_cast<int>(devices[i].group_id)});
  return ok();
}

Result<void> VfioHost::set_irqs(unsigned index, unsigned count, const int* fds) {
  std::vector<uint8_t> buf(sizeof(vfio_irq_set) + sizeof(int) * count);
  auto* set = reinterpret_cast<vfio_irq_set*>(buf.data());
  *set = {
      .argsz = static_cast<uint32_t>(buf.size()),
      .flags = static_cast<uint32_t>((count ? VFIO_IRQ_SET_DATA_EVENTFD : VFIO_IRQ_SET_DATA_NONE) |
                                     VFIO_IRQ_SET_ACTION_TRIGGER),
      .index = index,
      .start = 0,
      .count = count};
  if (count) memcpy(set->data, fds, sizeof(int) * count);
  if (ioctl(device_, VFIO_DEVICE_SET_IRQS, set) < 0)
    return make_error("VFIO_DEVICE_SET_IRQS index %u count %u: %s", index, count, strerror(errno));
  return ok();
}

uint32_t VfioHost::config_access(uint32_t reg, unsigned size, const uint32_t* value) {
  if (size == 0 || size > 4 || reg >= config_size_ || size > config_size_ - reg) return ~0u;
  uint32_t v = value ? *value : 0;  // little-endian x86: the low bytes are the register's
  ssize_t n = value ? pwrite(device_, &v, size, static_cast<off_t>(config_offset_ + reg))
                    : pread(device_, &v, size, static_cast<off_t>(config_offset_ + reg));
  if (n != static_cast<ssize_t>(size)) return ~0u;
  return size == 4 ? v : v & ((1u << (8 * size)) - 1);
}

uint32_t VfioHost::read(uint32_t reg, unsigned size) {
  return config_access(reg, size, nullptr);
}
void VfioHost::write(uint32_t reg, unsigned size, uint32_t value) {
  config_access(reg, size, &value);
}
uint32_t VfioHost::extended_read(uint32_t reg, unsigned size) {
  return reg >= kConfigSize ? config_access(reg, size, nullptr) : ~0u;
}
void VfioHost::extended_write(uint32_t reg, unsigned size, uint32_t value) {
  if (reg >= kConfigSize) config_access(reg, size, &value);
}

HostRegion VfioHost::region(int index) const {
  return index >= 0 && index < kRegionCount ? regions_[index] : HostRegion{};
}

uint64_t VfioHost::region_read(int index, uint64_t offset, unsigned size) {
  if (index < 0 || index >= kBarCount) return ~0ull;
  const Region& r = vfio_regions_[index];
  if (size == 0 || size > 8 || offset >= r.size || size > r.size - offset) return ~0ull;
  if (r.map) {
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
  uint64_t value = 0;
  if (pread(device_, &value, size, static_cast<off_t>(r.offset + offset)) != size) return ~0ull;
  return value;
}

void VfioHost::region_write(int index, uint64_t offset, unsigned size, uint64_t value) {
  if (index < 0 || index >= kBarCount) return;
  const Region& r = vfio_regions_[index];
  if (size == 0 || size > 8 || offset >= r.size || size > r.size - offset) return;
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
  (void)!pwrite(device_, &value, size, static_cast<off_t>(r.offset + offset));
}

Result<std::vector<uint8_t>> VfioHost::read_rom() {
  const Region& r = vfio_regions_[kRomRegion];
  if (r.size == 0) return std::vector<uint8_t>{};
  std::vector<uint8_t> image(std::min<uint64_t>(r.size, 16 << 20));
  ssize_t n = pread(device_, image.data(), image.size(), static_cast<off_t>(r.offset));
  if (n < 3 || image[0] != 0x55 || image[1] != 0xaa) return std::vector<uint8_t>{};
  image.resize(static_cast<size_t>(n));
  return image;
}

Result<void> VfioHost::set_msi(bool msix, unsigned count) {
  std::vector<int>& fds = msix ? msix_fds_ : msi_fds_;
  unsigned index = msix ? VFIO_PCI_MSIX_IRQ_INDEX : VFIO_PCI_MSI_IRQ_INDEX;
  if (!fds.empty()) {
    (void)set_irqs(index, 0, nullptr);
    for (int& fd : fds) close_fd(fd);
    fds.clear();
  }
  // VFIO runs one interrupt type at a time: INTx is off while MSI or MSI-X is on.
  if (count == 0) return intx_fd_ >= 0 ? arm_intx() : ok();
  if ((msix ? msix_count_ : msi_count_) < count)
    return make_error("%s: %s with %u vectors not offered by VFIO", name_.c_str(),
                      msix ? "MSI-X" : "MSI", count);
  if (intx_fd_ >= 0) (void)set_irqs(VFIO_PCI_INTX_IRQ_INDEX, 0, nullptr);
  for (unsigned i = 0; i < count; ++i) fds.push_back(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  auto r = set_irqs(index, count, fds.data());
  if (!r) {
    for (int& fd : fds) close_fd(fd);
    fds.clear();
    if (intx_fd_ >= 0) (void)arm_intx();
  }
  return r;
}

int VfioHost::vector_fd(bool msix, unsigned vector) const {
  const std::vector<int>& fds = msix ? msix_fds_ : msi_fds_;
  return vector < fds.size() ? fds[vector] : -1;
}

std::string VfioHost::reset_method() const {
  if (device_flags_ & VFIO_DEVICE_FLAGS_RESET) return "function";
  if (!hot_reset_error_.empty()) return "none: no function reset, " + hot_reset_error_;
  return "hot reset";
}

Result<void> VfioHost::reset() {
  if (device_flags_ & VFIO_DEVICE_FLAGS_RESET) {
    if (ioctl(device_, VFIO_DEVICE_RESET) < 0)
      return make_error("%s: VFIO_DEVICE_RESET: %s", name_.c_str(), strerror(errno));
    return ok();
  }
  if (!hot_reset_error_.empty())
    return make_error("%s has no reset method: no function reset, %s", name_.c_str(),
                      hot_reset_error_.c_str());
  auto fds = hot_reset_group_fds(name_, hot_reset_, owned_groups());
  if (!fds) return fds.error();
  std::vector<uint8_t> buf(sizeof(vfio_pci_hot_reset) + fds->size() * sizeof(int32_t));
  auto* reset = reinterpret_cast<vfio_pci_hot_reset*>(buf.data());
  reset->argsz = static_cast<uint32_t>(buf.size());
  reset->count = static_cast<uint32_t>(fds->size());
  memcpy(reset + 1, fds->data(), fds->size() * sizeof(int32_t));
  if (ioctl(device_, VFIO_DEVICE_PCI_HOT_RESET, reset) < 0)
    return make_error("%s: VFIO_DEVICE_PCI_HOT_RESET: %s", name_.c_str(), strerror(errno));
  return ok();
}

}  // namespace hvmd::passthrough
