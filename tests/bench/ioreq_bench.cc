// Xen ioreq round trip through the simulated hypervisor: a vCPU thread posts a request into the
// shared page, kicks the event channel and waits until the device thread has set IORESP_READY.
// Prints the median and p99 round trip of one vCPU and the request rate of four concurrent vCPUs.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "devices/board.h"
#include "dm/machine.h"
#include "ioreq/xen/ioreq_server.h"
#include "tests/unit/test_devices.h"
#include "tests/xen/sim_xen.h"

namespace {

using WallClock = std::chrono::steady_clock;

double ns_since(WallClock::time_point start) {
  return std::chrono::duration<double, std::nano>(WallClock::now() - start).count();
}

}  // namespace

int main() {
  using namespace hvmd;
  test::SimXen xen(4, 16 << 20);
  xen::MapCache memory(xen);
  hvmd::Clock clock(hvmd::Clock::Mode::kVirtual);
  EventLoop loop(clock);
  if (!loop.init().ok()) return 1;
  test::FakeInterrupts irq;
  DeviceRegistry registry;
  devices::register_devices(registry);
  Machine machine(MachineOptions{.ram_bytes = 16 << 20}, clock, memory, irq, registry);
  if (!devices::build_board(machine).ok()) return 1;
  xen::IoreqServer server(xen, machine.dispatcher(), memory, loop);
  if (!server.start().ok()) return 1;
  std::atomic<bool> done{false};
  std::thread device_thread([&] {
    while (!done) loop.run_once(5);
  });
  // The request: a PCI config read of the host bridge's vendor/device id.
  uint64_t addr = PciAddress{0, 0, 0}.config_addr(0);

  constexpr int kSamples = 20000;
  std::vector<double> rtt;
  rtt.reserve(kSamples);
  for (int i = 0; i < kSamples; ++i) {
    auto start = WallClock::now();
    xen.access(0, IOREQ_TYPE_PCI_CONFIG, addr, 4, true, 0);
    rtt.push_back(ns_since(start));
  }
  std::sort(rtt.begin(), rtt.end());
  printf("ioreq round trip (1 vCPU, simulated Xen): median %.1f us, p99 %.1f us\n",
         rtt[kSamples / 2] / 1000, rtt[kSamples * 99 / 100] / 1000);

  constexpr int kPerVcpu = 20000;
  auto start = WallClock::now();
  std::vector<std::thread> vcpus;
  for (unsigned v = 0; v < 4; ++v)
    vcpus.emplace_back([&, v] {
      for (int i = 0; i < kPerVcpu; ++i) xen.access(v, IOREQ_TYPE_PCI_CONFIG, addr, 4, true, 0);
    });
  for (auto& t : vcpus) t.join();
  double seconds = ns_since(start) / 1e9;
  printf("ioreq throughput (4 vCPUs, simulated Xen): %.0f requests/s\n", 4 * kPerVcpu / seconds);
  done = true;
  device_thread.join();
  return 0;
}
