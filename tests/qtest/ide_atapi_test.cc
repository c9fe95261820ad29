// Black-box: the ATAPI CD-ROM on the secondary channel, as Linux's sr/libata, Windows and SeaBIOS
// use it: signature, IDENTIFY PACKET, the MMC commands with PIO (byte-count limits) and DMA,
// sense data, and media changes through QMP with the unit attention that follows.
#include <gtest/gtest.h>

#include "tests/qtest/ide_driver.h"

namespace hvmd::test {
namespace {

using namespace ide;

constexpr uint8_t kIdentify = 0xec, kIdentifyPacket = 0xa1, kPacket = 0xa0, kReadNativeMax = 0xf8,
                  kReadSectors = 0x20, kDeviceReset = 0x08;
constexpr uint8_t kTestUnitReady = 0x00, kRequestSense = 0x03, kInquiry = 0x12, kStartStop = 0x1b,
                  kPreventAllow = 0x1e, kReadCapacity = 0x25, kRead10 = 0x28, kReadToc = 0x43,
                  kGetConfiguration = 0x46, kGetEventStatus = 0x4a, kReadDiscInfo = 0x51,
                  kModeSense10 = 0x5a, kRead12 = 0xa8, kMechanismStatus = 0xbd, kSetCdSpeed = 0xbb;
constexpr uint8_t kNotReady = 0x02, kIllegalRequest = 0x05, kUnitAttention = 0x06;
constexpr uint64_t kDiscSectors = 300;  // a small "disc" of 2048-byte blocks

using Packet = std::array<uint8_t, 12>;

class AtapiTest : public ::testing::Test {
 protected:
  AtapiTest()
      : disc(kDiscSectors * 2048, kDiscSectors * 2048),
        qt({"-drive", "file=" + disc.path + ",if=ide,index=2,media=cdrom"}),
        ch(qt, kSecondary, kSecondaryControl, 8) {
    EXPECT_EQ(qt.command("irq_intercept_in ioapic"), "OK");
    Channel::enable_controller(qt);
    ch.select(0);
  }

  // Sends a packet; for PIO, byte_limit goes to the cylinder registers. Returns the status after
  // the command phase.
  uint8_t send(const Packet& packet, uint16_t byte_limit = 0xfffe, bool dma = false) {
    ch.reg(kFeature, dma ? 1 : 0);
    ch.reg(kLbaMid, static_cast<uint8_t>(byte_limit));
    ch.reg(kLbaHigh, static_cast<uint8_t>(byte_limit >> 8));
    ch.reg(kCommand, kPacket);
    uint8_t status = ch.wait_not_busy();
    EXPECT_EQ(status & kDrq, kDrq);
    EXPECT_EQ(ch.reg(kCount) & 3, 1) << "C/D set, I/O clear: the device wants the packet";
    for (size_t i = 0; i < packet.size(); i += 2)
      ch.data16(static_cast<uint16_t>(packet[i] | packet[i + 1] << 8));
    return ch.wait_not_busy();
  }
  // A command's data by PIO, DRQ block by DRQ block; block_sizes records each block's count.
  std::vector<uint8_t> command(const Packet& packet, uint16_t byte_limit = 0xfffe,
                               std::vector<unsigned>* block_sizes = nullptr) {
    std::vector<uint8_t> data;
    uint8_t status = send(packet, byte_limit);
    for (int blocks = 0; (status & kDrq) && blocks < 10000; ++blocks) {
      EXPECT_EQ(ch.reg(kCount) & 3, 2) << "I/O set: data to the host";
      unsigned count = ch.reg(kLbaMid) | ch.reg(kLbaHigh) << 8;
      if (block_sizes) block_sizes->push_back(count);
      for (unsigned i = 0; i < count; i += 2) {
        uint16_t w = ch.data16();
        data.push_back(static_cast<uint8_t>(w));
        data.push_back(static_cast<uint8_t>(w >> 8));
      }
      status = ch.wait_not_busy();
    }
    last_status = ch.reg(kStatus);
    EXPECT_EQ(ch.reg(kCount) & 3, 3) << "command complete";
    return data;
  }
  // REQUEST SENSE: (key, additional sense code).
  std::pair<uint8_t, uint8_t> sense() {
    auto data = command({kRequestSense, 0, 0, 0, 18});
    if (data.size() < 13) return {0xff, 0xff};
    return {data[2] & 0x0f, data[12]};
  }
  static Packet read10(uint32_t lba, uint16_t count) {
    return {kRead10,
            0,
            static_cast<uint8_t>(lba >> 24),
            static_cast<uint8_t>(lba >> 16),
            static_cast<uint8_t>(lba >> 8),
            static_cast<uint8_t>(lba),
            0,
            static_cast<uint8_t>(count >> 8),
            static_cast<uint8_t>(count)};
  }

  Image disc;
  QtestClient qt;
  Channel ch;
  uint8_t last_status = 0;
};

TEST_F(AtapiTest, SignatureAndIdentifyPacket) {
  ch.reg(kCommand, kIdentify);  // a packet device refuses IDENTIFY and shows its signature
  EXPECT_EQ(ch.wait_not_busy() & kErr, kErr);
  EXPECT_EQ(ch.reg(kLbaMid), 0x14);
  EXPECT_EQ(ch.reg(kLbaHigh), 0xeb);
  ch.reg(kCommand, kIdentifyPacket);
  auto id = ch.pio_read(512);
  uint16_t word0 = static_cast<uint16_t>(id[0] | id[1] << 8);
  EXPECT_EQ(word0 >> 14, 2) << "ATAPI";
  EXPECT_EQ((word0 >> 8) & 0x1f, 5) << "CD-ROM";
  EXPECT_TRUE(word0 & 0x80) << "removable";
  EXPECT_EQ(word0 & 3, 0) << "12-byte packets";
  EXPECT_EQ(word(id, 62), 0x0007) << "single-word DMA 0-2 (ACS: no DMADIR needed)";
  EXPECT_EQ(word(id, 88), 0x203f) << "UDMA 0-5, 5 selected from power-on";
  EXPECT_EQ(word(id, 71), 30) << "PACKET to bus release, ns";
  EXPECT_EQ(word(id, 72), 30) << "SERVICE to BSY clear, ns";
  EXPECT_EQ(id[510], 0xa5);
  // Disk commands are refused (the CVE-2015-6855 class), as is reading sectors the disk way.
  ch.reg(kCommand, kReadNativeMax);
  EXPECT_EQ(ch.wait_not_busy() & kErr, kErr);
  ch.reg(kCommand, kReadSectors);
  EXPECT_EQ(ch.wait_not_busy() & kErr, kErr);
  // DEVICE RESET: signature again, no interrupt, ready for a packet.
  ch.reg(kCommand, kDeviceReset);
  ch.wait_not_busy();
  EXPECT_EQ(ch.reg(kLbaMid), 0x14);
  command({kTestUnitReady});
  EXPECT_EQ(last_status & kErr, 0);
}

TEST_F(AtapiTest, InquiryCapacityAndModePages) {
  auto inquiry = command({kInquiry, 0, 0, 0, 36});
  ASSERT_EQ(inquiry.size(), 36u);
  EXPECT_EQ(inquiry[0], 0x05) << "CD/DVD";
  EXPECT_EQ(inquiry[1], 0x80) << "removable";
  EXPECT_EQ(std::string(inquiry.begin() + 16, inquiry.begin() + 28), "HVMD DVD-ROM");
  // The allocation length cuts the reply.
  EXPECT_EQ(command({kInquiry, 0, 0, 0, 5}).size(), 6u);  // 5 bytes, padded to a word
  auto capacity = command({kReadCapacity});
  ASSERT_EQ(capacity.size(), 8u);
  EXPECT_EQ(capacity[3] | capacity[2] << 8, kDiscSectors - 1);
  EXPECT_EQ(capacity[6] << 8 | capacity[7], 2048);
  auto caps = command({kModeSense10, 0, 0x2a, 0, 0, 0, 0, 0, 64});
  ASSERT_GE(caps.size(), 30u);
  EXPECT_EQ(caps[8], 0x2a);
  EXPECT_EQ(caps[9], 20);
  EXPECT_EQ((caps[0] << 8 | caps[1]) + 2, 30);
  auto all = command({kModeSense10, 0, 0x3f, 0, 0, 0, 0, 0x01, 0});
  EXPECT_EQ(all.size(), 8u + 12 + 12 + 22);
  command({kModeSense10, 0, 0x17, 0, 0, 0, 0, 0, 64});  // no such page
  EXPECT_EQ(sense(), std::make_pair(kIllegalRequest, uint8_t{0x24}));
  command({kModeSense10, 0, 0xc0 | 0x2a, 0, 0, 0, 0, 0, 64});  // saved values
  EXPECT_EQ(sense(), std::make_pair(kIllegalRequest, uint8_t{0x39}));
}

TEST_F(AtapiTest, ReadsByPioWithinTheByteCountLimit) {
  std::vector<unsigned> blocks;
  auto data = command(read10(10, 3), 0xfffe, &blocks);
  EXPECT_EQ(data, expected(10 * 2048, 3 * 2048));
  // A limit smaller than a block splits the data into DRQ blocks no larger than it.
  blocks.clear();
  data = command(read10(20, 2), 1000, &blocks);
  EXPECT_EQ(data, expected(20 * 2048, 2 * 2048));
  ASSERT_FALSE(blocks.empty());
  for (unsigned b : blocks) EXPECT_LE(b, 1000u);
  // READ(12) and zero blocks.
  data = command({kRead12, 0, 0, 0, 0, 5, 0, 0, 0, 1});
  EXPECT_EQ(data, expected(5 * 2048, 2048));
  EXPECT_TRUE(command(read10(5, 0)).empty());
  EXPECT_EQ(last_status & kErr, 0);
}

TEST_F(AtapiTest, ReadsBeyondTheDiscAreRefusedBeforeAnythingMoves) {
  // The CVE-2020-29443 class: an LBA or count past the medium.
  EXPECT_TRUE(command(read10(kDiscSectors, 1)).empty());
  EXPECT_EQ(last_status & kErr, kErr);
  EXPECT_EQ(ch.reg(kError) >> 4, kIllegalRequest);
  EXPECT_EQ(sense(), std::make_pair(kIllegalRequest, uint8_t{0x21}));
  EXPECT_TRUE(command(read10(kDiscSectors - 1, 2)).empty());
  EXPECT_TRUE(command({kRead12, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}).empty());
  EXPECT_EQ(sense(), std::make_pair(kIllegalRequest, uint8_t{0x21}));
  command({0xff});  // no such command
  EXPECT_EQ(sense(), std::make_pair(kIllegalRequest, uint8_t{0x20}));
}

TEST_F(AtapiTest, ReadsByDma) {
  ch.prd({{kDmaBuffer, 4 * 2048 | kEot}});
  Packet packet = read10(7, 4);
  ch.bm_command(0);
  ch.bm_clear();
  uint8_t status = send(packet, 0, /*dma=*/true);
  EXPECT_FALSE(status & kErr);
  ch.bm_command(kBmStart | kBmToMemory);
  uint8_t bm = 0;
  for (int i = 0; i < 100000 && !((bm = ch.bm_status()) & kBmIntr); ++i) {
  }
  EXPECT_EQ(bm, kBmIntr);
  EXPECT_TRUE(qt.irq_level(kSecondaryIrq));
  EXPECT_EQ(ch.reg(kStatus) & (kErr | kDrq | kBsy), 0);
  EXPECT_EQ(ch.reg(kCount) & 3, 3);
  EXPECT_EQ(qt.memread(kDmaBuffer, 4 * 2048), expected(7 * 2048, 4 * 2048));
  // A reply (INQUIRY) by DMA too.
  ch.bm_command(0);
  ch.bm_clear();
  ch.prd({{kDmaBuffer, 36 | kEot}});
  send({kInquiry, 0, 0, 0, 36}, 0, true);
  ch.bm_command(kBmStart | kBmToMemory);
  for (int i = 0; i < 100000 && !(ch.bm_status() & kBmIntr); ++i) {
  }
  EXPECT_EQ(qt.memread(kDmaBuffer, 1)[0], 0x05);
}

TEST_F(AtapiTest, TableOfContentsFormats) {
  auto toc = command({kReadToc, 0, 0, 0, 0, 0, 0, 0, 100});  // format 0, LBA
  ASSERT_EQ(toc.size(), 20u);
  EXPECT_EQ(toc[0] << 8 | toc[1], 18);
  EXPECT_EQ(toc[2], 1);
  EXPECT_EQ(toc[3], 1);
  EXPECT_EQ(toc[6], 1) << "track 1";
  EXPECT_EQ(toc[14], 0xaa) << "lead-out";
  EXPECT_EQ(toc[19] | toc[18] << 8, kDiscSectors);
  auto msf = command({kReadToc, 0x02, 0, 0, 0, 0, 0, 0, 100});
  ASSERT_EQ(msf.size(), 20u);
  EXPECT_EQ(msf[10], 2) << "track 1 at 00:02:00";
  uint64_t frames = kDiscSectors + 150;
  EXPECT_EQ(msf[17], frames / 75 / 60);
  EXPECT_EQ(msf[18], frames / 75 % 60);
  EXPECT_EQ(msf[19], frames % 75);
  auto session = command({kReadToc, 0, 1, 0, 0, 0, 0, 0, 12});
  ASSERT_EQ(session.size(), 12u);
  EXPECT_EQ(session[6], 1);
  auto full = command({kReadToc, 0x02, 2, 0, 0, 0, 0, 0, 100});
  ASSERT_EQ(full.size(), 4u + 4 * 11);
  EXPECT_EQ(full[4 + 3], 0xa0);
  EXPECT_EQ(full[4 + 2 * 11 + 3], 0xa2);
  command({kReadToc, 0, 5, 0, 0, 0, 0, 0, 100});
  EXPECT_EQ(sense(), std::make_pair(kIllegalRequest, uint8_t{0x24}));
}

TEST_F(AtapiTest, ConfigurationDiscInformationMechanism) {
  auto config = command({kGetConfiguration, 0, 0, 0, 0, 0, 0, 0, 200});
  ASSERT_GE(config.size(), 8u);
  EXPECT_EQ(config[6] << 8 | config[7], 0x0008) << "current profile CD-ROM";
  auto disc_info = command({kReadDiscInfo, 0, 0, 0, 0, 0, 0, 0, 34});
  ASSERT_EQ(disc_info.size(), 34u);
  EXPECT_EQ(disc_info[2] & 0x03, 2) << "complete disc";
  auto mechanism = command({kMechanismStatus, 0, 0, 0, 0, 0, 0, 0, 0, 8});
  EXPECT_EQ(mechanism.size(), 8u);
  command({kSetCdSpeed, 0, 0xff, 0xff, 0xff, 0xff});
  EXPECT_EQ(last_status & kErr, 0);
}

TEST_F(AtapiTest, MediaChangeThroughQmp) {
  auto events = [&] { return command({kGetEventStatus, 1, 0, 0, 0x10, 0, 0, 0, 8}); };
  // Locked by the guest: the host's eject is refused and the guest sees an eject request.
  command({kPreventAllow, 0, 0, 0, 1});
  Json refused = qt.qmp("eject", {{"device", "ide1-cd0"}});
  EXPECT_TRUE(refused.contains("error")) << refused;
  auto event = events();
  ASSERT_EQ(event.size(), 8u);
  EXPECT_EQ(event[4], 1) << "eject request";
  // Guest-side eject is refused while locked, too.
  command({kStartStop, 0, 0, 0, 0x02});
  EXPECT_EQ(sense(), std::make_pair(kNotReady, uint8_t{0x53}));
  command({kPreventAllow, 0, 0, 0, 0});
  EXPECT_TRUE(qt.qmp("eject", {{"device", "ide1-cd0"}}).contains("return"));
  command({kTestUnitReady});
  EXPECT_EQ(sense(), std::make_pair(kNotReady, uint8_t{0x3a}));
  event = events();
  EXPECT_EQ(event[4], 3) << "media removal";
  EXPECT_EQ(event[5] & 2, 0) << "no medium";
  Json block = qt.qmp("query-block");
  EXPECT_FALSE(block["return"][0].contains("inserted")) << block;
  EXPECT_EQ(block["return"][0]["tray_open"], true);
  // A new disc through a passed descriptor, as libxl does it.
  Image other(100 * 2048, 100 * 2048);
  int fd = ::open(other.path.c_str(), O_RDONLY | O_CLOEXEC);
  Json added = qt.qmp_with_fd("add-fd", Json::object(), fd);
  close(fd);
  std::string fdset = "/dev/fdset/" + std::to_string(added["return"]["fdset-id"].get<int>());
  Json changed = qt.qmp("blockdev-change-medium",
                        {{"device", "ide1-cd0"}, {"filename", fdset}, {"format", "raw"}});
  EXPECT_TRUE(changed.contains("return")) << changed;
  command({kTestUnitReady});
  EXPECT_EQ(last_status & kErr, kErr);
  EXPECT_EQ(sense(), std::make_pair(kUnitAttention, uint8_t{0x28}));
  command({kTestUnitReady});
  EXPECT_EQ(last_status & kErr, 0);
  event = events();
  EXPECT_EQ(event[4], 2) << "new media";
  auto capacity = command({kReadCapacity});
  EXPECT_EQ(capacity[3], 99);
  // Unknown drives and bad formats are QMP errors.
  EXPECT_TRUE(qt.qmp("eject", {{"device", "nope"}}).contains("error"));
  EXPECT_TRUE(qt.qmp("blockdev-change-medium",
                     {{"device", "ide1-cd0"}, {"filename", other.path}, {"format", "qcow2"}})
                  .contains("error"));
}

TEST(AtapiEmpty, EmptyDriveAsLibxlConfiguresIt) {
  // libxl: an empty CD-ROM drive on its own -drive if=none and -device ide-cd.
  QtestClient qt({"-drive", "if=none,readonly=on,id=ide-5632", "-device",
                  "ide-cd,id=ide-5632,drive=ide-5632,bus=ide.1,unit=0"});
  Channel::enable_controller(qt);
  Channel ch(qt, kSecondary, kSecondaryControl, 8);
  ch.select(0);
  EXPECT_EQ(ch.reg(kLbaMid), 0x14);
  Json block = qt.qmp("query-block");
  EXPECT_EQ(block["return"][0]["qdev"], "ide-5632");
  // eject by device id, as libxl >= 2.8 sends it.
  EXPECT_TRUE(qt.qmp("eject", {{"id", "ide-5632"}}).contains("return"));
}

}  // namespace
}  // namespace hvmd::test
