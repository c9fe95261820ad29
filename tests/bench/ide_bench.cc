// IDE throughput through the in-process path (the same device code every transport runs): bus-
// master DMA reads of a cached raw image driven through the dispatcher, the block layer's worker
// pool and the event loop, against a plain read of the same file on the same machine. Also 4 KiB
// random DMA reads, one at a time, as a latency-bound figure. The image is a temporary 256 MiB
// file read once beforehand, so both sides read from the page cache.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

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

struct IdeRig {
  IdeRig() {
    char name[] = "/tmp/hvmd-ide-bench-XXXXXX";
    int fd = mkstemp(name);
    path = name;
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
    auto options = SubOptions::parse("file=" + path + ",if=ide,index=0,format=raw", "");
    machine.add_drive(*DriveSpec::from_options(*options));
    if (!devices::build_board(machine) || !devices::attach_drives(machine)) abort();
    Dispatcher& d = machine.dispatcher();
    d.pci_write(kIde, 0x20, 4, kBusMaster);
    d.pci_write(kIde, 0x04, 2, 0x0005);
  }
  ~IdeRig() { unlink(path.c_str()); }
  void registry_setup() { devices::register_devices(registry); }

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
  // READ DMA EXT of count sectors at lba; runs the loop until the bus master reports.
  void read_dma(uint64_t lba, uint32_t count) {
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
    d.port_write(kTaskFile + 7, 1, 0x25);
    d.port_write(kBusMaster, 1, 0x09);
    while (!(d.port_read(kBusMaster + 2, 1) & 0x04)) loop.run_once(-1);
    if (d.port_read(kTaskFile + 7, 1) & 0x01) abort();
  }

  std::string path;
  Clock clock{Clock::Mode::kVirtual};
  EventLoop loop{clock};
  ThreadPoolExecutor executor{loop};
  HostRam ram{RamLayout::pc(kRamBytes)};
  qtest::QtestInterrupts interrupts{ram};
  DeviceRegistry registry;
  Machine machine{MachineOptions{.ram_bytes = kRamBytes}, clock, ram, interrupts, registry};
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

// The host's side of the comparison: the same file, 32 MiB per iteration, read with pread in
// 256 KiB requests into a buffer of state.range(0) bytes: 32 MiB (like the guest's buffer) or
// 256 KiB (reused, so it stays in the CPU cache: the fastest a plain read gets here).
void BM_PlainFileRead(benchmark::State& state) {
  IdeRig& r = rig();
  int fd = open(r.path.c_str(), O_RDONLY | O_CLOEXEC);
  constexpr size_t kChunk = 256 * 1024;
  constexpr size_t kPerIteration = size_t{kSectorsPerCommand} * 512;
  std::vector<uint8_t> buffer(static_cast<size_t>(state.range(0)));
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
