// The i440FX host bridge at 00:00.0. Besides its own config space it implements PCI
// configuration mechanism #1 on ports 0xcf8/0xcfc, which makes every function's config space
// reachable through port I/O (under qtest and KVM; under Xen the hypervisor decodes it itself
// and sends PCI-config requests, but still forwards the ports).
#pragma once

#include <memory>

#include "devices/platform/pam.h"
#include "dm/io_handler.h"
#include "dm/pci/pci_device.h"

namespace hvmd::devices {

struct I440fxState {
  uint32_t config_address_ = 0;
  template <class V>
  void describe(V& v);
};

class I440fx final : public pci::PciDevice, private I440fxState {
 public:
  // shadow_ram: the RAM whose BIOS area the PAM registers route (standalone machines); null under
  // Xen, where the hypervisor owns the memory map.
  explicit I440fx(Dispatcher& dispatcher, GuestMemory* shadow_ram = nullptr);
  std::string_view type() const override { return "i440FX-pcihost"; }
  void unrealize() override;

  uint64_t config_port_read(uint64_t offset, unsigned size);
  void config_port_write(uint64_t offset, unsigned size, uint64_t value);

 protected:
  void reset_device() override;
  void config_written(uint32_t reg, unsigned size, uint32_t value) override;
  void post_load_device() override { sync_pam(); }
  void save_device(StateWriter& out) const override;
  Result<std::unique_ptr<StagedState>> parse_device(StateReader& in, uint32_t version) override;

 private:
  uint32_t data_register(uint64_t port_offset) const;
  void sync_pam();
  PciAddress data_target() const;

  Dispatcher& dispatcher_;
  MemberIoHandler<I440fx, &I440fx::config_port_read, &I440fx::config_port_write> ports_{*this};
  Dispatcher::MappingId ports_mapping_;
  std::unique_ptr<PamWindow> pam_;
};

}  // namespace hvmd::devices
