// Black-box: the PIIX3 IDE controller with an ATA disk, driven as SeaBIOS and Linux's ata_piix
// drive it: IDENTIFY, PIO and DMA reads and writes checked against the image file's bytes, LBA48
// beyond 128 GiB, flushes, the bus-master outcomes for PRD tables shorter, equal and longer than
// the transfer, and hostile tables and commands.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstring>

#include "tests/qtest/ide_driver.h"

namespace hvmd::test {
namespace {

using namespace ide;

constexpr uint8_t kIdentify = 0xec, kReadSectors = 0x20, kWriteSectors = 0x30,
                  kReadSectorsExt = 0x24, kWriteSectorsExt = 0x34, kReadDma = 0xc8,
                  kWriteDma = 0xca, kReadDmaExt = 0x25, kReadMultiple = 0xc4, kWriteMultiple = 0xc5,
                  kSetMultiple = 0xc6, kFlushCache = 0xe7, kSetFeatures = 0xef,
                  kReadNativeMax = 0xf8, kCheckPower = 0xe5, kExecuteDiagnostic = 0x90,
                  kReadVerify = 0x40, kNop = 0x00, kPacket = 0xa0;
constexpr uint8_t kAbrt = 0x04, kIdnf = 0x10;
constexpr uint64_t kDiskBytes = 16 << 20;

class IdeDiskTest : public ::testing::Test {
 protected:
  explicit IdeDiskTest(uint64_t size = kDiskBytes, uint64_t fill = 1 << 20)
      : image(size, fill),
        qt({"-drive",
            "file=" + image.path + ",if=ide,index=0,format=raw,cache=writeback,serial=testdisk"}),
        ch(qt, kPrimary, kPrimaryControl, 0) {
    EXPECT_EQ(qt.command("irq_intercept_in ioapic"), "OK");
    Channel::enable_controller(qt);
  }
  std::vector<uint8_t> identify() {
    ch.select(0);
    ch.reg(kCommand, kIdentify);
    return ch.pio_read(512);
  }
  Image image;
  QtestClient qt;
  Channel ch;
};

TEST_F(IdeDiskTest, PciIdentityAndLegacyDecode) {
  EXPECT_EQ(qt.pci_config_read(kIdeDevfn, 0x00, 4), 0x70108086u);
  EXPECT_EQ(qt.pci_config_read(kIdeDevfn, 0x08, 4) >> 8, 0x010180u);  // IDE, bus master
  // BAR4 sizes as 16 bytes of I/O.
  qt.pci_config_write(kIdeDevfn, 0x20, 4, 0xffffffff);
  EXPECT_EQ(qt.pci_config_read(kIdeDevfn, 0x20, 4), 0xfffffff1u);
  Channel::enable_controller(qt);
  // After reset the disk shows its signature and is ready.
  EXPECT_EQ(ch.reg(kCount), 1);
  EXPECT_EQ(ch.reg(kLbaLow), 1);
  EXPECT_EQ(ch.reg(kLbaMid), 0);
  EXPECT_EQ(ch.reg(kLbaHigh), 0);
  EXPECT_EQ(ch.reg(kStatus) & (kDrdy | kBsy), kDrdy);
  // No device 1: its status reads 0. No drive on the secondary channel: BSY reads 0 (the host's
  // pull-down on DD7; QEMU reads the whole register 0), and what is written to the task file does
  // not read back, which is how Linux and SeaBIOS decide there is nothing there.
  ch.select(1);
  EXPECT_EQ(ch.reg(kStatus), 0);
  EXPECT_EQ(qt.inb(kSecondary + kStatus), 0);
  EXPECT_EQ(qt.inb(kSecondaryControl), 0) << "alternate status";
  qt.outb(kSecondary + kCount, 0x55);
  qt.outb(kSecondary + kLbaLow, 0xaa);
  EXPECT_EQ(qt.inb(kSecondary + kCount), 0);
  EXPECT_EQ(qt.inb(kSecondary + kLbaLow), 0);
}

TEST_F(IdeDiskTest, IdentifyDescribesTheDisk) {
  auto id = identify();
  ASSERT_EQ(id.size(), 512u);
  EXPECT_EQ(ch.reg(kStatus) & (kDrdy | kDrq | kBsy | kErr), kDrdy);
  EXPECT_EQ(word(id, 0), 0x0040);
  EXPECT_EQ(ata_string(id, 10, 10), "testdisk            ");
  EXPECT_EQ(ata_string(id, 27, 20).substr(0, 13), "HVMD HARDDISK");
  uint64_t sectors = kDiskBytes / 512;
  EXPECT_EQ(word(id, 60) | uint32_t{word(id, 61)} << 16, sectors);
  EXPECT_EQ(word(id, 100) | uint64_t{word(id, 101)} << 16, sectors);
  EXPECT_EQ(word(id, 1), sectors / (16 * 63));  // cylinders at 16 heads, 63 sectors
  EXPECT_EQ(word(id, 3), 16);
  EXPECT_EQ(word(id, 6), 63);
  EXPECT_TRUE(word(id, 49) & 0x0200) << "LBA";
  EXPECT_TRUE(word(id, 49) & 0x0100) << "DMA";
  EXPECT_TRUE(word(id, 83) & 0x0400) << "LBA48";
  EXPECT_TRUE(word(id, 83) & 0x2000) << "FLUSH CACHE EXT";
  EXPECT_TRUE(word(id, 85) & 0x0020) << "write cache on";
  EXPECT_EQ(word(id, 88) & 0x3f, 0x3f) << "UDMA 0-5";
  EXPECT_EQ(word(id, 47) & 0xff, 16) << "READ/WRITE MULTIPLE up to 16 sectors";
  uint8_t sum = 0;
  for (uint8_t b : id) sum = static_cast<uint8_t>(sum + b);
  EXPECT_EQ(id[510], 0xa5);
  EXPECT_EQ(sum, 0) << "integrity word";
}

TEST_F(IdeDiskTest, PioReadRaisesAnInterruptPerBlock) {
  ch.control(0);  // interrupts on
  ch.lba28(5, 2);
  ch.reg(kCommand, kReadSectors);
  ch.wait_not_busy();
  EXPECT_TRUE(qt.irq_level(kPrimaryIrq));
  EXPECT_EQ(ch.reg(kStatus) & (kDrq | kErr), kDrq);  // reading status acknowledges
  EXPECT_FALSE(qt.irq_level(kPrimaryIrq));
  auto data = ch.pio_read(1024);
  EXPECT_EQ(data, expected(5 * 512, 1024));
  EXPECT_EQ(ch.alt_status() & (kDrq | kBsy | kErr), 0);
  // nIEN masks the line.
  ch.control(0x02);
  ch.lba28(0, 1);
  ch.reg(kCommand, kReadSectors);
  ch.wait_not_busy();
  EXPECT_FALSE(qt.irq_level(kPrimaryIrq));
  EXPECT_EQ(ch.pio_read(512), expected(0, 512));
}

TEST_F(IdeDiskTest, PioWriteReachesTheImage) {
  std::vector<uint8_t> data(3 * 512);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(0xa5 ^ i);
  ch.lba28(100, 3);
  ch.reg(kCommand, kWriteSectors);
  ch.pio_write(data);
  EXPECT_EQ(ch.wait_not_busy() & (kErr | kDrq), 0);
  ch.reg(kCommand, kFlushCache);
  EXPECT_EQ(ch.wait_not_busy() & kErr, 0);
  EXPECT_EQ(image.read(100 * 512, data.size()), data);
  EXPECT_EQ(image.read(99 * 512, 512), expected(99 * 512, 512)) << "neighbours untouched";
  EXPECT_EQ(image.read(103 * 512, 512), expected(103 * 512, 512));
}

TEST_F(IdeDiskTest, MultipleModeMovesBlocksOfSectors) {
  // From power-on, blocks of 16 (word 59: setting valid, 16), as QEMU: READ MULTIPLE works
  // without SET MULTIPLE MODE.
  EXPECT_EQ(word(identify(), 59), 0x0110);
  ch.lba28(0, 17);  // a block of 16 and one of 1
  ch.reg(kCommand, kReadMultiple);
  EXPECT_EQ(ch.pio_read(17 * 512), expected(0, 17 * 512));
  EXPECT_EQ(ch.wait_not_busy() & (kErr | kDrq), 0);
  ch.reg(kCount, 0);  // multiple mode off
  ch.reg(kCommand, kSetMultiple);
  EXPECT_EQ(ch.wait_not_busy() & kErr, 0);
  EXPECT_EQ(word(identify(), 59), 0);
  ch.lba28(0, 0);
  ch.reg(kCommand, kReadMultiple);  // multiple mode off
  EXPECT_EQ(ch.wait_not_busy() & kErr, kErr);
  EXPECT_EQ(ch.reg(kError), kAbrt);
  ch.reg(kCount, 3);  // not a power of two
  ch.reg(kCommand, kSetMultiple);
  EXPECT_EQ(ch.wait_not_busy() & kErr, kErr);
  ch.reg(kCount, 4);
  ch.reg(kCommand, kSetMultiple);
  EXPECT_EQ(ch.wait_not_busy() & kErr, 0);
  EXPECT_EQ(word(identify(), 59), 0x0104);
  // 6 sectors in blocks of 4 and 2: DRQ stays set across the first block's 2048 bytes.
  ch.lba28(8, 6);
  ch.reg(kCommand, kReadMultiple);
  EXPECT_EQ(ch.pio_read(6 * 512), expected(8 * 512, 6 * 512));
  std::vector<uint8_t> data(5 * 512, 0x3c);
  ch.lba28(40, 5);
  ch.reg(kCommand, kWriteMultiple);
  for (size_t i = 0; i < data.size(); i += 2) {
    if (i % 2048 == 0) {
      ASSERT_TRUE(ch.wait_not_busy() & kDrq);
    }
    ch.data16(0x3c3c);
  }
  EXPECT_EQ(ch.wait_not_busy() & (kErr | kDrq), 0);
  EXPECT_EQ(image.read(40 * 512, data.size()), data);
}

TEST_F(IdeDiskTest, DmaReadAndWriteThroughPrdTables) {
  // Read 8 sectors scattered over three PRD entries.
  ch.prd({{kDmaBuffer, 1024}, {kDmaBuffer + 0x2000, 2048}, {kDmaBuffer + 0x5000, 1024 | kEot}});
  ch.lba28(16, 8);
  uint8_t status = ch.dma(kReadDma, true);
  EXPECT_EQ(status, kBmIntr) << "exactly the transfer's size";
  EXPECT_TRUE(qt.irq_level(kPrimaryIrq));
  EXPECT_EQ(ch.reg(kStatus) & (kDrdy | kBsy | kDrq | kErr), kDrdy);
  EXPECT_FALSE(qt.irq_level(kPrimaryIrq));
  EXPECT_EQ(qt.memread(kDmaBuffer, 1024), expected(16 * 512, 1024));
  EXPECT_EQ(qt.memread(kDmaBuffer + 0x2000, 2048), expected(16 * 512 + 1024, 2048));
  EXPECT_EQ(qt.memread(kDmaBuffer + 0x5000, 1024), expected(16 * 512 + 3072, 1024));

  std::vector<uint8_t> data(4096);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 13);
  qt.memwrite(kDmaBuffer, data);
  ch.prd({{kDmaBuffer, 4096 | kEot}});
  ch.lba28(200, 8);
  EXPECT_EQ(ch.dma(kWriteDma, false), kBmIntr);
  EXPECT_EQ(ch.reg(kStatus) & kErr, 0);
  EXPECT_EQ(image.read(200 * 512, 4096), data);
}

TEST_F(IdeDiskTest, LargeDmaTransferAcrossChunks) {
  // 1 MiB in 16 entries of 64 KiB (count 0 = 64 KiB): larger than the device's bounce buffer.
  std::vector<std::pair<uint32_t, uint32_t>> table;
  for (uint32_t i = 0; i < 16; ++i)
    table.push_back({static_cast<uint32_t>(kDmaBuffer + i * 0x10000), i == 15 ? kEot : 0});
  ch.prd(table);
  ch.lba48(0, 2048);
  EXPECT_EQ(ch.dma(kReadDmaExt, true), kBmIntr);
  EXPECT_EQ(qt.memread(kDmaBuffer, 1 << 20), expected(0, 1 << 20));
}

TEST_F(IdeDiskTest, PrdTablesShorterEqualAndLongerThanTheTransfer) {
  struct Case {
    uint32_t prd_bytes;
    unsigned sectors;
    uint8_t expect, expect_aborted;
  };
  // As the SFF-8038i programming interface specifies (and QEMU's ide-test checks).
  const Case cases[] = {
      {0x10, 1, 0, 0},                            // shorter: neither interrupt nor active
      {0x200, 2, 0, 0},                           // one sector short
      {0x200, 1, kBmIntr, kBmIntr},               // equal: interrupt, engine stopped
      {0x1000, 1, kBmIntr | kBmActive, kBmIntr},  // longer: interrupt, engine still active
  };
  for (const Case& c : cases) {
    for (bool abort : {false, true}) {
      ch.prd({{kDmaBuffer, c.prd_bytes | kEot}});
      ch.lba28(0, static_cast<uint8_t>(c.sectors));
      uint8_t status = ch.dma(kReadDma, true, abort);
      EXPECT_EQ(status, abort ? c.expect_aborted : c.expect)
          << c.prd_bytes << " bytes for " << c.sectors << " sectors, abort " << abort;
      EXPECT_EQ(qt.irq_level(kPrimaryIrq), (status & kBmIntr) != 0);
      uint8_t ide_status = ch.reg(kStatus);
      EXPECT_EQ(ide_status & (kDrdy | kBsy | kDrq | kDf | kErr), kDrdy);
      ch.bm_command(0);
    }
  }
}

TEST_F(IdeDiskTest, HostileDmaIsBoundedAndStaysInRam) {
  // CVE-2014-9718 class: 4096 entries of 64 KiB at address 0 without an end-of-table, and the
  // bus-master enable off: the engine still terminates.
  qt.pci_config_write(kIdeDevfn, 0x04, 2, 0x0001);
  std::vector<std::pair<uint32_t, uint32_t>> table(4096, {0, 0});
  ch.prd(table);
  ch.lba28(0, 0);  // 256 sectors
  uint8_t status = ch.dma(kReadDma, true);
  EXPECT_EQ(status, kBmIntr | kBmActive);
  EXPECT_EQ(ch.reg(kStatus) & (kBsy | kDrq), 0);
  ch.bm_command(0);
  Channel::enable_controller(qt);
  // A buffer in the PCI hole (MMIO, not RAM): a bus error, and the command fails.
  ch.prd({{0xfebf0000u, 512 | kEot}});
  ch.lba28(0, 1);
  status = ch.dma(kReadDma, true);
  EXPECT_EQ(status & (kBmError | kBmActive), kBmError);
  EXPECT_EQ(ch.reg(kStatus) & kErr, kErr);
  // A table that is itself outside RAM.
  ch.bm_command(0);
  ch.bm_clear();
  ch.bm_table(0xfebf0000u);
  ch.lba28(0, 1);
  ch.reg(kCommand, kReadDma);
  ch.bm_command(kBmStart | kBmToMemory);
  EXPECT_EQ(ch.wait_not_busy() & kErr, kErr);
  EXPECT_EQ(ch.bm_status() & (kBmError | kBmActive), kBmError);
  ch.bm_command(0);
  // A write whose buffer straddles the end of RAM: nothing reaches the image.
  ch.prd({{static_cast<uint32_t>((128 << 20) - 256), 512 | kEot}});
  ch.lba28(400, 1);
  EXPECT_EQ(ch.dma(kWriteDma, false) & kBmError, kBmError);
  EXPECT_EQ(ch.reg(kStatus) & kErr, kErr);
  EXPECT_EQ(image.read(400 * 512, 512), expected(400 * 512, 512));
}

TEST_F(IdeDiskTest, AddressesOutsideTheDiskAreIdNotFound) {
  uint64_t sectors = kDiskBytes / 512;
  ch.lba28(static_cast<uint32_t>(sectors - 1), 2);
  ch.reg(kCommand, kReadSectors);
  EXPECT_EQ(ch.wait_not_busy() & (kErr | kDrq), kErr);
  EXPECT_EQ(ch.reg(kError) & kIdnf, kIdnf);
  ch.lba48(sectors, 1);
  ch.reg(kCommand, kReadSectorsExt);
  EXPECT_EQ(ch.wait_not_busy() & kErr, kErr);
  // The last sector itself is fine.
  ch.lba28(static_cast<uint32_t>(sectors - 1), 1);
  ch.reg(kCommand, kReadVerify);
  EXPECT_EQ(ch.wait_not_busy() & kErr, 0);
  // READ NATIVE MAX reports the last sector.
  ch.select(0);
  ch.reg(kCommand, kReadNativeMax);
  EXPECT_EQ(ch.wait_not_busy() & kErr, 0);
  uint32_t max = ch.reg(kLbaLow) | ch.reg(kLbaMid) << 8 | ch.reg(kLbaHigh) << 16 |
                 (ch.reg(kDevice) & 0x0f) << 24;
  EXPECT_EQ(max, sectors - 1);
}

TEST_F(IdeDiskTest, NonDataCommandsAndAborts) {
  ch.select(0);
  ch.reg(kCommand, kCheckPower);
  EXPECT_EQ(ch.wait_not_busy() & kErr, 0);
  EXPECT_EQ(ch.reg(kCount), 0xff);
  ch.reg(kCommand, kNop);  // NOP always aborts
  EXPECT_EQ(ch.wait_not_busy() & kErr, kErr);
  EXPECT_EQ(ch.reg(kError), kAbrt);
  ch.reg(kCommand, kPacket);  // a disk is no packet device
  EXPECT_EQ(ch.wait_not_busy() & (kErr | kDrq), kErr);
  ch.reg(kCommand, 0xb0);  // SMART is not implemented: clean abort
  EXPECT_EQ(ch.wait_not_busy() & kErr, kErr);
  // Transfer modes: UDMA 5 selected from power-on (word 88 bit 13, as QEMU); SET FEATURES moves
  // the selection to single-word DMA 2 (word 62 bit 10) or multiword DMA 1 (word 63 bit 9), back
  // to UDMA 5, and refuses UDMA 7 and single-word DMA 3.
  auto id = identify();
  EXPECT_EQ(word(id, 62), 0x0007);
  EXPECT_EQ(word(id, 63), 0x0007);
  EXPECT_EQ(word(id, 88), 0x203f);
  auto set_mode = [&](uint8_t mode) {
    ch.reg(kFeature, 0x03);
    ch.reg(kCount, mode);
    ch.reg(kCommand, kSetFeatures);
    return ch.wait_not_busy() & kErr;
  };
  EXPECT_EQ(set_mode(0x12), 0);
  id = identify();
  EXPECT_EQ(word(id, 62), 0x0407);
  EXPECT_EQ(word(id, 63), 0x0007);
  EXPECT_EQ(word(id, 88), 0x003f);
  EXPECT_EQ(set_mode(0x21), 0);
  id = identify();
  EXPECT_EQ(word(id, 62), 0x0007);
  EXPECT_EQ(word(id, 63), 0x0207);
  EXPECT_EQ(set_mode(0x45), 0);
  EXPECT_EQ(word(identify(), 88), 0x203f);
  EXPECT_EQ(set_mode(0x47), kErr);
  EXPECT_EQ(set_mode(0x13), kErr);
  EXPECT_EQ(word(identify(), 88), 0x203f) << "a refused mode changes nothing";
  // SET FEATURES: write cache off.
  ch.reg(kFeature, 0x82);
  ch.reg(kCommand, kSetFeatures);
  EXPECT_EQ(ch.wait_not_busy() & kErr, 0);
  EXPECT_FALSE(word(identify(), 85) & 0x0020);
  // EXECUTE DEVICE DIAGNOSTIC: signature and "passed".
  ch.reg(kCommand, kExecuteDiagnostic);
  EXPECT_EQ(ch.wait_not_busy() & kErr, 0);
  EXPECT_EQ(ch.reg(kError), 0x01);
  EXPECT_EQ(ch.reg(kCount), 1);
}

TEST_F(IdeDiskTest, ChsAddressingFollowsInitializeDeviceParameters) {
  // Default translation: 16 heads, 63 sectors. C/H/S 1/2/3 is LBA (1 * 16 + 2) * 63 + 2.
  auto chs_read = [&](unsigned cylinder, unsigned head, unsigned sector) {
    ch.reg(kCount, 1);
    ch.reg(kLbaLow, static_cast<uint8_t>(sector));
    ch.reg(kLbaMid, static_cast<uint8_t>(cylinder));
    ch.reg(kLbaHigh, static_cast<uint8_t>(cylinder >> 8));
    ch.reg(kDevice, static_cast<uint8_t>(0xa0 | head));  // CHS: the LBA bit clear
    ch.reg(kCommand, kReadSectors);
  };
  chs_read(1, 2, 3);
  EXPECT_EQ(ch.pio_read(512), expected(((1 * 16 + 2) * 63 + 2) * 512, 512));
  // INITIALIZE DEVICE PARAMETERS: 4 heads (device register 3 = heads - 1), 17 sectors a track.
  ch.reg(kCount, 17);
  ch.reg(kDevice, 0xa0 | 3);
  ch.reg(kCommand, 0x91);
  EXPECT_EQ(ch.wait_not_busy() & kErr, 0);
  chs_read(2, 3, 5);
  EXPECT_EQ(ch.pio_read(512), expected(((2 * 4 + 3) * 17 + 4) * 512, 512));
  auto id = identify();
  EXPECT_EQ(word(id, 55), 4) << "current heads";
  EXPECT_EQ(word(id, 56), 17) << "current sectors per track";
  // Sector 0 and sectors or heads beyond the translation do not exist.
  chs_read(0, 0, 0);
  EXPECT_EQ(ch.wait_not_busy() & kErr, kErr);
  chs_read(0, 4, 1);
  EXPECT_EQ(ch.wait_not_busy() & kErr, kErr);
  chs_read(0, 0, 18);
  EXPECT_EQ(ch.wait_not_busy() & kErr, kErr);
}

TEST_F(IdeDiskTest, HostIoErrorsBecomeAtaErrors) {
  // The image shrinks under the running guest: reads of what is gone fail as a drive's would
  // (ERR with UNC), the daemon carries on, and what remains still reads.
  ASSERT_EQ(truncate(image.path.c_str(), 1 << 20), 0);
  ch.lba28(4096, 1);  // at 2 MiB, beyond the new end
  ch.reg(kCommand, kReadSectors);
  EXPECT_EQ(ch.wait_not_busy() & (kErr | kDrq), kErr);
  EXPECT_EQ(ch.reg(kError) & 0x40, 0x40) << "uncorrectable";
  ch.prd({{kDmaBuffer, 512 | kEot}});
  ch.lba28(4096, 1);
  EXPECT_EQ(ch.dma(kReadDma, true) & kBmActive, 0);
  EXPECT_EQ(ch.reg(kStatus) & kErr, kErr);
  ch.lba28(1, 1);
  ch.reg(kCommand, kReadSectors);
  EXPECT_EQ(ch.pio_read(512), expected(512, 512));
}

TEST_F(IdeDiskTest, SoftwareResetEndsACommand) {
  ch.lba28(0, 4);
  ch.reg(kCommand, kReadSectors);
  ch.wait_not_busy();
  ch.data16();  // part way through the block
  ch.control(0x04);
  EXPECT_TRUE(ch.alt_status() & kBsy);
  ch.control(0x00);
  EXPECT_EQ(ch.wait_not_busy() & (kDrdy | kDrq), kDrdy);
  EXPECT_EQ(ch.reg(kError), 0x01);
  // The data port no longer has anything to give, and writes past a block go nowhere.
  EXPECT_EQ(ch.data16(), 0xffff);
  ch.lba28(300, 1);
  ch.reg(kCommand, kWriteSectors);
  for (int i = 0; i < 256 + 64; ++i) ch.data16(0x7777);  // 128 bytes too many
  EXPECT_EQ(ch.wait_not_busy() & kErr, 0);
  EXPECT_EQ(image.read(300 * 512, 512), std::vector<uint8_t>(512, 0x77));
  EXPECT_EQ(image.read(301 * 512, 512), expected(301 * 512, 512));
}

TEST_F(IdeDiskTest, StateSurvivesSaveAndRestoreMidTransfer) {
  ch.lba28(7, 2);
  ch.reg(kCommand, kReadSectors);
  ch.wait_not_busy();
  auto first = ch.pio_read(256);
  char path[] = "/tmp/hvmd-ide-state-XXXXXX";
  int fd = mkstemp(path);
  close(fd);
  EXPECT_TRUE(qt.qmp("xen-save-devices-state", {{"filename", path}}).contains("return"));
  qt.qmp("system_reset");
  Channel::enable_controller(qt);
  EXPECT_TRUE(qt.qmp("xen-load-devices-state", {{"filename", path}}).contains("return"));
  unlink(path);
  auto rest = ch.pio_read(1024 - 256);
  first.insert(first.end(), rest.begin(), rest.end());
  EXPECT_EQ(first, expected(7 * 512, 1024));
}

// Acknowledged, flushed writes are in the image even when hvmd dies right after (kill -9): the
// device reports a write complete only once the backend has written it.
TEST(IdeDurability, KillDuringWritesLosesNoFlushedData) {
  for (const char* cache : {"writeback", "writethrough"}) {
    Image image(kDiskBytes);
    QtestClient qt({"-drive", "file=" + image.path + ",if=ide,index=0,format=raw,cache=" + cache});
    Channel::enable_controller(qt);
    Channel ch(qt, kPrimary, kPrimaryControl, 0);
    constexpr int kWrites = 20;
    for (int i = 0; i < kWrites; ++i) {
      qt.memwrite(kDmaBuffer, std::vector<uint8_t>(8192, static_cast<uint8_t>(i + 1)));
      ch.prd({{kDmaBuffer, 8192 | kEot}});
      ch.lba28(static_cast<uint32_t>(i * 16), 16);
      ASSERT_EQ(ch.dma(kWriteDma, false), kBmIntr);
      ch.reg(kCommand, kFlushCache);
      ASSERT_EQ(ch.wait_not_busy() & kErr, 0);
    }
    // Then the kill, in the middle of one more write.
    ch.prd({{kDmaBuffer, 8192 | kEot}});
    ch.lba28(kWrites * 16, 16);
    ch.bm_command(0);
    ch.bm_clear();
    ch.reg(kCommand, kWriteDma);
    ch.bm_command(kBmStart);
    kill(qt.pid(), SIGKILL);
    qt.wait_exit();
    for (int i = 0; i < kWrites; ++i)
      EXPECT_EQ(image.read(uint64_t(i) * 8192, 8192),
                std::vector<uint8_t>(8192, static_cast<uint8_t>(i + 1)))
          << "write " << i << " with cache=" << cache;
  }
}

// A host block device (a loop device over an image) rather than a file.
TEST(IdeBlockDevice, DiskOnALoopDevice) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to set up a loop device";
  Image image(kDiskBytes, kDiskBytes);
  FILE* losetup = popen(("losetup --find --show " + image.path + " 2>/dev/null").c_str(), "r");
  char device[64] = {};
  bool attached = losetup && fgets(device, sizeof(device), losetup);
  if (losetup) pclose(losetup);
  if (!attached) GTEST_SKIP() << "no loop device available (losetup failed)";
  std::string path(device, strcspn(device, "\n"));
  {
    QtestClient qt({"-drive", "file=" + path + ",if=ide,index=0,format=raw"});
    Channel::enable_controller(qt);
    Channel ch(qt, kPrimary, kPrimaryControl, 0);
    ch.select(0);
    ch.reg(kCommand, kIdentify);
    auto id = ch.pio_read(512);
    EXPECT_EQ(word(id, 60) | uint32_t{word(id, 61)} << 16, kDiskBytes / 512);
    ch.lba28(33, 2);
    ch.reg(kCommand, kReadSectors);
    EXPECT_EQ(ch.pio_read(1024), expected(33 * 512, 1024));
  }
  EXPECT_EQ(system(("losetup -d " + path).c_str()), 0);
}

// A 200 GiB sparse image: LBA48 addresses beyond what 28 bits reach (128 GiB).
class IdeLba48Test : public IdeDiskTest {
 protected:
  IdeLba48Test() : IdeDiskTest(200ull << 30, 0) {}
};

TEST_F(IdeLba48Test, ReadsAndWritesBeyond128GiB) {
  const uint64_t lba = (150ull << 30) / 512 + 12345;
  std::vector<uint8_t> marker = expected(lba * 512, 1024);
  image.write(lba * 512, marker);
  auto id = identify();
  EXPECT_EQ(word(id, 60) | uint32_t{word(id, 61)} << 16, 0x0fffffffu) << "LBA28 capacity capped";
  uint64_t sectors = word(id, 100) | uint64_t{word(id, 101)} << 16 | uint64_t{word(id, 102)} << 32;
  EXPECT_EQ(sectors, (200ull << 30) / 512);
  ch.lba48(lba, 2);
  ch.reg(kCommand, kReadSectorsExt);
  EXPECT_EQ(ch.pio_read(1024), marker);
  std::vector<uint8_t> data(512, 0x5a);
  ch.lba48(lba + 10, 1);
  ch.reg(kCommand, kWriteSectorsExt);
  ch.pio_write(data);
  EXPECT_EQ(ch.wait_not_busy() & kErr, 0);
  EXPECT_EQ(image.read((lba + 10) * 512, 512), data);
  // DMA too, and the task file reports where the transfer ended.
  ch.prd({{kDmaBuffer, 1024 | kEot}});
  ch.lba48(lba, 2);
  EXPECT_EQ(ch.dma(kReadDmaExt, true), kBmIntr);
  EXPECT_EQ(qt.memread(kDmaBuffer, 1024), marker);
}

// The machine is built before the qtest socket is used, so bad drives fail first.
RunResult run_with_drives(const std::vector<std::string>& drives) {
  std::vector<std::string> args = {"-machine", "pc",     "-accel",
                                   "qtest",    "-qtest", "unix:/nonexistent/qtest.sock",
                                   "-display", "none"};
  for (const auto& drive : drives) {
    args.push_back("-drive");
    args.push_back(drive);
  }
  return run_hvmd(args);
}

void expect_drive_error(const std::vector<std::string>& drives, const std::string& needle) {
  RunResult r = run_with_drives(drives);
  EXPECT_EQ(r.status, 1) << r.stderr_text;
  EXPECT_EQ(std::count(r.stderr_text.begin(), r.stderr_text.end(), '\n'), 1) << r.stderr_text;
  EXPECT_NE(r.stderr_text.find(needle), std::string::npos) << r.stderr_text;
}

TEST(IdeCommandLine, BadDrivesAreOneLineErrors) {
  expect_drive_error({"file=/nonexistent/disk.img,if=ide"}, "/nonexistent/disk.img");
  expect_drive_error({"file=/dev/null,if=scsi"}, "if=scsi");
  Image image(1 << 20);
  expect_drive_error({"file=" + image.path + ",if=ide,format=qcow2"}, "format=qcow2");
  expect_drive_error({"file=" + image.path + ",if=ide,cache=sometimes"}, "cache=sometimes");
  expect_drive_error(
      {"file=" + image.path + ",if=ide,index=0", "file=" + image.path + ",if=ide,index=0"},
      "already in use");
  expect_drive_error({"file=" + image.path + ",if=ide,index=4"}, "index");
  expect_drive_error({"if=ide"}, "file=");
}

}  // namespace
}  // namespace hvmd::test
