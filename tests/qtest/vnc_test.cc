// Black-box: hvmd's VNC console with a real VNC client (libvncclient), under the daemon's sandbox
// (the qtest client does not turn it off): the desktop size and the captured framebuffer equal
// QMP's screendump of the same VBE picture, a mode change reaches the client as a new desktop
// size, a key typed in the client reaches the i8042, VNC authentication with the password set
// over QMP, to=N moving to the next free display, unix sockets, and query-vnc as libxl reads it.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <rfb/rfbclient.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdarg>
#include <fstream>
#include <iterator>
#include <string>

#include "tests/qtest/qtest_client.h"

namespace hvmd::test {
namespace {

constexpr uint8_t kVgaDevfn = 0x10;  // addr=2
constexpr uint64_t kLfb = 0xe0000000, kMmio = 0xe1000000;
constexpr uint16_t kData = 0x60, kCommand = 0x64;

// A display range of its own per test process, so tests running in parallel rarely meet (and
// to= moves on when they do).
uint32_t base_display() {
  return 7000 + static_cast<uint32_t>(getpid() % 4000) * 2;
}

std::string vnc_arg(const std::string& extra = "") {
  uint32_t d = base_display();
  return "127.0.0.1:" + std::to_string(d) + ",to=" + std::to_string(d + 40) + extra;
}

// libvncclient's log, shown with HVMD_VNC_TEST_LOG=1.
void quiet(const char* format, ...) {
  if (!getenv("HVMD_VNC_TEST_LOG")) return;
  va_list args;
  va_start(args, format);
  vfprintf(stderr, format, args);
  va_end(args);
}

std::string g_password;
char* give_password(rfbClient*) {
  return strdup(g_password.c_str());
}

// A libvncclient connection; null when the connection or authentication failed.
struct VncViewer {
  explicit VncViewer(int port, const std::string& password = "", const char* encodings = nullptr) {
    rfbClientLog = rfbClientErr = quiet;
    g_password = password;
    client = rfbGetClient(8, 3, 4);  // 32-bit pixels, red in the lowest byte
    free(client->serverHost);        // rfbGetClient's empty default
    client->serverHost = strdup("127.0.0.1");
    client->serverPort = port;
    client->GetPassword = give_password;
    client->canHandleNewFBSize = TRUE;  // the classic desktop-size pseudo-encoding
    // The encodings the client asks for, in its order of preference (libvncclient's default
    // list otherwise: Tight first, which hvmd does not have, then ZRLE).
    if (encodings) client->appData.encodingsString = encodings;
    client->GotFrameBufferUpdate = [](rfbClient* c, int, int, int, int) {
      ++*static_cast<int*>(rfbClientGetClientData(c, nullptr));
    };
    rfbClientSetClientData(client, nullptr, &updates);
    if (!rfbInitClient(client, nullptr, nullptr)) client = nullptr;  // it freed the client
  }
  ~VncViewer() {
    if (!client) return;
    // libvncclient's default framebuffer is the application's to free.
    free(client->frameBuffer);
    client->frameBuffer = nullptr;
    rfbClientCleanup(client);
  }
  // Handles server messages until pred() holds or 5 s pass.
  template <typename Pred>
  bool run_until(Pred pred) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!pred()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      int n = WaitForMessage(client, 50000);
      if (n < 0) return false;
      if (n > 0 && !HandleRFBServerMessage(client)) return false;
    }
    return true;
  }
  // RGB of pixel (x, y) of the client's copy of the framebuffer.
  std::string rgb(int x, int y) const {
    const uint8_t* p = client->frameBuffer + (static_cast<size_t>(y) * client->width + x) * 4;
    return std::string(reinterpret_cast<const char*>(p), 3);
  }
  rfbClient* client = nullptr;
  int updates = 0;
};

class VncTest : public ::testing::Test {
 protected:
  int port() {
    Json info = qt.qmp("query-vnc")["return"];
    return std::stoi(info["service"].get<std::string>());
  }
  void dispi(uint16_t index, uint16_t value) {
    qt.outw(0x1ce, index);
    qt.outw(0x1cf, value);
  }
  void vbe_mode(uint16_t width, uint16_t height) {
    qt.pci_config_write(kVgaDevfn, 0x10, 4, static_cast<uint32_t>(kLfb));
    qt.pci_config_write(kVgaDevfn, 0x18, 4, static_cast<uint32_t>(kMmio));
    qt.pci_config_write(kVgaDevfn, 0x04, 2, 0x0003);
    dispi(4, 0);
    dispi(1, width);
    dispi(2, height);
    dispi(3, 32);
    dispi(4, 0x41);
  }
  std::string screendump_rgb(uint32_t width, uint32_t height) {
    std::string path = testing::TempDir() + "vnc-dump-" + std::to_string(getpid()) + ".ppm";
    Json r = qt.qmp("screendump", {{"filename", path}});
    EXPECT_TRUE(r.contains("return")) << r;
    std::ifstream in(path, std::ios::binary);
    std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    unlink(path.c_str());
    std::string header = "P6\n" + std::to_string(width) + " " + std::to_string(height) + "\n255\n";
    EXPECT_EQ(data.substr(0, header.size()), header);
    return data.substr(header.size());
  }
  QtestClient qt{{"-device", "VGA,vgamem_mb=16,addr=2", "-vnc", vnc_arg(), "-k", "en-us"}};
};

TEST_F(VncTest, QueryVncReportsWhatLibxlPublishes) {
  Json info = qt.qmp("query-vnc")["return"];
  EXPECT_EQ(info["enabled"], true);
  EXPECT_EQ(info["host"], "127.0.0.1");
  EXPECT_EQ(info["family"], "ipv4");
  EXPECT_EQ(info["auth"], "none");
  int service = std::stoi(info["service"].get<std::string>());
  EXPECT_GE(service, 5900 + static_cast<int>(base_display()));
  EXPECT_LE(service, 5900 + static_cast<int>(base_display()) + 40);
  EXPECT_TRUE(info["clients"].empty());
  VncViewer viewer(service);
  ASSERT_NE(viewer.client, nullptr);
  Json clients = qt.qmp("query-vnc")["return"]["clients"];
  ASSERT_EQ(clients.size(), 1u);
  EXPECT_EQ(clients[0]["host"], "127.0.0.1");
  EXPECT_EQ(clients[0]["family"], "ipv4");
  // Without password=on a password cannot be set (as QEMU).
  EXPECT_TRUE(qt.qmp("change-vnc-password", {{"password", "x"}}).contains("error"));
}

TEST_F(VncTest, CapturedFramebufferEqualsTheScreendumpAndFollowsModeChanges) {
  vbe_mode(320, 200);
  // A picture with a different colour in every pixel, written through the linear framebuffer.
  std::vector<uint8_t> bytes(320 * 200 * 4);
  for (uint32_t i = 0; i < 320 * 200; ++i) {
    uint32_t rgb = (i * 2654435761u) & 0xffffff;
    memcpy(&bytes[i * 4], &rgb, 4);
  }
  qt.memwrite(kLfb, bytes);
  VncViewer viewer(port());
  ASSERT_NE(viewer.client, nullptr);
  EXPECT_EQ(viewer.client->width, 320);
  EXPECT_EQ(viewer.client->height, 200);
  std::string dump = screendump_rgb(320, 200);
  ASSERT_EQ(dump.size(), 320u * 200 * 3);
  auto captured = [&] {
    std::string rgb;
    for (int y = 0; y < 200; ++y)
      for (int x = 0; x < 320; ++x) rgb += viewer.rgb(x, y);
    return rgb;
  };
  viewer.run_until([&] { return viewer.updates > 0 && captured() == dump; });
  std::string picture = captured();
  auto differs = std::mismatch(picture.begin(), picture.end(), dump.begin(), dump.end());
  EXPECT_TRUE(differs.first == picture.end())
      << "the VNC picture differs from the screendump at byte " << (differs.first - picture.begin())
      << " after " << viewer.updates << " updates";
  // A pixel the guest changes reaches the client as an update.
  qt.writel(kLfb + (10 * 320 + 20) * 4, 0x00abcdef);
  ASSERT_TRUE(viewer.run_until([&] { return viewer.rgb(20, 10) == "\xab\xcd\xef"; }));
  // A mode change: the client learns the new size (desktop-size) and gets the new picture.
  vbe_mode(640, 480);
  qt.writel(kLfb + (479 * 640 + 639) * 4, 0x00102030);
  ASSERT_TRUE(viewer.run_until([&] {
    return viewer.client->width == 640 && viewer.client->height == 480 &&
           viewer.rgb(639, 479) == "\x10\x20\x30";
  })) << viewer.client->width
      << "x" << viewer.client->height;
}

// Each encoding libvncclient can be asked for, decoded by libvncclient itself, equals QMP's
// screendump pixel for pixel: a picture with solid areas, two-colour text, a few-colour gradient
// and noise (every Hextile and ZRLE tile form), then a part of it redrawn (an incremental update
// through the same zlib stream).
TEST_F(VncTest, EveryEncodingCapturesTheScreendumpPixelForPixel) {
  constexpr uint32_t kWidth = 400, kHeight = 300;
  vbe_mode(kWidth, kHeight);
  auto draw = [&](uint32_t seed, uint32_t top) {
    std::vector<uint8_t> bytes(size_t{kWidth} * (kHeight - top) * 4);
    for (uint32_t y = top; y < kHeight; ++y) {
      for (uint32_t x = 0; x < kWidth; ++x) {
        uint32_t i = y * kWidth + x, rgb;
        if (y < kHeight / 2 && x < kWidth / 2)
          rgb = 0x204060 + seed;
        else if (y < kHeight / 2)
          rgb =
              ((x / 9 + y / 16 + seed) % 3 == 0 && y % 16 < 12 && x % 9 < 7) ? 0xaaaaaa : 0x0000aa;
        else if (x < kWidth / 2)
          rgb = (x / 8 % 40) * 0x050403;
        else
          rgb = ((i + seed) * 2654435761u) & 0xffffff;
        memcpy(&bytes[size_t{y - top} * kWidth * 4 + x * 4], &rgb, 4);
      }
    }
    qt.memwrite(kLfb + uint64_t{top} * kWidth * 4, bytes);
  };
  for (const char* encoding : {"raw", "hextile", "zrle"}) {
    SCOPED_TRACE(encoding);
    draw(1, 0);
    VncViewer viewer(port(), "", encoding);
    ASSERT_NE(viewer.client, nullptr);
    auto captured = [&] {
      std::string rgb;
      for (uint32_t y = 0; y < kHeight; ++y)
        for (uint32_t x = 0; x < kWidth; ++x)
          rgb += viewer.rgb(static_cast<int>(x), static_cast<int>(y));
      return rgb;
    };
    for (uint32_t seed : {1u, 2u}) {
      if (seed == 2) draw(2, 100);  // the lower two thirds change
      std::string dump = screendump_rgb(kWidth, kHeight);
      ASSERT_EQ(dump.size(), size_t{kWidth} * kHeight * 3);
      viewer.run_until(
          [&] { return viewer.updates >= static_cast<int>(seed) && captured() == dump; });
      std::string picture = captured();
      auto differs = std::mismatch(picture.begin(), picture.end(), dump.begin(), dump.end());
      EXPECT_TRUE(differs.first == picture.end())
          << "picture " << seed << " differs from the screendump at pixel "
          << (differs.first - picture.begin()) / 3 << " after " << viewer.updates << " updates";
    }
  }
}

TEST_F(VncTest, KeyTypedInTheClientReachesTheI8042) {
  VncViewer viewer(port());
  ASSERT_NE(viewer.client, nullptr);
  ASSERT_TRUE(SendKeyEvent(viewer.client, 'a', TRUE));
  ASSERT_TRUE(SendKeyEvent(viewer.client, 'a', FALSE));
  ASSERT_TRUE(SendKeyEvent(viewer.client, 0xff52 /* Up */, TRUE));
  // Translation on (the reset command byte): set-1 codes, E0-prefixed for the cursor key.
  std::vector<uint8_t> bytes;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (bytes.size() < 4 && std::chrono::steady_clock::now() < deadline)
    if (qt.inb(kCommand) & 0x01) bytes.push_back(qt.inb(kData));
  EXPECT_EQ(bytes, (std::vector<uint8_t>{0x1e, 0x9e, 0xe0, 0x48}));
}

TEST(VncPasswordTest, OnlyTheRightPasswordGetsIn) {
  QtestClient qt({"-vnc", vnc_arg(",password=on")});
  Json info = qt.qmp("query-vnc")["return"];
  EXPECT_EQ(info["auth"], "vnc");
  int port = std::stoi(info["service"].get<std::string>());
  EXPECT_EQ(VncViewer(port, "").client, nullptr) << "no password set yet";
  EXPECT_TRUE(qt.qmp("change-vnc-password", {{"password", "hvmd-pw"}}).contains("return"));
  EXPECT_EQ(VncViewer(port, "wrong").client, nullptr);
  EXPECT_NE(VncViewer(port, "hvmd-pw").client, nullptr);
  // QEMU's newer commands: set_password and expire_password.
  Json r = qt.qmp("set_password", {{"protocol", "vnc"}, {"password", "second"}});
  EXPECT_TRUE(r.contains("return")) << r;
  EXPECT_NE(VncViewer(port, "second").client, nullptr);
  EXPECT_TRUE(qt.qmp("expire_password", {{"protocol", "vnc"}, {"time", "now"}}).contains("return"));
  EXPECT_EQ(VncViewer(port, "second").client, nullptr) << "expired";
  EXPECT_TRUE(
      qt.qmp("expire_password", {{"protocol", "vnc"}, {"time", "never"}}).contains("return"));
  EXPECT_NE(VncViewer(port, "second").client, nullptr);
  EXPECT_TRUE(qt.qmp("expire_password", {{"protocol", "vnc"}, {"time", "soon"}}).contains("error"));
  EXPECT_TRUE(qt.qmp("set_password", {{"protocol", "spice"}, {"password", "x"}}).contains("error"));
}

TEST(VncDisplayTest, ToPicksTheNextFreeDisplay) {
  uint32_t display = base_display() + 1;
  int taken = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(5900 + display));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(taken, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  ASSERT_EQ(listen(taken, 1), 0);
  QtestClient qt(
      {"-vnc", "127.0.0.1:" + std::to_string(display) + ",to=" + std::to_string(display + 30)});
  int service = std::stoi(qt.qmp("query-vnc")["return"]["service"].get<std::string>());
  EXPECT_GT(service, static_cast<int>(5900 + display));
  EXPECT_LE(service, static_cast<int>(5900 + display + 30));
  close(taken);
}

TEST(VncDisplayTest, UnixSocketAndNone) {
  std::string path = testing::TempDir() + "hvmd-vnc-" + std::to_string(getpid()) + ".sock";
  {
    QtestClient qt({"-vnc", "unix:" + path});
    Json info = qt.qmp("query-vnc")["return"];
    EXPECT_EQ(info["family"], "unix");
    EXPECT_EQ(info["host"], path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    snprintf(address.sun_path, sizeof(address.sun_path), "%s", path.c_str());
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    char version[12];
    ASSERT_EQ(recv(fd, version, sizeof(version), MSG_WAITALL), 12);
    EXPECT_EQ(std::string(version, 12), "RFB 003.008\n");
    close(fd);
  }
  QtestClient none({"-vnc", "none"});
  EXPECT_EQ(none.qmp("query-vnc")["return"], (Json{{"enabled", false}}));
  EXPECT_TRUE(none.qmp("change-vnc-password", {{"password", "x"}}).contains("error"));
}

TEST(VncDisplayTest, BadOptionsAreOneLineErrors) {
  for (std::vector<std::string> args :
       {std::vector<std::string>{"-vnc", "nowhere"}, {"-vnc", ":0,sasl=on"}, {"-k", "klingon"}}) {
    args.insert(args.end(), {"-accel", "qtest", "-qtest", "unix:/nonexistent"});
    RunResult r = run_hvmd(args);
    EXPECT_EQ(r.status, 1) << args[1];
    EXPECT_NE(r.stderr_text.find(args[1]), std::string::npos) << r.stderr_text;
    EXPECT_EQ(std::count(r.stderr_text.begin(), r.stderr_text.end(), '\n'), 1) << r.stderr_text;
  }
}

}  // namespace
}  // namespace hvmd::test
