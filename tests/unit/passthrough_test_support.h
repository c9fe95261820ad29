// Shared by the passthrough unit tests: a transport that records what it was asked, and a machine
// slice (dispatcher, PCI bus) to plug a PassthroughDevice into.
#pragma once

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "dm/dispatcher.h"
#include "dm/guest_memory.h"
#include "dm/host_passthrough.h"
#include "dm/pci/pci_bus.h"
#include "passthrough/fixtures.h"
#include "passthrough/passthrough_device.h"
#include "tests/unit/test_devices.h"

namespace hvmd::test {

inline std::string line(const char* fmt, auto... args) {
  char text[200];
  snprintf(text, sizeof(text), fmt, args...);
  return text;
}

class RecordingPassthrough final : public HostPassthrough {
 public:
  using ull = unsigned long long;
  Result<void> map_mmio(uint64_t guest, const HostMmioRegion& r, uint64_t offset,
                        uint64_t length) override {
    if (refuse) return make_error("refused");
    calls.push_back(line("map_mmio %#llx host=%#llx len=%#llx", ull(guest),
                         ull(r.host_physical + offset), ull(length)));
    return ok();
  }
  Result<void> unmap_mmio(uint64_t guest, const HostMmioRegion& r, uint64_t offset,
                          uint64_t length) override {
    calls.push_back(line("unmap_mmio %#llx host=%#llx len=%#llx", ull(guest),
                         ull(r.host_physical + offset), ull(length)));
    return ok();
  }
  Result<void> map_ports(uint32_t guest, uint32_t host, uint32_t count) override {
    if (refuse) return make_error("refused");
    calls.push_back(line("map_ports %#x host=%#x count=%u", guest, host, count));
    return ok();
  }
  Result<void> unmap_ports(uint32_t guest, uint32_t host, uint32_t count) override {
    calls.push_back(line("unmap_ports %#x host=%#x count=%u", guest, host, count));
    return ok();
  }
  Result<void> bind_intx(const HostIntx& h, PciAddress g, unsigned pin) override {
    if (refuse_intx) return make_error("no pirq");
    calls.push_back(line("bind_intx irq=%u devfn=%#x pin=%u", h.machine_irq, g.devfn, pin));
    return ok();
  }
  Result<void> unbind_intx(const HostIntx& h, PciAddress g, unsigned pin) override {
    calls.push_back(line("unbind_intx irq=%u devfn=%#x pin=%u", h.machine_irq, g.devfn, pin));
    return ok();
  }
  Result<void> route_msi(const HostMsiVector& v, const MsiMessage& m, bool masked) override {
    if (refuse_msi) return make_error("no MSI routing");
    if (v.trigger_fd >= 0) trigger_fds.push_back(v.trigger_fd);
    calls.push_back(
        line("route_%s %u %#llx/%#x%s host_table=%#llx guest_table=%#llx fn=%02x:%02x.%x",
             v.msix ? "msix" : "msi", v.entry, ull(m.address), m.data, masked ? " masked" : "",
             ull(v.host_table), ull(v.guest_table), v.host_function.bus, v.host_function.device(),
             v.host_function.function()));
    return ok();
  }
  Result<void> unroute_msi(const HostMsiVector& v) override {
    calls.push_back(line("unroute_%s %u", v.msix ? "msix" : "msi", v.entry));
    return ok();
  }
  std::vector<std::string> take() { return std::exchange(calls, {}); }

  bool refuse = false;
  bool refuse_intx = false;
  bool refuse_msi = false;
  std::vector<std::string> calls;
  std::vector<int> trigger_fds;  // the eventfds routes were given (VFIO functions)
};

// A bus with one passthrough function at 00:04.0 (devfn 0x20).
struct PassthroughRig {
  explicit PassthroughRig(std::unique_ptr<passthrough::SoftFunction> function,
                          bool with_transport = true, bool permissive = false,
                          passthrough::FdWatcher* watcher = nullptr, bool extended_config = false)
      : soft(function.get()) {
    auto created = passthrough::PassthroughDevice::create(
        std::move(function), {.transport = with_transport ? &transport : nullptr,
                              .permissive = permissive,
                              .extended_config = extended_config,
                              .watcher = watcher});
    if (!created) {
      error = created.error().message;
      return;
    }
    device = std::move(*created);
    if (auto plugged = bus.plug(*device, 0x20); !plugged) error = plugged.error().message;
  }
  uint32_t read(uint32_t reg, unsigned size = 4) {
    return dispatcher.pci_read(device->address(), reg, size);
  }
  void write(uint32_t reg, uint32_t value, unsigned size = 4) {
    dispatcher.pci_write(device->address(), reg, size, value);
  }
  // The capability IDs the guest sees, walked as a driver would (bounded).
  std::vector<uint8_t> guest_caps() {
    std::vector<uint8_t> ids;
    if (!(read(pci::kStatus, 2) & pci::kStatusCapabilities)) return ids;
    uint32_t at = read(pci::kCapabilitiesPointer, 1) & ~3u;
    for (int hops = 0; at && hops < 64; ++hops) {
      ids.push_back(static_cast<uint8_t>(read(at, 1)));
      at = read(at + 1, 1) & ~3u;
    }
    return ids;
  }
  uint8_t guest_cap(uint8_t id) {
    uint32_t at = read(pci::kCapabilitiesPointer, 1) & ~3u;
    for (int hops = 0; at && hops < 64; ++hops) {
      if (read(at, 1) == id) return static_cast<uint8_t>(at);
      at = read(at + 1, 1) & ~3u;
    }
    return 0;
  }
  bool host_written(uint32_t lo, uint32_t hi) const {
    for (const auto& w : soft->writes)
      if (w.reg < hi && w.reg + w.size > lo) return true;
    return false;
  }

  HostRam ram{RamLayout::pc(16 << 20)};
  Dispatcher dispatcher{&ram};
  FakeInterrupts irq;
  pci::PciBus bus{dispatcher, &irq};
  RecordingPassthrough transport;
  passthrough::SoftFunction* soft;
  std::unique_ptr<passthrough::PassthroughDevice> device;
  std::string error;
};

}  // namespace hvmd::test
