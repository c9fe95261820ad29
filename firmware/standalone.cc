#include "firmware/standalone.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "dm/file_io.h"
#include "firmware/fw_cfg_regs.h"
#include "firmware/linux_boot.h"

namespace hvmd::firmware {

namespace {

constexpr uint64_t kBiosBlock = 64 << 10;
constexpr uint64_t kLowAliasMax = 128 << 10;
constexpr uint64_t kMaxFwCfgFile = 64 << 20;
constexpr uint16_t kCom1 = 0x3f8;

void put_le(std::vector<uint8_t>& out, uint64_t value, unsigned bytes) {
  for (unsigned i = 0; i < bytes; ++i) out.push_back(static_cast<uint8_t>(value >> (8 * i)));
}

// QEMU's fw_cfg UUID is the 16 bytes in the order they are written.
std::vector<uint8_t> uuid_bytes(const std::string& text) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < text.size() && out.size() < 16; ++i) {
    if (text[i] == '-') continue;
    out.push_back(static_cast<uint8_t>(std::stoi(text.substr(i, 2), nullptr, 16)));
    ++i;
  }
  out.resize(16);
  return out;
}

// The boot order the firmware reads: the kernel first (QEMU's bootindex 0 for the linuxboot
// ROM), then the devices given bootindex=. -boot order= sets only the CMOS order, which SeaBIOS
// consults for what this list leaves out.
// -boot strict=on ends a non-empty list with "HALT": the firmware boots nothing it leaves out.
Result<void> add_bootorder(FwCfg& fw, const Machine& machine, bool kernel, bool strict) {
  std::vector<std::string> paths = machine.boot_order();
  if (kernel) paths.insert(paths.begin(), kLinuxbootBootPath);
  if (paths.empty()) return ok();
  if (strict) paths.push_back("HALT");
  std::string list;
  for (const auto& path : paths) list += path + "\n";
  return fw.add_file("bootorder", std::vector<uint8_t>(list.begin(), list.end()));
}

Result<void> add_linux_boot(FwCfg& fw, const Machine& machine, const Config& config) {
  auto boot = LinuxBoot::open(config, ram_below_4g(machine.options()));
  if (!boot) return boot.error();
  return (*boot)->install(fw);
}

}  // namespace

Result<std::vector<uint8_t>> read_file(const std::string& path, uint64_t max_bytes) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return make_error("%s: %s", path.c_str(), strerror(errno));
  auto data = read_fd(fd, max_bytes);
  close(fd);
  if (!data) return make_error("%s: %s", path.c_str(), data.error().message.c_str());
  return data;
}

Result<std::vector<uint8_t>> load_bios(const std::string& path) {
  auto image = read_file(path, kMaxBiosSize);
  if (!image) return make_error("-bios %s", image.error().message.c_str());
  if (image->empty() || image->size() % kBiosBlock)
    return make_error("-bios %s: %zu bytes is not a whole number of 64 KiB blocks", path.c_str(),
                      image->size());
  return image;
}

uint64_t bios_address(uint64_t size) {
  return (1ull << 32) - size;
}
uint64_t bios_low_alias_size(uint64_t size) {
  return std::min(size, kLowAliasMax);
}

Result<std::unique_ptr<BiosRom>> BiosRom::map(Dispatcher& dispatcher, const Config& config) {
  if (config.bios == Config{}.bios && access(config.bios.c_str(), F_OK) != 0)
    return std::unique_ptr<BiosRom>();
  auto image = load_bios(config.bios);
  if (!image) return image.error();
  return std::unique_ptr<BiosRom>(new BiosRom(dispatcher, std::move(*image)));
}

BiosRom::BiosRom(Dispatcher& dispatcher, std::vector<uint8_t> image)
    : dispatcher_(dispatcher), image_(std::move(image)) {
  mapping_ = dispatcher_.map_mmio(bios_address(image_.size()), image_.size(), this, "bios");
}

BiosRom::~BiosRom() {
  dispatcher_.unmap(mapping_);
}

uint64_t BiosRom::read(uint64_t offset, unsigned size) {
  uint64_t value = 0;
  for (unsigned i = 0; i < size && offset + i < image_.size(); ++i)
    value |= uint64_t{image_[offset + i]} << (8 * i);
  return value;
}

Result<FwCfg*> add_fw_cfg(Machine& machine, const Config& config) {
  auto owned = std::make_unique<FwCfg>(machine.dispatcher(), machine.memory());
  FwCfg& fw = *owned;
  const MachineOptions& options = machine.options();
  fw.set_u64(fw_cfg::kRamSize, options.ram_bytes);
  fw.set_u16(fw_cfg::kNbCpus, static_cast<uint16_t>(options.cpus));
  fw.set_u16(fw_cfg::kMaxCpus, static_cast<uint16_t>(options.cpus));
  // Only -nographic / graphics=off: a machine without a display (-display none) still has one
  // for the firmware's purposes.
  fw.set_u16(fw_cfg::kNographic, config.nographic ? 1 : 0);
  fw.set_u16(fw_cfg::kBootMenu, config.boot_menu ? 1 : 0);
  if (!options.uuid.empty()) fw.set_item(fw_cfg::kUuid, uuid_bytes(options.uuid));

  // RAM as the firmware should report it: all of low memory (the firmware reserves its own
  // areas below 1 MiB) and what lies above 4 GiB.
  RamLayout layout = RamLayout::pc(options.ram_bytes);
  std::vector<uint8_t> e820;
  for (RamLayout::Region ram : {RamLayout::Region{0, layout.below_4g},
                                RamLayout::Region{RamLayout::kFourGiB, layout.above_4g}}) {
    if (!ram.size) continue;
    put_le(e820, ram.gpa, 8);
    put_le(e820, ram.size, 8);
    put_le(e820, fw_cfg::kE820Ram, 4);
  }
  HVMD_TRY(fw.add_file(fw_cfg::kE820File, std::move(e820)));
  if (!config.kernel.empty()) HVMD_TRY(add_linux_boot(fw, machine, config));
  // The kernel and devices given bootindex=, as firmware paths, one a line.
  HVMD_TRY(add_bootorder(fw, machine, !config.kernel.empty(), config.boot_strict));
  // How long the firmware waits after no device booted before it reboots; always present.
  std::vector<uint8_t> fail_wait;
  put_le(fail_wait, config.boot_fail_wait, 4);
  HVMD_TRY(fw.add_file(fw_cfg::kBootFailWaitFile, std::move(fail_wait)));
  // How long the boot menu waits for a key (-boot splash-time=, with or without menu=on).
  if (config.splash_time) {
    std::vector<uint8_t> menu_wait;
    put_le(menu_wait, *config.splash_time, 2);
    HVMD_TRY(fw.add_file(fw_cfg::kBootMenuWaitFile, std::move(menu_wait)));
  }
  // Without a display, firmware writes its screen to COM1 (SeaBIOS's sercon).
  if (config.vnc == "none" && !config.serials.empty()) {
    std::vector<uint8_t> port;
    put_le(port, kCom1, 2);
    HVMD_TRY(fw.add_file("etc/sercon-port", std::move(port)));
  }
  // Option ROMs outside any PCI device: the firmware runs every genroms/ file.
  for (const auto& path : config.option_roms) {
    auto image = read_file(path, Machine::kMaxRomBytes);
    if (!image) return make_error("-option-rom %s", image.error().message.c_str());
    std::string name = "genroms/" + path.substr(path.find_last_of('/') + 1);
    if (auto added = fw.add_file(name, std::move(*image)); !added)
      return make_error("-option-rom %s: %s", path.c_str(), added.error().message.c_str());
  }
  for (const auto& file : config.fw_cfg_files) {
    std::vector<uint8_t> data;
    if (file.text) {
      data.assign(file.text->begin(), file.text->end());
    } else {
      auto read = read_file(*file.path, kMaxFwCfgFile);
      if (!read)
        return make_error("-fw_cfg name=%s: %s", file.name.c_str(), read.error().message.c_str());
      data = std::move(*read);
    }
    if (auto added = fw.add_file(file.name, std::move(data)); !added)
      return make_error("-fw_cfg: %s", added.error().message.c_str());
  }
  auto added = machine.add_board_device(std::move(owned), std::nullopt);
  if (!added) return added.error();
  return &fw;
}

Result<FwCfg*> add_xen_kernel_fw_cfg(Machine& machine, const Config& config) {
  if (config.kernel.empty()) return nullptr;
  auto owned = std::make_unique<FwCfg>(machine.dispatcher(), machine.memory());
  FwCfg& fw = *owned;
  fw.set_u16(fw_cfg::kNbCpus, static_cast<uint16_t>(machine.options().cpus));
  HVMD_TRY(add_linux_boot(fw, machine, config));
  HVMD_TRY(add_bootorder(fw, machine, true, config.boot_strict));
  auto added = machine.add_board_device(std::move(owned), std::nullopt);
  if (!added) return added.error();
  return &fw;
}

}  // namespace hvmd::firmware
