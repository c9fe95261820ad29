// Black-box: the 16550A UART on COM1 as a guest driver and a user at the other end see it.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "tests/qtest/qtest_client.h"

namespace hvmd::test {
namespace {

constexpr uint16_t kCom1 = 0x3f8;
constexpr unsigned kCom1Irq = 4;
// Register offsets and bits (PC16550D datasheet).
constexpr uint16_t kData = kCom1 + 0, kIer = kCom1 + 1, kIir = kCom1 + 2, kFcr = kCom1 + 2,
                   kLcr = kCom1 + 3, kMcr = kCom1 + 4, kLsr = kCom1 + 5, kMsr = kCom1 + 6,
                   kScr = kCom1 + 7;
constexpr uint8_t kLsrDataReady = 0x01, kLsrOverrun = 0x02, kLsrThrEmpty = 0x20, kLsrIdle = 0x40;
constexpr uint8_t kMcrOut2 = 0x08, kMcrLoop = 0x10;

// hvmd with COM1 on a listening socket, and the test connected to it as the "terminal".
class SerialTest : public ::testing::Test {
 protected:
  SerialTest()
      : path_("/tmp/hvmd-serial-" + std::to_string(getpid()) + ".sock"),
        qt_({"-chardev", "socket,id=com1,path=" + path_ + ",server=on,wait=off", "-serial",
             "chardev:com1"}) {
    peer_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path_.c_str(), sizeof(addr.sun_path) - 1);
    EXPECT_EQ(connect(peer_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(qt_.command("irq_intercept_in ioapic"), "OK");
    wait_until([&] { return qt_.inb(kMsr) & 0x80; });  // carrier: hvmd has taken the connection
  }
  ~SerialTest() override {
    close(peer_);
    unlink(path_.c_str());
  }
  template <typename F>
  bool wait_until(F condition) {
    for (int i = 0; i < 1000; ++i) {
      if (condition()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return false;
  }
  std::string read_peer(size_t want) {
    std::string out;
    while (out.size() < want) {
      pollfd p{peer_, POLLIN, 0};
      if (poll(&p, 1, 5000) <= 0) break;
      char buffer[256];
      ssize_t n = read(peer_, buffer, std::min(sizeof(buffer), want - out.size()));
      if (n <= 0) break;
      out.append(buffer, size_t(n));
    }
    return out;
  }
  void send_peer(const std::string& text) {
    ASSERT_EQ(write(peer_, text.data(), text.size()), ssize_t(text.size()));
  }

  std::string path_;
  QtestClient qt_;
  int peer_ = -1;
};

TEST_F(SerialTest, PowerOnRegistersAndScratch) {
  EXPECT_EQ(qt_.inb(kLsr), kLsrThrEmpty | kLsrIdle);
  EXPECT_EQ(qt_.inb(kIir), 0x01);  // no interrupt pending, FIFOs off
  qt_.outb(kScr, 0xa5);
  EXPECT_EQ(qt_.inb(kScr), 0xa5);
  // Divisor latch behind DLAB: 115200 baud is divisor 1.
  qt_.outb(kLcr, 0x83);
  qt_.outb(kData, 0x01);
  qt_.outb(kIer, 0x00);
  EXPECT_EQ(qt_.inb(kData), 0x01);
  qt_.outb(kLcr, 0x03);
  EXPECT_EQ(qt_.inb(kLcr), 0x03);
  EXPECT_EQ(qt_.inb(kIer), 0x00);
}

TEST_F(SerialTest, TransmitReachesTheTerminal) {
  for (char c : std::string("SeaBIOS\r\n")) qt_.outb(kData, static_cast<uint8_t>(c));
  EXPECT_EQ(read_peer(9), "SeaBIOS\r\n");
  EXPECT_EQ(qt_.inb(kLsr) & (kLsrThrEmpty | kLsrIdle), kLsrThrEmpty | kLsrIdle);
}

TEST_F(SerialTest, ReceiveRaisesTheInterruptThroughOut2) {
  qt_.outb(kIer, 0x01);  // received-data interrupt
  send_peer("ok");
  ASSERT_TRUE(wait_until([&] { return qt_.inb(kLsr) & kLsrDataReady; }));
  EXPECT_EQ(qt_.inb(kIir), 0x04);  // received data available
  EXPECT_FALSE(qt_.irq_level(kCom1Irq)) << "OUT2 gates the line on a PC";
  qt_.outb(kMcr, kMcrOut2);
  EXPECT_TRUE(qt_.irq_level(kCom1Irq));
  EXPECT_EQ(qt_.inb(kData), 'o');
  EXPECT_EQ(qt_.inb(kData), 'k');
  EXPECT_EQ(qt_.inb(kLsr) & kLsrDataReady, 0);
  EXPECT_EQ(qt_.inb(kIir), 0x01);
  EXPECT_FALSE(qt_.irq_level(kCom1Irq));
}

TEST_F(SerialTest, FifoTriggerLevelAndCharacterTimeout) {
  qt_.outb(kFcr, 0x87);  // FIFOs on, both cleared, trigger at 8 bytes
  qt_.outb(kIer, 0x01);
  qt_.outb(kMcr, kMcrOut2);
  send_peer("abc");
  ASSERT_TRUE(wait_until([&] { return qt_.inb(kLsr) & kLsrDataReady; }));
  EXPECT_EQ(qt_.inb(kIir), 0xc1) << "3 bytes are below the trigger: no interrupt yet";
  // Four character times at 9600 baud (about 4.2 ms) without a read: the timeout interrupt.
  qt_.clock_step(5'000'000);
  EXPECT_EQ(qt_.inb(kIir), 0xcc);
  EXPECT_TRUE(qt_.irq_level(kCom1Irq));
  EXPECT_EQ(qt_.inb(kData), 'a');  // reading clears it
  EXPECT_EQ(qt_.inb(kIir), 0xc1);
  send_peer("0123456789");  // 12 bytes now: over the trigger
  ASSERT_TRUE(wait_until([&] { return qt_.inb(kIir) == 0xc4; }));
  std::string got;
  while (qt_.inb(kLsr) & kLsrDataReady) got += static_cast<char>(qt_.inb(kData));
  EXPECT_EQ(got, "bc0123456789");
}

TEST_F(SerialTest, TransmitEmptyInterruptIsAcknowledgedByReadingIir) {
  qt_.outb(kMcr, kMcrOut2);
  qt_.outb(kIer, 0x02);  // enabling it with THR empty raises it at once
  EXPECT_TRUE(qt_.irq_level(kCom1Irq));
  EXPECT_EQ(qt_.inb(kIir), 0x02);
  EXPECT_EQ(qt_.inb(kIir), 0x01);  // the read acknowledged it
  EXPECT_FALSE(qt_.irq_level(kCom1Irq));
  qt_.outb(kData, 'x');  // the byte goes, THR is empty again
  EXPECT_EQ(qt_.inb(kIir), 0x02);
  EXPECT_EQ(read_peer(1), "x");
}

TEST_F(SerialTest, LoopbackModemLinesAndOverrun) {
  qt_.outb(kMsr, 0);                      // read-only: ignored
  qt_.inb(kMsr);                          // clear deltas from the connection
  qt_.outb(kMcr, kMcrLoop | 0x0b);        // loop with DTR, RTS, OUT2
  EXPECT_EQ(qt_.inb(kMsr) & 0xf0, 0xb0);  // CTS, DSR, DCD follow RTS, DTR, OUT2
  qt_.outb(kData, 0x42);
  EXPECT_EQ(qt_.inb(kLsr) & kLsrDataReady, kLsrDataReady);
  qt_.outb(kData, 0x43);  // FIFOs off: one byte of room, the second is lost
  EXPECT_EQ(qt_.inb(kLsr) & kLsrOverrun, kLsrOverrun);
  EXPECT_EQ(qt_.inb(kLsr) & kLsrOverrun, 0) << "reading LSR clears the error";
  EXPECT_EQ(qt_.inb(kData), 0x42);
  // Nothing went out to the terminal while looping back.
  qt_.outb(kMcr, 0);
  qt_.outb(kData, 'z');
  EXPECT_EQ(read_peer(1), "z");
}

TEST_F(SerialTest, InputWaitsForTheGuestWithoutLoss) {
  std::string big(3000, 0);
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
  qt_.outb(kFcr, 0x01);  // before the data: switching FIFOs on empties them
  send_peer(big);
  std::string got;
  for (int spins = 0; got.size() < big.size() && spins < 100000; ++spins) {
    if (qt_.inb(kLsr) & kLsrDataReady) got += static_cast<char>(qt_.inb(kData));
  }
  EXPECT_EQ(got, big);
  EXPECT_EQ(qt_.inb(kLsr) & kLsrOverrun, 0);
}

TEST(Serial, UnknownChardevIsAnError) {
  RunResult r =
      run_hvmd({"-accel", "qtest", "-qtest", "stdio", "-device", "isa-serial,chardev=nope"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.stderr_text.find("nope"), std::string::npos) << r.stderr_text;
}

}  // namespace
}  // namespace hvmd::test
