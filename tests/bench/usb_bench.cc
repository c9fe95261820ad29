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
#include "tests/bench/bench_table.h"

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

// --- xHCI -------------------------------------------------------------------------------------
// nec-usb-xhci with a usb-tablet, set up as xhci-hcd leaves it while the tablet is idle: running,
// the tablet addressed and configured, an interrupt TRB waiting for a report. xHCI has no frame
// timer: the waiting TRB is retried when the tablet queues a report. BM_XhciIdleSecond advances one
// second of guest time per iteration and counts the timer expiries (wake-ups of hvmd) on the way;
// BM_BoardIdleSecond is the same machine without the controller, so the difference is the
// controller's own. BM_XhciReport is the cost of one tablet report: input event, transfer,
// event ring write, interrupt.
constexpr uint64_t kXhciBar = 0xe0000000, kOper = kXhciBar + 0x40, kRt = kXhciBar + 0x1000,
                   kDb = kXhciBar + 0x2000;
constexpr uint64_t kDcbaa = 0x100000, kCmd = 0x101000, kErst = 0x102000, kEvt = 0x103000,
                   kInput = 0x105000, kOutput = 0x106000, kEp0 = 0x107000, kEp1 = 0x108000,
                   kBuf = 0x109000;
constexpr uint8_t kXhciDevfn = 0x20;

struct XhciRig {
  explicit XhciRig(bool with_controller) {
    devices::register_devices(registry);
    if (!devices::build_board(machine).ok()) std::abort();
    if (!with_controller) return;
    for (const char* text : {"nec-usb-xhci,id=usb,addr=4", "usb-tablet,bus=usb.0,port=1"}) {
      auto options = SubOptions::parse(text, "driver");
      if (!machine.add_device(*options, false).ok()) std::abort();
    }
    auto& d = machine.dispatcher();
    auto config = [&](uint8_t reg, uint32_t value) {
      d.port_write(0xcf8, 4, 0x80000000u | uint32_t{kXhciDevfn} << 8 | reg);
      d.port_write(0xcfc, 4, value);
    };
    config(0x10, static_cast<uint32_t>(kXhciBar));
    config(0x14, 0);
    config(0x04, 0x6);
    d.mmio_write(kOper, 4, 2);  // HCRST
    d.mmio_write(kOper + 0x38, 4, 8);
    d.mmio_write(kOper + 0x30, 8, kDcbaa);
    d.mmio_write(kOper + 0x18, 8, kCmd | 1);
    trb(kErst, kEvt, kEventTrbs);
    d.mmio_write(kRt + 0x28, 4, 1);
    d.mmio_write(kRt + 0x38, 8, kEvt);
    d.mmio_write(kRt + 0x30, 8, kErst);
    d.mmio_write(kRt + 0x24, 4, 160);
    d.mmio_write(kRt + 0x20, 4, 2);
    d.mmio_write(kOper, 4, 5);                     // run, interrupts
    d.mmio_write(kOper + 0x400 + 0x40, 4, 0x210);  // USB2 port 5: reset
    command(0, 9u << 10);                          // Enable Slot
    uint64_t out = kOutput;
    ram.write(kDcbaa + 8, &out, 8);
    context(kInput, {0, 3});
    context(kInput + 32, {1u << 27, 5u << 16});
    context(kInput + 64, {0, 3u << 1 | 4u << 3 | 8u << 16, static_cast<uint32_t>(kEp0) | 1});
    command(kInput, 11u << 10 | 1u << 24);  // Address Device
    context(kInput, {0, 1 | 1u << 3});
    context(kInput + 32, {3u << 27, 5u << 16});
    context(kInput + 4 * 32,
            {3u << 16, 3u << 1 | 7u << 3 | 8u << 16, static_cast<uint32_t>(kEp1) | 1});
    command(kInput, 12u << 10 | 1u << 24);  // Configure Endpoint
    // SET_CONFIGURATION(1) on endpoint 0, then the interrupt TRB.
    trb(kEp0, 0x0000000000010900ull, 8, 2u << 10 | 0x40 | 1);
    trb(kEp0 + 16, 0, 0, 4u << 10 | 0x10000 | 0x20 | 1);
    d.mmio_write(kDb + 4, 4, 1);
    queue_interrupt();
    consume_events();
  }
  // Software's event handler: every event with the expected cycle bit, then ERDP with EHB.
  unsigned consume_events() {
    unsigned n = 0;
    for (; n < kEventTrbs; ++n) {
      uint32_t control = 0;
      ram.read(kEvt + 16 * event_index + 12, &control, 4);
      if (bool(control & 1) != event_cycle) break;
      if (++event_index == kEventTrbs) {
        event_index = 0;
        event_cycle = !event_cycle;
      }
    }
    machine.dispatcher().mmio_write(kRt + 0x38, 8, (kEvt + 16 * event_index) | 8);
    return n;
  }
  void trb(uint64_t at, uint64_t parameter, uint32_t status, uint32_t control = 0) {
    uint32_t words[4] = {static_cast<uint32_t>(parameter), static_cast<uint32_t>(parameter >> 32),
                         status, control};
    ram.write(at, words, sizeof(words));
  }
  void command(uint64_t parameter, uint32_t control) {
    trb(kCmd + 16 * commands++, parameter, 0, control | 1);
    machine.dispatcher().mmio_write(kDb, 4, 0);
  }
  void context(uint64_t at, std::initializer_list<uint32_t> words) {
    std::vector<uint32_t> all(8);
    std::copy(words.begin(), words.end(), all.begin());
    ram.write(at, all.data(), 32);
  }
  // One Normal TRB on endpoint 1 IN; the ring is a 64-TRB circle of its own.
  void queue_interrupt() {
    if (interrupt_index == 63) {
      trb(kEp1 + 16 * 63, kEp1, 0, 6u << 10 | 2 | (interrupt_cycle ? 1 : 0));
      interrupt_index = 0;
      interrupt_cycle = !interrupt_cycle;
    }
    trb(kEp1 + 16 * interrupt_index++, kBuf, 8, 1u << 10 | 0x20 | 0x4 | (interrupt_cycle ? 1 : 0));
    machine.dispatcher().mmio_write(kDb + 4, 4, 3);
  }
  // Runs every timer up to now + ns; returns how many expiries that took.
  unsigned advance(int64_t ns) {
    int64_t target = clock.now_ns() + ns;
    unsigned wakeups = 0;
    for (int64_t deadline = clock.next_deadline(); deadline <= target;
         deadline = clock.next_deadline()) {
      clock.advance_to(deadline);
      ++wakeups;
    }
    clock.advance_to(target);
    return wakeups;
  }
  Clock clock{Clock::Mode::kVirtual};
  HostRam ram{RamLayout::pc(32 << 20)};
  qtest::QtestInterrupts irq{ram};
  DeviceRegistry registry;
  Machine machine{MachineOptions{}, clock, ram, irq, registry};
  static constexpr unsigned kEventTrbs = 256;
  unsigned commands = 0;
  unsigned event_index = 0;
  bool event_cycle = true;
  unsigned interrupt_index = 0;
  bool interrupt_cycle = true;
};

void idle_seconds(benchmark::State& state, bool with_controller) {
  XhciRig rig(with_controller);
  rig.advance(1'000'000'000);  // moderation intervals of the set-up's events
  uint64_t wakeups = 0;
  for (auto _ : state) wakeups += rig.advance(1'000'000'000);
  state.counters["wakeups_per_guest_s"] =
      static_cast<double>(wakeups) / static_cast<double>(state.iterations());
}
void BM_BoardIdleSecond(benchmark::State& state) {
  idle_seconds(state, false);
}
void BM_XhciIdleSecond(benchmark::State& state) {
  idle_seconds(state, true);
}
BENCHMARK(BM_BoardIdleSecond);
BENCHMARK(BM_XhciIdleSecond);

void BM_XhciReport(benchmark::State& state) {
  XhciRig rig(true);
  uint32_t x = 0;
  uint64_t events = 0;
  for (auto _ : state) {
    rig.machine.input().absolute_event(x++ & 0x7fff, 100, 0, 0);
    rig.queue_interrupt();
    events += rig.consume_events();
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["events_per_report"] =
      static_cast<double>(events) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_XhciReport);

}  // namespace
}  // namespace hvmd

int main(int argc, char** argv) {
  return hvmd::bench::run_with_table(argc, argv, [](const hvmd::bench::TableReporter& r) {
    // ns per 1 ms frame x 1000 frames per guest second = host us per guest second.
    hvmd::bench::table_line_if(r.ns_per_iteration("BM_IdleFrame"),
                               "UHCI running, idle tablet: host us per guest second (x1000 frames)",
                               "", 0, "-");
    // An idle xHCI must cost no wake-up beyond the board's own.
    hvmd::bench::table_line_if(r.counter("BM_XhciIdleSecond", "wakeups_per_guest_s") -
                                   r.counter("BM_BoardIdleSecond", "wakeups_per_guest_s"),
                               "xHCI idle: wake-ups per guest second beyond the board's", "", 0,
                               "<=0");
  });
}
