// Live migration's dirty logging against the simulated hypervisor: while libxl has log-dirty on,
// every guest page a device writes (IDE bus-master DMA, e1000 receive buffers and descriptor
// write-back) must reach Xen through modified_memory, batched, and nothing while it is off.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>

#include "devices/board.h"
#include "dm/machine.h"
#include "ioreq/xen/map_cache.h"
#include "tests/support/injecting_net.h"
#include "tests/unit/test_devices.h"
#include "tests/xen/sim_xen.h"

namespace hvmd::test {
namespace {

constexpr uint64_t kRam = 16 << 20;
constexpr uint64_t kPageShift = 12;

// IDE: PIIX3 function 1, its bus-master block placed at kBusMaster.
constexpr PciAddress kIde{0, 0, 0x09};
constexpr uint16_t kBusMaster = 0xc000;
constexpr uint16_t kPrimary = 0x1f0;
constexpr uint8_t kReadDma = 0xc8;
constexpr uint32_t kEndOfTable = 0x80000000u;
constexpr uint64_t kPrdTable = 0x10000;
// e1000 at 00:04.0 with its registers at kNicMmio.
constexpr PciAddress kNic{0, 0, 0x20};
constexpr uint64_t kNicMmio = 0xfebc0000;
constexpr uint32_t kRctl = 0x100, kRdbal = 0x2800, kRdlen = 0x2808, kRdh = 0x2810, kRdt = 0x2818;
constexpr uint32_t kRctlEnable = 1u << 1, kRctlBroadcast = 1u << 15;
constexpr uint64_t kRxRing = 0x300000;
constexpr uint64_t kRxBuffer = 0x400000;

class DirtyLogTest : public ::testing::Test {
 protected:
  DirtyLogTest() {
    char name[] = "/tmp/hvmd-dirty-XXXXXX";
    int fd = mkstemp(name);
    image = name;
    std::vector<uint8_t> data(1 << 20, 0x5a);
    EXPECT_EQ(write(fd, data.data(), data.size()), static_cast<ssize_t>(data.size()));
    close(fd);
    devices::register_devices(registry);
    machine.set_io_executor(&block_io);
    machine.set_netdev_lookup([this](const std::string&) -> Result<NetBackend*> { return &net; });
    auto drive = DriveSpec::from_options(*SubOptions::parse("file=" + image + ",if=ide", ""));
    EXPECT_TRUE(drive);
    machine.add_drive(*drive);
    EXPECT_TRUE(devices::build_board(machine));
    EXPECT_TRUE(devices::attach_drives(machine));
    EXPECT_TRUE(
        machine.add_device(*SubOptions::parse("driver=e1000,netdev=net0,addr=4", ""), false));
  }
  ~DirtyLogTest() override { unlink(image.c_str()); }

  // A READ DMA of the first sectors into the PRD entries' buffers, run to completion.
  void ide_read(const std::vector<std::pair<uint32_t, uint16_t>>& prds, uint8_t sectors) {
    Dispatcher& d = machine.dispatcher();
    d.pci_write(kIde, 0x20, 4, kBusMaster | 1);
    d.pci_write(kIde, 0x04, 2, 0x0005);  // I/O decode and bus mastering
    for (size_t i = 0; i < prds.size(); ++i) {
      uint32_t entry[2] = {prds[i].first,
                           prds[i].second | (i + 1 == prds.size() ? kEndOfTable : 0)};
      poke(kPrdTable + 8 * i, entry, sizeof(entry));
    }
    d.port_write(kPrimary + 6, 1, 0xe0);  // LBA, master
    d.port_write(kPrimary + 2, 1, sectors);
    for (int reg = 3; reg <= 5; ++reg) d.port_write(kPrimary + reg, 1, 0);
    d.port_write(kBusMaster + 4, 4, kPrdTable);
    d.port_write(kPrimary + 7, 1, kReadDma);
    d.port_write(kBusMaster, 1, 0x09);  // start, towards memory
    block_io.drain();
    d.port_write(kBusMaster, 1, 0);  // stop, as the driver does on the interrupt
    ASSERT_EQ(d.port_read(kPrimary + 7, 1) & 0x89, 0u) << "not busy, no DRQ, no error";
  }

  void nic_setup() {
    Dispatcher& d = machine.dispatcher();
    d.pci_write(kNic, 0x10, 4, static_cast<uint32_t>(kNicMmio));
    d.pci_write(kNic, 0x04, 2, 0x0006);  // memory decode and bus mastering
    for (unsigned i = 0; i < 8; ++i) {
      uint64_t buffer = kRxBuffer + i * 2048;
      poke(kRxRing + 16 * i, &buffer, sizeof(buffer));
    }
    d.mmio_write(kNicMmio + kRdbal, 4, kRxRing);
    d.mmio_write(kNicMmio + kRdlen, 4, 8 * 16);
    d.mmio_write(kNicMmio + kRdh, 4, 0);
    d.mmio_write(kNicMmio + kRdt, 4, 7);
    d.mmio_write(kNicMmio + kRctl, 4, kRctlEnable | kRctlBroadcast);
  }

  // The test's own set-up writes, as a guest CPU's would be: not device writes, not reported.
  void poke(uint64_t gpa, const void* data, size_t length) {
    auto view = memory.map(gpa, length);
    ASSERT_EQ(view.size(), length);
    std::memcpy(view.data(), data, length);
  }

  std::set<uint64_t> pages(uint64_t gpa, uint64_t length) {
    std::set<uint64_t> out;
    for (uint64_t p = gpa >> kPageShift; p <= (gpa + length - 1) >> kPageShift; ++p) out.insert(p);
    return out;
  }

  std::string image;
  SimXen xen{1, kRam};
  xen::MapCache memory{xen};
  Clock clock{Clock::Mode::kVirtual};
  FakeInterrupts irq;
  DeviceRegistry registry;
  InlineExecutor block_io;
  test::InjectingNet net{"net0"};
  Machine machine{MachineOptions{.ram_bytes = kRam, .xen = true}, clock, memory, irq, registry};
};

TEST_F(DirtyLogTest, IdeDmaReportsExactlyThePagesItWrote) {
  memory.set_dirty_logging(true);
  // Two buffers, one straddling a page boundary, far apart: 3 pages written, the PRD table's
  // page only read.
  ide_read({{0x100800, 4096}, {0x203000, 512 * 4}}, 12);
  memory.flush_dirty();
  std::set<uint64_t> expected = pages(0x100800, 4096);
  expected.merge(pages(0x203000, 2048));
  EXPECT_EQ(xen.modified_pages(), expected);
  uint8_t byte = 0;
  ASSERT_TRUE(memory.read(0x203000 + 2047, &byte, 1));
  EXPECT_EQ(byte, 0x5a) << "the DMA really wrote the disk's bytes";
}

TEST_F(DirtyLogTest, NothingIsReportedWhileLoggingIsOff) {
  ide_read({{0x100000, 8192}}, 16);
  memory.flush_dirty();
  EXPECT_TRUE(xen.modified().empty());
  memory.set_dirty_logging(true);
  memory.set_dirty_logging(false);
  ide_read({{0x100000, 8192}}, 16);
  memory.flush_dirty();
  EXPECT_TRUE(xen.modified().empty());
}

TEST_F(DirtyLogTest, ReceivedFramesReportBufferAndDescriptorPages) {
  nic_setup();
  memory.set_dirty_logging(true);
  std::vector<uint8_t> frame(1500, 0xab);
  std::memset(frame.data(), 0xff, 6);  // broadcast
  ASSERT_TRUE(net.inject(frame));
  ASSERT_TRUE(net.inject(frame));
  memory.flush_dirty();
  std::set<uint64_t> expected = pages(kRxBuffer, 2 * 2048);  // two buffers
  expected.insert(kRxRing >> kPageShift);                    // write-back of both descriptors
  EXPECT_EQ(xen.modified_pages(), expected);
  uint8_t status = 0;
  ASSERT_TRUE(memory.read(kRxRing + 16 + 12, &status, 1));
  EXPECT_EQ(status & 0x03, 0x03) << "descriptor done, end of packet";
}

TEST_F(DirtyLogTest, WritesAreBatchedIntoFewCallsAndNoneIsLost) {
  memory.set_dirty_logging(true);
  // Adjacent writes merge into one range; scattered ones are sent kMaxPendingRanges at a time.
  for (uint64_t page = 0x100; page < 0x110; ++page) memory.fill(page << kPageShift, 1, 4096);
  memory.flush_dirty();
  EXPECT_EQ(xen.modified_calls(), 1u);
  EXPECT_EQ(xen.modified().size(), 1u);
  size_t scattered = 3 * xen::MapCache::kMaxPendingRanges + 5;
  for (uint64_t i = 0; i < scattered; ++i) memory.fill((0x200 + 2 * i) << kPageShift, 1, 1);
  EXPECT_EQ(xen.modified_calls(), 4u) << "full batches go at once";
  memory.set_dirty_logging(false);  // switching off delivers the rest
  EXPECT_EQ(xen.modified_pages().size(), 16 + scattered);
  EXPECT_EQ(xen.modified_calls(), 5u);
}

TEST_F(DirtyLogTest, SavingTheMachineDeliversPendingPagesFirst) {
  memory.set_dirty_logging(true);
  ide_read({{0x100000, 4096}}, 8);
  EXPECT_TRUE(xen.modified().empty()) << "still batched";
  machine.save_state();
  EXPECT_EQ(xen.modified_pages(), pages(0x100000, 4096));
}

}  // namespace
}  // namespace hvmd::test
