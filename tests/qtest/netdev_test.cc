// Black-box: the network backends QEMU-style tests use, seen through an e1000 the test drives
// like a minimal driver (one transmit and one receive ring, frames polled from the rings).
//   -netdev user:     DHCP DISCOVER gets an OFFER carrying bootfile=; TFTP reads files of tftp=
//                     (and refuses ones outside it)
//   -netdev socket,fd=N: frames both ways over a socketpair, with QEMU's 4-byte big-endian length
//                     before each frame on a stream socket, one frame per datagram otherwise
//   -netdev hubport:  a frame one NIC sends reaches the other NIC on the hub, not itself
// and the bad option values each give a one-line error naming them.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "tests/qtest/qtest_client.h"

namespace hvmd::test {
namespace {

using Bytes = std::vector<uint8_t>;

// 82540EM registers and bits (SDM).
constexpr uint32_t kRctl = 0x100, kTctl = 0x400, kRdbal = 0x2800, kRdlen = 0x2808, kRdh = 0x2810,
                   kRdt = 0x2818, kTdbal = 0x3800, kTdlen = 0x3808, kTdh = 0x3810, kTdt = 0x3818;
constexpr uint32_t kRctlEn = 2, kRctlUpe = 8, kRctlMpe = 0x10, kRctlBam = 0x8000,
                   kRctlSecrc = 1u << 26;
constexpr uint8_t kTxEop = 0x01, kTxIfcs = 0x02, kTxRs = 0x08;
constexpr unsigned kRingSize = 8;
constexpr size_t kRxBufferSize = 2048;  // RCTL.BSIZE 00

const Bytes kMacA = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
const Bytes kMacB = {0x52, 0x54, 0x00, 0x12, 0x34, 0x57};
const Bytes kBroadcast = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

std::string mac_text(const Bytes& mac) {
  char text[18];
  snprintf(text, sizeof(text), "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3],
           mac[4], mac[5]);
  return text;
}

uint16_t be16(const Bytes& f, size_t at) {
  return static_cast<uint16_t>(f[at] << 8 | f[at + 1]);
}
void put16(Bytes& f, size_t at, unsigned v) {
  f[at] = static_cast<uint8_t>(v >> 8);
  f[at + 1] = static_cast<uint8_t>(v);
}
void put_le64(Bytes& d, size_t at, uint64_t v) {
  for (int i = 0; i < 8; ++i) d[at + i] = static_cast<uint8_t>(v >> (8 * i));
}

// One e1000 on the test's machine: slot, BAR, rings in guest RAM of its own.
class Nic {
 public:
  Nic(QtestClient& qt, uint8_t devfn, uint64_t mmio, uint64_t ram)
      : qt_(qt),
        mmio_(mmio),
        tx_ring_(ram),
        tx_buffers_(ram + 0x1000),
        rx_ring_(ram + 0x10000),
        rx_buffers_(ram + 0x11000) {
    qt.pci_config_write(devfn, 0x10, 4, static_cast<uint32_t>(mmio));
    qt.pci_config_write(devfn, 0x04, 2, 0x0006);  // memory, bus master
    wr(kTdbal, static_cast<uint32_t>(tx_ring_));
    wr(kTdlen, kRingSize * 16);
    wr(kTdh, 0);
    wr(kTdt, 0);
    wr(kTctl, 2);  // EN
    for (unsigned i = 0; i < kRingSize; ++i) {
      Bytes d(16, 0);
      put_le64(d, 0, rx_buffers_ + i * kRxBufferSize);
      qt.memwrite(rx_ring_ + i * 16, d);
    }
    wr(kRdbal, static_cast<uint32_t>(rx_ring_));
    wr(kRdlen, kRingSize * 16);
    wr(kRdh, 0);
    wr(kRdt, kRingSize - 1);
    wr(kRctl, kRctlEn | kRctlUpe | kRctlMpe | kRctlBam | kRctlSecrc);
  }

  // Transmits frame through the next descriptor and waits until the NIC has written it back.
  void send(const Bytes& frame) {
    ASSERT_LE(frame.size(), 0x1000u);
    unsigned i = tx_next_;
    qt_.memwrite(tx_buffers_, frame);
    Bytes d(16, 0);
    put_le64(d, 0, tx_buffers_);
    d[8] = static_cast<uint8_t>(frame.size());
    d[9] = static_cast<uint8_t>(frame.size() >> 8);
    d[11] = kTxEop | kTxIfcs | kTxRs;
    qt_.memwrite(tx_ring_ + i * 16, d);
    tx_next_ = (i + 1) % kRingSize;
    wr(kTdt, tx_next_);
    EXPECT_TRUE(qt_.memread(tx_ring_ + i * 16 + 12, 1)[0] & 1) << "descriptor not done";
  }

  // The next received frame, or empty after about a second. Frames arrive through hvmd's loop,
  // so each poll is a qtest round trip that lets it run.
  Bytes receive(int attempts = 400) {
    for (int tries = 0; tries < attempts; ++tries) {
      Bytes d = qt_.memread(rx_ring_ + rx_next_ * 16, 16);
      if (d[12] & 1) {  // DD
        size_t length = size_t{d[8]} | size_t{d[9]} << 8;
        Bytes frame = qt_.memread(rx_buffers_ + rx_next_ * kRxBufferSize, length);
        Bytes cleared(16, 0);
        put_le64(cleared, 0, rx_buffers_ + rx_next_ * kRxBufferSize);
        qt_.memwrite(rx_ring_ + rx_next_ * 16, cleared);
        wr(kRdt, rx_next_);  // the buffer goes back to the NIC
        rx_next_ = (rx_next_ + 1) % kRingSize;
        return frame;
      }
      usleep(2500);
    }
    return {};
  }

 private:
  void wr(uint32_t reg, uint32_t value) { qt_.writel(mmio_ + reg, value); }

  QtestClient& qt_;
  uint64_t mmio_, tx_ring_, tx_buffers_, rx_ring_, rx_buffers_;
  unsigned tx_next_ = 0, rx_next_ = 0;
};

constexpr uint8_t kDevfnA = 0x10, kDevfnB = 0x18;  // 00:02.0 and 00:03.0
constexpr uint64_t kMmioA = 0xfeb00000, kMmioB = 0xfeb40000;
constexpr uint64_t kRamA = 0x200000, kRamB = 0x300000;

// ---- -netdev user ----------------------------------------------------------------------------

constexpr uint8_t kGuestIp[4] = {10, 0, 2, 15}, kHostIp[4] = {10, 0, 2, 2};
constexpr uint16_t kBootpServer = 67, kBootpClient = 68, kTftpPort = 69;
constexpr size_t kEth = 14, kIp = 20, kUdp = 8;
constexpr size_t kBootp = kEth + kIp + kUdp;  // where BOOTP starts in the frame
constexpr size_t kBootpFile = 108, kBootpOptions = 236;

uint16_t ip_checksum(const Bytes& f, size_t at) {
  uint32_t sum = 0;
  for (size_t i = 0; i < kIp; i += 2) sum += uint32_t{f[at + i]} << 8 | f[at + i + 1];
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

// Ethernet + IPv4 + UDP (checksum 0: none, which IPv4 allows) around payload.
Bytes udp_frame(const Bytes& dst_mac, const uint8_t src_ip[4], const uint8_t dst_ip[4],
                uint16_t src_port, uint16_t dst_port, const Bytes& payload) {
  Bytes f(kEth + kIp + kUdp + payload.size(), 0);
  std::copy(dst_mac.begin(), dst_mac.end(), f.begin());
  std::copy(kMacA.begin(), kMacA.end(), f.begin() + 6);
  put16(f, 12, 0x0800);
  f[kEth] = 0x45;
  put16(f, kEth + 2, kIp + kUdp + payload.size());
  f[kEth + 8] = 64;  // TTL
  f[kEth + 9] = 17;  // UDP
  std::copy(src_ip, src_ip + 4, f.begin() + kEth + 12);
  std::copy(dst_ip, dst_ip + 4, f.begin() + kEth + 16);
  put16(f, kEth + 10, ip_checksum(f, kEth));
  put16(f, kEth + kIp, src_port);
  put16(f, kEth + kIp + 2, dst_port);
  put16(f, kEth + kIp + 4, kUdp + payload.size());
  std::copy(payload.begin(), payload.end(), f.begin() + kEth + kIp + kUdp);
  return f;
}

Bytes dhcp_discover(uint32_t xid) {
  Bytes b(kBootpOptions + 64, 0);  // the 64-byte vendor area clients send at least
  b[0] = 1;                        // BOOTREQUEST
  b[1] = 1;                        // Ethernet
  b[2] = 6;
  b[4] = static_cast<uint8_t>(xid >> 24);
  b[5] = static_cast<uint8_t>(xid >> 16);
  b[6] = static_cast<uint8_t>(xid >> 8);
  b[7] = static_cast<uint8_t>(xid);
  std::copy(kMacA.begin(), kMacA.end(), b.begin() + 28);       // chaddr
  const uint8_t options[] = {99, 130, 83, 99, 53, 1, 1, 255};  // cookie, DHCPDISCOVER, end
  std::copy(options, options + sizeof(options), b.begin() + kBootpOptions);
  const uint8_t any[4] = {0, 0, 0, 0}, all[4] = {255, 255, 255, 255};
  return udp_frame(kBroadcast, any, all, kBootpClient, kBootpServer, b);
}

// A DHCP option's value in a BOOTP reply frame (empty if absent); options are bounded by the
// frame.
Bytes dhcp_option(const Bytes& f, uint8_t code) {
  for (size_t at = kBootp + kBootpOptions + 4; at < f.size();) {
    uint8_t c = f[at];
    if (c == 255) break;
    if (c == 0) {
      ++at;
      continue;
    }
    if (at + 2 > f.size() || at + 2 + f[at + 1] > f.size()) break;
    if (c == code) return Bytes(f.begin() + at + 2, f.begin() + at + 2 + f[at + 1]);
    at += 2 + f[at + 1];
  }
  return {};
}

bool is_udp_to(const Bytes& f, uint16_t port) {
  return f.size() >= kBootp && be16(f, 12) == 0x0800 && f[kEth + 9] == 17 &&
         be16(f, kEth + kIp + 2) == port;
}

class UserNetdevTest : public ::testing::Test {
 protected:
  static std::string make_tftp_dir() {
    char dir[] = "/tmp/hvmd-tftp-XXXXXX";
    EXPECT_NE(mkdtemp(dir), nullptr);
    return dir;
  }
  UserNetdevTest()
      : tftp_(make_tftp_dir()),
        qt({"-netdev", "user,id=u0,tftp=" + tftp_ + ",bootfile=pxelinux.0", "-device",
            "e1000,netdev=u0,mac=" + mac_text(kMacA)}),
        nic(qt, kDevfnA, kMmioA, kRamA) {
    for (size_t i = 0; i < file_.size(); ++i) file_[i] = static_cast<uint8_t>(i * 7 + 3);
    std::ofstream(tftp_ + "/pxelinux.0", std::ios::binary)
        .write(reinterpret_cast<const char*>(file_.data()), std::streamsize(file_.size()));
  }
  ~UserNetdevTest() override {
    unlink((tftp_ + "/pxelinux.0").c_str());
    rmdir(tftp_.c_str());
  }

  // The next UDP frame to the port, answering slirp's ARP requests for the guest on the way.
  Bytes receive_udp(uint16_t port) {
    for (int frames = 0; frames < 8; ++frames) {
      Bytes f = nic.receive();
      if (f.empty()) return f;
      if (f.size() >= 42 && be16(f, 12) == 0x0806 && be16(f, 20) == 1 &&
          std::equal(kGuestIp, kGuestIp + 4, f.begin() + 38)) {
        Bytes reply(42, 0);
        std::copy(f.begin() + 6, f.begin() + 12, reply.begin());
        std::copy(kMacA.begin(), kMacA.end(), reply.begin() + 6);
        put16(reply, 12, 0x0806);
        put16(reply, 14, 1);
        put16(reply, 16, 0x0800);
        reply[18] = 6;
        reply[19] = 4;
        put16(reply, 20, 2);  // reply
        std::copy(kMacA.begin(), kMacA.end(), reply.begin() + 22);
        std::copy(kGuestIp, kGuestIp + 4, reply.begin() + 28);
        std::copy(f.begin() + 22, f.begin() + 32, reply.begin() + 32);  // the asker
        nic.send(reply);
        continue;
      }
      if (is_udp_to(f, port)) return f;
    }
    return {};
  }

  Bytes tftp_request(const std::string& name, uint16_t client_port) {
    Bytes p = {0, 1};  // RRQ
    p.insert(p.end(), name.begin(), name.end());
    p.push_back(0);
    for (char c : std::string("octet")) p.push_back(static_cast<uint8_t>(c));
    p.push_back(0);
    return udp_frame(router_mac_, kGuestIp, kHostIp, client_port, kTftpPort, p);
  }

  // DHCP first, as a PXE client does: it learns the router's MAC from the OFFER.
  Bytes discover() {
    nic.send(dhcp_discover(0x1234abcd));
    Bytes offer = receive_udp(kBootpClient);
    if (offer.size() >= 12) router_mac_.assign(offer.begin() + 6, offer.begin() + 12);
    return offer;
  }

  std::string tftp_;
  Bytes file_ = Bytes(700);  // two TFTP blocks: 512 bytes, then 188
  Bytes router_mac_ = kBroadcast;
  QtestClient qt;
  Nic nic;
};

TEST_F(UserNetdevTest, DhcpOfferCarriesTheBootfile) {
  Bytes offer = discover();
  ASSERT_GE(offer.size(), kBootp + kBootpOptions + 4) << "no DHCP reply";
  EXPECT_EQ(be16(offer, kEth + kIp), kBootpServer);
  EXPECT_EQ(offer[kBootp], 2) << "BOOTREPLY";
  EXPECT_EQ(be16(offer, kBootp + 4), 0x1234) << "xid echoed";
  EXPECT_EQ(be16(offer, kBootp + 6), 0xabcd);
  EXPECT_TRUE(std::equal(kGuestIp, kGuestIp + 4, offer.begin() + kBootp + 16)) << "yiaddr";
  EXPECT_TRUE(std::equal(kMacA.begin(), kMacA.end(), offer.begin() + kBootp + 28)) << "chaddr";
  EXPECT_EQ(dhcp_option(offer, 53), Bytes{2}) << "DHCPOFFER";
  EXPECT_EQ(dhcp_option(offer, 54), Bytes(kHostIp, kHostIp + 4)) << "server identifier";
  EXPECT_EQ(dhcp_option(offer, 3), Bytes(kHostIp, kHostIp + 4)) << "router";
  // The boot file, where PXE ROMs read it: the BOOTP file field (libslirp 4.7, like QEMU with
  // it, sends no option 67 for a DISCOVER that does not ask for it).
  std::string file(reinterpret_cast<const char*>(&offer[kBootp + kBootpFile]));
  EXPECT_EQ(file, "pxelinux.0");
}

TEST_F(UserNetdevTest, TftpReadReturnsTheFileBlockByBlock) {
  ASSERT_FALSE(discover().empty());
  constexpr uint16_t kClientPort = 2000;
  nic.send(tftp_request("pxelinux.0", kClientPort));
  Bytes received;
  for (uint16_t block = 1; block <= 2; ++block) {
    Bytes data = receive_udp(kClientPort);
    ASSERT_GE(data.size(), kBootp + 4) << "no block " << block;
    EXPECT_TRUE(std::equal(kHostIp, kHostIp + 4, data.begin() + kEth + 12));
    size_t payload = be16(data, kEth + kIp + 4) - kUdp;
    ASSERT_LE(kBootp + payload, data.size());
    EXPECT_EQ(be16(data, kBootp), 3) << "DATA";
    EXPECT_EQ(be16(data, kBootp + 2), block);
    received.insert(received.end(), data.begin() + kBootp + 4, data.begin() + kBootp + payload);
    Bytes ack = {0, 4, 0, static_cast<uint8_t>(block)};
    nic.send(udp_frame(router_mac_, kGuestIp, kHostIp, kClientPort, be16(data, kEth + kIp), ack));
  }
  EXPECT_EQ(received, file_);
}

TEST_F(UserNetdevTest, TftpRefusesMissingFilesAndPathsOutsideTheDirectory) {
  ASSERT_FALSE(discover().empty());
  uint16_t port = 3000;
  for (const std::string name : {"missing.bin", "../etc/passwd", "/etc/passwd"}) {
    nic.send(tftp_request(name, ++port));
    Bytes reply = receive_udp(port);
    ASSERT_GE(reply.size(), kBootp + 4) << name;
    EXPECT_EQ(be16(reply, kBootp), 5) << name << ": ERROR, not DATA";
  }
}

// ---- -netdev socket,fd= ----------------------------------------------------------------------

// The test's end of a socketpair whose other end hvmd inherits as fd=N.
struct Pair {
  int mine = -1, theirs = -1;
  explicit Pair(int type) {
    int fds[2];
    EXPECT_EQ(socketpair(AF_UNIX, type, 0, fds), 0);
    mine = fds[0];
    theirs = fds[1];
    fcntl(mine, F_SETFD, FD_CLOEXEC);  // only hvmd's end crosses exec
  }
  ~Pair() {
    if (mine >= 0) close(mine);
    if (theirs >= 0) close(theirs);
  }
  void spawned() {
    close(theirs);
    theirs = -1;
  }
  // Exactly n bytes within a second (fewer if they do not come).
  Bytes read_exact(size_t n) {
    Bytes out;
    while (out.size() < n) {
      pollfd p{mine, POLLIN, 0};
      if (poll(&p, 1, 1000) != 1) break;
      uint8_t buffer[4096];
      ssize_t got = recv(mine, buffer, std::min(sizeof(buffer), n - out.size()), 0);
      if (got <= 0) break;
      out.insert(out.end(), buffer, buffer + got);
    }
    return out;
  }
};

Bytes test_frame(const Bytes& dst, const Bytes& src, size_t length, uint8_t seed) {
  Bytes f(length);
  std::copy(dst.begin(), dst.end(), f.begin());
  std::copy(src.begin(), src.end(), f.begin() + 6);
  put16(f, 12, 0x88b5);  // local experimental EtherType
  for (size_t i = 14; i < length; ++i) f[i] = static_cast<uint8_t>(i * 13 + seed);
  return f;
}

Bytes with_length(const Bytes& frame) {
  Bytes out(4 + frame.size());
  for (int i = 0; i < 4; ++i) out[i] = static_cast<uint8_t>(frame.size() >> (24 - 8 * i));
  std::copy(frame.begin(), frame.end(), out.begin() + 4);
  return out;
}

TEST(SocketNetdev, StreamFramesCarryABigEndianLengthBothWays) {
  Pair pair(SOCK_STREAM);
  QtestClient qt({"-netdev", "socket,id=s0,fd=" + std::to_string(pair.theirs), "-device",
                  "e1000,netdev=s0,mac=" + mac_text(kMacA)});
  pair.spawned();
  Nic nic(qt, kDevfnA, kMmioA, kRamA);

  Bytes out = test_frame(kBroadcast, kMacA, 300, 1);
  nic.send(out);
  EXPECT_EQ(pair.read_exact(4), (Bytes{0, 0, 0x01, 0x2c})) << "length 300, big-endian";
  EXPECT_EQ(pair.read_exact(out.size()), out);

  // Two frames in one write, then one split inside its length and inside its bytes.
  Bytes in1 = test_frame(kMacA, kMacB, 64, 2), in2 = test_frame(kMacA, kMacB, 1000, 3);
  Bytes in3 = test_frame(kMacA, kMacB, 90, 4);
  Bytes stream = with_length(in1);
  Bytes second = with_length(in2);
  stream.insert(stream.end(), second.begin(), second.end());
  ASSERT_EQ(write(pair.mine, stream.data(), stream.size()), ssize_t(stream.size()));
  EXPECT_EQ(nic.receive(), in1);
  EXPECT_EQ(nic.receive(), in2);
  Bytes third = with_length(in3);
  ASSERT_EQ(write(pair.mine, third.data(), 2), 2);
  EXPECT_TRUE(nic.receive(20).empty()) << "half a length is no frame";
  ASSERT_EQ(write(pair.mine, third.data() + 2, 40), 40);
  EXPECT_TRUE(nic.receive(20).empty()) << "part of a frame is no frame";
  ASSERT_EQ(write(pair.mine, third.data() + 42, third.size() - 42), ssize_t(third.size() - 42));
  EXPECT_EQ(nic.receive(), in3);
}

TEST(SocketNetdev, DatagramSocketsCarryOneFramePerDatagram) {
  Pair pair(SOCK_DGRAM);
  QtestClient qt({"-netdev", "socket,id=s0,fd=" + std::to_string(pair.theirs), "-device",
                  "e1000,netdev=s0,mac=" + mac_text(kMacA)});
  pair.spawned();
  Nic nic(qt, kDevfnA, kMmioA, kRamA);
  Bytes out = test_frame(kBroadcast, kMacA, 120, 5);
  nic.send(out);
  pollfd p{pair.mine, POLLIN, 0};
  ASSERT_EQ(poll(&p, 1, 1000), 1);
  Bytes got(2000);
  got.resize(size_t(std::max<ssize_t>(0, recv(pair.mine, got.data(), got.size(), 0))));
  EXPECT_EQ(got, out) << "no length before a datagram";
  Bytes in = test_frame(kMacA, kMacB, 200, 6);
  ASSERT_EQ(send(pair.mine, in.data(), in.size(), 0), ssize_t(in.size()));
  EXPECT_EQ(nic.receive(), in);
}

TEST(SocketNetdev, AnOversizedLengthDropsThePeerNotTheDaemon) {
  Pair pair(SOCK_STREAM);
  QtestClient qt({"-netdev", "socket,id=s0,fd=" + std::to_string(pair.theirs), "-device",
                  "e1000,netdev=s0,mac=" + mac_text(kMacA)});
  pair.spawned();
  Nic nic(qt, kDevfnA, kMmioA, kRamA);
  const uint8_t huge[] = {0x7f, 0xff, 0xff, 0xff, 1, 2, 3};
  ASSERT_EQ(write(pair.mine, huge, sizeof(huge)), ssize_t(sizeof(huge)));
  EXPECT_TRUE(nic.receive(40).empty());
  EXPECT_EQ(qt.qmp("query-status")["return"]["status"], "running");
}

// ---- -netdev hubport -------------------------------------------------------------------------

TEST(HubportNetdev, FramesGoToTheOtherPortsOfTheHubOnly) {
  QtestClient qt({"-netdev", "hubport,id=p0,hubid=1", "-netdev", "hubport,id=p1,hubid=1", "-netdev",
                  "hubport,id=p2,hubid=2", "-device", "e1000,netdev=p0,mac=" + mac_text(kMacA),
                  "-device", "e1000,netdev=p1,mac=" + mac_text(kMacB)});
  Nic a(qt, kDevfnA, kMmioA, kRamA);
  Nic b(qt, kDevfnB, kMmioB, kRamB);
  Bytes ab = test_frame(kMacB, kMacA, 100, 7);
  a.send(ab);
  EXPECT_EQ(b.receive(), ab);
  EXPECT_TRUE(a.receive(20).empty()) << "a hub does not echo";
  Bytes ba = test_frame(kBroadcast, kMacB, 1500, 8);
  b.send(ba);
  EXPECT_EQ(a.receive(), ba);
  EXPECT_TRUE(b.receive(20).empty());
}

// ---- errors ---------------------------------------------------------------------------------

void expect_one_line_error(const std::string& netdev, const std::string& needle) {
  RunResult r = run_hvmd({"-netdev", netdev, "-qtest", "unix:/nonexistent/qtest.sock", "-accel",
                          "qtest", "-display", "none"});
  EXPECT_EQ(r.status, 1) << netdev << ": " << r.stderr_text;
  EXPECT_EQ(std::count(r.stderr_text.begin(), r.stderr_text.end(), '\n'), 1) << r.stderr_text;
  EXPECT_NE(r.stderr_text.find(needle), std::string::npos) << r.stderr_text;
}

TEST(NetdevErrors, BadValuesAreNamedOnOneLine) {
  expect_one_line_error("user,id=u,net=10.0.2.0/33", "net=10.0.2.0/33");
  expect_one_line_error("user,id=u,net=10.0.x.0", "net=10.0.x.0");
  expect_one_line_error("user,id=u,host=10.0.3.2", "host=10.0.3.2");
  expect_one_line_error("user,id=u,dhcpstart=10.0.2.255", "dhcpstart=10.0.2.255");
  expect_one_line_error("user,id=u,tftp=/nonexistent/dir", "tftp=/nonexistent/dir");
  expect_one_line_error("user,id=u,hostfwd=tcp::x-:22", "hostfwd=tcp::x-:22");
  expect_one_line_error("user,id=u,hostfwd=sctp::2222-:22", "hostfwd=sctp::2222-:22");
  expect_one_line_error("user,id=u,restrict=maybe", "restrict");
  expect_one_line_error("user,id=u,ipv4=off,ipv6=off", "ipv4=off");
  expect_one_line_error("user,id=u,smb=/tmp", "smb=");
  expect_one_line_error("user,id=u,frob=1", "frob");
  expect_one_line_error("socket,id=s,fd=abc", "fd=abc");
  expect_one_line_error("socket,id=s,fd=987", "fd=987");
  expect_one_line_error("socket,id=s,fd=0,udp=127.0.0.1:5", "udp=");
  expect_one_line_error("hubport,id=h", "hubid=");
  expect_one_line_error("hubport,id=h,hubid=x", "hubid");
}

}  // namespace
}  // namespace hvmd::test
