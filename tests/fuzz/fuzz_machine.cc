#include "tests/fuzz/fuzz_machine.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>

#include "devices/board.h"

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

Result<void> FuzzMachine::run(const uint8_t* data, size_t size) {
  block_io_.run_pending();
  zero_ram_and_drives();
  if (!machine_) {
    auto built = build(clock_);
    if (!built) return built.error();
    machine_ = std::move(*built);
    machine_->dispatcher().set_listener(this);
  } else {
    machine_->reset();
    clock_.rewind();
  }
  run_ops(*machine_, data, size);
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

void FuzzMachine::zero_ram_and_drives() {
  for (const auto& region : ram_.layout().regions)
    madvise(ram_.host_address(region), region.size, MADV_DONTNEED);  // back to zero pages
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
  auto machine = std::make_unique<Machine>(MachineOptions{.ram_bytes = kRamBytes}, clock, ram_,
                                           interrupts_, registry_);
  machine->set_io_executor(&block_io_);
  if (!net_) net_ = std::make_unique<FuzzNet>();
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
