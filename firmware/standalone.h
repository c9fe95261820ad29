// What the firmware needs when hvmd runs the whole machine itself (kvm, qtest): fw_cfg with the
// machine's facts and the user's files, and the BIOS image. Under Xen, hvmloader and Xen provide
// all of this instead.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dm/command_line.h"
#include "dm/machine.h"
#include "firmware/fw_cfg.h"

namespace hvmd::firmware {

// Adds fw_cfg to the machine: signature, RAM size and e820 map, CPUs, UUID, boot order, the
// serial console port (when the guest has a serial port and no display), -fw_cfg files.
// With -kernel, also the direct kernel boot items and the linuxboot ROM (firmware/linux_boot.h).
Result<FwCfg*> add_fw_cfg(Machine& machine, const Config& config);
// Under Xen, hvmloader tells SeaBIOS about the machine; fw_cfg exists only for direct kernel boot
// (-kernel), as with qemu-xen: the CPU count, the kernel's items, the linuxboot ROM and a boot
// order that puts it first. Without -kernel it adds nothing and returns null.
Result<FwCfg*> add_xen_kernel_fw_cfg(Machine& machine, const Config& config);

// A BIOS image: a whole number of 64 KiB blocks, at most 16 MiB, mapped to end at 4 GiB.
inline constexpr uint64_t kMaxBiosSize = 16ull << 20;
Result<std::vector<uint8_t>> load_bios(const std::string& path);
// Where the image lives: its top-of-4-GiB address, and its low alias below 1 MiB (the last
// 128 KiB of the image, or all of a smaller one).
uint64_t bios_address(uint64_t size);
uint64_t bios_low_alias_size(uint64_t size);

Result<std::vector<uint8_t>> read_file(const std::string& path, uint64_t max_bytes);

// The BIOS image as ROM at the top of 4 GiB where hvmd keeps the memory map itself (qtest; KVM
// maps it as a read-only memory slot): reads return the image, writes are dropped. Its low alias
// below 1 MiB is the i440FX's PAM window's to route (devices/platform/pam.h).
class BiosRom final : public IoHandler {
 public:
  // The -bios image, or the default one if it is installed (a missing default is no error: the
  // machine then has no BIOS); an explicit -bios that cannot be loaded is.
  static Result<std::unique_ptr<BiosRom>> map(Dispatcher& dispatcher, const Config& config);
  ~BiosRom() override;
  BiosRom(const BiosRom&) = delete;
  BiosRom& operator=(const BiosRom&) = delete;

  uint64_t read(uint64_t offset, unsigned size) override;
  void write(uint64_t, unsigned, uint64_t) override {}

 private:
  BiosRom(Dispatcher& dispatcher, std::vector<uint8_t> image);
  Dispatcher& dispatcher_;
  std::vector<uint8_t> image_;
  Dispatcher::MappingId mapping_;
};

}  // namespace hvmd::firmware
