// IDE throughput through the in-process path (the same device code every transport runs): bus-
// master DMA reads and writes of a cached raw image driven through the dispatcher, the block
// layer (io_uring or the worker pool) and the event loop, against a plain read or write of the
// same file on the same machine. Also 4 KiB random DMA reads, one at a time (IDE has one command
// per channel: queue depth 1), as a latency-bound figure; tests/bench/block_bench.sh sets them
// beside fio at the same depth. The image is a temporary 256 MiB file read once beforehand, so
// both sides read from the page cache. HVMD_BENCH_DRIVE appends -drive options (",aio=threads");
// HVMD_BENCH_BOUNCE=1 gives the device guest memory it cannot pin, so DMA goes through the
// channel's buffer one chunk at a time: with aio=threads, the data path as it was before DMA
// moved straight into guest RAM (block_bench.sh's "before" figures).
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <vector>

#include "devices/board.h"
#include "dm/backends/io_executor.h"
#include "dm/event_loop.h"
#include "dm/machine.h"
#include "ioreq/qtest/qtest_protocol.h"

namespace hvmd {
namespace {

constexpr uint64_t kImageBytes = 256ull << 20;
constexpr uint64_t kRamBytes = 256ull << 20;
constexpr uint16_t kBusMaster = 0xc000, kTaskFile = 0x1f0;
constexpr uint64_t kPrdTable = 0x10000, kBuffer = 64ull << 20;
constexpr uint32_t kSectorsPerCommand = 65536;  // LBA48's largest: 32 MiB
constexpr PciAddress kIde{0, 0, 0x09};

// Guest RAM as a transport without pinning offers it: every DMA chunk through the bounce buffer.
class UnpinnableRam final : public GuestMemory {
 public:
  explicit UnpinnableRam(HostRam& ram) : ram_(ram) {}
  std::span<uint8_t> map(uint64_t gpa, uint64_t length) override { return ram_.map(gpa, length); }

 private:
  HostRam& ram_;
};

GuestMemory& machine_memory(HostRam& ram, UnpinnableRam& unpinnable) {
  const char* bounce = getenv("HVMD_BENCH_BOUNCE");
  if (bounce && *bounce == '1') return unpinnable;
  return ram;
}

struct IdeRig {
  IdeRig() {
    // HVMD_BENCH_IMAGE names the image (block_bench.sh gives fio the same file); else a
    // temporary one.
    char name[] = "/tmp/hvmd-ide-bench-XXXXXX";
    const char* given = getenv("HVMD_BENCH_IMAGE");
    int fd = given ? open(given, O_RDWR | O_CREAT | O_CLOEXEC, 0600) : mkstemp(name);
    if (fd < 0) abort();
    path = given ? given : name;
    keep = given != nullptr;
    std::vector<uint8_t> chunk(1 << 20);
    for (size_t i = 0; i < chunk.size(); ++i) chunk[i] = static_cast<uint8_t>(i * 7);
    for (uint64_t at = 0; at < kImageBytes; at += chunk.size())
      (void)!pwrite(fd, chunk.data(), chunk.size(), static_cast<off_t>(at));
    for (uint64_t at = 0; at < kImageBytes; at += chunk.size())  // into the page cache
      (void)!pread(fd, chunk.data(), chunk.size(), static_cast<off_t>(at));
    close(fd);
    if (!loop.init() || !executor.start()) abort();
    registry_setup();
    machine.set_io_executor(&executor);
    const char* extra = getenv("HVMD_BENCH_DRIVE");
    auto options =
        SubOptions::parse("file=" + path + ",if=ide,index=0,format=raw" + (extra ? extra : ""), "");
    if (!options) abort();
    auto spec = DriveSpec::from_options(*options);
    if (!spec) {
      fprintf(stderr, "%s\n", spec.error().message.c_str());
      abort();
    }
    machine.add_drive(*spec);
    if (!devices::build_board(machine) || !devices::attach_drives(machine)) abort();
    Dispatcher& d = machine.dispatcher();
    d.pci_write(kIde, 0x20, 4, kBusMaster);
    d.pci_write(kIde, 0x04, 2, 0x0005);
  }
  ~IdeRig() {
    if (!keep) unlink(path.c_str());
  }
  void registry_setup() { devices::register_devices(registry); }
  // After a write benchmark, untimed: its dirty pages written back now, not under the next one.
  void settle() const {
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) (void)!fdatasync(fd);
    if (fd >= 0) close(fd);
  }

  // One PRD table covering `bytes` at kBuffer in 64 KiB entries.
  void table(uint64_t bytes) {
    std::vector<uint32_t> entries;
    for (uint64_t at = 0; at < bytes; at += 0x10000) {
      entries.push_back(static_cast<uint32_t>(kBuffer + at));
      uint64_t count = std::min<uint64_t>(bytes - at, 0x10000);
      entries.push_back(static_cast<uint32_t>(count & 0xffff) |
                        (at + count >= bytes ? 0x80000000u : 0));
    }
    ram.write(kPrdTable, entries.data(), entries.size() * 4);
  }
  // READ DMA EXT (or WRITE DMA EXT) of count sectors at lba; runs the loop until the bus master
  // reports.
  void read_dma(uint64_t lba, uint32_t count) { dma(lba, count, true); }
  void dma(uint64_t lba, uint32_t count, bool read) {
    Dispatcher& d = machine.dispatcher();
    d.port_write(kBusMaster, 1, 0);
    d.port_write(kBusMaster + 2, 1, 0x06);
    d.port_write(kBusMaster + 4, 4, kPrdTable);
    uint16_t n = static_cast<uint16_t>(count);  // 65536 is written as 0
    for (int hob = 1; hob >= 0; --hob) {
      d.port_write(kTaskFile + 2, 1, hob ? n >> 8 : n & 0xff);
      d.port_write(kTaskFile + 3, 1, (lba >> (hob ? 24 : 0)) & 0xff);
      d.port_write(kTaskFile + 4, 1, (lba >> (hob ? 32 : 8)) & 0xff);
      d.port_write(kTaskFile + 5, 1, (lba >> (hob ? 40 : 16)) & 0xff);
    }
    d.port_write(kTaskFile + 6, 1, 0x40);
    d.port_write(kTaskFile + 7, 1, read ? 0x25 : 0x35);
    d.port_write(kBusMaster, 1, read ? 0x09 : 0x01);
    while (!(d.port_read(kBusMaster + 2, 1) & 0x04)) loop.run_once(-1);
    if (d.port_read(kTaskFile + 7, 1) & 0x01) abort();
  }

  std::string path;
  bool keep = false;
  Clock clock{Clock::Mode::kVirtual};
  EventLoop loop{clock};
  ThreadPoolExecutor executor{loop};
  HostRam ram{RamLayout::pc(kRamBytes)};
  UnpinnableRam unpinnable{ram};
  qtest::QtestInterrupts interrupts{ram};
  DeviceRegistry registry;
  Machine machine{MachineOptions{.ram_bytes = kRamBytes}, clock, machine_memory(ram, unpinnable),
                  interrupts, registry};
};

// A page-aligned buffer, as guest RAM is: the kernel's copy into or out of a misaligned buffer
// (malloc's 16-byte offset) runs at a third of the speed on some CPUs (AMD EPYC here), which would
// make the plain side of the comparison slower than it needs to be.
struct AlignedBuffer {
  explicit AlignedBuffer(size_t size)
      : bytes(static_cast<uint8_t*>(std::aligned_alloc(4096, size))), length(size) {
    if (!bytes) abort();
    for (size_t i = 0; i < size; ++i) bytes[i] = static_cast<uint8_t>(i * 7);
  }
  ~AlignedBuffer() { std::free(bytes); }
  uint8_t* data() { return bytes; }
  size_t size() const { return length; }
  uint8_t* bytes;
  size_t length;
};

IdeRig& rig() {
  static IdeRig* instance = new IdeRig;  // lives for the process: one image, one machine
  return *instance;
}

void BM_IdeSequentialDmaRead(benchmark::State& state) {
  IdeRig& r = rig();
  r.table(uint64_t{kSectorsPerCommand} * 512);
  uint64_t lba = 0;
  for (auto _ : state) {
    r.read_dma(lba, kSectorsPerCommand);
    lba = (lba + kSectorsPerCommand) % (kImageBytes / 512);
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * kSectorsPerCommand * 512);
}
BENCHMARK(BM_IdeSequentialDmaRead)->Unit(benchmark::kMillisecond)->UseRealTime();

// Writes of the image's own contents back over it (the page cache absorbs them, as it does the
// plain write below); the guest buffer is filled once so its pages are real RAM, not the zero page.
void BM_IdeSequentialDmaWrite(benchmark::State& state) {
  IdeRig& r = rig();
  constexpr uint64_t kBytes = uint64_t{kSectorsPerCommand} * 512;
  r.table(kBytes);
  std::vector<uint8_t> data(kBytes);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 7);
  r.ram.write(kBuffer, data.data(), data.size());
  uint64_t lba = 0;
  for (auto _ : state) {
    r.dma(lba, kSectorsPerCommand, false);
    lba = (lba + kSectorsPerCommand) % (kImageBytes / 512);
  }
  r.settle();
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(kBytes));
}
BENCHMARK(BM_IdeSequentialDmaWrite)->Unit(benchmark::kMillisecond)->UseRealTime();

// The host's side of the comparison: the same file, 32 MiB per iteration, read with pread in
// 256 KiB requests into a buffer of state.range(0) bytes: 32 MiB (like the guest's buffer) or
// 256 KiB (reused, so it stays in the CPU cache: the fastest a plain read gets here); page-aligned,
// as guest RAM is.
void BM_PlainFileRead(benchmark::State& state) {
  IdeRig& r = rig();
  int fd = open(r.path.c_str(), O_RDONLY | O_CLOEXEC);
  constexpr size_t kChunk = 256 * 1024;
  constexpr size_t kPerIteration = size_t{kSectorsPerCommand} * 512;
  AlignedBuffer buffer(static_cast<size_t>(state.range(0)));
  uint64_t offset = 0;
  for (auto _ : state) {
    for (size_t at = 0; at < kPerIteration; at += kChunk)
      (void)!pread(fd, buffer.data() + at % buffer.size(), kChunk, static_cast<off_t>(offset + at));
    offset = (offset + kPerIteration) % kImageBytes;
    benchmark::DoNotOptimize(buffer.data());
  }
  close(fd);
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(kPerIteration));
}
BENCHMARK(BM_PlainFileRead)
    ->Arg(int64_t{kSectorsPerCommand} * 512)
    ->Arg(256 * 1024)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// A plain buffered write of the same file: 32 MiB per iteration in 256 KiB pwrites from a 32 MiB
// buffer, as the guest's buffer is.
void BM_PlainFileWrite(benchmark::State& state) {
  IdeRig& r = rig();
  int fd = open(r.path.c_str(), O_WRONLY | O_CLOEXEC);
  constexpr size_t kChunk = 256 * 1024;
  constexpr size_t kPerIteration = size_t{kSectorsPerCommand} * 512;
  AlignedBuffer buffer(kPerIteration);
  uint64_t offset = 0;
  for (auto _ : state) {
    for (size_t at = 0; at < kPerIteration; at += kChunk)
      (void)!pwrite(fd, buffer.data() + at, kChunk, static_cast<off_t>(offset + at));
    offset = (offset + kPerIteration) % kImageBytes;
  }
  close(fd);
  r.settle();
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(kPerIteration));
}
BENCHMARK(BM_PlainFileWrite)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_IdeRandom4kDmaRead(benchmark::State& state) {
  IdeRig& r = rig();
  r.table(4096);
  std::mt19937_64 rng(1);
  for (auto _ : state) r.read_dma((rng() % (kImageBytes / 4096)) * 8, 8);
  state.SetItemsProcessed(int64_t(state.iterations()));
}
BENCHMARK(BM_IdeRandom4kDmaRead)->UseRealTime();

}  // namespace
}  // namespace hvmd

BENCHMARK_MAIN();
