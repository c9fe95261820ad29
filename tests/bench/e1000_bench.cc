// e1000 frame rates through the in-process path (the same device code every transport runs):
// transmit of 64- and 1500-byte frames from a ring of legacy descriptors to a backend that drops
// them, and receive of the same sizes into the ring, one core. Target (DESIGN): at least 2 M
// frames/s for 64-byte transmit. Then the same through a tap (root only): transmit into the
// host's stack, and receive of frames a packet socket sends on the tap.
#include <arpa/inet.h>
#include <benchmark/benchmark.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "devices/board.h"
#include "dm/machine.h"
#include "ioreq/qtest/qtest_protocol.h"
#include "tests/bench/bench_table.h"

namespace hvmd {
namespace {

constexpr uint64_t kBar0 = 0xfebc0000;
constexpr PciAddress kNic{0, 0, 0x10};
constexpr uint32_t kRing = 4096;  // descriptors
constexpr uint64_t kTxRing = 0x100000, kRxRing = 0x200000, kBuffers = 0x400000;

class NullNet final : public NetBackend {
 public:
  NullNet() : NetBackend("null") {}
  bool send(std::span<const uint8_t> frame) override {
    bytes += frame.size();
    ++frames;
    return true;
  }
  void set_receiving(bool) override {}
  std::string describe() const override { return "null"; }
  bool inject(std::span<const uint8_t> frame) {
    if (!client_can_receive()) return false;
    deliver(frame);
    return true;
  }
  uint64_t frames = 0, bytes = 0;
};

struct NicRig {
  // backend: the NIC's backend; the null one unless given.
  explicit NicRig(NetBackend* backend = nullptr) {
    devices::register_devices(registry);
    NetBackend* chosen = backend ? backend : &net;
    machine.set_netdev_lookup(
        [chosen](const std::string&) -> Result<NetBackend*> { return chosen; });
    if (!devices::build_board(machine)) abort();
    auto options = SubOptions::parse("e1000,netdev=null,romfile=", "driver");
    if (!machine.add_device(*options, false)) abort();
    Dispatcher& d = machine.dispatcher();
    d.pci_write(kNic, 0x10, 4, static_cast<uint32_t>(kBar0));
    d.pci_write(kNic, 0x04, 2, 0x0006);
  }
  void wr(uint32_t reg, uint32_t value) { machine.dispatcher().mmio_write(kBar0 + reg, 4, value); }
  uint32_t rd(uint32_t reg) {
    return static_cast<uint32_t>(machine.dispatcher().mmio_read(kBar0 + reg, 4));
  }

  // Every descriptor of the transmit ring: one frame of `size` bytes, end of packet, report status.
  void fill_tx(uint16_t size) {
    std::vector<uint8_t> frame(size, 0x5a);
    std::memset(frame.data(), 0xff, 6);
    for (uint32_t i = 0; i < kRing; ++i) {
      uint64_t buffer = kBuffers + uint64_t{i % 64} * 2048;
      ram.write(buffer, frame.data(), frame.size());
      uint8_t d[16] = {};
      std::memcpy(d, &buffer, 8);
      d[8] = static_cast<uint8_t>(size);
      d[9] = static_cast<uint8_t>(size >> 8);
      d[11] = 0x0b;  // EOP, IFCS, RS
      ram.write(kTxRing + i * 16, d, 16);
    }
    wr(0x3800, kTxRing);
    wr(0x3808, kRing * 16);
    wr(0x3810, 0);
    wr(0x3818, 0);
    wr(0x400, 2);
  }
  void fill_rx() {
    for (uint32_t i = 0; i < kRing; ++i) {
      uint64_t buffer = kBuffers + uint64_t{i % 64} * 2048;
      uint8_t d[16] = {};
      std::memcpy(d, &buffer, 8);
      ram.write(kRxRing + i * 16, d, 16);
    }
    wr(0x2800, kRxRing);
    wr(0x2808, kRing * 16);
    wr(0x2810, 0);
    wr(0x2818, kRing - 1);
    wr(0x100, 0x8002 | (1u << 26));  // enable, broadcast, strip CRC
  }

  Clock clock{Clock::Mode::kVirtual};
  HostRam ram{RamLayout::pc(64 << 20)};
  qtest::QtestInterrupts interrupts{ram};
  DeviceRegistry registry;
  NullNet net;
  Machine machine{MachineOptions{.ram_bytes = 64 << 20}, clock, ram, interrupts, registry};
};

// Transmit: the guest hands the whole ring over in batches of 256 descriptors (one TDT write
// each, as a busy driver does), the device sends every frame.
void BM_E1000Transmit(benchmark::State& state) {
  NicRig rig;
  rig.fill_tx(static_cast<uint16_t>(state.range(0)));
  uint32_t tail = 0;
  for (auto _ : state) {
    tail = (tail + 256) % kRing;
    rig.wr(0x3818, tail);
  }
  state.SetItemsProcessed(int64_t(rig.net.frames));
  state.SetBytesProcessed(int64_t(rig.net.bytes));
  state.counters["frames/s"] =
      benchmark::Counter(double(rig.net.frames), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_E1000Transmit)->Arg(64)->Arg(1500);

// Receive: frames from the backend into the ring; the guest returns 256 descriptors at a time.
void BM_E1000Receive(benchmark::State& state) {
  NicRig rig;
  rig.fill_rx();
  std::vector<uint8_t> frame(static_cast<size_t>(state.range(0)), 0x5a);
  std::memset(frame.data(), 0xff, 6);
  uint64_t received = 0;
  uint32_t tail = kRing - 1;
  for (auto _ : state) {
    for (int i = 0; i < 256; ++i) received += rig.net.inject(frame);
    tail = (tail + 256) % kRing;
    rig.wr(0x2818, tail);
  }
  state.SetItemsProcessed(int64_t(received));
  state.counters["frames/s"] = benchmark::Counter(double(received), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_E1000Receive)->Arg(64)->Arg(1500);

// Through a tap the benchmark creates (needs root).
constexpr char kTapName[] = "hvmdbench0";
struct TapRig {
  TapRig() {
    if (geteuid() != 0 || system("ip tuntap add dev hvmdbench0 mode tap 2>/dev/null") != 0) return;
    if (!loop.init()) return;
    auto options = SubOptions::parse("tap,id=t0,ifname=hvmdbench0,script=no,downscript=no", "type");
    auto opened = NetBackend::open(*options, loop);
    if (!opened) return;
    backend = std::move(*opened);
    (void)!system("ip link set hvmdbench0 up");
    ok = true;
  }
  ~TapRig() {
    backend.reset();
    (void)!system("ip link del hvmdbench0 2>/dev/null");
  }
  Clock clock{Clock::Mode::kVirtual};
  EventLoop loop{clock};
  std::unique_ptr<NetBackend> backend;
  bool ok = false;
};

void BM_E1000TransmitTap(benchmark::State& state) {
  TapRig tap;
  if (!tap.ok) {
    state.SkipWithError("needs root to create a tap");
    return;
  }
  NicRig rig(tap.backend.get());
  rig.fill_tx(static_cast<uint16_t>(state.range(0)));
  uint32_t tail = 0;
  uint64_t before = rig.rd(0x40d4);  // TPT: transmitted (the read clears it)
  for (auto _ : state) {
    tail = (tail + 256) % kRing;
    rig.wr(0x3818, tail);
  }
  uint64_t frames = before + rig.rd(0x40d4);
  state.counters["frames/s"] = benchmark::Counter(double(frames), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_E1000TransmitTap)->Arg(64)->Arg(1500)->UseRealTime();

void BM_E1000ReceiveTap(benchmark::State& state) {
  TapRig tap;
  if (!tap.ok) {
    state.SkipWithError("needs root to create a tap");
    return;
  }
  NicRig rig(tap.backend.get());
  rig.fill_rx();
  // Frames sent on the tap interface by a packet socket come out of the tap's descriptor.
  int sender = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
  sockaddr_ll address{};
  address.sll_family = AF_PACKET;
  address.sll_ifindex = static_cast<int>(if_nametoindex(kTapName));
  address.sll_halen = 6;
  std::vector<uint8_t> frame(static_cast<size_t>(state.range(0)), 0x5a);
  std::memset(frame.data(), 0xff, 6);
  frame[12] = 0x88;  // an experimental EtherType: the host stack ignores it
  frame[13] = 0xb5;
  uint64_t received = 0;
  uint32_t tail = kRing - 1;
  for (auto _ : state) {
    for (int i = 0; i < 64; ++i)
      (void)!sendto(sender, frame.data(), frame.size(), 0, reinterpret_cast<sockaddr*>(&address),
                    sizeof(address));
    uint32_t before = rig.rd(0x2810);
    for (int spins = 0; spins < 100; ++spins) {
      tap.loop.run_once(1);
      if ((rig.rd(0x2810) - before + kRing) % kRing >= 64) break;
    }
    received += (rig.rd(0x2810) - before + kRing) % kRing;
    tail = (tail + 64) % kRing;
    rig.wr(0x2818, tail);
  }
  close(sender);
  state.counters["frames/s"] = benchmark::Counter(double(received), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_E1000ReceiveTap)->Arg(64)->Arg(1500)->UseRealTime();

}  // namespace
}  // namespace hvmd

int main(int argc, char** argv) {
  return hvmd::bench::run_with_table(argc, argv, [](const hvmd::bench::TableReporter& r) {
    hvmd::bench::table_line_if(r.counter("BM_E1000Transmit/64", "frames/s") / 1e6,
                               "e1000 transmit, 64-byte frames, null backend (M frames/s)", "", 0,
                               ">=2");
    hvmd::bench::table_line_if(r.counter("BM_E1000Receive/64", "frames/s") / 1e6,
                               "e1000 receive, 64-byte frames (M frames/s)", "", 0, "-");
  });
}
