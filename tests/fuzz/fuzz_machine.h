// The machine hvmd-fuzz drives: the board plus the devices named with -device=SPEC, on a virtual
// clock and a small guest RAM, exactly as the daemon builds it under qtest.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "dm/machine.h"
#include "ioreq/qtest/qtest_protocol.h"
#include "tests/support/injecting_net.h"

namespace hvmd::fuzz {

// Device targets (run) build the machine once per process and reset it between inputs: the
// reset a guest gets, RAM and drive images back to zero, virtual time back to 0, ROMs from the
// process's cache, and the RTC's battery-backed clock and NVRAM (which a reset keeps, as on
// hardware) back to their state at power-on, so every input runs the same whatever ran before
// it. An input that removed a device gets the next one a new machine. The management targets
// (with_machine) build one per input, as QMP may add and remove devices.
class FuzzMachine final : private MappingListener {
 public:
  static constexpr uint64_t kRamBytes = 32ull << 20;
  // Each drive (a -drive spec without file=) gets an in-memory image, zeroed for every input.
  static constexpr uint64_t kDiskBytes = 1ull << 20;
  static constexpr uint64_t kDiscBytes = 512ull << 10;
  FuzzMachine(std::vector<std::string> devices, std::vector<std::string> drives);
  ~FuzzMachine();

  // Runs one input: a bounded sequence of guest operations decoded from data.
  Result<void> run(const uint8_t* data, size_t size);
  // The state target's input: a 32-bit little-endian length, that many bytes of device-state
  // stream, then operations. The stream is loaded (a refused one leaves the fresh machine), a
  // fixed burst of guest accesses then works every loaded device (e1000 transmit and receive, IDE
  // bus-master DMA and PIO, the UART, the i8042, timers) and the operations follow.
  Result<void> run_state(const uint8_t* data, size_t size);
  // A state-target input from a real machine: the operations run, then its saved state with no
  // operations after it (how tests/fuzz/make_state_seeds.py seeds corpus-state).
  Result<std::vector<uint8_t>> state_seed(const uint8_t* ops, size_t size);
  // Hands fn the machine run() uses, reset as for every input (the qtest target).
  Result<void> with_reset_machine(const std::function<void(Machine&, qtest::QtestInterrupts&)>& fn);
  // Builds a new machine for fn (RAM and drives back to zero): the QMP target, whose commands
  // change more than a reset brings back (media, run state, backends).
  Result<void> with_machine(const std::function<void(Machine&, qtest::QtestInterrupts&)>& fn);

 private:
  Result<std::unique_ptr<Machine>> build(Clock& clock);
  // The persistent machine, built on first use and reset for every later input.
  Result<Machine*> fresh_machine();
  void run_ops(Machine& machine, const uint8_t* data, size_t size);
  void zero_ram_and_drives();
  void take_power_on_state();
  void restore_power_on_state();
  // The regions mapped now, kept current through the dispatcher's listener.
  const std::vector<const Dispatcher::Mapping*>& live_mappings(const Dispatcher& d);
  void ports_changed(uint64_t, uint64_t, bool) override { mappings_changed_ = true; }
  void mmio_changed(uint64_t, uint64_t, bool) override { mappings_changed_ = true; }
  void pci_changed(PciAddress, bool) override { mappings_changed_ = true; }
  void guest_burst(Machine& machine);
  void show_display(Machine& machine);
  // No mode is larger than VBE's 2560x1600: a display claiming more is a finding in itself.
  static constexpr uint64_t kMaxDisplayPixels = 2560 * 1600;
  // The RTC starts at 2026-01-01 00:00:00 UTC for every input.
  static constexpr int64_t kRtcStart = 1767225600;
  // The one device whose state outlives a reset (Device::reset brings every other back to
  // power-on state).
  static constexpr std::string_view kBatteryBackedType = "mc146818rtc";
  static constexpr size_t kPageBytes = 4096;
  // Inputs that touched more RAM pages than this get all of RAM dropped instead of cleared.
  static constexpr size_t kMaxClearedPages = 256;

  std::vector<std::string> devices_;
  std::vector<DriveSpec> drives_;
  std::vector<int> images_;  // memfds behind drives_
  InlineExecutor block_io_;  // disk I/O at once, completions after each operation
  // The network: -device e1000,netdev=fuzz attaches to it; frames it sends go nowhere and the
  // input injects received ones.
  std::unique_ptr<test::InjectingNet> net_;
  HostRam ram_{RamLayout::pc(kRamBytes)};
  qtest::QtestInterrupts interrupts_{ram_};
  DeviceRegistry registry_;
  // Last: the persistent machine goes before the backends, RAM and registry it uses.
  Clock clock_{Clock::Mode::kVirtual};
  std::unique_ptr<Machine> machine_;
  std::vector<const Dispatcher::Mapping*> live_;
  struct PowerOnState {
    Device* device;
    std::vector<uint8_t> state;
  };
  std::vector<PowerOnState> power_on_;
  std::vector<Device*> built_devices_;  // the persistent machine's, as built
  std::vector<uint8_t> resident_;       // mincore's answer for a RAM region
  bool mappings_changed_ = true;
};

}  // namespace hvmd::fuzz
