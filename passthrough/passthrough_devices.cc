#include "passthrough/passthrough_devices.h"

#include <dirent.h>
#include <sys/epoll.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "dm/log.h"

#include "passthrough/bdf.h"
#include "passthrough/passthrough_device.h"
#include "passthrough/sysfs_host.h"

namespace hvmd::passthrough {
namespace {

bool same_function(PciAddress a, PciAddress b) {
  return a.segment == b.segment && a.bus == b.bus && a.devfn == b.devfn;
}

Result<std::unique_ptr<Device>> create_xen_pt(Machine& machine, OptionReader& props,
                                              PassthroughHosts& hosts) {
  auto hostaddr = props.string("hostaddr");
  if (!hostaddr) return make_error("%s needs hostaddr=SSSS:BB:DD.F", props.what().c_str());
  auto address = parse_host_address(*hostaddr);
  if (!address)
    return make_error("%s: hostaddr=%s", props.what().c_str(), address.error().message.c_str());
  auto permissive = props.boolean("permissive");
  if (!permissive) return permissive.error();
  auto rombar = props.number("rombar", 1);
  if (!rombar) return rombar.error();
  // For tests: a fake sysfs tree.
  std::string root = props.string("x-sysfs-root").value_or(hosts.sysfs_root());
  auto host = hosts.open_sysfs(*address, root);
  if (!host) return host.error();
  auto device = PassthroughDevice::create(
      std::move(*host), {.type = "xen-pci-passthrough",
                         .transport = hosts.transport(),
                         .permissive = permissive->value_or(false),
                         .rom = rombar->value_or(1) != 0,
                         .rom_backing = machine.device_memory_backing(),
                         .release = [&hosts](std::unique_ptr<HostFunction> function) {
                           hosts.provide(std::move(function));
                         }});
  if (!device) return device.error();
  return std::unique_ptr<Device>(std::move(*device));
}

Result<std::unique_ptr<Device>> create_vfio(Machine& machine, OptionReader& props,
                                            PassthroughHosts& hosts) {
  auto host_text = props.string("host");
  if (!host_text) return make_error("%s needs host=BB:DD.F", props.what().c_str());
  auto address = parse_host_address(*host_text);
  if (!address)
    return make_error("%s: host=%s", props.what().c_str(), address.error().message.c_str());
  auto rombar = props.number("rombar", 1);
  if (!rombar) return rombar.error();
  auto permissive = props.boolean("permissive");
  if (!permissive) return permissive.error();
  auto host = hosts.open_vfio(*address);
  if (!host) return host.error();
  auto device = PassthroughDevice::create(
      std::move(*host),
      {.type = "vfio-pci",
       .transport = hosts.transport(),
       .permissive = permissive->value_or(false),
       .extended_config = true,
       .host_resets = true,
       .rom = rombar->value_or(1) != 0,
       .rom_backing = machine.device_memory_backing(),
       .release =
           [&hosts](std::unique_ptr<HostFunction> function) { hosts.provide(std::move(function)); },
       .watcher = hosts.watcher()});
  if (!device) return device.error();
  return std::unique_ptr<Device>(std::move(*device));
}

}  // namespace

std::vector<std::unique_ptr<HostFunction>>::iterator PassthroughHosts::find_opened(
    PciAddress address) {
  return std::find_if(opened_.begin(), opened_.end(), [&](const auto& f) {
    return f && same_function(f->host_address(), address);
  });
}

Result<std::unique_ptr<HostFunction>> PassthroughHosts::opened(PciAddress address) {
  auto it = find_opened(address);
  if (it != opened_.end()) {  // handed out once; comes back when its device goes
    std::unique_ptr<HostFunction> function = std::move(*it);
    opened_.erase(it);
    return function;
  }
  return Error{};
}

Result<std::unique_ptr<HostFunction>> PassthroughHosts::open_sysfs(PciAddress address,
                                                                   const std::string& root) {
  if (auto function = opened(address)) return function;
  if (sealed_)
    return make_error(
        "host PCI function %s was not opened before hvmd dropped its privileges: bind it to "
        "pciback (xl pci-assignable-add %s) before the guest starts, or name it with -device "
        "xen-pci-passthrough,hostaddr=%s on the command line",
        format_host_address(address).c_str(), format_host_address(address).c_str(),
        format_host_address(address).c_str());
  auto host = SysfsHost::open(root, address);
  if (!host) return host.error();
  return std::unique_ptr<HostFunction>(std::move(*host));
}

size_t PassthroughHosts::open_pciback_functions() {
  std::string driver = sysfs_root_ + "/bus/pci/drivers/pciback";
  DIR* dir = opendir(driver.c_str());
  if (!dir) return 0;  // pciback not loaded: nothing can be assigned
  std::vector<PciAddress> addresses;
  // Bounded: a driver directory lists its devices and a handful of control files.
  constexpr size_t kMaxEntries = 4096;
  size_t seen = 0;
  while (dirent* entry = readdir(dir)) {
    if (++seen > kMaxEntries) break;
    // Devices are the links named like a host address; "new_slot", "slots", "quirks" are not.
    if (auto address = parse_host_address(entry->d_name);
        address && format_host_address(*address) == entry->d_name)
      addresses.push_back(*address);
  }
  closedir(dir);
  size_t ready = 0;
  for (PciAddress address : addresses) {
    if (find_opened(address) != opened_.end()) {
      ++ready;
      continue;
    }
    auto host = SysfsHost::open(sysfs_root_, address);
    if (!host) {
      HVMD_WARN("pciback function %s not ready for passthrough: %s",
                format_host_address(address).c_str(), host.error().message.c_str());
      continue;
    }
    HVMD_INFO("pciback function %s opened for passthrough", format_host_address(address).c_str());
    opened_.push_back(std::move(*host));
    ++ready;
  }
  return ready;
}

Result<std::unique_ptr<HostFunction>> PassthroughHosts::open_vfio(PciAddress address) {
  if (auto function = opened(address)) return function;
  if (sealed_)
    return make_error(
        "host PCI function %s was not opened before hvmd dropped its privileges: name it with "
        "-device vfio-pci,host=%s on the command line",
        format_host_address(address).c_str(), format_host_address(address).c_str());
  auto host = VfioHost::open(sysfs_root_, address, guest_ram_);
  if (!host) return host.error();
  return std::unique_ptr<HostFunction>(std::move(*host));
}

Result<void> EventLoopWatcher::watch(int fd, std::function<void()> readable) {
  return loop_.watch(fd, EPOLLIN, [readable = std::move(readable)](uint32_t) { readable(); });
}

void register_passthrough_devices(DeviceRegistry& registry, PassthroughHosts& hosts) {
  if (hosts.vfio())
    registry.add({.name = "vfio-pci",
                  .description = "host PCI function bound to vfio-pci (host=[SSSS:]BB:DD.F, "
                                 "rombar=0, permissive=on)",
                  .pci = true,
                  .hotpluggable = true,
                  .properties = {{"host", "str", "host address [SSSS:]BB:DD.F"},
                                 {"rombar", "uint32", "0: no ROM BAR"},
                                 {"permissive", "bool", "on/off"}},
                  .create = [&hosts](Machine& machine, OptionReader& props) {
                    return create_vfio(machine, props, hosts);
                  }});
  registry.add({.name = "xen-pci-passthrough",
                .description = "host PCI function bound to pciback (hostaddr=SSSS:BB:DD.F, "
                               "permissive=on, rombar=0)",
                .pci = true,
                .hotpluggable = true,
                .properties = {{"hostaddr", "str", "host address SSSS:BB:DD.F"},
                               {"permissive", "bool", "on/off"},
                               {"rombar", "uint32", "0: no ROM BAR"}},
                .create = [&hosts](Machine& machine, OptionReader& props) {
                  return create_xen_pt(machine, props, hosts);
                }});
}

bool names_passthrough_device(const std::vector<SubOptions>& devices) {
  return std::any_of(devices.begin(), devices.end(), [](const SubOptions& d) {
    auto driver = d.get("driver");
    return driver && (*driver == "xen-pci-passthrough" || *driver == "vfio-pci");
  });
}

}  // namespace hvmd::passthrough
