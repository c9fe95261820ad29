// usb-storage sequential read throughput through the in-process path (the device code every
// transport runs): READ(10) Bulk-Only commands (CBW, data, CSW) as Linux's usb-storage issues
// them, on a cached raw image, through ich9-usb-ehci1 at high speed (qTDs of 16 KiB, 120 KiB per
// command: Linux's max_sectors 240) and through the PIIX3 UHCI at full speed (64-byte TDs,
// 64 KiB per command). The schedule runs on the virtual clock, one frame per step, and disk I/O on
// the block layer's worker pool; the figure is real time, so it is what the device model and
// the block layer cost, not what a 480 or 12 Mb/s wire would allow. guest_MiB/s is the rate in
// guest time: what the frame timer and the per-frame budgets allow.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <vector>

#include "devices/board.h"
#include "dm/backends/io_executor.h"
#include "dm/event_loop.h"
#include "dm/machine.h"
#include "ioreq/qtest/qtest_protocol.h"
#include "tests/bench/bench_table.h"

namespace hvmd {
namespace {

constexpr uint64_t kImageBytes = 64ull << 20;
constexpr uint64_t kRamBytes = 64ull << 20;
constexpr uint64_t kMmio = 0xfebf0000;
constexpr uint16_t kUhciIo = 0xc080;
constexpr PciAddress kEhci{0, 0, 0xef};  // 00:1d.7
constexpr PciAddress kUhci{0, 0, 0x0a};  // 00:01.2
// Guest memory.
constexpr uint64_t kFrameList = 0x100000, kHead = 0x101000, kQh = 0x101100, kTds = 0x110000,
                   kData = 0x200000, kCbw = 0x1f0000, kCsw = 0x1f1000;

void put32(std::vector<uint8_t>& v, size_t at, uint32_t x) {
  std::memcpy(&v[at], &x, 4);
}

std::vector<uint8_t> cbw_read10(uint32_t tag, uint32_t lba, uint16_t blocks) {
  std::vector<uint8_t> w(31);
  put32(w, 0, 0x43425355);
  put32(w, 4, tag);
  put32(w, 8, uint32_t{blocks} * 512);
  w[12] = 0x80;
  w[14] = 10;
  uint8_t cdb[10] = {0x28,
                     0,
                     static_cast<uint8_t>(lba >> 24),
                     static_cast<uint8_t>(lba >> 16),
                     static_cast<uint8_t>(lba >> 8),
                     static_cast<uint8_t>(lba),
                     0,
                     static_cast<uint8_t>(blocks >> 8),
                     static_cast<uint8_t>(blocks),
                     0};
  std::memcpy(&w[15], cdb, 10);
  return w;
}

struct Rig {
  explicit Rig(bool ehci) : ehci_(ehci) {
    char name[] = "/tmp/hvmd-usb-bench-XXXXXX";
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
    devices::register_devices(registry);
    machine.set_io_executor(&executor);
    auto drive = SubOptions::parse("file=" + path + ",if=none,id=d0,format=raw", "");
    machine.add_drive(*DriveSpec::from_options(*drive));
    if (!devices::build_board(machine)) abort();
    for (const char* text : ehci ? std::vector<const char*>{"ich9-usb-ehci1,id=usb,addr=1d.7",
                                                            "usb-storage,drive=d0,bus=usb.0"}
                                 : std::vector<const char*>{"piix3-usb-uhci,id=usb,addr=1.2",
                                                            "usb-storage,drive=d0,bus=usb.0"}) {
      auto options = SubOptions::parse(text, "driver");
      if (!machine.add_device(*options, false)) abort();
    }
    if (ehci)
      start_ehci();
    else
      start_uhci();
    // SET_ADDRESS 1, SET_CONFIGURATION 1 on the default pipe.
    control(0, {0x00, 5, 1, 0, 0, 0, 0, 0});
    control(1, {0x00, 9, 1, 0, 0, 0, 0, 0});
  }
  ~Rig() { unlink(path.c_str()); }

  void start_ehci() {
    Dispatcher& d = machine.dispatcher();
    d.pci_write(kEhci, 0x10, 4, static_cast<uint32_t>(kMmio));
    d.pci_write(kEhci, 0x04, 2, 0x0006);
    d.mmio_write(kMmio + 0x20, 4, 2);  // HCRESET
    d.mmio_write(kMmio + 0x30, 4, 0);  // CTRLDSSEGMENT
    write_qh(kHead, static_cast<uint32_t>(kHead) | 2, 1u << 15, 1, 0x40);
    d.mmio_write(kMmio + 0x38, 4, static_cast<uint32_t>(kHead));
    d.mmio_write(kMmio + 0x20, 4, 1 | 1u << 16 | 1u << 5);  // Run, ITC 1, async on
    d.mmio_write(kMmio + 0x60, 4, 1);                       // CONFIGFLAG
    d.mmio_write(kMmio + 0x64, 4, 0x1100);                  // port 1: reset
    clock.advance_to(clock.now_ns() + 50'000'000);
    d.mmio_write(kMmio + 0x64, 4, 0x1000);
    if (!(d.mmio_read(kMmio + 0x64, 4) & 4)) abort();  // enabled: high speed
  }
  void start_uhci() {
    Dispatcher& d = machine.dispatcher();
    d.pci_write(kUhci, 0x20, 4, kUhciIo);
    d.pci_write(kUhci, 0x04, 2, 0x0005);
    d.port_write(kUhciIo, 2, 2);
    std::vector<uint32_t> list(1024, static_cast<uint32_t>(kQh) | 2);
    ram.write(kFrameList, list.data(), 4096);
    uint32_t qh[2] = {1, 1};
    ram.write(kQh, qh, 8);
    d.port_write(kUhciIo + 8, 4, kFrameList);
    d.port_write(kUhciIo + 0x10, 2, 0x200);
    clock.advance_to(clock.now_ns() + 50'000'000);
    d.port_write(kUhciIo + 0x10, 2, 0);
    d.port_write(kUhciIo + 0x10, 2, 4);
    d.port_write(kUhciIo, 2, 0xc1);
  }

  void write_qh(uint64_t at, uint32_t link, uint32_t characteristics, uint32_t next,
                uint32_t token) {
    uint32_t qh[17] = {link, characteristics, 1u << 30, 0, next, 1, token};
    ram.write(at, qh, sizeof(qh));
  }

  // EHCI: one transfer of pieces of up to 16 KiB as a qTD chain on the queue head after the
  // ring's head. UHCI: 64-byte TDs depth first. Returns when all are done.
  void transfer(uint8_t address, uint8_t endpoint, unsigned pid_code, uint64_t buffer,
                uint32_t bytes, bool control_pipe = false) {
    if (ehci_) {
      uint32_t count = std::max<uint32_t>(1, (bytes + 0x3fff) / 0x4000);
      for (uint32_t i = 0; i < count; ++i) {
        uint32_t n = std::min<uint32_t>(0x4000, bytes - std::min(bytes, i * 0x4000));
        uint64_t at = buffer + uint64_t{i} * 0x4000;
        uint32_t td[13] = {i + 1 < count ? static_cast<uint32_t>(kTds + 64 * (i + 1)) : 1u, 1,
                           n << 16 | 3u << 10 | pid_code << 8 | 0x80};
        for (int p = 0; p < 5; ++p)
          td[3 + p] = static_cast<uint32_t>(p == 0 ? at : (at & ~0xfffull) + 0x1000ull * p);
        ram.write(kTds + 64 * i, td, sizeof(td));
      }
      uint32_t characteristics = address | uint32_t{endpoint} << 8 | 2u << 12 |
                                 (control_pipe ? 1u << 14 : 0) | (control_pipe ? 64u : 512u) << 16;
      write_qh(kQh, static_cast<uint32_t>(kHead) | 2, characteristics, static_cast<uint32_t>(kTds),
               0);
      write_qh(kHead, static_cast<uint32_t>(kQh) | 2, 1u << 15, 1, 0x40);
      uint64_t last = kTds + 64 * (count - 1) + 8;
      run_until([&] {
        uint32_t token = 0;
        ram.read(last, &token, 4);
        return !(token & 0x80) || (token & 0x40);
      });
      write_qh(kHead, static_cast<uint32_t>(kHead) | 2, 1u << 15, 1, 0x40);
      return;
    }
    uint8_t pid = pid_code == 0 ? 0xe1 : pid_code == 1 ? 0x69 : 0x2d;
    uint32_t count = std::max<uint32_t>(1, (bytes + 63) / 64);
    std::vector<uint32_t> tds(8 * count);  // 32 bytes apart
    for (uint32_t i = 0; i < count; ++i) {
      uint32_t n = std::min<uint32_t>(64, bytes - std::min(bytes, i * 64));
      tds[8 * i] = i + 1 < count ? static_cast<uint32_t>(kTds + 32 * (i + 1)) | 4 : 1u;
      tds[8 * i + 1] = 1u << 23 | 3u << 27;
      tds[8 * i + 2] =
          (n ? n - 1 : 0x7ff) << 21 | uint32_t{endpoint} << 15 | uint32_t{address} << 8 | pid;
      tds[8 * i + 3] = static_cast<uint32_t>(buffer + 64 * i);
    }
    ram.write(kTds, tds.data(), tds.size() * 4);
    uint32_t qh[2] = {1, static_cast<uint32_t>(kTds)};
    ram.write(kQh, qh, 8);
    run_until([&] {
      uint32_t element = 0;
      ram.read(kQh + 4, &element, 4);
      return (element & 1) != 0;
    });
  }
  template <class Done>
  void run_until(Done done) {
    for (int frames = 0; !done(); ++frames) {
      if (frames > 100000) abort();
      if (executor.in_flight()) loop.run_once(-1);
      clock.advance_to(clock.now_ns() + 1'000'000);
    }
  }
  void control(uint8_t address, std::vector<uint8_t> setup) {
    ram.write(kCbw, setup.data(), 8);
    transfer(address, 0, 2, kCbw, 8, true);
    transfer(address, 0, 1, kCsw, 0, true);
  }
  void read(uint32_t tag, uint32_t lba, uint16_t blocks) {
    auto w = cbw_read10(tag, lba, blocks);
    ram.write(kCbw, w.data(), w.size());
    transfer(1, 2, 0, kCbw, 31);
    transfer(1, 1, 1, kData, uint32_t{blocks} * 512);
    transfer(1, 1, 1, kCsw, 13);
    uint8_t csw[13];
    ram.read(kCsw, csw, 13);
    if (csw[12] != 0) abort();
  }

  bool ehci_;
  std::string path;
  Clock clock{Clock::Mode::kVirtual};
  EventLoop loop{clock};
  ThreadPoolExecutor executor{loop};
  HostRam ram{RamLayout::pc(kRamBytes)};
  qtest::QtestInterrupts interrupts{ram};
  DeviceRegistry registry;
  Machine machine{MachineOptions{.ram_bytes = kRamBytes}, clock, ram, interrupts, registry};
};

void sequential_read(benchmark::State& state, bool ehci, uint16_t blocks) {
  Rig rig(ehci);
  uint32_t lba = 0, tag = 0;
  int64_t start_ns = rig.clock.now_ns();
  for (auto _ : state) {
    rig.read(++tag, lba, blocks);
    lba = (lba + blocks) % static_cast<uint32_t>(kImageBytes / 512 - blocks);
  }
  uint8_t first[4];
  rig.ram.read(kData, first, 4);
  benchmark::DoNotOptimize(first);
  state.SetBytesProcessed(int64_t(state.iterations()) * blocks * 512);
  // What the guest would see: bytes per second of guest (virtual) time, the frames the schedule
  // needed (a 1 ms frame timer; disk I/O costs no guest time here).
  double guest_seconds = double(rig.clock.now_ns() - start_ns) / 1e9;
  state.counters["guest_MiB/s"] =
      guest_seconds > 0 ? double(state.iterations()) * blocks * 512 / guest_seconds / (1 << 20) : 0;
}

void BM_UsbStorageReadEhci(benchmark::State& state) {
  sequential_read(state, true, 240);
}
BENCHMARK(BM_UsbStorageReadEhci)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_UsbStorageReadUhci(benchmark::State& state) {
  sequential_read(state, false, 128);
}
BENCHMARK(BM_UsbStorageReadUhci)->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace
}  // namespace hvmd

int main(int argc, char** argv) {
  return hvmd::bench::run_with_table(argc, argv, [](const hvmd::bench::TableReporter& r) {
    hvmd::bench::table_line_if(r.counter("BM_UsbStorageReadEhci/real_time", "guest_MiB/s"),
                               "usb-storage on EHCI, sequential read (guest MiB/s)", "", 0, "-");
  });
}
