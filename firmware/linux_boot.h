// Direct kernel boot (-kernel, -initrd, -append): the Linux x86 boot protocol's loader half.
// hvmd checks the bzImage, decides where its parts go in guest RAM, patches the setup header as
// the protocol asks of a boot loader, and offers the parts through fw_cfg; the linuxboot option
// ROM (Debian's /usr/share/qemu/linuxboot_dma.bin, run by SeaBIOS from fw_cfg genroms/) copies
// them into place by fw_cfg DMA and jumps to the kernel's real-mode setup. The kernel and initrd
// stay in their files and are read when the firmware asks (KERNEL_DATA, INITRD_DATA), so a large
// initramfs costs hvmd no resident memory.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dm/command_line.h"
#include "dm/result.h"
#include "firmware/fw_cfg.h"

namespace hvmd::firmware {

// Where the parts go: QEMU's layout for a kernel loaded high, which the linuxboot ROM assumes
// (its stack sits between the setup code and the command line).
inline constexpr uint32_t kSetupAddress = 0x10000;    // real-mode setup (boot_params)
inline constexpr uint32_t kCmdlineAddress = 0x20000;  // 64 KiB above the setup
inline constexpr uint32_t kKernelAddress = 0x100000;  // protected-mode body, at 1 MiB
inline constexpr uint32_t kMaxSetupSize = 0x8000;     // the protocol's limit for the setup
// Kept free below the top of low RAM for what the firmware places there (SeaBIOS's high zone and
// ACPI tables, hvmloader's tables): the initrd ends this far below it.
inline constexpr uint64_t kRamTopReserve = 1ull << 20;
// The option ROM SeaBIOS runs to load the kernel, and its boot-order path (QEMU gives it
// bootindex 0: the kernel boots before any disk, whatever -boot order= says for the CMOS).
inline constexpr const char* kLinuxbootRomPath = "/usr/share/qemu/linuxboot_dma.bin";
inline constexpr const char* kLinuxbootRomName = "genroms/linuxboot_dma.bin";
inline constexpr const char* kLinuxbootBootPath = "/rom@genroms/linuxboot_dma.bin";

class LinuxBoot {
 public:
  // Opens and checks the files of config.kernel/initrds/append, for a guest with ram_below_4g
  // bytes of RAM below 4 GiB. Every error is one line naming the option and file.
  static Result<std::unique_ptr<LinuxBoot>> open(const Config& config, uint64_t ram_below_4g,
                                                 const std::string& rom_path = kLinuxbootRomPath);
  ~LinuxBoot();

  // The setup/kernel/initrd/cmdline items and the linuxboot ROM (genroms/).
  Result<void> install(FwCfg& fw) const;

  const std::vector<uint8_t>& setup() const { return setup_; }  // patched
  uint64_t kernel_size() const { return kernel_size_; }
  uint32_t initrd_address() const { return initrd_address_; }
  uint64_t initrd_size() const;

 private:
  LinuxBoot() = default;
  std::vector<uint8_t> setup_;
  std::vector<uint8_t> cmdline_;  // with its NUL
  std::vector<uint8_t> rom_;
  uint64_t kernel_size_ = 0;
  uint32_t initrd_address_ = 0;
  std::shared_ptr<FwCfgSource> kernel_;
  std::shared_ptr<FwCfgSource> initrd_;  // null without -initrd
};

// Low RAM as the firmware will see it, for placing the initrd.
uint64_t ram_below_4g(const MachineOptions& options);

}  // namespace hvmd::firmware
