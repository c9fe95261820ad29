// Black-box: the storage side of QEMU conformance for IDE. The ide-hd properties a QEMU-style
// command line sets (geometry, serial, model, ver, wwn, discard_granularity) as IDENTIFY shows
// them; the disk bytes of CMOS as a BIOS reads them (expected values taken from Debian's
// qemu-system-x86_64 with the same arguments); ATA DATA SET MANAGEMENT (TRIM) punching holes
// in the image with discard=unmap and refusing ranges off the disk; -blockdev nodes (raw, file,
// null-co) under ide-hd; and one-line errors for bad values.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <map>

#include "tests/qtest/ide_driver.h"

namespace hvmd::test {
namespace {

using namespace ide;

constexpr uint8_t kIdentify = 0xec, kReadSectors = 0x20, kWriteSectors = 0x30,
                  kDataSetManagement = 0x06;
constexpr uint8_t kAbrt = 0x04;

std::vector<uint8_t> identify(Channel& ch, unsigned unit = 0) {
  ch.select(unit);
  ch.reg(kCommand, kIdentify);
  return ch.pio_read(512);
}

// --- IDENTIFY -----------------------------------------------------------------------------------

TEST(IdeProperties, IdentifyCarriesTheDeviceProperties) {
  Image image(600 << 20);
  QtestClient qt({"-drive", "file=" + image.path + ",if=none,id=d0,format=raw", "-device",
                  "ide-hd,drive=d0,bus=ide.0,unit=0,serial=SER1,model=MyModel,ver=v9.8,"
                  "wwn=0x5000c50015ea71ac,discard_granularity=0,cyls=1000,heads=8,secs=63,"
                  "lcyls=500,lheads=32,lsecs=63"});
  Channel ch(qt, kPrimary, kPrimaryControl, 0);
  auto id = identify(ch);
  ASSERT_EQ(id.size(), 512u);
  EXPECT_EQ(word(id, 1), 1000);
  EXPECT_EQ(word(id, 3), 8);
  EXPECT_EQ(word(id, 6), 63);
  EXPECT_EQ(word(id, 54), 1000);
  EXPECT_EQ(word(id, 55), 8);
  EXPECT_EQ(word(id, 56), 63);
  EXPECT_EQ(word(id, 57) | uint32_t{word(id, 58)} << 16, 1000u * 8 * 63);
  EXPECT_EQ(ata_string(id, 10, 10), "SER1                ");
  EXPECT_EQ(ata_string(id, 23, 4), "v9.8    ");
  EXPECT_EQ(ata_string(id, 27, 20), "MyModel" + std::string(33, ' '));
  // The world wide name, most significant word first, and its valid bits.
  EXPECT_EQ(word(id, 108), 0x5000);
  EXPECT_EQ(word(id, 109), 0xc500);
  EXPECT_EQ(word(id, 110), 0x15ea);
  EXPECT_EQ(word(id, 111), 0x71ac);
  EXPECT_EQ(word(id, 84) & 0x0100, 0x0100);
  EXPECT_EQ(word(id, 87) & 0x0100, 0x0100);
  // discard_granularity=0: no TRIM.
  EXPECT_EQ(word(id, 169), 0);
  EXPECT_EQ(word(id, 69), 0);
}

TEST(IdeProperties, DefaultsOfferTrimAndNoWwn) {
  Image image(600 << 20);
  QtestClient qt({"-drive", "file=" + image.path + ",if=ide,index=0,format=raw"});
  Channel ch(qt, kPrimary, kPrimaryControl, 0);
  auto id = identify(ch);
  ASSERT_EQ(id.size(), 512u);
  // QEMU's default geometry for 600 MiB: 1219 cylinders, 16 heads, 63 sectors.
  EXPECT_EQ(word(id, 1), 1219);
  EXPECT_EQ(word(id, 3), 16);
  EXPECT_EQ(word(id, 6), 63);
  EXPECT_EQ(word(id, 169), 0x0001) << "DATA SET MANAGEMENT: TRIM";
  EXPECT_EQ(word(id, 69), 0x4000) << "deterministic read after TRIM";
  EXPECT_GE(word(id, 80) & 0x80, 0x80) << "ATA-7, which Linux wants before it uses TRIM";
  EXPECT_EQ(word(id, 84) & 0x0100, 0);
  for (unsigned w = 108; w <= 111; ++w) EXPECT_EQ(word(id, w), 0);
  // The function's subsystem, as qemu-xen (and QEMU) give the board's functions.
  EXPECT_EQ(qt.pci_config_read(kIdeDevfn, 0x2c, 4), 0x11001af4u);
}

// --- CMOS ---------------------------------------------------------------------------------------

std::map<uint8_t, uint8_t> cmos_disk_bytes(const std::vector<std::string>& args) {
  QtestClient qt(args);
  std::map<uint8_t, uint8_t> bytes;
  for (uint8_t index : {0x12, 0x39}) bytes[index] = (qt.outb(0x70, index), qt.inb(0x71));
  for (uint8_t index = 0x19; index <= 0x2c; ++index)
    bytes[index] = (qt.outb(0x70, index), qt.inb(0x71));
  return bytes;
}

// Expected: bytes 0x12, 0x19-0x2c and 0x39 as Debian's QEMU 7.2 writes them (unlisted: zero).
void expect_cmos(const std::vector<std::string>& args, std::map<uint8_t, uint8_t> expected) {
  auto bytes = cmos_disk_bytes(args);
  for (auto [index, value] : bytes) {
    uint8_t want = expected.count(index) ? expected[index] : 0;
    EXPECT_EQ(value, want) << "CMOS byte 0x" << std::hex << int(index);
  }
}

TEST(IdeCmos, DiskTablesAsABiosReadsThem) {
  Image big(600 << 20), small(64 << 20);
  auto hd = [](const Image& image, const std::string& props) {
    return std::vector<std::string>{"-drive", "file=" + image.path + ",if=none,id=d,format=raw",
                                    "-device", "ide-hd,drive=d," + props};
  };
  // No disks (and a CD-ROM is none of the BIOS's business here).
  expect_cmos({}, {});
  expect_cmos({"-cdrom", small.path}, {});
  // Primary master, default geometry 1219/16/63: type 47, LBA hinted (more than 1024 cylinders).
  expect_cmos(hd(big, "bus=ide.0,unit=0"), {{0x12, 0xf0},
                                            {0x19, 0x2f},
                                            {0x1b, 0xc3},
                                            {0x1c, 0x04},
                                            {0x1d, 0x10},
                                            {0x1e, 0xff},
                                            {0x1f, 0xff},
                                            {0x20, 0xc8},
                                            {0x21, 0xc3},
                                            {0x22, 0x04},
                                            {0x23, 0x3f},
                                            {0x39, 0x01}});
  // Primary slave with 8 heads: control byte without the more-than-8-heads bit.
  expect_cmos(hd(big, "bus=ide.0,unit=1,cyls=2000,heads=8,secs=63"), {{0x12, 0x0f},
                                                                      {0x1a, 0x2f},
                                                                      {0x24, 0xd0},
                                                                      {0x25, 0x07},
                                                                      {0x26, 0x08},
                                                                      {0x27, 0xff},
                                                                      {0x28, 0xff},
                                                                      {0x29, 0xc0},
                                                                      {0x2a, 0xd0},
                                                                      {0x2b, 0x07},
                                                                      {0x2c, 0x3f},
                                                                      {0x39, 0x04}});
  // A geometry a CHS BIOS reaches: no translation, unless asked for.
  expect_cmos(hd(big, "bus=ide.0,unit=0,cyls=1000,heads=16,secs=63"), {{0x12, 0xf0},
                                                                       {0x19, 0x2f},
                                                                       {0x1b, 0xe8},
                                                                       {0x1c, 0x03},
                                                                       {0x1d, 0x10},
                                                                       {0x1e, 0xff},
                                                                       {0x1f, 0xff},
                                                                       {0x20, 0xc8},
                                                                       {0x21, 0xe8},
                                                                       {0x22, 0x03},
                                                                       {0x23, 0x3f}});
  expect_cmos(hd(big, "bus=ide.0,unit=0,cyls=1000,heads=16,secs=63,bios-chs-trans=large"),
              {{0x12, 0xf0},
               {0x19, 0x2f},
               {0x1b, 0xe8},
               {0x1c, 0x03},
               {0x1d, 0x10},
               {0x1e, 0xff},
               {0x1f, 0xff},
               {0x20, 0xc8},
               {0x21, 0xe8},
               {0x22, 0x03},
               {0x23, 0x3f},
               {0x39, 0x02}});
  // The logical geometry does not reach CMOS.
  expect_cmos(hd(big, "bus=ide.0,unit=0,cyls=1000,heads=16,secs=63,lcyls=500,lheads=32,lsecs=63"),
              {{0x12, 0xf0},
               {0x19, 0x2f},
               {0x1b, 0xe8},
               {0x1c, 0x03},
               {0x1d, 0x10},
               {0x1e, 0xff},
               {0x1f, 0xff},
               {0x20, 0xc8},
               {0x21, 0xe8},
               {0x22, 0x03},
               {0x23, 0x3f}});
  // Two -drive disks; and a secondary master, which only has a translation hint.
  expect_cmos({"-drive", "file=" + small.path + ",if=ide,index=0,format=raw", "-drive",
               "file=" + big.path + ",if=ide,index=1,format=raw"},
              {{0x12, 0xff}, {0x19, 0x2f}, {0x1a, 0x2f}, {0x1b, 0x82}, {0x1c, 0x00}, {0x1d, 0x10},
               {0x1e, 0xff}, {0x1f, 0xff}, {0x20, 0xc8}, {0x21, 0x82}, {0x22, 0x00}, {0x23, 0x3f},
               {0x24, 0xc3}, {0x25, 0x04}, {0x26, 0x10}, {0x27, 0xff}, {0x28, 0xff}, {0x29, 0xc8},
               {0x2a, 0xc3}, {0x2b, 0x04}, {0x2c, 0x3f}, {0x39, 0x04}});
  expect_cmos({"-drive", "file=" + big.path + ",if=ide,index=2,format=raw"}, {{0x39, 0x10}});
}

TEST(IdeCmos, ChecksumCoversTheDiskBytes) {
  Image big(600 << 20);
  QtestClient qt({"-drive", "file=" + big.path + ",if=ide,index=0,format=raw"});
  unsigned sum = 0;
  for (uint8_t i = 0x10; i < 0x2e; ++i) sum += (qt.outb(0x70, i), qt.inb(0x71));
  unsigned stored = (qt.outb(0x70, 0x2e), qt.inb(0x71)) << 8;
  stored |= (qt.outb(0x70, 0x2f), qt.inb(0x71));
  EXPECT_EQ(stored, sum & 0xffff);
}

// --- TRIM ---------------------------------------------------------------------------------------

constexpr uint64_t kTrimDisk = 8 << 20;  // 16384 sectors

struct TrimRange {
  uint64_t lba;
  uint16_t count;
};

class IdeTrimTest : public ::testing::Test {
 protected:
  void start(const std::string& drive_options, const std::string& device_options = "") {
    image = std::make_unique<Image>(kTrimDisk, kTrimDisk);
    qt = std::make_unique<QtestClient>(std::vector<std::string>{
        "-drive", "file=" + image->path + ",if=none,id=d0,format=raw" + drive_options, "-device",
        "ide-hd,drive=d0,bus=ide.0,unit=0" + device_options});
    ch = std::make_unique<Channel>(*qt, kPrimary, kPrimaryControl, 0);
    Channel::enable_controller(*qt);
  }
  // DATA SET MANAGEMENT as Linux sends it: LBA48 task file, feature TRIM, blocks of entries by
  // DMA. Returns the bus-master status when the engine reports.
  uint8_t trim(const std::vector<TrimRange>& ranges, uint16_t blocks = 1, uint8_t feature = 1,
               uint32_t prd_bytes = 0) {
    std::vector<uint8_t> data(size_t{blocks} * 512);
    for (size_t i = 0; i < ranges.size() && (i + 1) * 8 <= data.size(); ++i) {
      uint64_t entry = ranges[i].lba | uint64_t{ranges[i].count} << 48;
      for (int b = 0; b < 8; ++b) data[i * 8 + b] = static_cast<uint8_t>(entry >> (8 * b));
    }
    if (!data.empty()) qt->memwrite(kDmaBuffer, data);
    uint32_t bytes = prd_bytes ? prd_bytes : static_cast<uint32_t>(data.size());
    ch->prd({{static_cast<uint32_t>(kDmaBuffer), (bytes & 0xffff) | kEot}});
    ch->reg(kFeature, 0);
    ch->reg(kFeature, feature);
    ch->lba48(0, blocks);
    return ch->dma(kDataSetManagement, false);
  }
  blkcnt_t allocated() const {
    struct stat st {};
    EXPECT_EQ(stat(image->path.c_str(), &st), 0);
    return st.st_blocks;
  }
  bool zeroes(uint64_t lba, uint64_t count) const {
    auto data = image->read(lba * 512, count * 512);
    return std::all_of(data.begin(), data.end(), [](uint8_t b) { return b == 0; });
  }
  std::unique_ptr<Image> image;
  std::unique_ptr<QtestClient> qt;
  std::unique_ptr<Channel> ch;
};

TEST_F(IdeTrimTest, UnmapPunchesHolesInTheImage) {
  start(",discard=unmap");
  blkcnt_t before = allocated();
  // Sectors 8-15 are one 4 KiB host block; 96-127 four more; a zero-length entry is skipped.
  EXPECT_EQ(trim({{8, 8}, {0, 0}, {96, 32}}), kBmIntr);
  EXPECT_EQ(ch->reg(kStatus) & (kBsy | kDrq | kErr | kDrdy), kDrdy);
  EXPECT_EQ(before - allocated(), 40) << "st_blocks: 5 host blocks of 4 KiB deallocated";
  EXPECT_TRUE(zeroes(8, 8));
  EXPECT_TRUE(zeroes(96, 32));
  EXPECT_EQ(image->read(7 * 512, 512), expected(7 * 512, 512));
  EXPECT_EQ(image->read(16 * 512, 80 * 512), expected(16 * 512, 80 * 512));
  EXPECT_EQ(image->read(128 * 512, 512), expected(128 * 512, 512));
  // The guest reads zeroes where it trimmed.
  ch->lba28(8, 1);
  ch->reg(kCommand, kReadSectors);
  EXPECT_EQ(ch->pio_read(512), std::vector<uint8_t>(512, 0));
}

TEST_F(IdeTrimTest, RangesUpToTheLastSectorAndBlocksOfEntries) {
  start(",discard=unmap");
  // Two blocks of entries; the one in the second block ends at the disk's last sector.
  std::vector<TrimRange> ranges(65, {0, 0});
  ranges[0] = {16, 8};
  ranges[64] = {16384 - 8, 8};
  EXPECT_EQ(trim(ranges, 2), kBmIntr);
  EXPECT_EQ(ch->reg(kStatus) & kErr, 0);
  EXPECT_TRUE(zeroes(16, 8));
  EXPECT_TRUE(zeroes(16384 - 8, 8));
}

TEST_F(IdeTrimTest, WithoutUnmapTheDataStays) {
  start("");
  blkcnt_t before = allocated();
  EXPECT_EQ(trim({{8, 2048}}), kBmIntr);
  EXPECT_EQ(ch->reg(kStatus) & (kErr | kDrdy), kDrdy);
  EXPECT_EQ(allocated(), before);
  EXPECT_EQ(image->read(8 * 512, 2048 * 512), expected(8 * 512, 2048 * 512));
}

TEST_F(IdeTrimTest, RangesOffTheDiskAbort) {
  start(",discard=unmap");
  // One sector past the end; the range before it is discarded, the one after it is not.
  EXPECT_EQ(trim({{8, 8}, {16383, 2}, {96, 8}}) & kBmActive, 0);
  EXPECT_EQ(ch->reg(kStatus) & (kErr | kBsy | kDrq), kErr);
  EXPECT_EQ(ch->reg(kError), kAbrt);
  EXPECT_TRUE(zeroes(8, 8));
  EXPECT_EQ(image->read(96 * 512, 8 * 512), expected(96 * 512, 8 * 512));
  // A 48-bit LBA far beyond, and the largest length at the last sector.
  for (TrimRange bad : {TrimRange{0xffffffffffffull, 1}, TrimRange{16383, 0xffff}}) {
    trim({bad});
    EXPECT_EQ(ch->reg(kStatus) & kErr, kErr);
    EXPECT_EQ(ch->reg(kError), kAbrt);
  }
  // The drive still works afterwards.
  ch->lba28(0, 1);
  ch->reg(kCommand, kReadSectors);
  EXPECT_EQ(ch->pio_read(512), expected(0, 512));
}

TEST_F(IdeTrimTest, BadCommandsAbort) {
  start(",discard=unmap");
  blkcnt_t before = allocated();
  // A feature other than TRIM; a count of zero blocks.
  trim({{8, 8}}, 1, /*feature=*/0);
  EXPECT_EQ(ch->reg(kStatus) & kErr, kErr);
  EXPECT_EQ(ch->reg(kError), kAbrt);
  trim({{8, 8}}, 0);
  EXPECT_EQ(ch->reg(kStatus) & kErr, kErr);
  // A PRD table shorter than the blocks: the command ends without an interrupt.
  EXPECT_EQ(trim({{8, 8}}, 2, 1, 512), 0);
  EXPECT_EQ(ch->reg(kStatus) & (kBsy | kDrq), 0);
  EXPECT_EQ(allocated(), before);
}

TEST_F(IdeTrimTest, ReadOnlyAndTrimlessDrivesAbort) {
  start(",discard=unmap,readonly=on");
  trim({{8, 8}});
  EXPECT_EQ(ch->reg(kStatus) & kErr, kErr);
  EXPECT_EQ(image->read(8 * 512, 4096), expected(8 * 512, 4096));
  start(",discard=unmap", ",discard_granularity=0");
  trim({{8, 8}});
  EXPECT_EQ(ch->reg(kStatus) & kErr, kErr);
  EXPECT_EQ(image->read(8 * 512, 4096), expected(8 * 512, 4096));
}

// --- -blockdev and null-co ----------------------------------------------------------------------

std::vector<uint8_t> read_sector(Channel& ch, uint32_t lba) {
  ch.lba28(lba, 1);
  ch.reg(kCommand, kReadSectors);
  return ch.pio_read(512);
}

TEST(IdeBlockdev, NullCoReadsZeroes) {
  QtestClient qt({"-blockdev", "driver=null-co,node-name=n0,read-zeroes=on,size=1048576", "-device",
                  "ide-hd,drive=n0"});
  Channel ch(qt, kPrimary, kPrimaryControl, 0);
  auto id = identify(ch);
  EXPECT_EQ(word(id, 60) | uint32_t{word(id, 61)} << 16, 2048u);
  EXPECT_EQ(read_sector(ch, 7), std::vector<uint8_t>(512, 0));
  // Writes are accepted and dropped.
  ch.lba28(7, 1);
  ch.reg(kCommand, kWriteSectors);
  ch.pio_write(std::vector<uint8_t>(512, 0xab));
  EXPECT_EQ(ch.wait_not_busy() & kErr, 0);
  EXPECT_EQ(read_sector(ch, 7), std::vector<uint8_t>(512, 0));
}

TEST(IdeBlockdev, DriveNullCoUrl) {
  QtestClient qt(
      {"-drive", "if=ide,index=0,format=raw,file=null-co://,file.read-zeroes=on,file.size=65536"});
  Channel ch(qt, kPrimary, kPrimaryControl, 0);
  auto id = identify(ch);
  EXPECT_EQ(word(id, 60), 128);
  EXPECT_EQ(read_sector(ch, 127), std::vector<uint8_t>(512, 0));
}

TEST(IdeBlockdev, RawOverFileNodes) {
  Image image(1 << 20, 1 << 20);
  {
    QtestClient qt({"-blockdev",
                    "driver=raw,node-name=disk0,file.driver=file,file.filename=" + image.path,
                    "-device", "ide-hd,drive=disk0,bus=ide.0,unit=0"});
    Channel ch(qt, kPrimary, kPrimaryControl, 0);
    EXPECT_EQ(read_sector(ch, 3), expected(3 * 512, 512));
  }
  {
    QtestClient qt({"-blockdev", "driver=file,node-name=f0,filename=" + image.path, "-blockdev",
                    "driver=raw,node-name=r0,file=f0,read-only=on", "-device",
                    "ide-hd,drive=r0,bus=ide.0,unit=0"});
    Channel ch(qt, kPrimary, kPrimaryControl, 0);
    EXPECT_EQ(read_sector(ch, 9), expected(9 * 512, 512));
    // read-only=on: a write aborts and the image keeps its data.
    ch.lba28(9, 1);
    ch.reg(kCommand, kWriteSectors);
    EXPECT_EQ(ch.wait_not_busy() & kErr, kErr);
    EXPECT_EQ(image.read(9 * 512, 512), expected(9 * 512, 512));
  }
}

TEST(IdeBlockdev, DriveKeysAreAccepted) {
  Image image(1 << 20, 1 << 20);
  QtestClient qt({"-drive", "file=" + image.path +
                                ",if=ide,index=0,format=raw,rerror=stop,werror=enospc,"
                                "auto-read-only=on,discard=on,detect-zeroes=unmap"});
  Channel ch(qt, kPrimary, kPrimaryControl, 0);
  EXPECT_EQ(read_sector(ch, 1), expected(512, 512));
}

// --- errors -------------------------------------------------------------------------------------

void expect_error(std::vector<std::string> args, const std::string& needle) {
  // A qtest machine whose socket cannot be reached: a good command line would fail there, after
  // every option has been checked.
  for (const char* arg : {"-accel", "qtest", "-qtest", "unix:/nonexistent/qtest.sock"})
    args.push_back(arg);
  RunResult r = run_hvmd(args);
  EXPECT_EQ(r.status, 1) << r.stderr_text;
  EXPECT_EQ(std::count(r.stderr_text.begin(), r.stderr_text.end(), '\n'), 1) << r.stderr_text;
  EXPECT_NE(r.stderr_text.find(needle), std::string::npos) << r.stderr_text;
}

TEST(IdeStorageCommandLine, BadValuesAreOneLineErrors) {
  Image image(1 << 20);
  auto drive = "file=" + image.path + ",if=none,id=d0,format=raw";
  auto with_device = [&](const std::string& props) {
    return std::vector<std::string>{"-machine", "pc",  "-display", "none",
                                    "-drive",   drive, "-device",  "ide-hd,drive=d0," + props};
  };
  expect_error(with_device("cyls=100,heads=17,secs=63"), "heads must be between 1 and 16");
  expect_error(with_device("cyls=100"), "heads must be between 1 and 16");
  expect_error(with_device("cyls=1,heads=1,secs=256"), "secs must be between 1 and 255");
  expect_error(with_device("cyls=65536,heads=1,secs=1"), "cyls must be between 1 and 65535");
  expect_error(with_device("bios-chs-trans=bogus"), "bios-chs-trans=bogus");
  expect_error(with_device("discard_granularity=4096"), "discard_granularity must be 512");
  expect_error(with_device("wwn=zz"), "zz");
  expect_error(with_device("ver=123456789"), "ver 8");
  auto with_drive = [&](const std::string& keys) {
    return std::vector<std::string>{"-machine", "pc",     "-display",
                                    "none",     "-drive", "file=" + image.path + ",if=ide," + keys};
  };
  expect_error(with_drive("discard=bogus"), "discard=bogus");
  expect_error(with_drive("detect-zeroes=bogus"), "detect-zeroes=bogus");
  expect_error(with_drive("rerror=enospc"), "rerror=enospc");
  expect_error(with_drive("werror=bogus"), "werror=bogus");
  expect_error(with_drive("auto-read-only=maybe"), "maybe");
  expect_error(with_drive("file.read-zeroes=on"), "file.read-zeroes");
  auto with_blockdev = [](const std::string& text) {
    return std::vector<std::string>{"-machine", "pc", "-display", "none", "-blockdev", text};
  };
  expect_error(with_blockdev("driver=raw,file.driver=file,file.filename=" + image.path),
               "node-name");
  expect_error(with_blockdev("driver=qcow2,node-name=n0,file.driver=file,file.filename=x"),
               "qcow2");
  expect_error(with_blockdev("driver=raw,node-name=n0,file=nowhere"), "nowhere");
  expect_error(with_blockdev("driver=null-co,node-name=n0,size=1M"), "1M");
  expect_error(with_blockdev("driver=null-co,node-name=n0,color=blue"), "color");
}

}  // namespace
}  // namespace hvmd::test
