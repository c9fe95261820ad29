// Black-box: the e1000 (82540EM) as Linux's e1000 driver and iPXE program it: EEPROM (EERD and
// Microwire bit-banging), PHY over MDIC, transmit through legacy and extended descriptors with
// checksum offload and TCP segmentation (frames checked byte for byte on the backend), receive
// into the ring with status and filtering, interrupt causes, masking and ITR on the virtual
// clock, link changes through QMP. The backend is QEMU's UDP socket netdev: each datagram one
// frame, so the test sees what the NIC sends and injects what it receives.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "tests/qtest/qtest_client.h"

namespace hvmd::test {
namespace {

constexpr uint8_t kNicDevfn = 0x10;  // 00:02.0, the first free slot on pc
constexpr uint64_t kMmio = 0xfebc0000;
constexpr uint16_t kIoBase = 0xc100;
constexpr unsigned kIrq = 11;  // PIRQC (slot 2, INTA) routed here
constexpr uint64_t kTxRing = 0x200000, kTxBuffers = 0x210000;
constexpr uint64_t kRxRing = 0x220000, kRxBuffers = 0x230000;
constexpr unsigned kRingSize = 8;
// Registers and bits (82540EM SDM).
constexpr uint32_t kStatus = 0x8, kEecd = 0x10, kEerd = 0x14, kMdic = 0x20, kIcr = 0xc0,
                   kItr = 0xc4, kIcs = 0xc8, kIms = 0xd0, kImc = 0xd8, kRctl = 0x100, kTctl = 0x400,
                   kRdbal = 0x2800, kRdlen = 0x2808, kRdh = 0x2810, kRdt = 0x2818, kTdbal = 0x3800,
                   kTdlen = 0x3808, kTdh = 0x3810, kTdt = 0x3818, kGptc = 0x4080, kGprc = 0x4074,
                   kMpc = 0x4010, kTsctc = 0x40f8, kRxcsum = 0x5000, kRal0 = 0x5400, kRah0 = 0x5404,
                   kMta = 0x5200;
constexpr uint32_t kIcrTxdw = 1, kIcrTxqe = 2, kIcrLsc = 4, kIcrRxo = 0x40, kIcrRxt0 = 0x80;
constexpr uint32_t kRctlEn = 2, kRctlUpe = 8, kRctlBam = 0x8000, kRctlSecrc = 1u << 26;
const std::vector<uint8_t> kMac = {0x52, 0x54, 0x00, 0xab, 0xcd, 0xef};

uint16_t be16(const std::vector<uint8_t>& f, size_t at) {
  return static_cast<uint16_t>(f[at] << 8 | f[at + 1]);
}
void put16(std::vector<uint8_t>& f, size_t at, uint32_t v) {
  f[at] = static_cast<uint8_t>(v >> 8);
  f[at + 1] = static_cast<uint8_t>(v);
}
uint32_t csum_add(uint32_t sum, const uint8_t* p, size_t n) {
  for (size_t i = 0; i + 1 < n; i += 2) sum += uint32_t{p[i]} << 8 | p[i + 1];
  if (n & 1) sum += uint32_t{p[n - 1]} << 8;
  return sum;
}
uint16_t csum_fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}
// True if the frame's IPv4 header and TCP/UDP checksums verify.
bool ip_checksum_ok(const std::vector<uint8_t>& f) {
  return csum_fold(csum_add(0, &f[14], 20)) == 0xffff;
}
bool l4_checksum_ok(const std::vector<uint8_t>& f) {
  size_t l4 = 34, length = be16(f, 16) - 20u;
  uint32_t sum = csum_add(0, &f[26], 8) + f[23] + static_cast<uint32_t>(length);
  return csum_fold(csum_add(sum, &f[l4], length)) == 0xffff;
}

// An Ethernet + IPv4 + TCP (protocol 6) or UDP (17) frame with payload bytes; checksums zero.
std::vector<uint8_t> ip_frame(uint8_t protocol, size_t payload, const std::vector<uint8_t>& dst) {
  size_t l4 = protocol == 6 ? 20 : 8;
  std::vector<uint8_t> f(14 + 20 + l4 + payload, 0);
  std::copy(dst.begin(), dst.end(), f.begin());
  std::copy(kMac.begin(), kMac.end(), f.begin() + 6);
  put16(f, 12, 0x0800);
  f[14] = 0x45;
  put16(f, 16, 20 + l4 + payload);
  put16(f, 18, 0x1234);  // IP ID
  f[22] = 64;
  f[23] = protocol;
  uint8_t addresses[8] = {10, 0, 0, 1, 10, 0, 0, 2};
  std::copy(addresses, addresses + 8, f.begin() + 26);
  put16(f, 34, 1000);
  put16(f, 36, 2000);
  if (protocol == 6) {
    put16(f, 38, 0x1111);  // sequence number 0x11112222
    put16(f, 40, 0x2222);
    f[46] = 0x50;         // header length 20
    f[47] = 0x18 | 0x01;  // PSH, ACK, FIN
  } else {
    put16(f, 38, 8 + payload);
  }
  for (size_t i = 0; i < payload; ++i) f[14 + 20 + l4 + i] = static_cast<uint8_t>(i * 3 + 1);
  return f;
}

class E1000Test : public ::testing::Test {
 protected:
  // hvmd's arguments and, for the UDP backend, the test's end of it.
  struct Setup {
    std::vector<std::string> args;
    int peer = -1;
    int hvmd_port = 0;
  };
  E1000Test() : E1000Test(udp_setup()) {}
  explicit E1000Test(const Setup& setup)
      : peer_(setup.peer), hvmd_port_(setup.hvmd_port), qt(setup.args) {
    EXPECT_EQ(qt.command("irq_intercept_in ioapic"), "OK");
    qt.pci_config_write(kNicDevfn, 0x10, 4, static_cast<uint32_t>(kMmio));
    qt.pci_config_write(kNicDevfn, 0x14, 4, kIoBase);
    qt.pci_config_write(kNicDevfn, 0x04, 2, 0x0007);  // I/O, memory, bus master
    qt.pci_config_write(0x08, 0x62, 1, kIrq);         // PIIX3: PIRQC -> IRQ 11
  }
  ~E1000Test() override {
    if (peer_ >= 0) close(peer_);
  }
  static Setup udp_setup() {
    Setup setup;
    setup.peer = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(setup.peer, reinterpret_cast<sockaddr*>(&address), sizeof(address));
    socklen_t length = sizeof(address);
    getsockname(setup.peer, reinterpret_cast<sockaddr*>(&address), &length);
    int peer_port = ntohs(address.sin_port);
    // A free port for hvmd's end: bound and released (the test is the only user of loopback).
    int probe = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    address.sin_port = 0;
    bind(probe, reinterpret_cast<sockaddr*>(&address), sizeof(address));
    length = sizeof(address);
    getsockname(probe, reinterpret_cast<sockaddr*>(&address), &length);
    setup.hvmd_port = ntohs(address.sin_port);
    close(probe);
    setup.args = {"-netdev",
                  "socket,id=n0,udp=127.0.0.1:" + std::to_string(peer_port) +
                      ",localaddr=127.0.0.1:" + std::to_string(setup.hvmd_port),
                  "-device", "e1000,id=nic0,netdev=n0,mac=52:54:00:ab:cd:ef"};
    return setup;
  }

  uint32_t rd(uint32_t reg) { return qt.readl(kMmio + reg); }
  void wr(uint32_t reg, uint32_t value) { qt.writel(kMmio + reg, value); }

  // What the NIC sent, or an empty frame after a second.
  std::vector<uint8_t> sent_frame() {
    pollfd p{peer_, POLLIN, 0};
    if (poll(&p, 1, 1000) != 1) return {};
    std::vector<uint8_t> frame(70000);
    ssize_t n = recv(peer_, frame.data(), frame.size(), 0);
    frame.resize(n > 0 ? size_t(n) : 0);
    return frame;
  }
  void inject(const std::vector<uint8_t>& frame) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(static_cast<uint16_t>(hvmd_port_));
    sendto(peer_, frame.data(), frame.size(), 0, reinterpret_cast<sockaddr*>(&address),
           sizeof(address));
  }

  void setup_tx() {
    wr(kTdbal, kTxRing);
    wr(kTdlen, kRingSize * 16);
    wr(kTdh, 0);
    wr(kTdt, 0);
    wr(kTctl, 2);
  }
  // A descriptor at ring index i: 16 bytes.
  void tx_descriptor(unsigned i, const std::vector<uint8_t>& d) {
    qt.memwrite(kTxRing + i * 16, d);
  }
  static std::vector<uint8_t> legacy(uint64_t address, uint16_t length, uint8_t cmd,
                                     uint8_t cso = 0, uint8_t css = 0) {
    std::vector<uint8_t> d(16, 0);
    for (int i = 0; i < 8; ++i) d[i] = static_cast<uint8_t>(address >> (8 * i));
    d[8] = static_cast<uint8_t>(length);
    d[9] = static_cast<uint8_t>(length >> 8);
    d[10] = cso;
    d[11] = cmd;
    d[13] = css;
    return d;
  }
  void setup_rx(uint32_t rctl) {
    for (unsigned i = 0; i < kRingSize; ++i) {
      std::vector<uint8_t> d(16, 0);
      uint64_t buffer = kRxBuffers + i * 2048;
      for (int b = 0; b < 8; ++b) d[b] = static_cast<uint8_t>(buffer >> (8 * b));
      qt.memwrite(kRxRing + i * 16, d);
    }
    wr(kRdbal, kRxRing);
    wr(kRdlen, kRingSize * 16);
    wr(kRdh, 0);
    wr(kRdt, kRingSize - 1);
    wr(kRctl, rctl);
  }
  // Waits for descriptor i's DD bit (frames arrive through the loop); returns the descriptor.
  std::vector<uint8_t> wait_rx(unsigned i) {
    for (int tries = 0; tries < 2000; ++tries) {
      auto d = qt.memread(kRxRing + i * 16, 16);
      if (d[12] & 1) return d;
      usleep(500);
    }
    return {};
  }

  int peer_;
  int hvmd_port_;
  QtestClient qt;
};

TEST_F(E1000Test, IdentityBarsAndMacFromEeprom) {
  EXPECT_EQ(qt.pci_config_read(kNicDevfn, 0x00, 4), 0x100e8086u);
  EXPECT_EQ(qt.pci_config_read(kNicDevfn, 0x08, 4) >> 8, 0x020000u);
  EXPECT_EQ(qt.pci_config_read(kNicDevfn, 0x3d, 1), 1u) << "INTA";
  // EERD: the MAC in words 0-2, and the checksum: words 0..0x3f sum to 0xBABA.
  uint16_t sum = 0;
  std::vector<uint8_t> mac;
  for (uint32_t word = 0; word < 64; ++word) {
    wr(kEerd, word << 8 | 1);
    uint32_t value = rd(kEerd);
    ASSERT_TRUE(value & 0x10) << "done";
    sum = static_cast<uint16_t>(sum + (value >> 16));
    if (word < 3) {
      mac.push_back(static_cast<uint8_t>(value >> 16));
      mac.push_back(static_cast<uint8_t>(value >> 24));
    }
  }
  EXPECT_EQ(mac, kMac);
  EXPECT_EQ(sum, 0xbaba);
  // Receive address 0 holds it too (loaded at reset), valid.
  EXPECT_EQ(rd(kRal0), 0xab005452u);
  EXPECT_EQ(rd(kRah0), 0x8000efcdu);
  // The I/O window reaches the same registers.
  qt.outl(kIoBase, kRal0);
  EXPECT_EQ(qt.inl(kIoBase + 4), 0xab005452u);
}

TEST_F(E1000Test, MicrowireBitBangingReadsTheEeprom) {
  // As Linux's e1000_read_eeprom does it on an 82540: request, CS, start bit and READ opcode
  // (110), six address bits, then sixteen data bits, each on a rising clock edge.
  constexpr uint32_t kSk = 1, kCs = 2, kDi = 4, kDo = 8, kReq = 0x40, kGnt = 0x80;
  wr(kEecd, kReq);
  ASSERT_TRUE(rd(kEecd) & kGnt);
  auto clock_out = [&](uint32_t bits, int count) {
    for (int i = count - 1; i >= 0; --i) {
      uint32_t di = (bits >> i) & 1 ? kDi : 0;
      wr(kEecd, kReq | kCs | di);
      wr(kEecd, kReq | kCs | di | kSk);
      wr(kEecd, kReq | kCs | di);
    }
  };
  auto read_word = [&](uint32_t address) {
    wr(kEecd, kReq | kCs);
    clock_out(0x6, 3);
    clock_out(address, 6);
    uint16_t word = 0;
    for (int i = 0; i < 16; ++i) {
      wr(kEecd, kReq | kCs | kSk);
      word = static_cast<uint16_t>(word << 1 | ((rd(kEecd) & kDo) ? 1 : 0));
      wr(kEecd, kReq | kCs);
    }
    wr(kEecd, kReq);  // CS low ends the command
    return word;
  };
  EXPECT_EQ(read_word(0), 0x5452);
  EXPECT_EQ(read_word(1), 0xab00);
  EXPECT_EQ(read_word(2), 0xefcd);
  EXPECT_EQ(read_word(0x0e), 0x8086) << "vendor id word";
}

TEST_F(E1000Test, PhyReportsLinkThroughMdic) {
  auto phy_read = [&](uint32_t reg) {
    wr(kMdic, 1u << 21 | reg << 16 | 2u << 26);
    uint32_t value = rd(kMdic);
    EXPECT_TRUE(value & (1u << 28)) << "ready";
    EXPECT_FALSE(value & (1u << 30)) << "error";
    return value & 0xffff;
  };
  EXPECT_EQ(phy_read(2), 0x0141u);
  EXPECT_EQ(phy_read(3), 0x0c20u);
  EXPECT_TRUE(phy_read(1) & 0x0004) << "link up";
  EXPECT_TRUE(phy_read(1) & 0x0020) << "auto-negotiation complete";
  EXPECT_TRUE(rd(kStatus) & 2) << "STATUS.LU";
  // No PHY at address 2.
  wr(kMdic, 2u << 21 | 1u << 16 | 2u << 26);
  EXPECT_TRUE(rd(kMdic) & (1u << 30));
}

TEST_F(E1000Test, LegacyTransmitByteForByteWithInterrupt) {
  setup_tx();
  wr(kIms, kIcrTxdw);
  std::vector<uint8_t> frame = ip_frame(17, 100, {0x02, 0, 0, 0, 0, 1});
  qt.memwrite(kTxBuffers, frame);
  // One frame in two descriptors (header, rest), report status on the last.
  tx_descriptor(0, legacy(kTxBuffers, 20, 0x02));
  tx_descriptor(1, legacy(kTxBuffers + 20, static_cast<uint16_t>(frame.size() - 20), 0x0b));
  wr(kTdt, 2);
  EXPECT_EQ(sent_frame(), frame);
  EXPECT_EQ(rd(kTdh), 2u);
  EXPECT_EQ(qt.memread(kTxRing + 16 + 12, 1)[0] & 1, 1) << "DD written back";
  EXPECT_TRUE(qt.irq_level(kIrq));
  uint32_t icr = rd(kIcr);
  EXPECT_EQ(icr & (kIcrTxdw | kIcrTxqe), kIcrTxdw | kIcrTxqe);
  EXPECT_FALSE(qt.irq_level(kIrq)) << "reading ICR acknowledges";
  EXPECT_EQ(rd(kIcr), 0u);
  EXPECT_EQ(rd(kGptc), 1u);
  EXPECT_EQ(rd(kGptc), 0u) << "statistics clear on read";
  // Legacy checksum insertion (IC): the UDP checksum over the payload part, at CSO.
  std::vector<uint8_t> udp = ip_frame(17, 30, {0x02, 0, 0, 0, 0, 1});
  qt.memwrite(kTxBuffers, udp);
  tx_descriptor(2, legacy(kTxBuffers, static_cast<uint16_t>(udp.size()), 0x0f, 40, 34));
  wr(kTdt, 3);
  auto out = sent_frame();
  ASSERT_EQ(out.size(), udp.size());
  uint16_t expected = static_cast<uint16_t>(~csum_fold(csum_add(0, &udp[34], udp.size() - 34)));
  EXPECT_EQ(be16(out, 40), expected);
}

TEST_F(E1000Test, ChecksumOffloadAndTcpSegmentation) {
  setup_tx();
  // Context: IP header at 14 (checksum at 24, ends at 33), TCP at 34 (checksum at 50); TSO with
  // MSS 100 and a 54-byte header.
  std::vector<uint8_t> frame = ip_frame(6, 250, {0x02, 0, 0, 0, 0, 1});
  // The driver's pseudo-header sum, without the length (what Linux puts there for TSO).
  uint32_t pseudo = csum_add(0, &frame[26], 8) + 6;
  put16(frame, 50, csum_fold(pseudo));
  qt.memwrite(kTxBuffers, frame);
  std::vector<uint8_t> context(16, 0);
  context[0] = 14;
  context[1] = 24;
  context[2] = 33;
  context[4] = 34;
  context[5] = 50;
  uint32_t paylen = 250;
  context[8] = static_cast<uint8_t>(paylen);
  context[9] = static_cast<uint8_t>(paylen >> 8);
  context[10] = 0x00;         // DTYP 0: context
  context[11] = 0x20 | 0x07;  // DEXT, TCMD: TSE, IP, TCP
  context[13] = 54;           // HDRLEN
  context[14] = 100;          // MSS
  std::vector<uint8_t> data(16, 0);
  for (int i = 0; i < 8; ++i) data[i] = static_cast<uint8_t>(kTxBuffers >> (8 * i));
  uint32_t length = static_cast<uint32_t>(frame.size());
  data[8] = static_cast<uint8_t>(length);
  data[9] = static_cast<uint8_t>(length >> 8);
  data[10] = 0x10;                       // DTYP 1: data
  data[11] = 0x20 | 0x04 | 0x08 | 0x01;  // DEXT, TSE, RS, EOP
  data[13] = 0x03;                       // POPTS: IXSM, TXSM
  tx_descriptor(0, context);
  tx_descriptor(1, data);
  wr(kTdt, 2);
  uint32_t sequence = 0x11112222;
  for (int segment = 0; segment < 3; ++segment) {
    auto out = sent_frame();
    size_t payload = segment < 2 ? 100 : 50;
    ASSERT_EQ(out.size(), 54 + payload) << "segment " << segment;
    EXPECT_EQ(be16(out, 16), 40 + payload) << "IP total length";
    EXPECT_EQ(be16(out, 18), 0x1234 + segment) << "IP ID";
    EXPECT_EQ(uint32_t{be16(out, 38)} << 16 | be16(out, 40), sequence + segment * 100u);
    EXPECT_EQ(out[47] & 0x09, segment == 2 ? 0x09 : 0x00) << "FIN and PSH on the last only";
    EXPECT_TRUE(ip_checksum_ok(out)) << "segment " << segment;
    EXPECT_TRUE(l4_checksum_ok(out)) << "segment " << segment;
    EXPECT_TRUE(std::equal(out.begin() + 54, out.end(), frame.begin() + 54 + segment * 100));
  }
  EXPECT_EQ(rd(kTsctc), 1u);
  // The same context without TSE: one frame with both checksums inserted (UDP this time).
  std::vector<uint8_t> udp = ip_frame(17, 333, {0x02, 0, 0, 0, 0, 1});
  put16(udp, 40, csum_fold(csum_add(0, &udp[26], 8) + 17 + 8 + 333));
  qt.memwrite(kTxBuffers, udp);
  context[11] = 0x20 | 0x02;  // IP, UDP, no TSE
  context[5] = 40;
  data[8] = static_cast<uint8_t>(udp.size());
  data[9] = static_cast<uint8_t>(udp.size() >> 8);
  data[11] = 0x20 | 0x08 | 0x01;
  tx_descriptor(2, context);
  tx_descriptor(3, data);
  wr(kTdt, 4);
  auto out = sent_frame();
  ASSERT_EQ(out.size(), udp.size());
  EXPECT_TRUE(ip_checksum_ok(out));
  EXPECT_TRUE(l4_checksum_ok(out));
}

TEST_F(E1000Test, HostileTransmitRingsAreBounded) {
  setup_tx();
  // TDT beyond the ring: one pass, then the engine stops; TDH outside the ring: nothing at all.
  for (unsigned i = 0; i < kRingSize; ++i) tx_descriptor(i, legacy(kTxBuffers, 60, 0x09));
  wr(kTdt, 100);
  int frames = 0;
  while (!sent_frame().empty()) ++frames;
  EXPECT_EQ(frames, static_cast<int>(kRingSize));
  wr(kTdh, 50);
  wr(kTdt, 3);
  EXPECT_TRUE(sent_frame().empty());
  // TSO with MSS 0 (the CVE-2015-6815 class): refused, not looped on.
  wr(kTdh, 0);
  std::vector<uint8_t> context(16, 0);
  context[11] = 0x20 | 0x07;
  context[13] = 54;
  std::vector<uint8_t> data = legacy(kTxBuffers, 200, 0);
  data[10] = 0x10;
  data[11] = 0x20 | 0x04 | 0x08 | 0x01;
  tx_descriptor(0, context);
  tx_descriptor(1, data);
  wr(kTdt, 2);
  EXPECT_TRUE(sent_frame().empty());
  EXPECT_EQ(rd(kTdh), 2u) << "the descriptors were consumed";
}

TEST_F(E1000Test, ReceiveIntoTheRingWithStatusAndFilters) {
  wr(kIms, kIcrRxt0 | kIcrRxo);
  wr(kRxcsum, 0x300);  // IP and TCP/UDP checksum offload
  setup_rx(kRctlEn | kRctlBam | kRctlSecrc);
  std::vector<uint8_t> frame = ip_frame(17, 200, kMac);
  put16(frame, 24, static_cast<uint16_t>(~csum_fold(csum_add(0, &frame[14], 20))));
  uint32_t pseudo = csum_add(0, &frame[26], 8) + 17 + 208;
  put16(frame, 40, static_cast<uint16_t>(~csum_fold(csum_add(pseudo, &frame[34], 208))));
  inject(frame);
  auto d = wait_rx(0);
  ASSERT_FALSE(d.empty()) << "nothing received";
  EXPECT_EQ(d[8] | d[9] << 8, int(frame.size()));
  EXPECT_EQ(d[12] & 0x63, 0x63) << "DD, EOP, IPCS, TCPCS";
  EXPECT_EQ(d[13], 0) << "no checksum errors";
  EXPECT_EQ(qt.memread(kRxBuffers, frame.size()), frame);
  EXPECT_EQ(rd(kRdh), 1u);
  EXPECT_TRUE(qt.irq_level(kIrq));
  EXPECT_TRUE(rd(kIcr) & kIcrRxt0);
  EXPECT_EQ(rd(kGprc), 1u);
  // A corrupted UDP checksum is reported as such.
  frame[60] ^= 0xff;
  inject(frame);
  d = wait_rx(1);
  ASSERT_FALSE(d.empty());
  EXPECT_EQ(d[13] & 0x20, 0x20) << "TCPE";
  // Someone else's unicast is filtered out; with UPE it comes in; short frames are padded.
  std::vector<uint8_t> other = ip_frame(17, 4, {0x02, 0x11, 0x22, 0x33, 0x44, 0x55});
  inject(other);
  usleep(20000);
  EXPECT_TRUE(wait_rx(2).empty()) << "filtered out";
  wr(kRctl, kRctlEn | kRctlBam | kRctlSecrc | kRctlUpe);
  inject(other);
  d = wait_rx(2);
  ASSERT_FALSE(d.empty());
  EXPECT_EQ(d[8] | d[9] << 8, 60) << "padded to the minimum frame";
  // Without SECRC the length includes the 4 FCS bytes.
  wr(kRctl, kRctlEn | kRctlBam);
  inject(frame);
  d = wait_rx(3);
  ASSERT_FALSE(d.empty());
  EXPECT_EQ(d[8] | d[9] << 8, int(frame.size() + 4));
  // Multicast through the table: 01:00:5e:00:00:01 with MO=0 hashes to bits 47:36.
  std::vector<uint8_t> multicast = ip_frame(17, 10, {0x01, 0x00, 0x5e, 0x00, 0x00, 0x01});
  unsigned hash = (0x00 >> 4 | 0x01 << 4) & 0xfff;
  wr(kMta + (hash >> 5) * 4, 1u << (hash & 31));
  inject(multicast);
  EXPECT_FALSE(wait_rx(4).empty());
}

TEST_F(E1000Test, FullRingDropsWithRxoAndNeverOverruns) {
  wr(kIms, kIcrRxo);
  setup_rx(kRctlEn | kRctlBam | kRctlSecrc);
  wr(kRdt, 2);  // two descriptors free
  std::vector<uint8_t> frame = ip_frame(17, 100, kMac);
  for (int i = 0; i < 4; ++i) inject(frame);
  ASSERT_FALSE(wait_rx(1).empty());
  usleep(50000);
  qt.readl(kMmio + kStatus);  // let the loop run
  EXPECT_EQ(rd(kRdh), 2u);
  EXPECT_TRUE(qt.memread(kRxRing + 2 * 16 + 12, 1)[0] == 0) << "descriptor 2 untouched";
  // The frames that did not fit stay with the host until the guest gives descriptors back.
  wr(kRdt, 5);
  EXPECT_FALSE(wait_rx(2).empty());
  EXPECT_FALSE(wait_rx(3).empty());
  EXPECT_EQ(rd(kMpc), 0u) << "nothing lost";
}

TEST_F(E1000Test, VlanTagsLongFramesAndReceiveDelay) {
  constexpr uint32_t kCtrlVme = 1u << 30, kRctlVfe = 1u << 18, kRctlLpe = 0x20, kVfta = 0x5600,
                     kRdtr = 0x2820, kRadv = 0x282c;
  wr(0x0, rd(0x0) | kCtrlVme);
  // Transmit with VLE: the tag (VET 0x8100, VLAN 5) goes in after the MAC addresses.
  setup_tx();
  std::vector<uint8_t> frame = ip_frame(17, 50, {0x02, 0, 0, 0, 0, 1});
  qt.memwrite(kTxBuffers, frame);
  auto d = legacy(kTxBuffers, static_cast<uint16_t>(frame.size()), 0x4b);  // VLE, RS, IFCS, EOP
  d[14] = 5;
  tx_descriptor(0, d);
  wr(kTdt, 1);
  auto out = sent_frame();
  ASSERT_EQ(out.size(), frame.size() + 4);
  EXPECT_EQ(be16(out, 12), 0x8100);
  EXPECT_EQ(be16(out, 14), 5);
  EXPECT_TRUE(std::equal(out.begin() + 16, out.end(), frame.begin() + 12));
  // Receive: VLAN 5 passes the filter table and is stripped into the descriptor; VLAN 6 does not.
  wr(kVfta, 1u << 5);
  setup_rx(kRctlEn | kRctlBam | kRctlSecrc | kRctlVfe);
  std::vector<uint8_t> tagged = ip_frame(17, 50, kMac);
  uint8_t tag[4] = {0x81, 0x00, 0x00, 0x05};
  tagged.insert(tagged.begin() + 12, tag, tag + 4);
  inject(tagged);
  auto rx = wait_rx(0);
  ASSERT_FALSE(rx.empty());
  EXPECT_EQ(rx[12] & 0x08, 0x08) << "VP";
  EXPECT_EQ(rx[14] | rx[15] << 8, 5);
  EXPECT_EQ(rx[8] | rx[9] << 8, int(tagged.size() - 4));
  tagged[15] = 6;
  inject(tagged);
  EXPECT_TRUE(wait_rx(1).empty()) << "VLAN 6 is not in the filter table";
  // A 3000-byte frame (long packets on) spans two 2048-byte buffers: EOP on the second only.
  wr(kRctl, kRctlEn | kRctlBam | kRctlSecrc | kRctlLpe);
  std::vector<uint8_t> jumbo = ip_frame(17, 3000 - 42, kMac);
  inject(jumbo);
  auto first = wait_rx(1), second = wait_rx(2);
  ASSERT_FALSE(first.empty());
  ASSERT_FALSE(second.empty());
  EXPECT_EQ(first[12] & 0x02, 0) << "no EOP on the first";
  EXPECT_EQ(second[12] & 0x02, 0x02);
  EXPECT_EQ((first[8] | first[9] << 8) + (second[8] | second[9] << 8), 3000);
  auto joined = qt.memread(kRxBuffers + 2048, 2048);
  auto rest = qt.memread(kRxBuffers + 2 * 2048, 3000 - 2048);
  joined.insert(joined.end(), rest.begin(), rest.end());
  EXPECT_EQ(joined, jumbo);
  // Receive delay: with RDTR 100 (102.4 us) the interrupt waits on the virtual clock.
  wr(kIms, kIcrRxt0);
  rd(kIcr);
  wr(kRdtr, 100);
  wr(kRadv, 0);
  inject(ip_frame(17, 50, kMac));
  ASSERT_FALSE(wait_rx(3).empty());
  EXPECT_FALSE(qt.irq_level(kIrq)) << "delayed";
  qt.clock_step(50000);
  EXPECT_FALSE(qt.irq_level(kIrq));
  qt.clock_step(60000);
  EXPECT_TRUE(qt.irq_level(kIrq)) << "after RDTR";
}

TEST_F(E1000Test, InterruptMaskingAndThrottling) {
  wr(kIcs, kIcrLsc);  // set a cause by software
  EXPECT_FALSE(qt.irq_level(kIrq)) << "masked";
  wr(kIms, kIcrLsc);
  EXPECT_TRUE(qt.irq_level(kIrq));
  wr(kImc, kIcrLsc);
  EXPECT_FALSE(qt.irq_level(kIrq));
  wr(kIms, kIcrLsc);
  EXPECT_EQ(rd(kIcr), kIcrLsc);
  // ITR 4000 x 256 ns = 1.024 ms between interrupts.
  wr(kItr, 4000);
  wr(kIcs, kIcrLsc);
  EXPECT_TRUE(qt.irq_level(kIrq));
  rd(kIcr);
  wr(kIcs, kIcrLsc);
  EXPECT_FALSE(qt.irq_level(kIrq)) << "too soon";
  qt.clock_step(500000);
  EXPECT_FALSE(qt.irq_level(kIrq));
  qt.clock_step(600000);
  EXPECT_TRUE(qt.irq_level(kIrq)) << "after the interval";
}

TEST_F(E1000Test, LinkDownAndUpThroughQmp) {
  wr(kIms, kIcrLsc);
  EXPECT_TRUE(qt.qmp("set_link", {{"name", "nic0"}, {"up", false}}).contains("return"));
  EXPECT_FALSE(rd(kStatus) & 2);
  EXPECT_TRUE(qt.irq_level(kIrq));
  EXPECT_EQ(rd(kIcr) & kIcrLsc, kIcrLsc);
  EXPECT_TRUE(qt.qmp("set_link", {{"name", "n0"}, {"up", true}}).contains("return"));
  EXPECT_TRUE(rd(kStatus) & 2);
  EXPECT_TRUE(qt.qmp("set_link", {{"name", "nope"}, {"up", true}}).contains("error"));
}

// Real traffic through a tap: hvmd opens the tap, the test moves it into a network namespace of
// its own with an address, and the "guest" (this test driving the NIC) talks to that kernel:
// ARP, then ICMP echo. Needs root (CAP_NET_ADMIN).
std::string tap_name() {
  return "hvmdtap" + std::to_string(getpid() % 100000);
}
std::string netns_name() {
  return "hvmdns" + std::to_string(getpid() % 100000);
}
bool sh(const std::string& command) {
  return system((command + " >/dev/null 2>&1").c_str()) == 0;
}

class E1000TapTest : public E1000Test {
 protected:
  E1000TapTest() : E1000Test(tap_setup()) {}
  static Setup tap_setup() {
    tap_ok_ = geteuid() == 0 && sh("ip tuntap add dev " + tap_name() + " mode tap");
    if (!tap_ok_) return {};
    return {{"-netdev", "tap,id=n0,ifname=" + tap_name() + ",script=no,downscript=no", "-device",
             "e1000,id=nic0,netdev=n0,mac=52:54:00:ab:cd:ef"}};
  }
  ~E1000TapTest() override {
    sh("ip netns del " + netns_name());
    sh("ip link del " + tap_name());
  }
  static inline bool tap_ok_ = false;
};

TEST_F(E1000TapTest, ArpAndPingThroughATapInANetworkNamespace) {
  if (!tap_ok_) GTEST_SKIP() << "needs root and /dev/net/tun to create a tap";
  std::string ns = netns_name(), tap = tap_name();
  if (!sh("ip netns add " + ns)) GTEST_SKIP() << "cannot create a network namespace";
  ASSERT_TRUE(sh("ip link set " + tap + " netns " + ns));
  ASSERT_TRUE(sh("ip -n " + ns + " addr add 10.9.9.1/24 dev " + tap));
  ASSERT_TRUE(sh("ip -n " + ns + " link set " + tap + " up"));
  setup_rx(kRctlEn | kRctlBam | kRctlSecrc);
  setup_tx();
  const uint8_t guest_ip[4] = {10, 9, 9, 2}, host_ip[4] = {10, 9, 9, 1};
  // ARP: who has 10.9.9.1? tell 10.9.9.2.
  std::vector<uint8_t> arp(42, 0);
  std::fill(arp.begin(), arp.begin() + 6, 0xff);
  std::copy(kMac.begin(), kMac.end(), arp.begin() + 6);
  put16(arp, 12, 0x0806);
  put16(arp, 14, 1);
  put16(arp, 16, 0x0800);
  arp[18] = 6;
  arp[19] = 4;
  put16(arp, 20, 1);
  std::copy(kMac.begin(), kMac.end(), arp.begin() + 22);
  std::copy(guest_ip, guest_ip + 4, arp.begin() + 28);
  std::copy(host_ip, host_ip + 4, arp.begin() + 38);
  qt.memwrite(kTxBuffers, arp);
  tx_descriptor(0, legacy(kTxBuffers, 42, 0x0b));
  wr(kTdt, 1);
  // The reply: an ARP reply to our MAC carrying the namespace's tap address.
  std::vector<uint8_t> host_mac;
  for (unsigned i = 0; i < kRingSize - 1 && host_mac.empty(); ++i) {
    auto d = wait_rx(i);
    ASSERT_FALSE(d.empty()) << "no frame came back through the tap";
    auto reply = qt.memread(kRxBuffers + i * 2048, d[8] | d[9] << 8);
    if (be16(reply, 12) == 0x0806 && be16(reply, 20) == 2)
      host_mac.assign(reply.begin() + 22, reply.begin() + 28);
  }
  ASSERT_EQ(host_mac.size(), 6u);
  // ICMP echo request to it; the kernel answers with an echo reply.
  std::vector<uint8_t> ping(14 + 20 + 8 + 32, 0);
  std::copy(host_mac.begin(), host_mac.end(), ping.begin());
  std::copy(kMac.begin(), kMac.end(), ping.begin() + 6);
  put16(ping, 12, 0x0800);
  ping[14] = 0x45;
  put16(ping, 16, 20 + 8 + 32);
  ping[22] = 64;
  ping[23] = 1;
  std::copy(guest_ip, guest_ip + 4, ping.begin() + 26);
  std::copy(host_ip, host_ip + 4, ping.begin() + 30);
  put16(ping, 24, static_cast<uint16_t>(~csum_fold(csum_add(0, &ping[14], 20))));
  ping[34] = 8;  // echo request
  put16(ping, 38, 0x4242);
  put16(ping, 40, 1);
  for (int i = 0; i < 32; ++i) ping[42 + i] = static_cast<uint8_t>(i);
  put16(ping, 36, static_cast<uint16_t>(~csum_fold(csum_add(0, &ping[34], 40))));
  qt.memwrite(kTxBuffers + 2048, ping);
  tx_descriptor(1, legacy(kTxBuffers + 2048, static_cast<uint16_t>(ping.size()), 0x0b));
  wr(kTdt, 2);
  bool replied = false;
  for (unsigned i = 0; i < kRingSize - 1 && !replied; ++i) {
    auto d = wait_rx(i);
    if (d.empty()) break;
    auto frame = qt.memread(kRxBuffers + i * 2048, d[8] | d[9] << 8);
    replied = frame.size() >= 74 && be16(frame, 12) == 0x0800 && frame[23] == 1 && frame[34] == 0 &&
              be16(frame, 38) == 0x4242 &&
              std::equal(frame.begin() + 42, frame.begin() + 74, ping.begin() + 42);
  }
  EXPECT_TRUE(replied) << "no ICMP echo reply from the namespace";

  // A 3000-byte TCP send with TSO (MSS 1000), as Linux's e1000 driver hands it over: IP length
  // 0, the TCP checksum field holding the pseudo-header sum without the length. The tap takes it
  // whole with a virtio-net header and the host segments it; the kernel in the namespace answers
  // each valid segment to its closed port with a reset, so a reset proves the segments arrived
  // with correct checksums.
  std::vector<uint8_t> tcp = ip_frame(6, 3000, host_mac);
  std::copy(guest_ip, guest_ip + 4, tcp.begin() + 26);
  std::copy(host_ip, host_ip + 4, tcp.begin() + 30);
  put16(tcp, 16, 0);
  put16(tcp, 36, 9);  // discard: closed in the namespace
  tcp[47] = 0x18;     // PSH, ACK
  put16(tcp, 50, csum_fold(csum_add(0, &tcp[26], 8) + 6));
  qt.memwrite(kTxBuffers + 4096, tcp);
  std::vector<uint8_t> context(16, 0);
  context[0] = 14, context[1] = 24, context[2] = 33, context[4] = 34, context[5] = 50;
  context[8] = static_cast<uint8_t>(3000 & 0xff);
  context[9] = static_cast<uint8_t>(3000 >> 8);
  context[11] = 0x20 | 0x07;  // DEXT; TSE, IPv4, TCP
  context[13] = 54;
  put16(context, 14, 0);
  context[14] = static_cast<uint8_t>(1000 & 0xff);
  context[15] = static_cast<uint8_t>(1000 >> 8);
  std::vector<uint8_t> data = legacy(kTxBuffers + 4096, static_cast<uint16_t>(tcp.size()), 0);
  data[10] = 0x10;                       // data descriptor
  data[11] = 0x20 | 0x04 | 0x08 | 0x01;  // DEXT, TSE, RS, EOP
  data[13] = 0x03;                       // IXSM, TXSM
  tx_descriptor(2, context);
  tx_descriptor(3, data);
  wr(kTdt, 4);
  bool reset = false;
  for (unsigned i = 0; i < kRingSize - 1 && !reset; ++i) {
    auto d = wait_rx(i);
    if (d.empty()) break;
    auto frame = qt.memread(kRxBuffers + i * 2048, d[8] | d[9] << 8);
    reset = frame.size() >= 54 && be16(frame, 12) == 0x0800 && frame[23] == 6 &&
            be16(frame, 34) == 9 && be16(frame, 36) == 1000 && (frame[47] & 0x04);
  }
  EXPECT_TRUE(reset) << "no TCP reset for the segmented send";
  EXPECT_EQ(rd(kTsctc), 1u);
}

TEST(E1000CommandLine, NicAndNetForms) {
  // -nic: a backend and its card in one; -net nic: a card on a -netdev.
  QtestClient nic(
      {"-nic", "socket,udp=127.0.0.1:9,localaddr=127.0.0.1:0,model=e1000,mac=52:54:00:00:00:07"});
  nic.pci_config_write(kNicDevfn, 0x10, 4, static_cast<uint32_t>(kMmio));
  nic.pci_config_write(kNicDevfn, 0x04, 2, 0x0002);
  EXPECT_EQ(nic.pci_config_read(kNicDevfn, 0x00, 4), 0x100e8086u);
  EXPECT_EQ(nic.readl(kMmio + kRah0) & 0xffff, 0x0700u);
  QtestClient net({"-netdev", "socket,id=x,udp=127.0.0.1:9,localaddr=127.0.0.1:0", "-net",
                   "nic,model=e1000,macaddr=52:54:00:00:00:08,netdev=x"});
  net.pci_config_write(kNicDevfn, 0x10, 4, static_cast<uint32_t>(kMmio));
  net.pci_config_write(kNicDevfn, 0x04, 2, 0x0002);
  EXPECT_EQ(net.readl(kMmio + kRah0) & 0xffff, 0x0800u);
}

TEST(E1000CommandLine, LibxlFormsAndErrors) {
  auto run = [](std::vector<std::string> extra) {
    std::vector<std::string> args = {"-machine", "pc",     "-accel",
                                     "qtest",    "-qtest", "unix:/nonexistent/q.sock",
                                     "-display", "none"};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_hvmd(args);
  };
  auto r = run({"-device", "rtl8139,netdev=n0"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.stderr_text.find("use model=e1000"), std::string::npos) << r.stderr_text;
  r = run({"-device", "e1000,mac=01:02:03:04:05:06"});
  EXPECT_NE(r.stderr_text.find("multicast"), std::string::npos) << r.stderr_text;
  r = run({"-device", "e1000,netdev=missing"});
  EXPECT_NE(r.stderr_text.find("'missing'"), std::string::npos) << r.stderr_text;
  r = run({"-net", "nic,model=ne2k_pci"});
  EXPECT_NE(r.stderr_text.find("ne2k_pci"), std::string::npos) << r.stderr_text;
  r = run({"-netdev", "tap,id=t0,ifname=x,script=/etc/qemu-ifup"});
  EXPECT_NE(r.stderr_text.find("script=no"), std::string::npos) << r.stderr_text;
  r = run({"-netdev", "vde,id=v0"});  // user is supported now (netdev_test.cc)
  EXPECT_NE(r.stderr_text.find("'vde'"), std::string::npos) << r.stderr_text;
}

}  // namespace
}  // namespace hvmd::test
