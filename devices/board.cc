#include "devices/board.h"

#include "devices/platform/i440fx.h"
#include "devices/platform/reset_control.h"
#include "devices/serial/debug_console.h"
#include "devices/serial/uart_16550.h"

namespace hvmd::devices {

namespace {

constexpr uint8_t kHostBridgeDevfn = 0x00;  // 00:00.0

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
  registry.add({.name = "isa-debugcon",
                .description = "debug console port (iobase=, default 0xe9; chardev=)",
                .pci = false,
                .hotpluggable = false,
                .create = create_debugcon});
  registry.add({.name = "isa-serial",
                .description = "16550A UART (index=0-3 for COM1-4, or iobase=, irq=; chardev=)",
                .pci = false,
                .hotpluggable = false,
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
  auto host =
      machine.add_board_device(std::make_unique<I440fx>(machine.dispatcher()), kHostBridgeDevfn);
  if (!host) return host.error();
  auto reset = machine.add_board_device(std::make_unique<ResetControl>(machine), std::nullopt);
  if (!reset) return reset.error();
  return ok();
}

}  // namespace hvmd::devices
