#include "devices/board.h"

#include "devices/e1000/e1000.h"
#include "devices/ide/piix_ide.h"
#include "devices/input/i8042.h"
#include "devices/platform/i440fx.h"
#include "devices/platform/piix3_isa.h"
#include "devices/platform/piix4_pm.h"
#include "devices/platform/reset_control.h"
#include "devices/platform/rtc_cmos.h"
#include "devices/serial/debug_console.h"
#include "devices/serial/uart_16550.h"
#include "devices/testing/pci_testdev.h"
#include "devices/usb/usb_catalogue.h"
#include "devices/vga/cirrus_vga.h"
#include "devices/vga/std_vga.h"
#include "devices/xen_platform/xen_platform.h"
#include "devices/xen_platform/xen_platform_regs.h"

namespace hvmd::devices {

namespace {

constexpr uint8_t kHostBridgeDevfn = 0x00;       // 00:00.0
constexpr uint8_t kIsaBridgeDevfn = 0x08;        // 00:01.0 (hvmloader insists on it)
constexpr uint8_t kPowerManagementDevfn = 0x0b;  // 00:01.3

// The order a pc BIOS boots from without -boot: hard disk, floppy, CD-ROM (QEMU's "cad").
constexpr const char* kDefaultBootOrder = "cad";
// Boot device codes in the CMOS boot-order nibbles (devices/platform/rtc_regs.h).
enum BootCode : uint8_t { kBootFloppy = 1, kBootDisk = 2, kBootCdrom = 3, kBootNetwork = 4 };

// -boot order= for the BIOS: up to three drive letters as 4-bit codes, first and second in 0x3d,
// third in the high nibble of 0x38, whose bit 0 tells the BIOS not to check a floppy's boot
// signature (-no-fd-bootchk). In NVRAM, so it reaches SeaBIOS under Xen too.
void set_cmos_boot_order(RtcCmos& rtc, const std::string& order, bool fd_bootchk) {
  uint8_t codes[3] = {};
  for (size_t i = 0; i < order.size() && i < 3; ++i) {
    switch (order[i]) {
      case 'a':
        codes[i] = kBootFloppy;
        break;
      case 'c':
        codes[i] = kBootDisk;
        break;
      case 'd':
        codes[i] = kBootCdrom;
        break;
      case 'n':
        codes[i] = kBootNetwork;
        break;
    }
  }
  rtc.set_byte(rtc::kBootOrder12, static_cast<uint8_t>(codes[1] << 4 | codes[0]));
  rtc.set_byte(rtc::kBootOrder3,
               static_cast<uint8_t>(codes[2] << 4 | (fd_bootchk ? 0 : rtc::kBootNoFloppyCheck)));
}

// The CMOS bytes a PC BIOS reads for memory and drives (standalone machines; under Xen,
// hvmloader writes them).
void set_cmos_configuration(RtcCmos& rtc, const MachineOptions& options) {
  RamLayout layout = RamLayout::pc(options.ram_bytes);
  constexpr uint64_t kKiB = 1024, kMiB = 1024 * kKiB, k64KiB = 64 * kKiB;
  auto put16 = [&](uint8_t index, uint64_t value) {
    rtc.set_byte(index, static_cast<uint8_t>(value));
    rtc.set_byte(index + 1, static_cast<uint8_t>(value >> 8));
  };
  rtc.set_byte(rtc::kFloppyTypes, 0);  // no floppy drives
  rtc.set_byte(rtc::kDiskTypes, 0);
  rtc.set_byte(rtc::kEquipment, rtc::kEquipmentCoprocessor | rtc::kEquipmentPs2Mouse);
  put16(rtc::kBaseMemoryKb, 640);
  uint64_t extended =
      std::min<uint64_t>((layout.below_4g - std::min(layout.below_4g, kMiB)) / kKiB, 0xffff);
  put16(rtc::kExtendedMemoryKb, extended);
  put16(rtc::kExtendedMemoryKb2, extended);
  uint64_t above_16m = layout.below_4g > 16 * kMiB ? (layout.below_4g - 16 * kMiB) / k64KiB : 0;
  put16(rtc::kMemoryAbove16m, std::min<uint64_t>(above_16m, 0xffff));
  uint64_t above_4g = layout.above_4g / k64KiB;
  rtc.set_byte(rtc::kMemoryAbove4g, static_cast<uint8_t>(above_4g));
  rtc.set_byte(rtc::kMemoryAbove4g + 1, static_cast<uint8_t>(above_4g >> 8));
  rtc.set_byte(rtc::kMemoryAbove4g + 2, static_cast<uint8_t>(above_4g >> 16));
  rtc.set_byte(rtc::kCpuCountMinusOne, static_cast<uint8_t>(options.cpus - 1));
  rtc.update_checksum();
}

Result<std::unique_ptr<Device>> create_serial(Machine& machine, OptionReader& props) {
  auto index = props.number("index", std::size(uart::kComPorts) - 1);
  if (!index) return index.error();
  const uart::ComPort& com = uart::kComPorts[index->value_or(0)];
  auto iobase = props.number("iobase", 0xfff8);
  auto irq = props.number("irq", 15);
  auto chardev_id = props.string("chardev");
  if (!iobase) return iobase.error();
  if (!irq) return irq.error();
  auto uart = std::make_unique<Uart16550>(
      machine.dispatcher(), machine.clock(),
      IrqLine::isa(&machine.interrupt_sink(), static_cast<unsigned>(irq->value_or(com.irq))),
      static_cast<uint16_t>(iobase->value_or(com.base)));
  if (chardev_id) {
    auto chardev = machine.chardev(*chardev_id);
    if (!chardev) return chardev.error();
    uart->attach(**chardev);
  }
  return std::unique_ptr<Device>(std::move(uart));
}

Result<std::unique_ptr<Device>> create_debugcon(Machine& machine, OptionReader& props) {
  auto iobase = props.number("iobase", 0xffff);
  if (!iobase) return iobase.error();
  Chardev* chardev = nullptr;
  if (auto id = props.string("chardev")) {
    auto found = machine.chardev(*id);
    if (!found) return found.error();
    chardev = *found;
  }
  return std::unique_ptr<Device>(std::make_unique<DebugConsole>(
      machine.dispatcher(), static_cast<uint16_t>(iobase->value_or(DebugConsole::kDefaultPort)),
      chardev));
}

}  // namespace

void register_devices(DeviceRegistry& registry) {
  ide::register_ide_devices(registry);
  e1000::register_e1000(registry);
  vga::register_std_vga(registry);
  vga::register_cirrus_vga(registry);
  usb::register_usb_devices(registry);
  registry.add({.name = "pci-testdev",
                .description = "PCI test function: scratch registers behind two BARs (romfile=)",
                .pci = true,
                .hotpluggable = true,
                .create = [](Machine&, OptionReader&) -> Result<std::unique_ptr<Device>> {
                  return std::unique_ptr<Device>(std::make_unique<PciTestDevice>());
                }});
  registry.add(
      {.name = "isa-debugcon",
       .description = "debug console port (iobase=, default 0xe9; chardev=)",
       .pci = false,
       .hotpluggable = false,
       .parent = "isa-device",
       .properties = {{"iobase", "uint32", "I/O port"}, {"chardev", "str", "a -chardev id"}},
       .create = create_debugcon});
  registry.add({.name = "isa-serial",
                .description = "16550A UART (index=0-3 for COM1-4, or iobase=, irq=; chardev=)",
                .pci = false,
                .hotpluggable = false,
                .parent = "isa-device",
                .properties = {{"index", "uint32", "0-3: COM1-COM4"},
                               {"iobase", "uint32", "I/O port"},
                               {"irq", "uint32", "ISA interrupt"},
                               {"chardev", "str", "a -chardev id"}},
                .create = create_serial});
  // The host bridge is part of every board; it is listed so users see it, but cannot be added.
  registry.add({.name = "i440FX-pcihost",
                .description = "Intel 440FX host bridge (part of the pc and xenfv boards)",
                .pci = true,
                .hotpluggable = false,
                .create = [](Machine&, OptionReader& props) -> Result<std::unique_ptr<Device>> {
                  return make_error("%s is part of the board and cannot be added",
                                    props.what().c_str());
                }});
}

Result<void> build_board(Machine& machine) {
  // -machine none: no devices at all; the daemon still serves QMP and qtest.
  if (machine.options().type == "none") return ok();
  const MachineOptions& options = machine.options();
  // Standalone, the host bridge's PAM registers route the BIOS area; under Xen, Xen owns memory.
  auto host = machine.add_board_device(
      std::make_unique<I440fx>(machine.dispatcher(), options.xen ? nullptr : &machine.memory()),
      kHostBridgeDevfn);
  if (!host) return host.error();
  auto reset = machine.add_board_device(
      std::make_unique<ResetControl>(machine.dispatcher(), machine), std::nullopt);
  if (!reset) return reset.error();
  if (auto isa = machine.add_board_device(std::make_unique<Piix3Isa>(machine.interrupt_sink()),
                                          kIsaBridgeDevfn);
      !isa)
    return isa.error();
  HVMD_TRY(ide::add_ide_controller(machine));
  if (auto pm = machine.add_board_device(
          std::make_unique<Piix4Pm>(machine.dispatcher(), machine.pci_bus(),
                                    machine.interrupt_sink(), machine.clock(), machine,
                                    options.xen),
          kPowerManagementDevfn);
      !pm)
    return pm.error();
  // Keyboard and relative pointer input from VNC and QMP, through the machine's input router.
  auto i8042 = std::make_unique<I8042>(machine.dispatcher(), machine.interrupt_sink(), machine,
                                       machine.input());
  if (auto kbc = machine.add_board_device(std::move(i8042), std::nullopt); !kbc) return kbc.error();
  // xenfv: the platform device PV drivers look for (libxl passes pc,accel=xen without it).
  if (options.type == "xenfv") {
    if (auto platform = machine.add_board_device(
            std::make_unique<XenPlatformDevice>(machine.dispatcher(), machine),
            xen_platform::kDevfn);
        !platform)
      return platform.error();
  }
  auto rtc = std::make_unique<RtcCmos>(
      machine.dispatcher(), machine.clock(), IrqLine::isa(&machine.interrupt_sink(), rtc::kIrq),
      /*nvram_only=*/options.xen, options.rtc_start.value_or(static_cast<int64_t>(time(nullptr))));
  if (!options.xen) set_cmos_configuration(*rtc, options);
  std::string order = options.boot_order.empty() ? kDefaultBootOrder : options.boot_order;
  if (options.boot_once.empty()) {
    set_cmos_boot_order(*rtc, order, options.fd_bootchk);
  } else {
    // once=: the first boot only; the first reset (the guest's reboot or QMP system_reset)
    // brings back the normal order for good. NVRAM survives the RTC's own reset.
    set_cmos_boot_order(*rtc, options.boot_once, options.fd_bootchk);
    machine.add_reset_hook(
        [rtc = rtc.get(), order, bootchk = options.fd_bootchk, pending = true]() mutable {
          if (!pending) return;
          pending = false;
          set_cmos_boot_order(*rtc, order, bootchk);
        });
  }
  if (auto added = machine.add_board_device(std::move(rtc), std::nullopt); !added)
    return added.error();
  return ok();
}

Result<void> attach_drives(Machine& machine) {
  return ide::add_ide_drives(machine);
}

Result<void> add_usb(Machine& machine, const std::vector<std::string>& usbdevices) {
  return usb::add_command_line_usb(machine, usbdevices);
}

}  // namespace hvmd::devices
