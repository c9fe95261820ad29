// Cost of one guest access from IoRequest to response, for each kind of access, on a machine with
// as many regions as a typical HVM guest has (so the MMIO search is not trivially short).
#include <benchmark/benchmark.h>

#include "dm/dispatcher.h"
#include "dm/pci/pci_bus.h"
#include "dm/pci/pci_device.h"
#include "tests/bench/bench_table.h"

namespace hvmd {
namespace {

class Register final : public IoHandler {
 public:
  uint64_t read(uint64_t offset, unsigned) override { return value_ + offset; }
  void write(uint64_t, unsigned, uint64_t value) override { value_ = value; }

 private:
  uint64_t value_ = 0x1234;
};

class NullSink final : public InterruptSink {
 public:
  void set_isa_irq(unsigned, bool) override {}
  void set_pci_intx(PciAddress, unsigned, bool) override {}
  void set_pci_link_route(unsigned, unsigned) override {}
  void send_msi(const MsiMessage&) override {}
};

class Function final : public pci::PciDevice {
 public:
  Function() : PciDevice({.vendor = 0x8086, .device = 0x100e, .class_code = 0x020000}) {}
  std::string_view type() const override { return "bench"; }
};

struct Bench {
  Bench() {
    // 24 MMIO ranges and a dozen port ranges, like a guest with VGA, NIC, USB, IDE and platform.
    for (int i = 0; i < 24; ++i)
      dispatcher.map_mmio(0xfe000000 + i * 0x10000ull, 0x1000, &reg, "m");
    for (int i = 0; i < 12; ++i) dispatcher.map_ports(0x100 + i * 0x10, 8, &reg, "p");
    (void)bus.plug(function, 0x18);
  }
  HostRam ram{RamLayout::pc(16 << 20)};
  Dispatcher dispatcher{&ram};
  NullSink sink;
  pci::PciBus bus{dispatcher, &sink};
  Function function;
  Register reg;
};

void BM_PortRead(benchmark::State& state) {
  Bench b;
  IoRequest r{.addr = 0x154, .size = 4};
  for (auto _ : state) {
    b.dispatcher.handle(r);
    benchmark::DoNotOptimize(r.data);
  }
}
BENCHMARK(BM_PortRead);

void BM_PortWrite(benchmark::State& state) {
  Bench b;
  IoRequest r{.addr = 0x154, .data = 7, .size = 1, .is_write = true};
  for (auto _ : state) b.dispatcher.handle(r);
}
BENCHMARK(BM_PortWrite);

void BM_MmioRead(benchmark::State& state) {
  Bench b;
  IoRequest r{.addr = 0xfe0d0010, .size = 4, .kind = IoKind::kMmio};
  for (auto _ : state) {
    b.dispatcher.handle(r);
    benchmark::DoNotOptimize(r.data);
  }
}
BENCHMARK(BM_MmioRead);

void BM_PciConfigRead(benchmark::State& state) {
  Bench b;
  IoRequest r{
      .addr = PciAddress::make(0, 3, 0).config_addr(0x08), .size = 4, .kind = IoKind::kPciConfig};
  for (auto _ : state) {
    b.dispatcher.handle(r);
    benchmark::DoNotOptimize(r.data);
  }
}
BENCHMARK(BM_PciConfigRead);

void BM_RepInsw256(benchmark::State& state) {
  // One 512-byte sector of PIO data as a rep insw with a guest pointer.
  Bench b;
  IoRequest r{.addr = 0x150, .data = 0x10000, .count = 256, .size = 2, .data_is_ptr = true};
  for (auto _ : state) b.dispatcher.handle(r);
  state.SetBytesProcessed(state.iterations() * 512);
}
BENCHMARK(BM_RepInsw256);

}  // namespace
}  // namespace hvmd

int main(int argc, char** argv) {
  return hvmd::bench::run_with_table(argc, argv, [](const hvmd::bench::TableReporter& r) {
    hvmd::bench::table_line_if(r.ns_per_iteration("BM_PortRead"), "dispatch, port read (ns)", "", 0,
                               "<=100");
    hvmd::bench::table_line_if(r.ns_per_iteration("BM_MmioRead"), "dispatch, MMIO read (ns)", "", 0,
                               "<=100");
    hvmd::bench::table_line_if(r.ns_per_iteration("BM_PciConfigRead"),
                               "dispatch, PCI config read (ns)", "", 0, "<=100");
  });
}
