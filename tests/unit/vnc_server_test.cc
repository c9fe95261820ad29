// The VNC server against a raw RFB client on a socket pair: the handshake each protocol version
// expects, framebuffer updates in the client's pixel format, desktop-size on mode changes, key
// and pointer events reaching the input consumers, VNC authentication, and hostile clients.
#include <gtest/gtest.h>

#include <algorithm>

#include "dm/vnc/vnc_client.h"
#include "tests/unit/vnc_test_support.h"

namespace hvmd::test {
namespace {

using H = VncHarness;

TEST(VncServerTest, Rfb38HandshakeAndServerInit) {
  VncHarness h;
  int fd = h.connect();
  EXPECT_EQ(h.receive(fd, 12), "RFB 003.008\n");
  h.send(fd, "RFB 003.008\n");
  EXPECT_EQ(h.receive(fd, 2), std::string("\x01\x01", 2)) << "one type offered: None";
  h.send(fd, "\x01");
  EXPECT_EQ(h.receive(fd, 4), std::string(4, '\0')) << "3.8 reports success for None";
  h.send(fd, "\x01");
  std::string init = h.receive(fd, 24);
  ASSERT_EQ(init.size(), 24u);
  EXPECT_EQ(H::be16(init, 0), 64);
  EXPECT_EQ(H::be16(init, 2), 32);
  // 32 bpp, depth 24, little endian, true colour, 255/255/255, shifts 16/8/0.
  EXPECT_EQ(init.substr(4, 16), std::string("\x20\x18\x00\x01\x00\xff\x00\xff\x00\xff\x10\x08\x00"
                                            "\x00\x00\x00",
                                            16));
  EXPECT_EQ(h.receive(fd, H::be32(init, 20)), "test-guest");
  EXPECT_EQ(h.server.clients().size(), 1u);
}

TEST(VncServerTest, Rfb33ServerChoosesTheSecurityType) {
  VncHarness h;
  int fd = h.connect();
  h.receive(fd, 12);
  h.send(fd, "RFB 003.003\n");
  EXPECT_EQ(h.receive(fd, 4), std::string("\0\0\0\x01", 4));
  h.send(fd, "\x01");
  EXPECT_EQ(H::be16(h.receive(fd, 24), 0), 64) << "no security result in 3.3";
}

TEST(VncServerTest, UpdatesCarryThePictureInTheClientsFormat) {
  VncHarness h;
  int fd = h.connect();
  h.handshake(fd);
  h.display.set(3, 2, 0x00123456);
  h.send(fd, H::update_request(false, 0, 0, 64, 32));
  h.server.frame();
  std::string update = h.receive(fd, 4 + 12 + 64 * 32 * 4);
  ASSERT_EQ(update.size(), 4u + 12 + 64 * 32 * 4);
  EXPECT_EQ(update.substr(0, 4), std::string("\0\0\0\x01", 4));
  EXPECT_EQ(update.substr(4, 12), H::u16(0) + H::u16(0) + H::u16(64) + H::u16(32) + H::u32(0));
  size_t at = 16 + (2 * 64 + 3) * 4;
  EXPECT_EQ(update.substr(at, 4), std::string("\x56\x34\x12\x00", 4));
  // Nothing changed: an incremental request waits.
  h.send(fd, H::update_request(true, 0, 0, 64, 32));
  h.server.frame();
  EXPECT_EQ(h.receive(fd, 1), "") << "no update without damage";
  // 16 bits, big endian, 5-6-5.
  std::string format = std::string{0, 0, 0, 0} + std::string("\x10\x10\x01\x01", 4) + H::u16(31) +
                       H::u16(63) + H::u16(31) + std::string("\x0b\x05\x00\0\0\0", 6);
  h.send(fd, format);
  h.display.set(5, 1, 0x00ff8000);
  h.server.frame();
  // The pixel format change asks for the whole picture again.
  update = h.receive(fd, 4 + 12 + 64 * 32 * 2);
  ASSERT_EQ(update.size(), 4u + 12 + 64 * 32 * 2);
  at = 16 + (1 * 64 + 5) * 2;
  // red 31, green round(128 * 63 / 255) = 32, blue 0: 11111 100000 00000.
  EXPECT_EQ(H::be16(update, at), 0xfc00);
}

TEST(VncServerTest, ColourMapClientsGetA332Palette) {
  VncHarness h;
  int fd = h.connect();
  h.handshake(fd);
  std::string format = std::string{0, 0, 0, 0} + std::string("\x08\x08\x00\x00", 4) +
                       std::string(6, '\0') + std::string(6, '\0');
  h.send(fd, format);
  std::string map = h.receive(fd, 6 + 256 * 6);
  ASSERT_EQ(map.size(), 6u + 256 * 6);
  EXPECT_EQ(map.substr(0, 6), std::string("\x01\x00\x00\x00\x01\x00", 6));
  EXPECT_EQ(H::be16(map, 6 + 0xff * 6), 0xffff);  // entry 255: white
  h.display.set(0, 0, 0x00ffffff);
  h.send(fd, H::update_request(false, 0, 0, 1, 1));
  h.server.frame();
  std::string update = h.receive(fd, 4 + 12 + 1);
  EXPECT_EQ(static_cast<uint8_t>(update.back()), 0xff);
}

TEST(VncServerTest, ModeChangeSendsDesktopSize) {
  VncHarness h;
  int fd = h.connect();
  h.handshake(fd);
  h.send(fd, std::string{2, 0} + H::u16(2) + H::u32(0) + H::u32(static_cast<uint32_t>(-223)));
  h.send(fd, H::update_request(false, 0, 0, 64, 32));
  h.server.frame();
  h.receive(fd, 16 + 64 * 32 * 4);
  h.display.resize(40, 20);
  h.send(fd, H::update_request(true, 0, 0, 64, 32));
  h.server.frame();
  std::string resize = h.receive(fd, 16);
  EXPECT_EQ(resize, std::string("\0\0\0\x01", 4) + H::u16(0) + H::u16(0) + H::u16(40) + H::u16(20) +
                        H::u32(static_cast<uint32_t>(-223)));
  h.send(fd, H::update_request(false, 0, 0, 40, 20));
  h.server.frame();
  std::string update = h.receive(fd, 16 + 40 * 20 * 4);
  EXPECT_EQ(update.substr(4, 8), H::u16(0) + H::u16(0) + H::u16(40) + H::u16(20));
}

TEST(VncServerTest, KeysReachTheKeyboardThroughTheKeymapAndAreReleasedOnDisconnect) {
  VncHarness h;
  int fd = h.connect();
  h.handshake(fd);
  h.send(fd, H::key(true, 'a') + H::key(false, 'a') + H::key(true, 0xffe1 /* Shift_L */) +
                 H::key(true, '@') + H::key(true, 0xff51 /* Left */));
  EXPECT_EQ(h.keyboard.keys,
            (std::vector<std::pair<uint16_t, bool>>{
                {0x1e, true}, {0x1e, false}, {0x2a, true}, {0x03, true}, {0xcb, true}}));
  h.keyboard.keys.clear();
  // QEMU's extended key event names the key itself.
  h.send(fd, std::string{static_cast<char>(255), 0} + H::u16(1) + H::u32(0) + H::u32(0x9d));
  EXPECT_EQ(h.keyboard.keys, (std::vector<std::pair<uint16_t, bool>>{{0x9d, true}}));
  h.keyboard.keys.clear();
  close(fd);
  h.fds.clear();
  h.pump();
  h.pump();
  std::sort(h.keyboard.keys.begin(), h.keyboard.keys.end());
  EXPECT_EQ(h.keyboard.keys, (std::vector<std::pair<uint16_t, bool>>{
                                 {0x03, false}, {0x2a, false}, {0x9d, false}, {0xcb, false}}));
  EXPECT_EQ(h.server.client_count(), 0u);
}

TEST(VncServerTest, PointerPositionsAreScaledToTheAbsoluteRange) {
  VncHarness h;
  int fd = h.connect();
  h.handshake(fd);
  auto pointer = [](uint8_t mask, uint16_t x, uint16_t y) {
    return std::string{5, static_cast<char>(mask)} + H::u16(x) + H::u16(y);
  };
  h.send(fd, pointer(0x01, 63, 31) + pointer(0x04, 0, 0) + pointer(0x08, 0, 0) +
                 pointer(0x00, 1000, 1000));
  EXPECT_EQ(h.tablet.events, (std::vector<TabletLog::Event>{{0x7fff, 0x7fff, 0, kButtonLeft},
                                                            {0, 0, 0, kButtonRight},
                                                            {0, 0, -1, 0},
                                                            {0x7fff, 0x7fff, 0, 0}}));
}

TEST(VncServerTest, HostileVersionsAndMessagesEndOnlyThatClient) {
  VncHarness h;
  for (const char* version : {"RFB 003.00x\n", "RFB 004.000\n", "HTTP/1.1 GET", "RFB 003.002\n"}) {
    int fd = h.connect();
    h.receive(fd, 12);
    h.send(fd, version);
    EXPECT_TRUE(h.closed(fd)) << version;
  }
  int good = h.connect();
  h.handshake(good);
  // Unknown message type, unknown QEMU sub-message, a pixel format of 24 bits.
  for (std::string message : {std::string{7}, std::string{static_cast<char>(255), 9},
                              std::string{0, 0, 0, 0, 24, 24, 0, 1} + std::string(12, '\0')}) {
    int fd = h.connect();
    h.handshake(fd);
    h.send(fd, message);
    EXPECT_TRUE(h.closed(fd));
  }
  // A security type that was not offered.
  int fd = h.connect();
  h.receive(fd, 12);
  h.send(fd, "RFB 003.008\n");
  h.receive(fd, 2);
  h.send(fd, "\x02");
  std::string failed = h.receive(fd, 8);
  EXPECT_EQ(H::be32(failed, 0), 1u);
  EXPECT_EQ(h.receive(fd, H::be32(failed, 4)), "security type not offered");
  EXPECT_TRUE(h.closed(fd));
  // The well-behaved client is still served.
  h.send(good, H::key(true, 'b'));
  EXPECT_EQ(h.keyboard.keys.back(), (std::pair<uint16_t, bool>{0x30, true}));
}

TEST(VncServerTest, HugeCutTextIsSkippedAndTruncatedMessagesWait) {
  VncHarness h;
  int fd = h.connect();
  h.handshake(fd);
  // 1 MiB of cut text, then a key: the text is skipped as it arrives.
  h.send(fd, std::string{6, 0, 0, 0} + H::u32(1 << 20));
  std::string chunk(64 << 10, 'x');
  for (int i = 0; i < 16; ++i) h.send(fd, chunk);
  // A key event one byte at a time.
  for (char c : H::key(true, 'c')) h.send(fd, std::string(1, c));
  EXPECT_EQ(h.keyboard.keys, (std::vector<std::pair<uint16_t, bool>>{{0x2e, true}}));
  // SetEncodings announcing 65535 entries, sent in part: it waits for the rest, bounded.
  h.send(fd, std::string{2, 0} + H::u16(65535) + std::string(1000, '\0'));
  EXPECT_FALSE(h.closed(fd));
  h.send(fd, std::string(4 * 65535 - 1000, '\0') + H::key(false, 'c'));
  EXPECT_EQ(h.keyboard.keys.back(), (std::pair<uint16_t, bool>{0x2e, false}));
}

TEST(VncServerTest, AClientThatNeverReadsHoldsBoundedMemory) {
  VncHarness h;
  h.display.resize(1024, 768);
  int fd = h.connect();
  h.handshake(fd);
  // Ask for the whole screen again and again, change it, never read.
  std::string requests;
  for (int i = 0; i < 1000; ++i) requests += H::update_request(false, 0, 0, 1024, 768);
  for (int round = 0; round < 50; ++round) {
    ::send(fd, requests.data(), requests.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    h.display.set(round, 0, 0xffffff);
    h.pump();
    h.server.frame();
  }
  size_t frame = 16 + 1024 * 768 * 4;
  EXPECT_LE(h.server.queued_bytes(), vnc::VncClient::kSoftQueueBytes + frame);
  EXPECT_EQ(h.server.client_count(), 1u);
}

TEST(VncServerTest, ClientsBeyondTheCapAreRefused) {
  VncHarness h;
  for (size_t i = 0; i < vnc::VncServer::kMaxClients; ++i) h.connect();
  EXPECT_EQ(h.server.client_count(), vnc::VncServer::kMaxClients);
  int pair[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
  EXPECT_FALSE(h.server.add_client(pair[0], {}));
  close(pair[1]);
}

}  // namespace
}  // namespace hvmd::test
