// Xen ioreq round trip through the simulated hypervisor: a vCPU thread posts a request into the
// shared page, kicks the event channel and waits until the device thread has set IORESP_READY.
// Prints the median and p99 round trip of one vCPU beside the host's floor (the same pipe and
// eventfd hand-off between two threads with nothing else to do), the request rate of four
// concurrent vCPUs, and what the device model asked of the event-channel device per synchronous
// request and per buffered batch (on Xen each is one system call: the read of the pending ports,
// the unmask write, the notify ioctl, which is also the one hypercall).
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "devices/board.h"
#include "dm/machine.h"
#include "ioreq/xen/ioreq_server.h"
#include "tests/bench/bench_table.h"
#include "tests/unit/test_devices.h"
#include "tests/xen/sim_xen.h"

namespace {

using WallClock = std::chrono::steady_clock;

double ns_since(WallClock::time_point start) {
  return std::chrono::duration<double, std::nano>(WallClock::now() - start).count();
}

double median(std::vector<double>& samples) {
  std::sort(samples.begin(), samples.end());
  return samples[samples.size() / 2];
}

// The floor under the simulated round trip: a thread waiting in epoll on a pipe, reading the
// 4-byte record and answering on an eventfd, as the simulated event channels work, with no
// request to decode or serve.
double floor_round_trip_ns(int samples) {
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK) < 0) return 0;
  int answer = eventfd(0, EFD_CLOEXEC);
  int epoll = epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  epoll_ctl(epoll, EPOLL_CTL_ADD, pipe_fds[0], &ev);
  std::atomic<bool> done{false};
  std::thread server([&] {
    epoll_event out;
    while (!done) {
      if (epoll_wait(epoll, &out, 1, 5) != 1) continue;
      uint32_t port;
      if (read(pipe_fds[0], &port, sizeof(port)) != sizeof(port)) continue;
      uint64_t one = 1;
      if (write(answer, &one, sizeof(one)) != sizeof(one)) return;
    }
  });
  std::vector<double> rtt;
  for (int i = 0; i < samples; ++i) {
    auto start = WallClock::now();
    uint32_t port = 1;
    uint64_t count;
    if (write(pipe_fds[1], &port, sizeof(port)) != sizeof(port) ||
        read(answer, &count, sizeof(count)) != sizeof(count))
      break;
    rtt.push_back(ns_since(start));
  }
  done = true;
  server.join();
  for (int fd : {pipe_fds[0], pipe_fds[1], answer, epoll}) close(fd);
  return rtt.empty() ? 0 : median(rtt);
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
  std::atomic<uint64_t> rounds{0};
  std::thread device_thread([&] {
    while (!done) {
      loop.run_once(5);
      ++rounds;
    }
  });
  // The request: a PCI config read of the host bridge's vendor/device id.
  uint64_t addr = PciAddress{0, 0, 0}.config_addr(0);

  constexpr int kSamples = 20000;
  std::vector<double> rtt;
  rtt.reserve(kSamples);
  auto counts_before = xen.channel_counts();
  uint64_t rounds_before = rounds;
  for (int i = 0; i < kSamples; ++i) {
    auto start = WallClock::now();
    xen.access(0, IOREQ_TYPE_PCI_CONFIG, addr, 4, true, 0);
    rtt.push_back(ns_since(start));
  }
  auto counts = xen.channel_counts();
  double loop_rounds = static_cast<double>(rounds - rounds_before);
  double trip_ns = median(rtt);
  double p99 = rtt[kSamples * 99 / 100];
  double floor_ns = floor_round_trip_ns(kSamples);
  printf(
      "ioreq round trip (1 vCPU, simulated Xen): median %.1f us, p99 %.1f us; host floor (the "
      "same hand-off, nothing served) %.1f us\n",
      trip_ns / 1000, p99 / 1000, floor_ns / 1000);
  double per = 1.0 / kSamples;
  double calls =
      static_cast<double>(counts.pending_reads - counts_before.pending_reads + counts.unmask_calls -
                          counts_before.unmask_calls + counts.notifies - counts_before.notifies);
  printf(
      "per synchronous request: %.2f loop wake-ups (epoll_wait), %.2f pending-port reads, %.2f "
      "unmask calls, %.2f notifies: %.2f system calls, %.2f hypercalls (the notify)\n",
      loop_rounds * per, (counts.pending_reads - counts_before.pending_reads) * per,
      (counts.unmask_calls - counts_before.unmask_calls) * per,
      (counts.notifies - counts_before.notifies) * per, loop_rounds * per + calls * per,
      (counts.notifies - counts_before.notifies) * per);

  // A buffered batch: 256 writes (VGA-style MMIO stores Xen queues without waiting), then one
  // synchronous read that must see them all done.
  constexpr int kBatches = 200, kBatch = 256;
  counts_before = xen.channel_counts();
  rounds_before = rounds;
  for (int b = 0; b < kBatches; ++b) {
    for (int i = 0; i < kBatch; ++i) xen.buffered_write(IOREQ_TYPE_PIO, 0x80, 1, i & 0xff);
    xen.access(0, IOREQ_TYPE_PCI_CONFIG, addr, 4, true, 0);
  }
  counts = xen.channel_counts();
  per = 1.0 / kBatches;
  printf(
      "per buffered batch of %d writes and one synchronous read: %.2f loop wake-ups, %.2f "
      "pending-port reads, %.2f unmask calls, %.2f notifies\n",
      kBatch, static_cast<double>(rounds - rounds_before) * per,
      (counts.pending_reads - counts_before.pending_reads) * per,
      (counts.unmask_calls - counts_before.unmask_calls) * per,
      (counts.notifies - counts_before.notifies) * per);

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
  hvmd::bench::table_line("ioreq round trip, simulated Xen, 1 vCPU (us)", trip_ns / 1000,
                          "pipe+eventfd floor", floor_ns / 1000, "-");
  // On Xen: epoll_wait, the pending read, the unmask write, the notify ioctl.
  hvmd::bench::table_line("device-model syscalls per synchronous ioreq",
                          loop_rounds / kSamples + calls / kSamples, "interface minimum", 4, "<=4");
  return 0;
}
