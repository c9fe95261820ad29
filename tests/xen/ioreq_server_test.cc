// The Xen transport's protocol engine against a simulated hypervisor: vCPU threads post requests
// into the shared page as Xen does while the device thread serves them.
#include "ioreq/xen/ioreq_server.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#include "devices/board.h"
#include "dm/machine.h"
#include "ioreq/xen/guest_shutdown.h"
#include "tests/unit/test_devices.h"
#include "tests/xen/sim_xen.h"

namespace hvmd::test {
namespace {

constexpr uint64_t kRam = 16 << 20;
constexpr uint64_t kScratchBar = 0xfebf0000;

uint64_t pci_addr(uint8_t devfn, uint32_t reg) {
  return PciAddress{0, 0, devfn}.config_addr(reg);
}

class XenServerTest : public ::testing::Test {
 protected:
  XenServerTest() {
    devices::register_devices(registry);
    EXPECT_TRUE(loop.init().ok());
    EXPECT_TRUE(devices::build_board(machine).ok());
    auto scratch = machine.add_board_device(std::make_unique<ScratchDevice>(0), 0x18);  // 03.0
    EXPECT_TRUE(scratch.ok());
    machine.dispatcher().map_mmio(0xa0000, 0x20000, &vga_window, "vga-window");
    machine.dispatcher().map_ports(0x1f0, 8, &data_port, "data");
  }
  ~XenServerTest() override { stop(); }

  void start(bool run_thread = true) {
    ASSERT_TRUE(server.start().ok());
    if (run_thread)
      dm_thread = std::thread([this] {
        while (!done) loop.run_once(5);
      });
  }
  void stop() {
    done = true;
    if (dm_thread.joinable()) dm_thread.join();
  }
  uint64_t pci_read(unsigned vcpu, uint8_t devfn, uint32_t reg, unsigned size = 4) {
    return xen.access(vcpu, IOREQ_TYPE_PCI_CONFIG, pci_addr(devfn, reg), size, true, 0);
  }
  void pci_write(unsigned vcpu, uint8_t devfn, uint32_t reg, unsigned size, uint32_t value) {
    xen.access(vcpu, IOREQ_TYPE_PCI_CONFIG, pci_addr(devfn, reg), size, false, value);
  }

  SimXen xen{4, kRam};
  xen::MapCache memory{xen};
  Clock clock{Clock::Mode::kVirtual};
  EventLoop loop{clock};
  FakeInterrupts irq;
  DeviceRegistry registry;
  Machine machine{MachineOptions{.ram_bytes = kRam, .xen = true}, clock, memory, irq, registry};
  RecordingDevice vga_window;
  RecordingDevice data_port;
  xen::IoreqServer server{xen, machine.dispatcher(), memory, loop};
  std::thread dm_thread;
  std::atomic<bool> done{false};
};

TEST_F(XenServerTest, StartClaimsWhatTheMachineDecodes) {
  start();
  EXPECT_TRUE(xen.enabled());
  EXPECT_EQ(server.vcpus(), 4u);
  auto ports = xen.claimed(IoKind::kPort);
  EXPECT_TRUE(ports.count({0xcf8, 0xcff})) << "config mechanism #1";
  EXPECT_TRUE(ports.count({0x1f0, 0x1f7}));
  EXPECT_TRUE(xen.claimed(IoKind::kMmio).count({0xa0000, 0xbffff}));
  EXPECT_EQ(xen.claimed_pci(), (std::set<uint8_t>{0x00, 0x08, 0x09, 0x0b, 0x18}));
}

TEST_F(XenServerTest, PciConfigRequestsDecodeSbdfAndRegister) {
  start();
  EXPECT_EQ(pci_read(0, 0x00, 0x00), 0x12378086u);
  EXPECT_EQ(pci_read(1, 0x00, 0x02, 2), 0x1237u);
  EXPECT_EQ(pci_read(2, 0x18, 0x00), 0x00051b36u);
  EXPECT_EQ(pci_read(3, 0x20, 0x00), 0xffffffffu);  // nothing at 04.0
  // Port I/O to 0xcf8/0xcfc reaches the host bridge too (Xen forwards both).
  xen.access(0, IOREQ_TYPE_PIO, 0xcf8, 4, false, 0x80001800);
  EXPECT_EQ(xen.access(0, IOREQ_TYPE_PIO, 0xcfc, 4, true, 0), 0x00051b36u);
}

TEST_F(XenServerTest, ConcurrentVcpus) {
  start();
  constexpr int kRequests = 2000;
  std::atomic<int> wrong{0};
  std::vector<std::thread> vcpus;
  for (unsigned v = 0; v < 4; ++v) {
    vcpus.emplace_back([&, v] {
      for (int i = 0; i < kRequests; ++i) {
        if (pci_read(v, 0x00, 0x00) != 0x12378086u) ++wrong;
        // MMIO to the scratch device is not decoded yet: all ones, never another vCPU's data.
        if (xen.access(v, IOREQ_TYPE_COPY, kScratchBar + 4 * v, 4, true, 0) != 0xffffffffu) ++wrong;
      }
    });
  }
  for (auto& t : vcpus) t.join();
  EXPECT_EQ(wrong, 0);
}

// One wake-up serves everything pending — every vCPU's request and the buffered batch — with one
// read of the pending ports, one unmask call and one notification per answered request.
TEST_F(XenServerTest, OneWakeUpServesEveryVcpuAndTheBufferedBatch) {
  start(/*run_thread=*/false);
  constexpr int kBuffered = 100;
  for (int i = 0; i < kBuffered; ++i)
    xen.buffered_write(IOREQ_TYPE_COPY, 0xa0000 + 4 * (i % 64), 4, 0x5500 + i);
  std::atomic<int> wrong{0};
  std::vector<std::thread> vcpus;
  uint64_t kicks = xen.device_model_kicks();
  for (unsigned v = 0; v < 4; ++v)
    vcpus.emplace_back([&, v] {
      if (pci_read(v, 0x00, 0x00) != 0x12378086u) ++wrong;
    });
  // Every vCPU's request posted and its port kicked (the kick follows the request).
  while (xen.requests_waiting() < 4 || xen.device_model_kicks() < kicks + 4)
    std::this_thread::yield();
  SimXen::ChannelCounts before = xen.channel_counts();
  server.process_events();
  for (auto& t : vcpus) t.join();
  SimXen::ChannelCounts after = xen.channel_counts();
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(xen.requests_waiting(), 0u);
  ASSERT_EQ(vga_window.log.size(), static_cast<size_t>(kBuffered));
  EXPECT_EQ(vga_window.log.back().value, 0x5500u + kBuffered - 1);
  EXPECT_EQ(after.ports_delivered - before.ports_delivered, 5u) << "4 vCPUs and the ring";
  EXPECT_EQ(after.pending_reads - before.pending_reads, 1u);
  EXPECT_EQ(after.unmask_calls - before.unmask_calls, 1u);
  EXPECT_EQ(after.notifies - before.notifies, 4u);
  // The ring's later kicks, made while its port was masked, come back as one kick once unmasked:
  // it finds nothing to do and answers nobody.
  server.process_events();
  SimXen::ChannelCounts last = xen.channel_counts();
  EXPECT_EQ(last.ports_delivered - after.ports_delivered, 1u);
  EXPECT_EQ(last.notifies, after.notifies);
  EXPECT_EQ(vga_window.log.size(), static_cast<size_t>(kBuffered));
}

TEST_F(XenServerTest, BarRelocationFollowsTheGuest) {
  start();
  pci_write(0, 0x18, 0x14, 4, kScratchBar);  // BAR1: memory
  pci_write(0, 0x18, 0x04, 2, 0x0002);       // memory decode on
  EXPECT_TRUE(xen.claimed(IoKind::kMmio).count({kScratchBar, kScratchBar + 0xfff}));
  xen.access(1, IOREQ_TYPE_COPY, kScratchBar + 8, 4, false, 0xc0ffee);
  EXPECT_EQ(xen.access(2, IOREQ_TYPE_COPY, kScratchBar + 8, 4, true, 0), 0xc0ffeeu);
  pci_write(0, 0x18, 0x14, 4, 0xfeb00000);  // move it
  auto mmio = xen.claimed(IoKind::kMmio);
  EXPECT_FALSE(mmio.count({kScratchBar, kScratchBar + 0xfff}));
  EXPECT_TRUE(mmio.count({0xfeb00000, 0xfeb00fff}));
  EXPECT_EQ(xen.access(3, IOREQ_TYPE_COPY, 0xfeb00008, 4, true, 0), 0xc0ffeeu);
  pci_write(0, 0x18, 0x04, 2, 0x0000);  // decode off: released
  EXPECT_FALSE(xen.claimed(IoKind::kMmio).count({0xfeb00000, 0xfeb00fff}));
}

TEST_F(XenServerTest, BufferedRingWrapsAndJoinsQwords) {
  start();
  constexpr int kWrites = 1500;  // three laps of the 511-slot ring
  std::thread producer([&] {
    for (int i = 0; i < kWrites; ++i) {
      if (i % 3 == 0)
        xen.buffered_write(IOREQ_TYPE_COPY, 0xa0000 + 8 * (i % 64), 8, 0x1111111100000000ull | i);
      else
        xen.buffered_write(IOREQ_TYPE_COPY, 0xa0000 + 4 * (i % 64), 4, 0x2200 + i);
    }
  });
  producer.join();
  // A synchronous request drains everything buffered before it.
  pci_read(0, 0x00, 0x00);
  stop();
  ASSERT_EQ(vga_window.log.size(), static_cast<size_t>(kWrites));
  for (int i = 0; i < kWrites; ++i) {
    const auto& w = vga_window.log[i];
    ASSERT_TRUE(w.is_write);
    if (i % 3 == 0) {
      EXPECT_EQ(w.size, 8u) << i;
      EXPECT_EQ(w.value, 0x1111111100000000ull | i) << i;
      EXPECT_EQ(w.offset, 8u * (i % 64)) << i;
    } else {
      EXPECT_EQ(w.size, 4u) << i;
      EXPECT_EQ(w.value, 0x2200u + i) << i;
    }
  }
}

TEST_F(XenServerTest, RepStringIoWithDataPointers) {
  data_port.next_read_value = 0x100;
  start();
  // rep insw, upwards then downwards (DF set): the device's values land in guest RAM.
  xen.access(0, IOREQ_TYPE_PIO, 0x1f0, 2, true, 0x8000, 4, /*data_is_ptr=*/true, /*df=*/false);
  xen.access(1, IOREQ_TYPE_PIO, 0x1f0, 2, true, 0x9006, 4, true, /*df=*/true);
  // rep outsb from RAM.
  std::memcpy(xen.ram() + 0xa000, "xen", 3);
  xen.access(2, IOREQ_TYPE_PIO, 0x1f0, 1, false, 0xa000, 3, true, false);
  stop();
  uint16_t up[4], down[4];
  std::memcpy(up, xen.ram() + 0x8000, 8);
  std::memcpy(down, xen.ram() + 0x9000, 8);
  EXPECT_EQ(up[0], 0x100);
  EXPECT_EQ(up[3], 0x103);
  EXPECT_EQ(down[3], 0x104);  // first item at the pointer, then downwards
  EXPECT_EQ(down[0], 0x107);
  ASSERT_GE(data_port.log.size(), 3u);
  EXPECT_EQ(data_port.log[data_port.log.size() - 3].value, 'x');
  EXPECT_EQ(data_port.log.back().value, 'n');
}

TEST_F(XenServerTest, InvalidateDropsEveryGuestMapping) {
  start();
  xen.access(0, IOREQ_TYPE_PIO, 0x1f0, 2, true, 0x8000, 4, true, false);
  EXPECT_GT(xen.live_guest_mappings(), 0u);
  xen.access(1, IOREQ_TYPE_INVALIDATE, 0, 4, false, ~0ull);
  EXPECT_EQ(xen.live_guest_mappings(), 0u);
  // Guest memory is mapped again on the next access.
  xen.access(2, IOREQ_TYPE_PIO, 0x1f0, 2, true, 0x8000, 1, true, false);
  EXPECT_EQ(xen.live_guest_mappings(), 1u);
}

TEST_F(XenServerTest, TimeOffsetArrivesThroughTheBufferedRing) {
  std::atomic<int64_t> reported{0};
  server.on_time_offset([&](int64_t seconds) { reported = seconds; });
  start();
  xen.buffered_write(IOREQ_TYPE_TIMEOFFSET, 0, 8, static_cast<uint64_t>(-3600));
  pci_read(0, 0x00, 0x00);
  EXPECT_EQ(reported, -3600);
  // Each report is a change of the offset, not the offset itself.
  xen.buffered_write(IOREQ_TYPE_TIMEOFFSET, 0, 8, 600);
  pci_read(0, 0x00, 0x00);
  EXPECT_EQ(reported, -3000);
  EXPECT_EQ(server.time_offset(), -3000);
}

TEST_F(XenServerTest, GuestResetShutsTheDomainDownBeforeTheAccessCompletes) {
  xen::forward_guest_shutdowns(machine, xen);
  start();
  xen.access(1, IOREQ_TYPE_PIO, 0xcf9, 1, false, 0x02);  // SRST alone: no reset yet
  EXPECT_TRUE(xen.shutdowns().empty());
  xen.access(1, IOREQ_TYPE_PIO, 0xcf9, 1, false, 0x06);  // RCPU 0->1
  auto shutdowns = xen.shutdowns();
  ASSERT_EQ(shutdowns.size(), 1u);
  EXPECT_EQ(shutdowns[0].first, xen::ShutdownReason::kReboot);
  EXPECT_TRUE(shutdowns[0].second) << "libxl must see the shutdown before the vCPU resumes";
  // Fast reset through port 0x92 takes the same path.
  xen.access(0, IOREQ_TYPE_PIO, 0x92, 1, false, 0x01);
  EXPECT_EQ(xen.shutdowns().size(), 2u);
  // A dword at 0xcf8 is still CONFIG_ADDRESS, not a reset.
  xen.access(0, IOREQ_TYPE_PIO, 0xcf8, 4, false, 0x80000000);
  EXPECT_EQ(xen.access(0, IOREQ_TYPE_PIO, 0xcfc, 4, true, 0), 0x12378086u);
  EXPECT_EQ(xen.shutdowns().size(), 2u);
}

TEST_F(XenServerTest, AcpiSoftOffPowersTheDomainOff) {
  ASSERT_TRUE(machine.options().xen);
  xen::forward_guest_shutdowns(machine, xen);
  start();
  // hvmloader's programming of the PIIX4 PM function (00:01.3): PMBA 0xb000, I/O enabled.
  pci_write(0, 0x0b, 0x40, 4, 0xb001);
  pci_write(0, 0x0b, 0x80, 1, 0x01);
  // Xen serves PM1 status/enable and the timer itself: only PM1_CNT is claimed.
  auto ports = xen.claimed(IoKind::kPort);
  EXPECT_TRUE(ports.count({0xb004, 0xb005}));
  EXPECT_FALSE(ports.count({0xb000, 0xb03f}));
  xen.access(0, IOREQ_TYPE_PIO, 0xb004, 2, false, 1u << 13);  // SLP_EN, SLP_TYP 0
  auto shutdowns = xen.shutdowns();
  ASSERT_EQ(shutdowns.size(), 1u);
  EXPECT_EQ(shutdowns[0].first, xen::ShutdownReason::kPoweroff);
  EXPECT_TRUE(shutdowns[0].second);
}

TEST_F(XenServerTest, RequestArrivingDuringSaveIsServedAfterIt) {
  start(/*run_thread=*/false);
  std::atomic<uint64_t> answer{0};
  // The vCPU posts while the device thread is busy saving; it waits, as it would in Xen.
  std::thread vcpu([&] { answer = pci_read(0, 0x00, 0x00); });
  while (!xen.enabled()) std::this_thread::yield();
  std::vector<uint8_t> state = machine.save_state();
  EXPECT_EQ(answer, 0u);
  while (answer == 0) loop.run_once(5);
  vcpu.join();
  EXPECT_EQ(answer, 0x12378086u);
  EXPECT_TRUE(machine.load_state(state).ok());
}

TEST_F(XenServerTest, DirtyLoggingReportsDmaWrites) {
  memory.set_dirty_logging(true);
  start();
  xen.access(0, IOREQ_TYPE_PIO, 0x1f0, 2, true, 0x8ffe, 2, true, false);  // crosses a page
  stop();
  memory.flush_dirty();
  auto modified = xen.modified();
  ASSERT_FALSE(modified.empty());
  EXPECT_EQ(modified.back(), (std::pair<uint64_t, uint64_t>{8, 2}));
}

// A display-like device: VRAM in BAR0 and an option ROM, both device memory.
class VramDevice final : public pci::PciDevice {
 public:
  static constexpr uint64_t kVramSize = 4 * 4096;
  explicit VramDevice(DeviceMemoryBacking* backing)
      : PciDevice({.vendor = 0x1234, .device = 0x1111, .class_code = 0x030000}),
        vram_("vram", kVramSize, DeviceMemory::Access::kReadWrite, backing) {
    add_memory_bar(0, pci::BarType::kMemory32, vram_, /*prefetchable=*/true);
    auto rom =
        std::make_unique<DeviceMemory>("rom", 0x2000, DeviceMemory::Access::kReadOnly, backing);
    rom->host_data()[0] = 0x55;
    rom->host_data()[1] = 0xaa;
    set_rom(std::move(rom));
  }
  std::string_view type() const override { return "vram-test"; }
  DeviceMemory& vram() { return vram_; }

 private:
  DeviceMemory vram_;
};

class XenDeviceMemoryTest : public XenServerTest {
 protected:
  static constexpr uint64_t kPrivateGfn = 0x100000;  // 4 GiB
  static constexpr uint8_t kDevfn = 0x20;            // 04.0
  static constexpr uint64_t kVramBar = 0xf0000000;
  static constexpr uint64_t kRomBar = 0xf1000000;

  XenDeviceMemoryTest() {
    machine.set_device_memory_backing(&backing);
    auto added = machine.add_board_device(
        std::make_unique<VramDevice>(machine.device_memory_backing()), kDevfn);
    EXPECT_TRUE(added.ok());
    device = static_cast<VramDevice*>(*added);
    server.set_device_memory(&backing);
  }
  void enable_bars(uint64_t vram_at) {
    pci_write(0, kDevfn, 0x10, 4, static_cast<uint32_t>(vram_at));
    pci_write(0, kDevfn, 0x30, 4, static_cast<uint32_t>(kRomBar) | 1);
    pci_write(0, kDevfn, 0x04, 2, 0x0002);  // memory space on
  }

  xen::XenDeviceMemory backing{xen, kPrivateGfn};
  VramDevice* device = nullptr;
};

TEST_F(XenDeviceMemoryTest, BarsArePlacedInTheGuestMapNotClaimedAsMmio) {
  start();
  enable_bars(kVramBar);
  using R = SimXen::Relocation;
  EXPECT_EQ(xen.relocations(), (std::vector<R>{{kPrivateGfn, kVramBar >> 12, 4},
                                               {kPrivateGfn + 4, kRomBar >> 12, 2}}));
  for (const auto& [first, last] : xen.claimed(IoKind::kMmio)) {
    EXPECT_FALSE(first <= kVramBar && kVramBar <= last) << "VRAM must not go through ioreqs";
    EXPECT_FALSE(first <= kRomBar && kRomBar <= last) << "the ROM must not go through ioreqs";
  }
  // The guest writes VRAM directly; the device sees the bytes and the dirty pages.
  ASSERT_TRUE(xen.guest_write_direct(kVramBar + 2 * 4096 + 5, 0x7e));
  EXPECT_EQ(device->vram().host_data()[2 * 4096 + 5], 0x7e);
  std::vector<bool> dirty = device->vram().collect_dirty();
  EXPECT_EQ(dirty, (std::vector<bool>{false, false, true, false}));
  EXPECT_EQ(device->vram().collect_dirty(), (std::vector<bool>(4, false)));

  // The guest moves the BAR: the pages go back, then to the new place, contents intact.
  pci_write(0, kDevfn, 0x10, 4, static_cast<uint32_t>(kVramBar + 0x100000));
  auto moves = xen.relocations();
  ASSERT_EQ(moves.size(), 4u);
  EXPECT_EQ(moves[2], (R{kVramBar >> 12, kPrivateGfn, 4}));
  EXPECT_EQ(moves[3], (R{kPrivateGfn, (kVramBar + 0x100000) >> 12, 4}));
  EXPECT_FALSE(xen.guest_write_direct(kVramBar, 1)) << "nothing left at the old address";
  EXPECT_TRUE(xen.guest_write_direct(kVramBar + 0x100000 + 2 * 4096 + 6, 0x11));
  EXPECT_EQ(device->vram().host_data()[2 * 4096 + 5], 0x7e);

  // Memory decoding off: both regions leave the guest's map.
  pci_write(0, kDevfn, 0x04, 2, 0x0000);
  EXPECT_EQ(xen.relocations().size(), 6u);
  EXPECT_FALSE(xen.guest_write_direct(kRomBar, 1));
}

TEST_F(XenDeviceMemoryTest, AfterSetupNewDeviceMemoryIsServedAsMmio) {
  xen.end_setup();
  VramDevice late(&backing);  // populating is refused now: host memory instead
  EXPECT_EQ(late.vram().backing(), nullptr);
  start();
  enable_bars(kVramBar);  // the board device's regions are placed as before
  EXPECT_EQ(xen.relocations().size(), 2u);
}

TEST_F(XenDeviceMemoryTest, UnplacedRomIsReadThroughIoreqs) {
  xen.end_setup();
  machine.set_device_memory_backing(nullptr);
  auto added = machine.add_board_device(std::make_unique<VramDevice>(nullptr), 0x28);  // 05.0
  ASSERT_TRUE(added.ok());
  start();
  pci_write(0, 0x28, 0x30, 4, 0xf2000001);
  pci_write(0, 0x28, 0x04, 2, 0x0002);
  EXPECT_TRUE(xen.claimed(IoKind::kMmio).count({0xf2000000, 0xf2001fff}));
  EXPECT_EQ(xen.access(0, IOREQ_TYPE_COPY, 0xf2000000, 2, true, 0), 0xaa55u);
}

// A banked window onto VRAM (VGA's 0xa0000 window): only the bank's pages move into the
// guest's map, a bank switch moves them back and the next bank's in, and the guest's writes
// through the old bank are not lost from the dirty log.
TEST_F(XenDeviceMemoryTest, BankedWindowPlacesOnlyItsBankAndFollowsBankSwitches) {
  constexpr uint64_t kWindow = 0xa0000;
  start();
  Dispatcher& d = machine.dispatcher();
  auto window = d.map_memory(kWindow, 2 * 4096, &device->vram(), "window", 0);
  ASSERT_NE(window, Dispatcher::kNoMapping);
  using R = SimXen::Relocation;
  EXPECT_EQ(xen.relocations(), (std::vector<R>{{kPrivateGfn, kWindow >> 12, 2}}));
  EXPECT_FALSE(xen.claimed(IoKind::kMmio).count({kWindow, kWindow + 2 * 4096 - 1}));
  ASSERT_TRUE(xen.guest_write_direct(kWindow + 4096 + 3, 0x42));
  EXPECT_EQ(device->vram().host_data()[4096 + 3], 0x42);

  ASSERT_TRUE(d.set_memory_offset(window, 2 * 4096));
  EXPECT_EQ(xen.relocations(), (std::vector<R>{{kPrivateGfn, kWindow >> 12, 2},
                                               {kWindow >> 12, kPrivateGfn, 2},
                                               {kPrivateGfn + 2, kWindow >> 12, 2}}));
  ASSERT_TRUE(xen.guest_write_direct(kWindow + 5, 0x43));
  EXPECT_EQ(device->vram().host_data()[2 * 4096 + 5], 0x43);
  EXPECT_EQ(device->vram().collect_dirty(), (std::vector<bool>{false, true, true, false}));
  EXPECT_FALSE(xen.claimed(IoKind::kMmio).count({kWindow, kWindow + 2 * 4096 - 1}));

  // The framebuffer BAR wants all of VRAM, half of which the window holds: the BAR is served
  // through ioreqs instead, and reaches the same bytes.
  enable_bars(kVramBar);
  EXPECT_TRUE(xen.claimed(IoKind::kMmio).count({kVramBar, kVramBar + 4 * 4096 - 1}));
  EXPECT_EQ(xen.access(0, IOREQ_TYPE_COPY, kVramBar + 2 * 4096 + 5, 1, true, 0), 0x43u);

  // A bank past the end of VRAM is refused and the window stays.
  EXPECT_FALSE(d.set_memory_offset(window, 3 * 4096));
  EXPECT_TRUE(xen.guest_write_direct(kWindow + 6, 0x44));
  d.unmap(window);
  EXPECT_FALSE(xen.guest_write_direct(kWindow, 1)) << "the bank went back";
  EXPECT_FALSE(xen.claimed(IoKind::kMmio).count({kWindow, kWindow + 2 * 4096 - 1}));
  // With the window gone, the framebuffer BAR is placed after all.
  EXPECT_EQ(xen.relocations().back(), (R{kPrivateGfn, kVramBar >> 12, 4}));
  EXPECT_TRUE(xen.guest_write_direct(kVramBar + 2 * 4096 + 7, 0x45));
  EXPECT_EQ(device->vram().host_data()[2 * 4096 + 6], 0x44);
  EXPECT_EQ(device->vram().host_data()[2 * 4096 + 7], 0x45);
  for (const auto& [first, last] : xen.claimed(IoKind::kMmio))
    EXPECT_FALSE(first <= kVramBar && kVramBar <= last);
}

TEST(MergeRanges, UnionOfOverlappingAndAdjacentRanges) {
  using xen::Interval;
  EXPECT_EQ(xen::merge_ranges({{0xcf8, 0xcff}, {0xcf9, 0xcf9}, {0x60, 0x60}, {0x61, 0x64}}),
            (std::vector<Interval>{{0x60, 0x64}, {0xcf8, 0xcff}}));
  EXPECT_EQ(xen::merge_ranges({}), std::vector<Interval>{});
}

}  // namespace
}  // namespace hvmd::test
