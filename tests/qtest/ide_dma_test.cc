// Black-box: IDE bus-master DMA moving data straight between the image and guest RAM, under
// each way the block layer can run it (io_uring, worker threads, O_DIRECT with and without
// aligned buffers): transfers larger than one chunk with several chunks in flight, tables
// scattered over odd addresses and single bytes pairs, faults part-way through a multi-chunk
// transfer, the 8192-entry bound, and FLUSH CACHE after writes surviving kill -9.
#include <gtest/gtest.h>
#include <signal.h>

#include "tests/qtest/ide_driver.h"

namespace hvmd::test {
namespace {

using namespace ide;

constexpr uint8_t kReadDmaExt = 0x25, kWriteDmaExt = 0x35, kFlushCache = 0xe7;
constexpr uint64_t kDiskBytes = 16 << 20;
constexpr uint32_t kPciHole = 0xfebf0000u;  // MMIO, not RAM

std::vector<uint8_t> filled(size_t length, uint8_t seed) {
  std::vector<uint8_t> data(length);
  for (size_t i = 0; i < length; ++i) data[i] = static_cast<uint8_t>(i * 31 + seed + (i >> 11));
  return data;
}

class IdeDmaTest : public ::testing::TestWithParam<const char*> {
 protected:
  IdeDmaTest()
      : image(kDiskBytes, 8 << 20),
        qt({"-drive", "file=" + image.path + ",if=ide,index=0,format=raw" + GetParam()}),
        ch(qt, kPrimary, kPrimaryControl, 0) {
    Channel::enable_controller(qt);
  }
  // A table of 64 KiB entries covering `bytes` at `address`.
  void contiguous_table(uint32_t address, uint32_t bytes) {
    std::vector<std::pair<uint32_t, uint32_t>> table;
    for (uint32_t at = 0; at < bytes; at += 0x10000) {
      uint32_t count = std::min<uint32_t>(bytes - at, 0x10000);
      table.push_back({address + at, (count & 0xffff) | (at + count >= bytes ? kEot : 0)});
    }
    ch.prd(table);
  }
  Image image;
  QtestClient qt;
  Channel ch;
};

TEST_P(IdeDmaTest, MultiChunkTransfersReadAndWriteEveryByte) {
  // 3 MiB + 512: more than the chunks in flight at once, ending in a partial chunk.
  constexpr uint32_t kBytes = (3 << 20) + 512;
  contiguous_table(kDmaBuffer, kBytes);
  ch.lba48(8, kBytes / 512);
  EXPECT_EQ(ch.dma(kReadDmaExt, true), kBmIntr);
  EXPECT_EQ(ch.reg(kStatus) & (kBsy | kDrq | kErr), 0);
  EXPECT_EQ(qt.memread(kDmaBuffer, kBytes), expected(8 * 512, kBytes));

  auto data = filled(kBytes, 3);
  qt.memwrite(kDmaBuffer, data);
  ch.lba48(10000, kBytes / 512);
  EXPECT_EQ(ch.dma(kWriteDmaExt, false), kBmIntr);
  EXPECT_EQ(ch.reg(kStatus) & kErr, 0);
  EXPECT_EQ(image.read(10000 * 512, kBytes), data);
  EXPECT_EQ(image.read(10000 * 512 + kBytes, 512), expected(10000 * 512 + kBytes, 512));
}

TEST_P(IdeDmaTest, ScatteredOddAddressesAndCountZeroEntries) {
  // Entries at 2-byte aligned addresses that are not 512-aligned, one that crosses a page, and a
  // count of 0 (64 KiB): O_DIRECT takes none of them as they are.
  const std::vector<std::pair<uint32_t, uint32_t>> table = {{kDmaBuffer + 2, 510},
                                                            {kDmaBuffer + 0x3ffa, 0x1002},
                                                            {kDmaBuffer + 0x20000, 0},
                                                            {kDmaBuffer + 0x40002, 0x800 | kEot}};
  uint32_t bytes = 510 + 0x1002 + 0x10000 + 0x800;
  ASSERT_EQ(bytes % 512, 0u);
  ch.prd(table);
  ch.lba28(3, static_cast<uint8_t>(bytes / 512));
  EXPECT_EQ(ch.dma(0xc8, true), kBmIntr);
  uint64_t at = 3 * 512;
  for (auto [address, count] : table) {
    uint32_t n = (count & 0xffff) == 0 ? 0x10000 : count & 0xfffe;
    EXPECT_EQ(qt.memread(address, n), expected(at, n)) << std::hex << address;
    at += n;
  }
  // And back out to another place on the disk.
  ch.prd(table);
  ch.lba28(20000, static_cast<uint8_t>(bytes / 512));
  EXPECT_EQ(ch.dma(0xca, false), kBmIntr);
  EXPECT_EQ(image.read(20000 * 512, bytes), expected(3 * 512, bytes));
}

TEST_P(IdeDmaTest, TwoByteEntriesUpToTheTableBound) {
  // 8192 entries of 2 bytes, 4 bytes apart (no two join): 16 KiB in many chunks, each cut at
  // the segment limit in the middle of a sector.
  std::vector<std::pair<uint32_t, uint32_t>> table;
  for (uint32_t i = 0; i < 8192; ++i)
    table.push_back({static_cast<uint32_t>(kDmaBuffer + 4 * i), 2 | (i == 8191 ? kEot : 0)});
  ch.prd(table);
  ch.lba28(40, 32);
  EXPECT_EQ(ch.dma(0xc8, true), kBmIntr);
  auto memory = qt.memread(kDmaBuffer, 4 * 8192);
  auto want = expected(40 * 512, 16384);
  bool same = true;
  for (uint32_t i = 0; i < 8192 && same; ++i)
    same = memory[4 * i] == want[2 * i] && memory[4 * i + 1] == want[2 * i + 1];
  EXPECT_TRUE(same);
  // One sector more than the table covers: the 8193rd entry is never read, the table is short.
  ch.lba28(40, 33);
  uint8_t status = ch.dma(0xc8, true);
  EXPECT_EQ(status & (kBmIntr | kBmActive | kBmError), 0);
  EXPECT_EQ(ch.reg(kStatus) & (kBsy | kDrq), 0);
}

TEST_P(IdeDmaTest, FaultPartWayThroughStopsTheTransfer) {
  // 4 MiB whose 40th 64 KiB entry lies in the PCI hole: a bus error, nothing from that chunk on
  // reaches the image, and the engine stops.
  constexpr uint32_t kBytes = 4 << 20;
  std::vector<std::pair<uint32_t, uint32_t>> table;
  for (uint32_t i = 0; i < 64; ++i)
    table.push_back(
        {i == 40 ? kPciHole : static_cast<uint32_t>(kDmaBuffer + i * 0x10000), i == 63 ? kEot : 0});
  ch.prd(table);
  qt.memwrite(kDmaBuffer, filled(kBytes, 9));
  ch.lba48(4096, kBytes / 512);
  uint8_t status = ch.dma(kWriteDmaExt, false);
  EXPECT_EQ(status & (kBmError | kBmActive), kBmError);
  EXPECT_EQ(ch.reg(kStatus) & (kBsy | kErr), kErr);
  EXPECT_EQ(image.read(4096 * 512 + 40 * 0x10000, 0x10000),
            expected(4096 * 512 + 40 * 0x10000, 0x10000));
  EXPECT_EQ(image.read(4096 * 512 + (3 << 20), 1 << 20), expected(4096 * 512 + (3 << 20), 1 << 20));
  // The channel works on afterwards.
  ch.bm_command(0);
  contiguous_table(kDmaBuffer, 4096);
  ch.lba28(0, 8);
  EXPECT_EQ(ch.dma(0xc8, true), kBmIntr);
  EXPECT_EQ(qt.memread(kDmaBuffer, 4096), expected(0, 4096));
}

TEST_P(IdeDmaTest, BufferStraddlingTheEndOfRamIsABusError) {
  ch.prd({{static_cast<uint32_t>((128 << 20) - 0x8000), 0x10000 | kEot}});
  ch.lba28(100, 128);
  EXPECT_EQ(ch.dma(0xca, false) & kBmError, kBmError);
  EXPECT_EQ(image.read(100 * 512, 0x10000), expected(100 * 512, 0x10000));
  ch.bm_command(0);
  ch.prd({{static_cast<uint32_t>((128 << 20) - 0x8000), 0x10000 | kEot}});
  ch.lba28(100, 128);
  EXPECT_EQ(ch.dma(0xc8, true) & kBmError, kBmError);
  EXPECT_EQ(ch.reg(kStatus) & kErr, kErr);
}

INSTANTIATE_TEST_SUITE_P(AioAndCache, IdeDmaTest,
                         ::testing::Values(",aio=io_uring", ",aio=threads",
                                           ",cache=none,aio=native", ",cache=none,aio=threads",
                                           ",cache=directsync"),
                         [](const ::testing::TestParamInfo<const char*>& param) {
                           std::string name;
                           for (const char* p = param.param; *p; ++p)
                             name += isalnum(static_cast<unsigned char>(*p)) ? *p : '_';
                           return name;
                         });

// FLUSH CACHE completes only once every acknowledged write is on the image: after a kill -9
// right after it, the image holds them all, whichever way the writes went.
TEST(IdeDmaDurability, FlushedWritesSurviveKillUnderEveryAioMode) {
  for (const char* options : {",aio=io_uring", ",aio=threads", ",cache=none,aio=native"}) {
    Image image(kDiskBytes);
    QtestClient qt({"-drive", "file=" + image.path + ",if=ide,index=0,format=raw" + options});
    Channel::enable_controller(qt);
    Channel ch(qt, kPrimary, kPrimaryControl, 0);
    for (int i = 0; i < 8; ++i) {
      // 1.5 MiB at an odd buffer offset: several chunks, and for O_DIRECT the aligned buffer.
      constexpr uint32_t kBytes = 3 << 19;
      qt.memwrite(kDmaBuffer + 2, std::vector<uint8_t>(kBytes, static_cast<uint8_t>(i + 1)));
      std::vector<std::pair<uint32_t, uint32_t>> table;
      for (uint32_t at = 0; at < kBytes; at += 0x8000)
        table.push_back({static_cast<uint32_t>(kDmaBuffer + 2 + at),
                         0x8000 | (at + 0x8000 >= kBytes ? kEot : 0)});
      ch.prd(table);
      ch.lba48(uint64_t(i) * 4096, kBytes / 512);
      ASSERT_EQ(ch.dma(kWriteDmaExt, false), kBmIntr) << options;
      ch.reg(kCommand, kFlushCache);
      ASSERT_EQ(ch.wait_not_busy() & kErr, 0) << options;
    }
    kill(qt.pid(), SIGKILL);
    qt.wait_exit();
    for (int i = 0; i < 8; ++i)
      EXPECT_EQ(image.read(uint64_t(i) * 4096 * 512, 3 << 19),
                std::vector<uint8_t>(3 << 19, static_cast<uint8_t>(i + 1)))
          << "write " << i << options;
  }
}

TEST(IdeDmaCommandLine, AioAndCacheAsQemuTakesThem) {
  Image image(1 << 20);
  for (const char* good : {",aio=threads", ",aio=io_uring", ",cache=none,aio=native",
                           ",cache=directsync,aio=native", ",cache=none"}) {
    QtestClient qt({"-drive", "file=" + image.path + ",if=ide,index=0,format=raw" + good});
    EXPECT_EQ(qt.command("outb 0x80 0"), "OK") << good;
  }
}

}  // namespace
}  // namespace hvmd::test
