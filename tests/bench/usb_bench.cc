// The cost of a running UHCI controller per second of guest time, in process (the device code
// every transport runs): a schedule like the one Linux's uhci-hcd keeps while a usb-tablet is
// idle (every frame: the control queue, empty, then the interrupt queue with the tablet's IN TD
// that NAKs), one frame per iteration on the virtual clock. Multiply the time per frame by 1000
// for the host CPU an idle tablet costs per guest second. A stopped controller arms no timer
// and costs nothing (the UhciTest qtests check its frame counter stands).
#include <benchmark/benchmark.h>

#include <cstring>

#include "devices/board.h"
#include "dm/machine.h"
#include "ioreq/qtest/qtest_protocol.h"

namespace hvmd {
namespace {

constexpr uint16_t kIo = 0xc080;
constexpr uint8_t kDevfn = 0x0a;
constexpr uint64_t kFrameList = 0x100000, kQh = 0x101000, kQhInterrupt = 0x101020, kTd = 0x102000;

struct UhciRig {
  UhciRig() {
    devices::register_devices(registry);
    if (!devices::build_board(machine).ok()) std::abort();
    for (const char* text : {"piix3-usb-uhci,addr=1.2", "usb-tablet,bus=usb.0,port=1"}) {
      auto options = SubOptions::parse(text, "driver");
      if (!machine.add_device(*options, false).ok()) std::abort();
    }
    auto& d = machine.dispatcher();
    auto config = [&](uint8_t reg, unsigned size, uint32_t value) {
      d.port_write(0xcf8, 4, 0x80000000u | uint32_t{kDevfn} << 8 | reg);
      d.port_write(0xcfc + (reg & 3), size, value);
    };
    config(0x20, 4, kIo);
    config(0x04, 2, 0x5);
    uint32_t words[1024];
    for (auto& w : words) w = static_cast<uint32_t>(kQh) | 2;
    ram.write(kFrameList, words, sizeof(words));
    uint32_t qh[2] = {static_cast<uint32_t>(kQhInterrupt) | 2, 1};
    ram.write(kQh, qh, sizeof(qh));
    uint32_t qh2[2] = {1, static_cast<uint32_t>(kTd)};
    ram.write(kQhInterrupt, qh2, sizeof(qh2));
    // The interrupt TD: IN, address 0, endpoint 1, 8 bytes, active, C_ERR 0. The tablet (not
    // configured) does not answer endpoint 1, and with no error limit the TD stays active and is
    // retried every frame: the same walk and transaction as a NAK.
    uint32_t td[4] = {1, (1u << 23), 7u << 21 | 1u << 15 | 0x69, 0x110000};
    ram.write(kTd, td, sizeof(td));
    d.port_write(kIo + 0x08, 4, kFrameList);
    d.port_write(kIo + 0x10, 2, 0x200);
    d.port_write(kIo + 0x10, 2, 0);
    d.port_write(kIo + 0x10, 2, 0x4);
    d.port_write(kIo + 0x00, 2, 0xc1);
  }
  Clock clock{Clock::Mode::kVirtual};
  HostRam ram{RamLayout::pc(32 << 20)};
  qtest::QtestInterrupts irq{ram};
  DeviceRegistry registry;
  Machine machine{MachineOptions{}, clock, ram, irq, registry};
};

void BM_IdleFrame(benchmark::State& state) {
  UhciRig rig;
  for (auto _ : state) {
    rig.clock.advance_to(rig.clock.now_ns() + 1'000'000);
  }
  uint16_t frame = static_cast<uint16_t>(rig.machine.dispatcher().port_read(kIo + 0x06, 2));
  state.counters["frnum"] = frame;
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_IdleFrame);

}  // namespace
}  // namespace hvmd

BENCHMARK_MAIN();
