// Machine: the assembled board. It owns the devices and the wiring they share (dispatcher, PCI bus,
// clock, guest memory, interrupt sink), creates devices by driver name from the registry, and runs
// whole-machine operations: reset, hotplug, save and restore.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "dm/backends/block.h"
#include "dm/backends/chardev.h"
#include "dm/backends/net.h"
#include "dm/bus.h"
#include "dm/clock.h"
#include "dm/device.h"
#include "dm/dispatcher.h"
#include "dm/display.h"
#include "dm/emulated_unplug.h"
#include "dm/guest_memory.h"
#include "dm/input.h"
#include "dm/interrupts.h"
#include "dm/pci/pci_bus.h"
#include "dm/power_control.h"
#include "dm/sub_options.h"

namespace hvmd {

class Machine;

// A property a device type reads from its -device description, as QMP's device-list-properties
// reports it.
struct DeviceProperty {
  std::string name;
  std::string type;  // QOM's names: str, bool, uint8, uint32, uint64, size, int32
  std::string description;
};

struct DeviceType {
  std::string name;
  std::string description;
  bool pci = false;           // plugged into the PCI bus (honours addr=)
  bool hotpluggable = false;  // may be added and removed while the machine runs
  bool bootable = false;      // takes bootindex= (PCI devices always do)
  // The option ROM a PCI device carries when romfile= is not given, if the file exists (iPXE
  // for NICs, from Debian's ipxe-qemu).
  std::string default_romfile;
  // For introspection (QMP's qom-list-types, device-list-properties): the QOM parent type (empty:
  // "pci-device" for PCI functions, else "device"), and the properties create() reads besides
  // those the machine reads for every device (id, bus; for PCI addr, romfile, bootindex; for
  // bootable ones bootindex).
  std::string parent;
  std::vector<DeviceProperty> properties;
  // Creates the device, reading its properties from props. The machine checks afterwards that
  // no property went unread.
  std::function<Result<std::unique_ptr<Device>>(Machine&, OptionReader& props)> create;
};

class DeviceRegistry {
 public:
  void add(DeviceType type);
  const DeviceType* find(std::string_view name) const;
  const std::vector<DeviceType>& types() const { return types_; }

 private:
  std::vector<DeviceType> types_;
};

// -global DRIVER.PROP=VALUE: PROP's default for every device of type DRIVER.
struct GlobalProperty {
  std::string driver;
  std::string property;
  std::string value;
};

struct MachineOptions {
  std::string type = "pc";  // pc, xenfv, or none (no devices at all: QMP and qtest only)
  uint64_t ram_bytes = 128ull << 20;
  unsigned cpus = 1;
  uint64_t max_ram_below_4g = 0;  // 0: the pc default
  std::string name;
  std::string uuid;
  std::string boot_order;  // -boot order=: drive letters a, c, d, n, first to last
  std::string boot_once;   // -boot once=: the order for the first boot only
  bool fd_bootchk = true;  // the BIOS checks a floppy's boot signature (-no-fd-bootchk: not)
  // -global, in command-line order (a later one for the same property wins). add_device applies
  // them to every device it creates as if they came first in its description.
  std::vector<GlobalProperty> globals;
  // The time the RTC shows at start, in seconds since the epoch; unset: the host's time. Fixed by
  // the fuzzer so that every input runs the same.
  std::optional<int64_t> rtc_start;
  // Set by the Xen runner: the hypervisor emulates the PIC, IOAPIC, PIT and the RTC's clock, and
  // hvmloader reports memory to the firmware.
  bool xen = false;
};

enum class RunState { kPrelaunch, kRunning, kPaused, kShutdown };
const char* run_state_name(RunState state);

class Machine final : public PowerControl, public EmulatedUnplug {
 public:
  Machine(MachineOptions options, Clock& clock, GuestMemory& memory, InterruptSink& sink,
          const DeviceRegistry& registry);
  ~Machine();
  Machine(const Machine&) = delete;
  Machine& operator=(const Machine&) = delete;

  const MachineOptions& options() const { return options_; }
  Dispatcher& dispatcher() { return dispatcher_; }
  pci::PciBus& pci_bus() { return pci_bus_; }
  Clock& clock() { return clock_; }
  GuestMemory& memory() { return memory_; }
  InterruptSink& interrupt_sink() { return sink_; }
  const DeviceRegistry& registry() const { return registry_; }
  // The character devices of the command line by id (for chardev= properties), opened on first
  // use; the daemon provides the lookup.
  using ChardevLookup = std::function<Result<Chardev*>(const std::string& id)>;
  void set_chardev_lookup(ChardevLookup lookup) { chardev_lookup_ = std::move(lookup); }
  Result<Chardev*> chardev(const std::string& id) const;
  // The -netdev backends by id (for netdev= properties); each goes to one device.
  using NetdevLookup = std::function<Result<NetBackend*>(const std::string& id)>;
  void set_netdev_lookup(NetdevLookup lookup) { netdev_lookup_ = std::move(lookup); }
  Result<NetBackend*> netdev(const std::string& id) const;
  // Where keyboard and pointer input goes: devices register as its consumers, QMP and a display
  // console send to it.
  InputRouter& input() { return input_; }
  // Where the display device and the consoles showing it meet.
  DisplayHub& display() { return display_; }
  // Where devices put their VRAM and ROMs (nullptr: host memory); the transport decides.
  DeviceMemoryBacking* device_memory_backing() const { return device_memory_backing_; }
  void set_device_memory_backing(DeviceMemoryBacking* backing) { device_memory_backing_ = backing; }

  // The -drive list: a device claims its drive by id (drive=), each drive at most once.
  void add_drive(DriveSpec spec) { drives_.push_back({std::move(spec), false}); }
  Result<DriveSpec> claim_drive(const std::string& id);
  // Drives given no device of their own (if=ide ones the board attaches, or leftovers).
  std::vector<DriveSpec> unclaimed_drives() const;
  bool has_drive(const std::string& id) const;
  // QMP's blockdev-del: a drive no device has claimed leaves the list.
  Result<void> remove_drive(const std::string& id);
  // Where block backends run their I/O (the daemon's thread pool; an inline one when fuzzing).
  IoExecutor* io_executor() const { return io_executor_; }
  void set_io_executor(IoExecutor* executor) { io_executor_ = executor; }

  // Largest option ROM a romfile= may name (PCI expansion ROMs are at most 16 MiB).
  static constexpr size_t kMaxRomBytes = 16 << 20;
  // A device from a -device / device_add description: driver=NAME[,id=ID][,addr=S.F][,props];
  // PCI devices also take romfile=FILE and bootindex=N.
  Result<Device*> add_device(const SubOptions& description, bool hotplug);
  // A device the board itself provides (not user-removable). PCI devices go to devfn.
  Result<Device*> add_board_device(std::unique_ptr<Device> device, std::optional<uint8_t> devfn);
  // Removes a user's hot-pluggable device at once, without a word to the guest, and, first,
  // every device plugged into its buses.
  Result<void> remove_device(const std::string& id);
  // device_del. A PCI device on a bus with a hot-plug controller (the PIIX4's ACPI hot-plug) is
  // only asked to go: it stays until the guest ejects its slot, and the device-deleted handler
  // hears of it then (never, if the guest never ejects; a machine reset completes outstanding
  // requests). Anything else is removed at once, as remove_device does.
  enum class Removal { kRemoved, kRequested };
  Result<Removal> request_removal(const std::string& id);
  // Told of every device that leaves the machine — remove_device, a guest's eject, a parent's
  // removal, Xen's unplug — once it is gone: its id (empty for anonymous ones) and QOM-style path
  // (QMP's DEVICE_DELETED).
  using DeviceDeletedHandler = std::function<void(const std::string& id, const std::string& path)>;
  void set_device_deleted_handler(DeviceDeletedHandler handler) {
    device_deleted_handler_ = std::move(handler);
  }

  // Buses a device offers its children (Bus), registered by whoever builds the device; they go
  // with it.
  void add_bus(Device& owner, Bus& bus);
  Bus* find_bus(std::string_view name) const;
  // For a bus child's DeviceType::create: resolves bus= (or takes the first bus of the kind with
  // room) and the bus's address property (unit=, port=), and claims that address. The device the
  // create then returns is recorded as the bus owner's child, and its address is released when
  // it goes (or at once if the create fails).
  Result<BusSlot> plug_into_bus(std::string_view kind, OptionReader& props);
  // Xen's emulated-device unplug (Device::UnplugMask): the devices the mask names are removed,
  // ports, BARs and backends with them. Returns how many were removed. The masks the guest sent
  // accumulate in unplugged(), which is saved with the machine so a restore repeats the unplug.
  unsigned unplug_emulated(uint16_t mask) override;
  uint16_t unplugged() const { return unplugged_; }
  // The firmware paths of the devices given bootindex=, in boot order.
  std::vector<std::string> boot_order() const;
  Device* find_device(std::string_view id) const;
  std::vector<Device*> devices() const;
  // The -device / device_add description a user's device was created from (nullptr for the
  // board's own): QMP's qom-get answers its properties from it.
  const SubOptions* device_options(const Device& device) const;

  void reset();
  // A device's request (reset control register, ACPI S5). The transport's handler decides what it
  // means: Xen shuts the domain down; the local runners reset or exit, after the access completes.
  void request_shutdown(ShutdownCause cause) override;
  void set_shutdown_handler(std::function<void(ShutdownCause)> handler) {
    shutdown_handler_ = std::move(handler);
  }
  RunState run_state() const { return run_state_; }
  void set_run_state(RunState state) { run_state_ = state; }
  // --preconfig: the machine waits in prelaunch for QMP's x-exit-preconfig, which moves it to
  // the state it would have started in (after: running, or prelaunch under -S).
  void enter_preconfig(RunState after) {
    preconfig_after_ = after;
    run_state_ = RunState::kPrelaunch;
  }
  bool in_preconfig() const { return preconfig_after_.has_value(); }
  // The state to enter, or an error once the machine has left preconfig.
  Result<RunState> exit_preconfig();
  // Work a machine reset does besides resetting the devices (a one-time boot order reverting),
  // run after them.
  void add_reset_hook(std::function<void()> hook) { reset_hooks_.push_back(std::move(hook)); }

  // Whole-machine device state in hvmd's format (see dm/state.h).
  // Quiesces every device first (host I/O in flight completes), so the state is consistent.
  std::vector<uint8_t> save_state();
  Result<void> load_state(std::span<const uint8_t> data);

 private:
  struct Entry {
    std::unique_ptr<Device> device;
    std::string key;  // section name in saved state: the id, or type#N for anonymous devices
    bool removable;
    std::optional<uint64_t> boot_index;  // bootindex=, lowest boots first
    Device* parent = nullptr;            // the owner of the bus it is plugged into
    BusSlot slot;
    std::optional<SubOptions> options;  // add_device's description
  };
  struct BusEntry {
    Device* owner;
    Bus* bus;
  };
  Result<Device*> install(std::unique_ptr<Device> device, bool pci, std::optional<uint8_t> devfn,
                          bool removable, pci::PlugMode mode = pci::PlugMode::kFixed);
  // Detaches the device (bus, mappings, backends) and destroys it, its children first, telling
  // the device-deleted handler of each. Returns how many devices went.
  unsigned erase(Device* device);

  MachineOptions options_;
  Clock& clock_;
  GuestMemory& memory_;
  InterruptSink& sink_;
  const DeviceRegistry& registry_;
  Dispatcher dispatcher_;
  pci::PciBus pci_bus_;
  InputRouter input_;  // before devices_: they unregister from these
  DisplayHub display_;
  std::vector<Entry> devices_;
  unsigned anonymous_count_ = 0;
  uint16_t unplugged_ = 0;
  std::vector<BusEntry> buses_;
  std::optional<BusEntry> claiming_bus_;  // plug_into_bus's claim, until install() or failure
  BusSlot claimed_slot_;
  RunState run_state_ = RunState::kRunning;
  std::optional<RunState> preconfig_after_;
  std::vector<std::function<void()>> reset_hooks_;
  std::function<void(ShutdownCause)> shutdown_handler_;
  DeviceDeletedHandler device_deleted_handler_;
  DeviceMemoryBacking* device_memory_backing_ = nullptr;
  ChardevLookup chardev_lookup_;
  NetdevLookup netdev_lookup_;
  struct Drive {
    DriveSpec spec;
    bool claimed;
  };
  std::vector<Drive> drives_;
  IoExecutor* io_executor_ = nullptr;
};

}  // namespace hvmd
