#include "devices/board.h"

#include "devices/platform/i440fx.h"
#include "devices/platform/reset_control.h"

namespace hvmd::devices {

namespace {
constexpr uint8_t kHostBridgeDevfn = 0x00;  // 00:00.0
}  // namespace

void register_devices(DeviceRegistry& registry) {
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
