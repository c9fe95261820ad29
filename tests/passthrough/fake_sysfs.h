// A fake sysfs tree for one PCI function, written from a SoftFunction: what SysfsHost and
// hvmd-pci read on a real dom0 (bus/pci/devices/BDF/{config,resource,resourceN,irq,rom}).
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "dm/pci/pci_regs.h"
#include "passthrough/soft_function.h"

namespace hvmd::test {

inline void write_whole(const std::string& path, const void* data, size_t size) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return;
  (void)!write(fd, data, size);
  close(fd);
}

// Returns the function's directory. BAR files are sparse files of the BAR's size.
inline std::string make_fake_sysfs(const std::string& root, passthrough::SoftFunction& f) {
  std::string dir = root + "/bus/pci/devices/" + f.name();
  std::filesystem::create_directories(dir);
  std::string config;
  for (uint32_t i = 0; i < f.config_size(); ++i) config.push_back(static_cast<char>(f.get8(i)));
  write_whole(dir + "/config", config.data(), config.size());
  std::string resource;
  for (int i = 0; i < 13; ++i) {  // BARs, ROM, then the bridge/SR-IOV lines Linux also prints
    passthrough::HostRegion r =
        i < passthrough::kRegionCount ? f.region(i) : passthrough::HostRegion{};
    unsigned long long start = 0, end = 0, flags = 0;
    if (r.kind != passthrough::RegionKind::kNone) {
      start = r.host_address;
      end = r.host_address + r.size - 1;
      flags = r.kind == passthrough::RegionKind::kIo ? 0x40101 : 0x40200;
      if (r.kind == passthrough::RegionKind::kMemory64) flags |= 0x100000;
      if (r.prefetchable) flags |= 0x2000;
    }
    char line[80];
    snprintf(line, sizeof(line), "0x%016llx 0x%016llx 0x%016llx\n", start, end, flags);
    resource += line;
    if (i < pci::kBarCount && r.kind != passthrough::RegionKind::kNone) {
      std::string path = dir + "/resource" + std::to_string(i);
      int fd = open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      if (fd >= 0) {
        (void)!ftruncate(fd, static_cast<off_t>(r.size));
        close(fd);
      }
    }
  }
  write_whole(dir + "/resource", resource.data(), resource.size());
  std::string irq = std::to_string(f.intx().machine_irq) + "\n";
  write_whole(dir + "/irq", irq.data(), irq.size());
  auto rom = f.read_rom();
  if (rom && !rom->empty()) write_whole(dir + "/rom", rom->data(), rom->size());
  return dir;
}

}  // namespace hvmd::test
