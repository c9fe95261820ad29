#include "tests/fuzz/fuzz_machine.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "devices/board.h"
#include "dm/log.h"
#include "dm/pci/pci_device.h"

namespace hvmd::fuzz {
namespace {

// Reads input bytes; past the end everything is zero, so every input decodes to something.
class Input {
 public:
  Input(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool done() const { return pos_ >= size_; }
  uint8_t u8() { return pos_ < size_ ? data_[pos_++] : 0; }
  uint16_t u16() { return static_cast<uint16_t>(u8() | u8() << 8); }
  uint32_t u32() { return u16() | uint32_t{u16()} << 16; }
  uint64_t u64() { return u32() | uint64_t{u32()} << 32; }
  unsigned size(bool allow_8) {
    static constexpr unsigned kSizes[] = {1, 2, 4, 8};
    return kSizes[u8() % (allow_8 ? 4 : 3)];
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

enum Op : uint8_t {
  kRegionAccess,  // read or write a registered port or MMIO region
  kPciAccess,     // config read or write of a present function (BARs, command, capabilities)
  kPortAny,       // an access to any port, claimed or not
  kRamPattern,    // fill guest RAM (descriptor rings, DMA buffers) with a pattern
  kRamWrite,      // write a value into guest RAM
  kClockStep,     // advance virtual time, running device timers
  kRepIo,         // string I/O or REP MOVS with a guest data pointer
  kPortWrite,     // a write of a chosen value to any port (command registers)
  kMmioWrite,     // a write of a chosen value to any address (registers in a programmed BAR)
  kNetReceive,    // a frame arriving from the network
  kOpCount,
};

// The state target's fixed burst (guest_burst): registers and ports it uses.
constexpr uint64_t kE1000Icr = 0xc0, kE1000Rdt = 0x2818, kE1000Tdt = 0x3818;
constexpr size_t kBurstFrameBytes = 64;
constexpr uint64_t kIdeBmChannelStride = 8;
constexpr uint8_t kIdeBmStart = 0x01;
constexpr uint16_t kIdePrimaryData = 0x1f0, kIdeSecondaryData = 0x170;
constexpr uint16_t kCom1 = 0x3f8, kUartRbr = 0, kUartIir = 2, kUartLsr = 5;
constexpr uint16_t kI8042Data = 0x60, kI8042Status = 0x64;
constexpr int kBurstReads = 32;
constexpr int kBurstTimerRuns = 64;

// At most this many operations per input, so every input ends quickly.
constexpr int kMaxOps = 4096;
// Where the fuzzer puts descriptor rings and DMA buffers: a few pages, so an input touches few
// fresh pages (each costs a page fault) and devices find its data where they look.
constexpr uint64_t kDmaWindow = 64 * 1024;

}  // namespace

FuzzMachine::FuzzMachine(std::vector<std::string> devices, std::vector<std::string> drives)
    : devices_(std::move(devices)) {
  devices::register_devices(registry_);
  for (size_t i = 0; i < drives.size(); ++i) {
    int fd = memfd_create("hvmd-fuzz-drive", MFD_CLOEXEC);
    auto options =
        SubOptions::parse("file=/proc/self/fd/" + std::to_string(fd) + "," + drives[i], "");
    auto spec = options ? DriveSpec::from_options(*options) : Result<DriveSpec>(options.error());
    if (!spec || fd < 0) {
      fprintf(stderr, "hvmd-fuzz: -drive=%s: %s\n", drives[i].c_str(),
              spec ? "memfd_create failed" : spec.error().message.c_str());
      exit(1);
    }
    if (spec->id.empty()) spec->id = "fuzz" + std::to_string(i);
    images_.push_back(fd);
    drives_.push_back(*spec);
  }
}

FuzzMachine::~FuzzMachine() {
  for (int fd : images_) close(fd);
}

Result<Machine*> FuzzMachine::fresh_machine() {
  block_io_.run_pending();
  zero_ram_and_drives();
  // An input that removed a device (the guest may eject any hot-pluggable slot through ACPI, or
  // QMP may add or remove one) leaves a machine a reset cannot bring back: build a new one.
  if (machine_ && machine_->devices() != built_devices_) machine_.reset();
  if (!machine_) {
    auto built = build(clock_);
    if (!built) return built.error();
    machine_ = std::move(*built);
    machine_->dispatcher().set_listener(this);
    mappings_changed_ = true;
    take_power_on_state();
  } else {
    machine_->reset();
    clock_.rewind();
    restore_power_on_state();
  }
  return machine_.get();
}

Result<void> FuzzMachine::run(const uint8_t* data, size_t size) {
  auto machine = fresh_machine();
  if (!machine) return machine.error();
  run_ops(**machine, data, size);
  block_io_.run_pending();
  show_display(**machine);
  return ok();
}

Result<void> FuzzMachine::with_reset_machine(
    const std::function<void(Machine&, qtest::QtestInterrupts&)>& fn) {
  auto machine = fresh_machine();
  if (!machine) return machine.error();
  fn(**machine, interrupts_);
  block_io_.run_pending();
  return ok();
}

Result<void> FuzzMachine::with_machine(
    const std::function<void(Machine&, qtest::QtestInterrupts&)>& fn) {
  zero_ram_and_drives();
  Clock clock(Clock::Mode::kVirtual);
  auto machine = build(clock);
  if (!machine) return machine.error();
  fn(**machine, interrupts_);
  block_io_.run_pending();
  return ok();
}

void FuzzMachine::take_power_on_state() {
  power_on_.clear();
  built_devices_ = machine_->devices();
  for (Device* device : built_devices_) {
    if (device->type() != kBatteryBackedType) continue;
    StateWriter out;
    device->save(out);
    power_on_.push_back({device, out.data()});
  }
}

void FuzzMachine::restore_power_on_state() {
  for (const auto& [device, state] : power_on_) {
    StateReader in(state);
    if (auto loaded = device->load(in, device->state_version()); !loaded) {
      fprintf(stderr, "hvmd-fuzz: %s refused its own power-on state: %s\n",
              std::string(device->type()).c_str(), loaded.error().message.c_str());
      abort();
    }
  }
}

void FuzzMachine::zero_ram_and_drives() {
  // Back to zero pages. Dropping the pages (madvise) flushes the TLB, which costs more than a
  // whole input, so when an input touched few pages (mincore: the ones the previous drop left
  // resident) they are cleared in place instead.
  for (const auto& region : ram_.layout().regions) {
    auto* base = static_cast<uint8_t*>(ram_.host_address(region));
    resident_.resize(region.size / kPageBytes);
    size_t touched = kMaxClearedPages + 1;
    if (mincore(base, region.size, resident_.data()) == 0)
      touched = static_cast<size_t>(
          std::count_if(resident_.begin(), resident_.end(), [](uint8_t r) { return r & 1; }));
    if (touched > kMaxClearedPages) {
      madvise(base, region.size, MADV_DONTNEED);
      continue;
    }
    for (size_t page = 0; page < resident_.size(); ++page)
      if (resident_[page] & 1) memset(base + page * kPageBytes, 0, kPageBytes);
  }
  for (size_t i = 0; i < images_.size(); ++i) {
    // Back to an all-zero image of the drive's size (a data pattern comes from the input).
    uint64_t bytes = drives_[i].cdrom ? kDiscBytes : kDiskBytes;
    if (ftruncate(images_[i], 0) != 0 || ftruncate(images_[i], static_cast<off_t>(bytes)) != 0) {
      fprintf(stderr, "hvmd-fuzz: cannot reset a drive image\n");
      exit(1);
    }
  }
}

Result<std::unique_ptr<Machine>> FuzzMachine::build(Clock& clock) {
  auto machine =
      std::make_unique<Machine>(MachineOptions{.ram_bytes = kRamBytes, .rtc_start = kRtcStart},
                                clock, ram_, interrupts_, registry_);
  machine->set_io_executor(&block_io_);
  if (!net_) net_ = std::make_unique<test::InjectingNet>("fuzz");
  machine->set_netdev_lookup([this](const std::string& id) -> Result<NetBackend*> {
    if (id != "fuzz")
      return make_error("netdev '%s' not found (the fuzzer's is 'fuzz')", id.c_str());
    return net_.get();
  });
  for (const auto& drive : drives_) machine->add_drive(drive);
  HVMD_TRY(devices::build_board(*machine));
  for (const auto& spec : devices_) {
    auto options = SubOptions::parse(spec, "driver");
    if (!options) return options.error();
    auto device = machine->add_device(*options, false);
    if (!device) return make_error("-device=%s: %s", spec.c_str(), device.error().message.c_str());
  }
  HVMD_TRY(devices::attach_drives(*machine));
  return machine;
}

const std::vector<const Dispatcher::Mapping*>& FuzzMachine::live_mappings(const Dispatcher& d) {
  if (mappings_changed_) {
    live_.clear();
    for (const auto& m : d.mappings())
      if (m.sequence) live_.push_back(&m);
    mappings_changed_ = false;
  }
  return live_;
}

// A machine of its own per input: a stream may unplug devices, which a reset does not bring back.
Result<void> FuzzMachine::run_state(const uint8_t* data, size_t size) {
  zero_ram_and_drives();
  Clock clock(Clock::Mode::kVirtual);
  auto machine = build(clock);
  if (!machine) return machine.error();
  // The live-mapping list follows this machine's dispatcher, not the shared one's.
  (*machine)->dispatcher().set_listener(this);
  mappings_changed_ = true;
  Input in(data, size);
  size_t length = std::min<size_t>(in.u32(), size > 4 ? size - 4 : 0);
  const uint8_t* stream = size > 4 ? data + 4 : data;
  // Refused streams are expected: what matters is that the machine is sound either way.
  if (auto loaded = (*machine)->load_state({stream, length}); !loaded)
    HVMD_INFO("hvmd-fuzz: state refused: %s", loaded.error().message.c_str());
  guest_burst(**machine);
  run_ops(**machine, stream + length, size - std::min<size_t>(size, 4 + length));
  block_io_.run_pending();
  show_display(**machine);
  return ok();
}

Result<std::vector<uint8_t>> FuzzMachine::state_seed(const uint8_t* ops, size_t size) {
  zero_ram_and_drives();
  Clock clock(Clock::Mode::kVirtual);
  auto machine = build(clock);
  if (!machine) return machine.error();
  (*machine)->dispatcher().set_listener(this);
  mappings_changed_ = true;
  run_ops(**machine, ops, size);
  block_io_.run_pending();
  std::vector<uint8_t> stream = (*machine)->save_state();
  std::vector<uint8_t> seed(4);
  for (unsigned i = 0; i < 4; ++i) seed[i] = static_cast<uint8_t>(stream.size() >> (8 * i));
  seed.insert(seed.end(), stream.begin(), stream.end());
  return seed;
}

// Accesses that set every loaded device to work on what the stream put in it.
void FuzzMachine::guest_burst(Machine& machine) {
  Dispatcher& d = machine.dispatcher();
  for (Device* device : machine.devices()) {
    auto* function = dynamic_cast<pci::PciDevice*>(device);
    if (!function) continue;
    if (device->type() == "e1000" && function->bar(0).address != pci::BarInfo::kUnmapped) {
      // Rewriting TDT runs a transmit pass over the loaded ring; RDT and a frame, receive.
      uint64_t bar = function->bar(0).address;
      d.mmio_write(bar + kE1000Tdt, 4, d.mmio_read(bar + kE1000Tdt, 4));
      d.mmio_write(bar + kE1000Rdt, 4, d.mmio_read(bar + kE1000Rdt, 4));
      net_->inject(std::vector<uint8_t>(kBurstFrameBytes, 0xff));
      d.mmio_read(bar + kE1000Icr, 4);
    }
    if (device->type() == "piix3-ide" && function->bar(4).address != pci::BarInfo::kUnmapped) {
      // Starting each bus master runs a DMA the loaded command waits for.
      uint64_t bus_master = function->bar(4).address;
      for (uint64_t channel : {uint64_t{0}, kIdeBmChannelStride}) {
        uint64_t command = d.port_read(bus_master + channel, 1);
        d.port_write(bus_master + channel, 1, command | kIdeBmStart);
      }
      block_io_.run_pending();
    }
  }
  // PIO through the loaded positions, the UART's FIFO and the i8042's queues.
  for (uint16_t data_port : {kIdePrimaryData, kIdeSecondaryData}) {
    for (int i = 0; i < kBurstReads; ++i) d.port_read(data_port, 2);
    for (int i = 0; i < kBurstReads; ++i) d.port_write(data_port, 2, 0);
    block_io_.run_pending();
  }
  for (int i = 0; i < kBurstReads; ++i) {
    for (uint16_t offset : {kUartRbr, kUartIir, kUartLsr}) d.port_read(kCom1 + offset, 1);
    d.port_read(kI8042Data, 1);
    d.port_read(kI8042Status, 1);
  }
  d.port_write(kCom1 + kUartRbr, 1, 'x');
  // Timers the stream armed (RTC, e1000 delays, the UART timeout, the PM timer).
  for (int i = 0; i < kBurstTimerRuns; ++i) {
    Clock& clock = machine.clock();
    if (clock.next_deadline() == Clock::kNever) break;
    clock.advance_to(clock.next_deadline());
  }
}

// What a console would do at the end: take the damage and draw the whole picture, so register
// settings that would make a refresh read outside video memory are found.
void FuzzMachine::show_display(Machine& machine) {
  DisplayHub& hub = machine.display();
  auto console = hub.add_console();
  DisplayHub::Update update = hub.poll(console);
  hub.remove_console(console);
  uint64_t pixels = uint64_t{update.info.width} * update.info.height;
  if (pixels > kMaxDisplayPixels) {
    fprintf(stderr, "display of %ux%u is larger than any mode\n", update.info.width,
            update.info.height);
    abort();
  }
  if (pixels == 0) return;
  std::vector<uint32_t> buffer(pixels);
  hub.render({buffer.data(), update.info.width, update.info.height, update.info.width},
             {0, 0, update.info.width, update.info.height});
}

void FuzzMachine::run_ops(Machine& machine, const uint8_t* data, size_t size) {
  Input in(data, size);
  Dispatcher& d = machine.dispatcher();
  // The PCI functions present do not change within an input (nothing hot-plugs here).
  const std::vector<PciAddress> present = d.pci_addresses();
  for (int op_count = 0; op_count < kMaxOps && !in.done(); ++op_count) {
    // Disk I/O a previous operation started completes before the next one, as a fast disk's would.
    block_io_.run_pending();
    switch (static_cast<Op>(in.u8() % kOpCount)) {
      case kRegionAccess: {
        // Aim at what is mapped now: BAR programming earlier in the input changes it.
        const auto& live = live_mappings(d);
        uint8_t pick = in.u8();
        uint32_t offset = in.u32();
        unsigned access = in.size(true);
        uint64_t value = in.u64();
        if (live.empty()) break;
        const auto* m = live[pick % live.size()];
        if (m->kind == IoKind::kPort && access == 8) access = 4;
        IoRequest r{.addr = m->base + offset % m->length,
                    .data = value,
                    .size = static_cast<uint8_t>(access),
                    .kind = m->kind,
                    .is_write = (offset >> 31) != 0};
        d.handle(r);
        break;
      }
      case kPciAccess: {
        uint8_t flags = in.u8();
        uint32_t reg = in.u8();
        unsigned access = in.size(false);
        uint32_t value = in.u32();
        if (present.empty()) break;
        PciAddress a = present[(flags >> 1) % present.size()];
        IoRequest r{.addr = a.config_addr(reg & ~(access - 1)),
                    .data = value,
                    .size = static_cast<uint8_t>(access),
                    .kind = IoKind::kPciConfig,
                    .is_write = (flags & 1) != 0};
        d.handle(r);
        break;
      }
      case kPortAny: {
        IoRequest r{.addr = in.u16(), .size = static_cast<uint8_t>(in.size(false))};
        r.data = in.u32();
        r.is_write = r.data & 1;
        d.handle(r);
        break;
      }
      case kRamPattern: {
        uint64_t addr = in.u16() % kDmaWindow;
        uint64_t length = in.u16() % 4096;
        machine.memory().fill(addr, in.u8(), std::min(length, kDmaWindow - addr));
        break;
      }
      case kRamWrite: {
        uint64_t addr = in.u16() % kDmaWindow;
        uint64_t value = in.u64();
        machine.memory().write(addr, &value, 8);
        break;
      }
      case kClockStep: {
        uint32_t ns = in.u32();
        Clock& clock = machine.clock();
        int64_t deadline = clock.next_deadline();
        if ((ns & 1) && deadline != Clock::kNever)
          clock.advance_to(deadline);
        else
          clock.advance_to(clock.now_ns() + (ns % 10'000'000));
        break;
      }
      case kRepIo: {
        uint8_t flags = in.u8();
        IoRequest r{.addr = (flags & 1) ? in.u64() : in.u16(),
                    .data = (flags & 2) ? in.u64() : in.u16() % kDmaWindow,
                    // Mostly short reps; now and then up to the transport's page limit.
                    .count = (flags & 32) ? uint32_t{in.u16()} : uint32_t{in.u8() & 63u},
                    .size = static_cast<uint8_t>(in.size(flags & 1)),
                    .kind = (flags & 1) ? IoKind::kMmio : IoKind::kPort,
                    .is_write = (flags & 4) != 0,
                    .df = (flags & 8) != 0,
                    .data_is_ptr = (flags & 16) != 0};
        d.handle(r);
        break;
      }
      case kPortWrite: {
        IoRequest r{.addr = 0, .size = static_cast<uint8_t>(in.size(false)), .is_write = true};
        r.addr = in.u16();
        r.data = in.u32();
        d.handle(r);
        break;
      }
      case kMmioWrite: {
        IoRequest r{.addr = 0,
                    .size = static_cast<uint8_t>(in.size(true)),
                    .kind = IoKind::kMmio,
                    .is_write = true};
        r.addr = in.u64();
        r.data = in.u64();
        d.handle(r);
        break;
      }
      case kNetReceive: {
        // A frame of the input's bytes, up to a jumbo frame's size.
        std::vector<uint8_t> frame(in.u16() % 9018);
        for (auto& b : frame) b = in.u8();
        net_->inject(frame);
        break;
      }
      case kOpCount:
        break;
    }
  }
}

}  // namespace hvmd::fuzz
