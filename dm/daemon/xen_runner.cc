// -accel xen: hvmd as the device model of a Xen HVM domain, as libxl starts it.
#include <sys/epoll.h>
#include <unistd.h>

#include "devices/board.h"
#include "dm/daemon/daemon.h"
#include "dm/file_io.h"
#include "dm/log.h"
#include "firmware/standalone.h"
#include "ioreq/xen/guest_shutdown.h"
#include "ioreq/xen/ioreq_server.h"
#include "ioreq/xen/libxen_platform.h"
#include "ioreq/xen/map_cache.h"
#include "ioreq/xen/pv_keyboard.h"
#include "ioreq/xen/xen_device_memory.h"
#include "ioreq/xen/xen_host_passthrough.h"
#include "ioreq/xen/xen_interrupts.h"
#include "ioreq/xen/xen_store.h"
#include "ioreq/xen/xenbus_store.h"
#include "passthrough/passthrough_devices.h"

namespace hvmd::daemon {

Result<int> run_xen(const Config& config, int daemon_fd) {
  if (!config.xen_domid) return make_error("-accel xen needs -xen-domid DOMID");
  uint32_t domid = *config.xen_domid;
  auto platform = xen::open_libxen_platform(domid);
  if (!platform) return platform.error();
  Clock clock(Clock::Mode::kHost);
  EventLoop loop(clock);
  HVMD_TRY(loop.init());
  HVMD_TRY(watch_signals(loop));

  xen::MapCache memory(**platform);
  xen::XenInterrupts interrupts(**platform);
  DeviceRegistry registry;
  devices::register_devices(registry);
  // pciback functions: BARs as p2m/ioport mappings, INTx and MSI as pirqs (the privileged
  // handle stays open for them only when the command line names one, or when functions bound to
  // pciback were opened for libxl's device_add after start: pci = [...], xl pci-attach).
  xen::XenHostPassthrough xen_passthrough(**platform);
  passthrough::PassthroughHosts passthrough_hosts("/sys", &xen_passthrough);
  passthrough::register_passthrough_devices(registry, passthrough_hosts);
  SandboxExtras sandbox_extras;
  sandbox_extras.xen_passthrough = passthrough_hosts.open_pciback_functions() > 0;
  if (sandbox_extras.xen_passthrough || passthrough::names_passthrough_device(config.devices))
    (*platform)->keep_passthrough();
  Chardevs chardevs(config, loop);    // before the machine: its serial ports hold them
  ThreadPoolExecutor block_io(loop);  // before the machine: its drives' I/O runs here
  HVMD_TRY(block_io.start());
  Netdevs netdevs(config, loop);  // before the machine: its NICs hold them
  MachineOptions options = config.machine;
  options.xen = true;
  Machine machine(options, clock, memory, interrupts, registry);
  RamLayout ram = RamLayout::pc(config.machine.ram_bytes);
  xen::XenDeviceMemory device_memory(
      **platform, xen::XenDeviceMemory::private_base_gfn(RamLayout::kFourGiB + ram.above_4g));
  machine.set_device_memory_backing(&device_memory);
  HVMD_TRY(populate_machine(machine, config, chardevs, block_io, netdevs));
  // Direct kernel boot (libxl's kernel=/ramdisk=/cmdline=): SeaBIOS finds it through fw_cfg.
  HVMD_TRY(firmware::add_xen_kernel_fw_cfg(machine, config));
  if (config.incoming_fd) {
    auto state = read_fd(*config.incoming_fd, qmp::kMaxStateBytes);
    close(*config.incoming_fd);
    if (!state)
      return make_error("-incoming fd:%d: %s", *config.incoming_fd, state.error().message.c_str());
    // Then run, unless -S: libxl waits for "running" before it unpauses the restored domain.
    HVMD_TRY(machine.load_state(*state));
  }

  xen::IoreqServer server(**platform, machine.dispatcher(), memory, loop);
  server.set_device_memory(&device_memory);
  HVMD_TRY(server.start());
  // The board is built: close the one handle that could reach beyond this domain.
  (*platform)->end_setup();
  // libxl waits for this key before it talks to us. Under dm_restrict the write may be refused;
  // libxl then uses QMP's query-status instead, so it is not fatal.
  std::unique_ptr<xen::XenStore> store;
  if (auto opened = xen::XenStore::open()) store = std::move(*opened);
  auto publish_running = [&] {
    if (!store) return;
    if (auto w = store->write(xen::XenStore::device_model_state_path(domid), "running"); !w)
      HVMD_WARN("%s", w.error().message.c_str());
  };
  // Live migration: while libxl has log-dirty on, every page a device writes is reported, batched
  // per loop round.
  loop.set_round_end([&memory] { memory.flush_dirty(); });
  Monitors monitors(machine,
                    {.quit = [&loop] { loop.stop(0); },
                     .run_state_changed =
                         [&](RunState state) {
                           // Xen delivers requests only while the guest runs, as with
                           // QEMU.
                           (void)server.set_enabled(state == RunState::kRunning);
                           if (state == RunState::kRunning) publish_running();
                         },
                     .dirty_logging = [&memory](bool on) { memory.set_dirty_logging(on); }});
  HVMD_TRY(monitors.open(config, chardevs));
  auto vnc = open_vnc(machine, loop, config, monitors.server());
  if (!vnc) return vnc.error();
  xen::forward_guest_shutdowns(machine, **platform, [&](ShutdownCause cause) {
    monitors.server().emit_event("SHUTDOWN",
                                 {{"guest", true}, {"reason", shutdown_reason_name(cause)}});
  });
  // The guest set its clock: Xen keeps the clock, we report the offset as QEMU does.
  server.on_time_offset([&](int64_t seconds) {
    monitors.server().emit_event("RTC_CHANGE", {{"offset", seconds}});
  });
  if (machine.run_state() == RunState::kRunning) publish_running();
  // The PV keyboard and pointer libxl gives every HVM guest (device/vkbd/0, served by the
  // device model). Its watch starts libxenstore's reader thread, so before the sandbox.
  std::unique_ptr<xen::XenbusStore> bus;
  std::unique_ptr<xen::PvKeyboard> pv_keyboard;
  if (auto opened = xen::open_xenbus_store(); !opened) {
    HVMD_WARN("no PV keyboard: %s", opened.error().message.c_str());
  } else {
    bus = std::move(*opened);
    pv_keyboard =
        std::make_unique<xen::PvKeyboard>(**platform, *bus, memory, machine.input(), domid);
    HVMD_TRY(pv_keyboard->start());
    HVMD_TRY(loop.watch(bus->watch_fd(), EPOLLIN,
                        [&pv_keyboard](uint32_t) { pv_keyboard->process_watches(); }));
  }

  HVMD_TRY(write_pidfile(config.pidfile));
  HVMD_TRY(drop_privileges(config, sandbox_extras));
  passthrough_hosts.seal();
  daemon_ready(daemon_fd);
  int status = loop.run();
  if (bus) loop.unwatch(bus->watch_fd());
  pv_keyboard.reset();
  // Not closed: xs_close cancels libxenstore's reader thread, and unwinding a cancelled thread
  // loads libgcc_s (executable memory, which the sandbox refuses). The process ends here anyway.
  (void)bus.release();
  server.stop();
  return status;
}

}  // namespace hvmd::daemon
