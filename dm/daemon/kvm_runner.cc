// -accel kvm: hvmd runs the whole machine on /dev/kvm, with real firmware (SeaBIOS by default).
#include <sys/mman.h>

#include <cstring>

#include "devices/board.h"
#include "dm/daemon/daemon.h"
#include "dm/log.h"
#include "firmware/standalone.h"
#include "ioreq/kvm/kvm_vm.h"
#include "passthrough/passthrough_devices.h"

namespace hvmd::daemon {
namespace {

// The BIOS image in page-aligned memory the guest may only read (a read-only KVM slot).
class BiosImage {
 public:
  explicit BiosImage(const std::vector<uint8_t>& image) : size_(image.size()) {
    void* p = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return;
    data_ = static_cast<uint8_t*>(p);
    std::memcpy(data_, image.data(), size_);
  }
  ~BiosImage() {
    if (data_) munmap(data_, size_);
  }
  uint8_t* data() const { return data_; }
  uint64_t size() const { return size_; }
  // The low alias below 1 MiB lives in RAM, which the firmware makes writable and shadows (hvmd
  // does not model the PAM registers' ROM/RAM switching): it is copied in at power-on and reset.
  void copy_low_alias(GuestMemory& ram) const {
    uint64_t alias = firmware::bios_low_alias_size(size_);
    ram.write((1ull << 20) - alias, data_ + size_ - alias, alias);
  }

 private:
  uint64_t size_;
  uint8_t* data_ = nullptr;
};

}  // namespace

Result<int> run_kvm(const Config& config, int daemon_fd) {
  auto vm = kvm::KvmVm::create();
  if (!vm) return vm.error();
  auto image = firmware::load_bios(config.bios);
  if (!image) return image.error();
  BiosImage bios(*image);
  if (!bios.data()) return make_error("cannot allocate %zu bytes for the BIOS", image->size());

  Clock clock(Clock::Mode::kHost);
  EventLoop loop(clock);
  HVMD_TRY(loop.init());
  HVMD_TRY(watch_signals(loop));
  std::mutex device_lock;
  loop.set_device_lock(&device_lock);

  RamLayout layout = RamLayout::pc(config.machine.ram_bytes);
  HostRam ram(layout);
  if (!ram.valid())
    return make_error("-m: cannot reserve %llu bytes of guest RAM",
                      static_cast<unsigned long long>(config.machine.ram_bytes));
  for (const auto& region : layout.regions)
    HVMD_TRY((*vm)->map_memory(region.gpa, region.size, ram.map(region.gpa, region.size).data(),
                               /*read_only=*/false));
  HVMD_TRY((*vm)->map_memory(firmware::bios_address(bios.size()), bios.size(), bios.data(),
                             /*read_only=*/true));
  bios.copy_low_alias(ram);
  HVMD_TRY((*vm)->create_vcpus(config.machine.cpus, config.cpu_model));

  Chardevs chardevs(config, loop);    // before the machine: its serial ports hold them
  ThreadPoolExecutor block_io(loop);  // before the machine: its drives' I/O runs here
  HVMD_TRY(block_io.start());
  Netdevs netdevs(config, loop);  // before the machine: its NICs hold them
  DeviceRegistry registry;
  devices::register_devices(registry);
  passthrough::PassthroughHosts passthrough_hosts("/sys", vm->get());
  passthrough::EventLoopWatcher passthrough_watcher(loop);  // vectors KVM does not take yet
  std::vector<passthrough::DmaRange> guest_ram;
  for (const auto& region : layout.regions)
    guest_ram.push_back({region.gpa, ram.map(region.gpa, region.size).data(), region.size});
  passthrough_hosts.enable_vfio(std::move(guest_ram), &passthrough_watcher);
  passthrough::register_passthrough_devices(registry, passthrough_hosts);
  Machine machine(config.machine, clock, ram, **vm, registry);
  machine.set_device_memory_backing(vm->get());  // VRAM and ROMs become memory slots
  HVMD_TRY(populate_machine(machine, config, chardevs, block_io, netdevs));
  HVMD_TRY(firmware::add_fw_cfg(machine, config));
  machine.dispatcher().set_listener(vm->get());
  for (const auto& m : machine.dispatcher().mappings())
    if (m.sequence && m.memory) (*vm)->memory_changed(*m.memory, m.offset, m.length, m.base, true);

  bool running = false;
  auto start = [&] {
    if (running) return;
    running = true;
    (*vm)->start(
        machine.dispatcher(), loop, device_lock,
        [&] {
          // A triple fault resets a PC; say so, as it is usually a guest (or KVM) failure.
          HVMD_GUEST_LOG("kvm: a vCPU triple-faulted; the machine resets");
          machine.request_shutdown(ShutdownCause::kGuestReset);
        },
        [&](std::string message) {
          HVMD_ERROR("%s", message.c_str());
          loop.post([&] { loop.stop(1); });
        });
  };
  // Called on the loop, which holds the device lock: vCPU threads may be waiting for it.
  auto stop = [&] {
    if (!running) return;
    running = false;
    device_lock.unlock();
    (*vm)->stop();
    device_lock.lock();
  };
  // A reset of everything outside the devices: vCPUs, in-kernel interrupt controllers and PIT,
  // the BIOS's low copy. On the loop, with the device lock held.
  auto reset_platform = [&] {
    stop();
    if (auto reset = (*vm)->reset_cpus(); !reset) {
      HVMD_ERROR("guest reset: %s", reset.error().message.c_str());
      loop.stop(1);
      return;
    }
    bios.copy_low_alias(ram);
    if (machine.run_state() == RunState::kRunning) start();
  };
  Monitors monitors(machine, {.quit = [&loop] { loop.stop(0); },
                              .run_state_changed =
                                  [&](RunState state) {
                                    if (state == RunState::kRunning)
                                      start();
                                    else
                                      stop();
                                  },
                              .reset_platform = reset_platform});
  HVMD_TRY(monitors.open(config, chardevs));
  auto vnc = open_vnc(machine, loop, config, monitors.server());
  if (!vnc) return vnc.error();
  handle_local_shutdowns(machine, loop, monitors, config, reset_platform);

  HVMD_TRY(write_pidfile(config.pidfile));
  HVMD_TRY(drop_privileges(config));
  passthrough_hosts.seal();
  daemon_ready(daemon_fd);
  {
    std::lock_guard lock(device_lock);
    if (machine.run_state() == RunState::kRunning) start();
  }
  int status = loop.run();
  (*vm)->stop();
  return status;
}

}  // namespace hvmd::daemon
