// -accel qtest: guest accesses come from a test program over QEMU's qtest protocol.

#include "devices/board.h"
#include "dm/daemon/daemon.h"
#include "dm/guest_memory.h"
#include "firmware/standalone.h"
#include "ioreq/qtest/qtest_server.h"
#include "passthrough/passthrough_devices.h"

namespace hvmd::daemon {

Result<int> run_qtest(const Config& config, int daemon_fd) {
  if (!config.qtest) return make_error("-accel qtest needs -qtest DEV (e.g. -qtest unix:PATH)");
  Clock clock(Clock::Mode::kVirtual);
  EventLoop loop(clock);
  HVMD_TRY(loop.init());
  HVMD_TRY(watch_signals(loop));

  HostRam ram(RamLayout::pc(config.machine.ram_bytes));
  if (!ram.valid())
    return make_error("-m: cannot reserve %llu bytes of guest RAM",
                      static_cast<unsigned long long>(config.machine.ram_bytes));
  qtest::QtestInterrupts interrupts(ram);
  DeviceRegistry registry;
  devices::register_devices(registry);
  // No hypervisor to map BARs or route interrupts: passthrough BARs are trapped to the host.
  passthrough::PassthroughHosts passthrough_hosts("/sys", nullptr);
  passthrough::EventLoopWatcher passthrough_watcher(loop);  // VFIO eventfds, delivered by hvmd
  std::vector<passthrough::DmaRange> guest_ram;
  for (const auto& region : RamLayout::pc(config.machine.ram_bytes).regions)
    guest_ram.push_back({region.gpa, ram.map(region.gpa, region.size).data(), region.size});
  passthrough_hosts.enable_vfio(std::move(guest_ram), &passthrough_watcher);
  passthrough::register_passthrough_devices(registry, passthrough_hosts);
  Chardevs chardevs(config, loop);    // before the machine: its serial ports hold them
  ThreadPoolExecutor block_io(loop);  // before the machine: its drives' I/O runs here
  HVMD_TRY(block_io.start());
  Netdevs netdevs(config, loop);  // before the machine: its NICs hold them
  Machine machine(config.machine, clock, ram, interrupts, registry);
  HVMD_TRY(populate_machine(machine, config, chardevs, block_io, netdevs));
  std::unique_ptr<firmware::BiosRom> bios;  // at the top of 4 GiB
  if (config.machine.type != "none") {      // -machine none: no firmware either
    HVMD_TRY(firmware::add_fw_cfg(machine, config));
    auto mapped = firmware::BiosRom::map(machine.dispatcher(), config);
    if (!mapped) return mapped.error();
    bios = std::move(*mapped);
  }

  Monitors monitors(machine, {.quit = [&loop] { loop.stop(0); }});
  HVMD_TRY(monitors.open(config, chardevs));
  auto vnc = open_vnc(machine, loop, config, monitors.server());
  if (!vnc) return vnc.error();
  handle_local_shutdowns(machine, loop, monitors, config);
  qtest::QtestServer qtest(machine, interrupts, loop);
  HVMD_TRY(qtest.start(*config.qtest, config.qtest_log));

  HVMD_TRY(write_pidfile(config.pidfile));
  HVMD_TRY(drop_privileges(config));
  passthrough_hosts.seal();
  daemon_ready(daemon_fd);
  return loop.run();
}

}  // namespace hvmd::daemon
