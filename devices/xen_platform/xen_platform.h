// The Xen platform PCI device at 00:03.0 on xenfv machines: PV drivers find it by its IDs, check
// the magic on port 0x10, register their product and build, then ask for the emulated disks and
// NICs to be unplugged before they take over. It also carries the PV drivers' log (one line at a
// time into hvmd's log, rate-limited) and a 16 MiB BAR where guests map their grant table.
#pragma once

#include <string>

#include "dm/emulated_unplug.h"
#include "dm/io_handler.h"
#include "dm/pci/pci_device.h"

namespace hvmd::devices {

// What a save carries, described in xen_platform.cc.
struct XenPlatformState {
  uint8_t flags_ = 0;
  uint16_t product_ = 0;
  template <class V>
  void describe(V& v);
};

class XenPlatformDevice final : public pci::PciDevice, private XenPlatformState {
 public:
  XenPlatformDevice(Dispatcher& dispatcher, EmulatedUnplug& unplug);
  std::string_view type() const override { return "xen-platform"; }

  uint64_t fixed_read(uint64_t offset, unsigned size);
  void fixed_write(uint64_t offset, unsigned size, uint64_t value);
  uint64_t bar_read(uint64_t offset, unsigned size);
  void bar_write(uint64_t offset, unsigned size, uint64_t value);
  uint64_t mmio_read(uint64_t, unsigned size) { return all_ones(size); }
  void mmio_write(uint64_t, unsigned, uint64_t) {}

 protected:
  void reset_device() override;
  void save_device(StateWriter& out) const override;
  Result<std::unique_ptr<StagedState>> parse_device(StateReader& in, uint32_t version) override;

 private:
  void log_char(uint8_t c);
  void unplug(uint16_t mask);

  EmulatedUnplug& unplug_;
  MemberIoHandler<XenPlatformDevice, &XenPlatformDevice::fixed_read,
                  &XenPlatformDevice::fixed_write>
      fixed_io_{*this};
  MemberIoHandler<XenPlatformDevice, &XenPlatformDevice::bar_read, &XenPlatformDevice::bar_write>
      bar_io_{*this};
  MemberIoHandler<XenPlatformDevice, &XenPlatformDevice::mmio_read, &XenPlatformDevice::mmio_write>
      mmio_{*this};
  ScopedMapping fixed_mapping_;
  std::string log_line_;
};

}  // namespace hvmd::devices
