// Black-box: usb-storage on a raw image (-drive if=none + -device usb-storage,drive=), driven as
// Linux's usb-storage and SeaBIOS's usb-msc drive it: enumeration, Get Max LUN, then Bulk-Only
// commands (CBW out, data, CSW in) with INQUIRY, TEST UNIT READY, READ CAPACITY, READ(10) checked
// against the image's bytes, WRITE(10) + SYNCHRONIZE CACHE checked in the image file, MODE SENSE
// write protection, REQUEST SENSE after an out-of-range read; through the EHCI at high speed and
// through the PIIX3 UHCI at full speed. Then hostile wrappers: a CBW with a bad signature or a bad
// length stalls both endpoints until reset recovery, and a host length shorter than the command's.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>

#include "tests/qtest/ehci_driver.h"
#include "tests/qtest/ide_driver.h"
#include "tests/qtest/usb_driver.h"

namespace hvmd::test {
namespace {

constexpr uint8_t kGetDescriptor = 6, kSetAddress = 5, kSetConfiguration = 9;
constexpr uint8_t kAddress = 4;
constexpr uint64_t kImageBytes = 4 << 20;

std::vector<uint8_t> cbw(uint32_t tag, uint32_t length, bool in, std::vector<uint8_t> cdb) {
  std::vector<uint8_t> w(31);
  ehci::put32(w, 0, 0x43425355);
  ehci::put32(w, 4, tag);
  ehci::put32(w, 8, length);
  w[12] = in ? 0x80 : 0;
  w[14] = static_cast<uint8_t>(cdb.size());
  std::copy(cdb.begin(), cdb.end(), w.begin() + 15);
  return w;
}
std::vector<uint8_t> rw10(uint8_t op, uint32_t lba, uint16_t blocks) {
  return {op,
          0,
          static_cast<uint8_t>(lba >> 24),
          static_cast<uint8_t>(lba >> 16),
          static_cast<uint8_t>(lba >> 8),
          static_cast<uint8_t>(lba),
          0,
          static_cast<uint8_t>(blocks >> 8),
          static_cast<uint8_t>(blocks),
          0};
}
uint32_t le32(const std::vector<uint8_t>& v, size_t at) {
  return v[at] | v[at + 1] << 8 | v[at + 2] << 16 | uint32_t{v[at + 3]} << 24;
}

// What the tests need from a controller: bulk transfers to the device's endpoints 2 (OUT) and
// 1 (IN), and control transfers. ok: the transfer completed; stalled: it ended in a STALL.
struct Bulk {
  std::vector<uint8_t> data;
  bool ok = false;
  bool stalled = false;
};
class Transport {
 public:
  virtual ~Transport() = default;
  virtual Bulk out(const std::vector<uint8_t>& data) = 0;
  virtual Bulk in(uint32_t length) = 0;
  virtual bool control_out(uint8_t type, uint8_t request, uint16_t value, uint16_t index) = 0;
  virtual std::vector<uint8_t> control_in(uint8_t type, uint8_t request, uint16_t value,
                                          uint16_t index, uint16_t length) = 0;
};

class EhciTransport final : public Transport {
 public:
  explicit EhciTransport(ehci::EhciDriver& e) : e_(e) {}
  Bulk out(const std::vector<uint8_t>& data) override {
    auto t = e_.bulk(kAddress, 2, false, static_cast<uint32_t>(data.size()), data, 200);
    return {{}, t.completed, bool(t.token & ehci::kQtdHalted)};
  }
  Bulk in(uint32_t length) override {
    auto t = e_.bulk(kAddress, 1, true, length, {}, 200);
    return {t.data, t.completed, bool(t.token & ehci::kQtdHalted)};
  }
  bool control_out(uint8_t type, uint8_t request, uint16_t value, uint16_t index) override {
    return e_.control(kAddress, type, request, value, index, 0).completed;
  }
  std::vector<uint8_t> control_in(uint8_t type, uint8_t request, uint16_t value, uint16_t index,
                                  uint16_t length) override {
    return e_.control(kAddress, type, request, value, index, length).data;
  }

 private:
  ehci::EhciDriver& e_;
};

// Bulk on the PIIX3 UHCI: a chain of 64-byte TDs (contiguous buffers) on the second queue.
class UhciTransport final : public Transport {
 public:
  UhciTransport(QtestClient& qt, usb::UhciDriver& u) : qt_(qt), u_(u) {}
  Bulk out(const std::vector<uint8_t>& data) override { return run(false, data, data.size()); }
  Bulk in(uint32_t length) override { return run(true, {}, length); }
  bool control_out(uint8_t type, uint8_t request, uint16_t value, uint16_t index) override {
    return u_.control(kAddress, type, request, value, index, 0).completed;
  }
  std::vector<uint8_t> control_in(uint8_t type, uint8_t request, uint16_t value, uint16_t index,
                                  uint16_t length) override {
    return u_.control(kAddress, type, request, value, index, length, {}, 64).data;
  }

 private:
  static constexpr uint64_t kTds = 0x400000, kData = 0x500000;
  Bulk run(bool in, const std::vector<uint8_t>& data, size_t length) {
    size_t count = std::max<size_t>(1, (length + 63) / 64);
    if (!in && length) qt_.memwrite(kData, data);
    for (size_t i = 0; i < count; ++i) {
      unsigned n = static_cast<unsigned>(std::min<size_t>(64, length - std::min(length, i * 64)));
      uint32_t link = i + 1 < count ? static_cast<uint32_t>(kTds + 32 * (i + 1)) | usb::kDepth
                                    : usb::kTerminate;
      uint32_t control = usb::kTdActive | usb::kTdErrors3 | (in ? usb::kTdSpd : 0) |
                         (i + 1 == count ? usb::kTdIoc : 0);
      u_.write_td(kTds + 32 * i, link, control,
                  usb::token(in ? usb::kPidIn : usb::kPidOut, kAddress, in ? 1 : 2, toggle_[in], n),
                  static_cast<uint32_t>(kData + 64 * i));
      toggle_[in] = !toggle_[in];
    }
    u_.write_qh(usb::kQhInterrupt, usb::kTerminate, static_cast<uint32_t>(kTds));
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    for (unsigned f = 0;; ++f) {
      if (f >= 400) {  // disk I/O completes in real time
        if (std::chrono::steady_clock::now() > deadline) break;
        usleep(1000);
      }
      qt_.clock_step(1'000'000);
      uint32_t element = u_.read32(usb::kQhInterrupt + 4);
      if (element & usb::kTerminate) break;
      if (!(u_.read32((element & ~0xfu) + 4) & usb::kTdActive)) break;
    }
    Bulk result;
    size_t got = 0;
    result.ok = true;
    for (size_t i = 0; i < count; ++i) {
      uint32_t status = u_.read32(kTds + 32 * i + 4);
      if (status & (usb::kTdActive | usb::kTdStalled)) {
        result.ok = false;
        result.stalled = status & usb::kTdStalled;
        break;
      }
      usb::TdResult td{status, {}};
      got += td.actual();
      if (in && td.actual() < 64) break;  // short packet: the transfer ends
    }
    if (in && got) result.data = qt_.memread(kData, got);
    u_.write_qh(usb::kQhInterrupt, usb::kTerminate, usb::kTerminate);
    return result;
  }
  QtestClient& qt_;
  usb::UhciDriver& u_;
  bool toggle_[2] = {false, false};
};

// One BOT command: CBW, data (IN: length bytes; OUT: out), CSW. Returns the CSW status (or -1
// if the CSW did not arrive) and the IN data.
struct Command {
  int status = -1;
  uint32_t residue = 0;
  std::vector<uint8_t> data;
};
Command bot(Transport& t, uint32_t tag, std::vector<uint8_t> cdb, uint32_t length, bool in,
            const std::vector<uint8_t>& out = {}) {
  Command c;
  if (!t.out(cbw(tag, length, in, std::move(cdb))).ok) return c;
  if (length) {
    if (in) {
      auto d = t.in(length);
      if (!d.ok) return c;
      c.data = d.data;
    } else if (!t.out(out).ok) {
      return c;
    }
  }
  auto csw = t.in(13);
  if (!csw.ok || csw.data.size() != 13) return c;
  EXPECT_EQ(le32(csw.data, 0), 0x53425355u) << "CSW signature";
  EXPECT_EQ(le32(csw.data, 4), tag) << "CSW tag echoes the CBW's";
  c.residue = le32(csw.data, 8);
  c.status = csw.data[12];
  return c;
}

// The checks every controller runs once the device is configured at kAddress.
void exercise(Transport& t, ide::Image& image, uint32_t read_bytes) {
  EXPECT_EQ(t.control_in(0xa1, 0xfe, 0, 0, 1), std::vector<uint8_t>{0}) << "Get Max LUN: one LUN";
  auto inquiry = bot(t, 1, {0x12, 0, 0, 0, 36, 0}, 36, true);
  ASSERT_EQ(inquiry.status, 0);
  ASSERT_EQ(inquiry.data.size(), 36u);
  EXPECT_EQ(inquiry.data[0], 0x00) << "direct access";
  EXPECT_EQ(std::string(inquiry.data.begin() + 8, inquiry.data.begin() + 12), "HVMD");
  EXPECT_EQ(bot(t, 2, {0, 0, 0, 0, 0, 0}, 0, false).status, 0) << "TEST UNIT READY";
  auto capacity = bot(t, 3, {0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 8, true);
  ASSERT_EQ(capacity.status, 0);
  ASSERT_EQ(capacity.data.size(), 8u);
  uint32_t last = uint32_t{capacity.data[0]} << 24 | capacity.data[1] << 16 |
                  capacity.data[2] << 8 | capacity.data[3];
  EXPECT_EQ(last, kImageBytes / 512 - 1);
  EXPECT_EQ(capacity.data[6] << 8 | capacity.data[7], 512);
  auto capacity16 = bot(t, 4, {0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0}, 32, true);
  ASSERT_EQ(capacity16.status, 0);
  EXPECT_EQ(capacity16.data[7], last & 0xff);

  // READ(10) against the image's bytes.
  uint32_t lba = 8;
  auto read = bot(t, 5, rw10(0x28, lba, static_cast<uint16_t>(read_bytes / 512)), read_bytes, true);
  ASSERT_EQ(read.status, 0);
  EXPECT_EQ(read.residue, 0u);
  ASSERT_EQ(read.data.size(), read_bytes);
  EXPECT_EQ(read.data, ide::expected(lba * 512ull, read_bytes));

  // WRITE(10) then SYNCHRONIZE CACHE: the bytes are in the image file.
  std::vector<uint8_t> payload(4096);
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<uint8_t>(i * 13 + 5);
  EXPECT_EQ(bot(t, 6, rw10(0x2a, 100, 8), 4096, false, payload).status, 0);
  EXPECT_EQ(bot(t, 7, {0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 0, false).status, 0);
  EXPECT_EQ(image.read(100 * 512, 4096), payload);
  auto back = bot(t, 8, rw10(0x28, 100, 8), 4096, true);
  EXPECT_EQ(back.data, payload);

  // Beyond the end: CHECK CONDITION, then REQUEST SENSE says ILLEGAL REQUEST / LBA out of range.
  auto beyond = bot(t, 9, rw10(0x28, static_cast<uint32_t>(kImageBytes / 512), 1), 512, true);
  EXPECT_EQ(beyond.status, 1);
  EXPECT_EQ(beyond.residue, 512u);
  auto sense = bot(t, 10, {0x03, 0, 0, 0, 18, 0}, 18, true);
  ASSERT_EQ(sense.data.size(), 18u);
  EXPECT_EQ(sense.data[2], 0x05);
  EXPECT_EQ(sense.data[12], 0x21);
  // An unknown command: ILLEGAL REQUEST / invalid opcode.
  EXPECT_EQ(bot(t, 11, {0xe7, 0, 0, 0, 0, 0}, 0, false).status, 1);
  // MODE SENSE(6): writable medium, the caching page.
  auto mode = bot(t, 12, {0x1a, 0, 0x3f, 0, 192, 0}, 192, true);
  ASSERT_EQ(mode.status, 0);
  ASSERT_GE(mode.data.size(), 4u);
  EXPECT_EQ(mode.data[2] & 0x80, 0) << "not write-protected";
  // The host expects less than the command moves (case 7): the data it asked for, then a phase
  // error.
  auto cut = bot(t, 13, rw10(0x28, 0, 2), 512, true);
  EXPECT_EQ(cut.status, 2);
  EXPECT_EQ(cut.data, ide::expected(0, 512));
}

// Reset recovery after a CBW that is not meaningful: both endpoints stall until the class reset
// and CLEAR_FEATURE(HALT) on each.
void bad_cbw_needs_reset_recovery(Transport& t, std::vector<uint8_t> bad) {
  t.out(bad);  // accepted on the wire; the device then stalls
  auto stalled = t.in(13);
  EXPECT_FALSE(stalled.ok);
  EXPECT_TRUE(stalled.stalled);
  EXPECT_TRUE(t.out(cbw(20, 0, false, {0, 0, 0, 0, 0, 0})).stalled) << "OUT stalls too";
  // Clearing the halts alone is not enough (BOT 6.6.1).
  ASSERT_TRUE(t.control_out(0x02, 1, 0, 0x81));
  ASSERT_TRUE(t.control_out(0x02, 1, 0, 0x02));
  EXPECT_TRUE(t.in(13).stalled);
  ASSERT_TRUE(t.control_out(0x21, 0xff, 0, 0));  // Bulk-Only Mass Storage Reset
  ASSERT_TRUE(t.control_out(0x02, 1, 0, 0x81));
  ASSERT_TRUE(t.control_out(0x02, 1, 0, 0x02));
  EXPECT_EQ(bot(t, 21, {0, 0, 0, 0, 0, 0}, 0, false).status, 0) << "working again";
}

struct EhciStorage : ::testing::Test {
  ide::Image image{kImageBytes, 1 << 20};
  QtestClient qt{{"-device", "ich9-usb-ehci1,id=usb,addr=0x1d.0x7,multifunction=on", "-drive",
                  "if=none,id=d0,file=" + image.path + ",format=raw", "-device",
                  "usb-storage,drive=d0,bus=usb.0,port=3,id=stick"}};
  ehci::EhciDriver e{qt};
  EhciTransport transport{e};
  void SetUp() override {
    e.init();
    ASSERT_EQ(e.reset_port(3) & (ehci::kPortCcs | ehci::kPortPe), ehci::kPortCcs | ehci::kPortPe);
    auto device = e.control(0, 0x80, kGetDescriptor, 0x0100, 0, 64);
    ASSERT_EQ(device.data.size(), 18u);
    EXPECT_EQ(device.data[7], 64);
    ASSERT_TRUE(e.control(0, 0x00, kSetAddress, kAddress, 0, 0).completed);
    auto config = e.control(kAddress, 0x80, kGetDescriptor, 0x0200, 0, 255);
    ASSERT_EQ(config.data.size(), 32u);
    EXPECT_EQ(config.data[9 + 5], 0x08) << "mass storage";
    EXPECT_EQ(config.data[9 + 7], 0x50) << "Bulk-Only";
    EXPECT_EQ(config.data[18 + 4] | config.data[18 + 5] << 8, 512) << "high-speed bulk";
    ASSERT_TRUE(e.control(kAddress, 0x00, kSetConfiguration, 1, 0, 0).completed);
  }
};

TEST_F(EhciStorage, BulkOnlyCommandsReadAndWriteTheImage) {
  exercise(transport, image, 64 * 1024);
  // A longer read than one chunk of the device's streaming.
  auto big = bot(transport, 30, rw10(0x28, 200, 320), 320 * 512, true);
  ASSERT_EQ(big.status, 0);
  EXPECT_EQ(big.data, ide::expected(200 * 512, 320 * 512));
  Json list = qt.qmp("query-usb");
  ASSERT_EQ(list["return"].size(), 1u) << list;
  EXPECT_EQ(list["return"][0]["type"], "usb-storage");
  EXPECT_EQ(list["return"][0]["port"], 3);
}

TEST_F(EhciStorage, CbwWithBadSignatureNeedsResetRecovery) {
  auto bad = cbw(1, 0, false, {0, 0, 0, 0, 0, 0});
  bad[0] ^= 0xff;
  bad_cbw_needs_reset_recovery(transport, bad);
}

TEST_F(EhciStorage, CbwWithBadLengthNeedsResetRecovery) {
  auto bad = cbw(1, 0, false, {0, 0, 0, 0, 0, 0});
  bad.push_back(0);  // 32 bytes
  bad_cbw_needs_reset_recovery(transport, bad);
  auto zero_cb = cbw(2, 0, false, {0});
  zero_cb[14] = 0;  // a command block of no bytes
  bad_cbw_needs_reset_recovery(transport, zero_cb);
}

TEST_F(EhciStorage, SaveAndRestoreInTheMiddleOfACommand) {
  // A READ(10) whose CBW is in and whose data is not yet read: the state goes to a file.
  ASSERT_TRUE(transport.out(cbw(40, 8192, true, rw10(0x28, 16, 16))).ok);
  char path[] = "/tmp/hvmd-usb-state-XXXXXX";
  close(mkstemp(path));
  ASSERT_TRUE(qt.qmp("stop").contains("return"));
  Json saved = qt.qmp("xen-save-devices-state", {{"filename", path}, {"live", false}});
  ASSERT_TRUE(saved.contains("return")) << saved;
  // A second hvmd with the same command line takes it and finishes the command: the data from
  // the image, then the CSW with the CBW's tag.
  QtestClient next({"-device", "ich9-usb-ehci1,id=usb,addr=0x1d.0x7,multifunction=on", "-drive",
                    "if=none,id=d0,file=" + image.path + ",format=raw", "-device",
                    "usb-storage,drive=d0,bus=usb.0,port=3,id=stick"});
  Json loaded = next.qmp("xen-load-devices-state", {{"filename", path}});
  unlink(path);
  ASSERT_TRUE(loaded.contains("return")) << loaded;
  next.qmp("cont");
  ehci::EhciDriver e2(next);
  EXPECT_TRUE(e2.portsc(3) & ehci::kPortPe) << "the port is still enabled";
  EhciTransport t2(e2);
  auto data = t2.in(8192);
  ASSERT_TRUE(data.ok);
  EXPECT_EQ(data.data, ide::expected(16 * 512, 8192));
  auto csw = t2.in(13);
  ASSERT_EQ(csw.data.size(), 13u);
  EXPECT_EQ(le32(csw.data, 4), 40u);
  EXPECT_EQ(csw.data[12], 0);
}

TEST(UsbStorageTest, ReadOnlyDriveIsWriteProtected) {
  ide::Image image(kImageBytes, 4096);
  QtestClient qt({"-device", "ich9-usb-ehci1,id=usb", "-drive",
                  "if=none,id=d0,file=" + image.path + ",format=raw,readonly=on", "-device",
                  "usb-storage,drive=d0,removable=on"});
  ehci::EhciDriver e(qt, 0x10);
  // Not at 1d.7 here: the first free slot. The driver only needs the devfn.
  e.init();
  ASSERT_TRUE(e.reset_port(1) & ehci::kPortPe);
  ASSERT_TRUE(e.control(0, 0x00, kSetAddress, kAddress, 0, 0).completed);
  ASSERT_TRUE(e.control(kAddress, 0x00, kSetConfiguration, 1, 0, 0).completed);
  EhciTransport t(e);
  auto inquiry = bot(t, 1, {0x12, 0, 0, 0, 36, 0}, 36, true);
  ASSERT_EQ(inquiry.data.size(), 36u);
  EXPECT_EQ(inquiry.data[1], 0x80) << "removable";
  auto mode = bot(t, 2, {0x1a, 0, 0x3f, 0, 192, 0}, 192, true);
  EXPECT_EQ(mode.data[2] & 0x80, 0x80) << "write-protected";
  std::vector<uint8_t> payload(512, 0xaa);
  EXPECT_EQ(bot(t, 3, rw10(0x2a, 0, 1), 512, false, payload).status, 1);
  auto sense = bot(t, 4, {0x03, 0, 0, 0, 18, 0}, 18, true);
  EXPECT_EQ(sense.data[2], 0x07) << "DATA PROTECT";
  EXPECT_EQ(image.read(0, 512), ide::expected(0, 512)) << "the image is untouched";
}

TEST(UsbStorageTest, BadDriveIsRefusedByName) {
  RunResult r = run_hvmd({"-machine", "accel=qtest", "-qtest", "stdio", "-device",
                          "ich9-usb-ehci1,id=usb", "-device", "usb-storage,drive=nosuch"});
  EXPECT_EQ(r.status, 1) << r.stderr_text;
  EXPECT_NE(r.stderr_text.find("nosuch"), std::string::npos) << r.stderr_text;
  // At run time: refused (the sandbox forbids opening an image read-write), hvmd carries on.
  QtestClient qt({"-device", "ich9-usb-ehci1,id=usb"});
  Json added = qt.qmp("device_add", {{"driver", "usb-storage"}, {"drive", "d0"}});
  ASSERT_TRUE(added.contains("error")) << added;
  EXPECT_TRUE(qt.qmp("query-usb").contains("return"));
}

TEST(UsbStorageTest, BulkOnlyThroughThePiix3Uhci) {
  ide::Image image(kImageBytes, 1 << 20);
  QtestClient qt({"-device", "piix3-usb-uhci,id=usb,addr=1.2", "-drive",
                  "if=none,id=d0,file=" + image.path + ",format=raw", "-device",
                  "usb-storage,drive=d0,bus=usb.0,port=2"});
  usb::UhciDriver u(qt);
  u.init();
  u.reset_port(2);
  auto device = u.control(0, 0x80, kGetDescriptor, 0x0100, 0, 18, {}, 64);
  ASSERT_EQ(device.data.size(), 18u);
  EXPECT_EQ(device.data[7], 64);
  ASSERT_TRUE(u.control(0, 0x00, kSetAddress, kAddress, 0, 0, {}, 64).completed);
  auto config = u.control(kAddress, 0x80, kGetDescriptor, 0x0200, 0, 32, {}, 64);
  ASSERT_EQ(config.data.size(), 32u);
  EXPECT_EQ(config.data[18 + 4], 64) << "full-speed bulk";
  ASSERT_TRUE(u.control(kAddress, 0x00, kSetConfiguration, 1, 0, 0, {}, 64).completed);
  UhciTransport t(qt, u);
  exercise(t, image, 4096);
  auto bad = cbw(1, 0, false, {0, 0, 0, 0, 0, 0});
  bad[3] = 0;
  bad_cbw_needs_reset_recovery(t, bad);
}

}  // namespace
}  // namespace hvmd::test
