// hvmd-fuzz -target=vnc: arbitrary client-to-server RFB bytes against hvmd's VNC server, served
// on a socket pair in this process as a network client would be. The input's first byte picks the
// session (display size, password authentication, whether the picture changes between chunks);
// the rest is what the client sends: the handshake, then any messages. The bytes go in chunks,
// each followed by a round of the event loop, a frame and a read of everything the server sent,
// so updates in every encoding the input asks for are encoded and sent. After the input the
// client hangs up and the server must have let it go.
#include "tests/fuzz/fuzz_vnc.h"

#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "dm/clock.h"
#include "dm/display.h"
#include "dm/event_loop.h"
#include "dm/input.h"
#include "dm/vnc/keymap.h"
#include "dm/vnc/vnc_server.h"

namespace hvmd::fuzz {
namespace {

// A display the session's first byte sizes; its pixels change when the input says so.
class FuzzDisplay final : public DisplaySource {
 public:
  DisplayInfo display_info() override { return info; }
  void collect_damage(std::vector<Rect>& damage) override {
    if (changed) damage.push_back({0, 0, info.width, info.height});
    changed = false;
  }
  void render(const Framebuffer& fb, const Rect& area) override {
    for (uint32_t y = area.y; y < area.y + area.height && y < fb.height; ++y)
      for (uint32_t x = area.x; x < area.x + area.width && x < fb.width; ++x)
        // Runs, solid areas and a few colours: every Hextile and ZRLE tile form.
        fb.pixels[y * fb.stride + x] = ((x / 7 + y / 5 + frame) % 5) * 0x3f2a15 ^ (x * y & 1);
  }
  DisplayInfo info;
  uint32_t frame = 0;
  bool changed = false;
};

struct NoKeys final : KeyboardInput {
  void key_event(uint16_t, bool) override {}
};
struct NoPointer final : AbsolutePointerInput {
  void absolute_event(uint32_t, uint32_t, int, uint8_t) override {}
};

// Built once: the server, its loop and the display; a client per input.
struct Session {
  Session() : server(loop, hub, input, *vnc::find_keymap("en-us"), "fuzz") {
    signal(SIGPIPE, SIG_IGN);  // as the daemon: a write to a closed client fails, not kills
    if (!loop.init()) {
      fprintf(stderr, "hvmd-fuzz: no event loop\n");
      exit(1);
    }
    hub.set_source(&display);
    input.add_keyboard(&keys);
    input.add_absolute(&pointer);
  }
  Clock clock{Clock::Mode::kVirtual};
  EventLoop loop{clock};
  DisplayHub hub;
  InputRouter input;
  FuzzDisplay display;
  NoKeys keys;
  NoPointer pointer;
  vnc::VncServer server;
};

constexpr std::array<std::pair<uint32_t, uint32_t>, 4> kSizes = {
    {{0, 0}, {64, 48}, {150, 70}, {1, 1}}};
constexpr size_t kChunk = 512;
// Far more rounds than any input needs: a server still not taking bytes then has stalled.
constexpr size_t kMaxRounds = 100000;
constexpr uint8_t kPasswordBit = 1 << 2;
constexpr uint8_t kChangeBit = 1 << 3;

// Everything the server has sent so far, read and dropped.
void drain(int fd) {
  char buffer[65536];
  while (recv(fd, buffer, sizeof(buffer), MSG_DONTWAIT) > 0) {
  }
}

}  // namespace

void run_vnc_target(const uint8_t* data, size_t size) {
  static Session* s = new Session;  // kept for the process: built once
  uint8_t config = size ? data[0] : 0;
  auto [width, height] = kSizes[config & 3];
  s->display.info = width ? DisplayInfo{DisplayMode::kGraphics, width, height, 0, 0}
                          : DisplayInfo{DisplayMode::kBlank, 0, 0, 0, 0};
  s->display.changed = true;
  s->server.set_password_auth(config & kPasswordBit);
  s->server.set_password("fuzz");
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair) < 0) return;
  if (!s->server.add_client(pair[0], {"fuzz", "", "unix"})) {
    close(pair[1]);
    return;
  }
  int fd = pair[1];
  size_t rounds = 0;
  for (size_t at = size ? 1 : 0; at < size; ++rounds) {
    if (rounds == kMaxRounds) {
      fprintf(stderr, "hvmd-fuzz: the VNC server stopped reading a client that reads\n");
      abort();
    }
    size_t n = std::min(kChunk, size - at);
    ssize_t sent = send(fd, data + at, n, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (sent < 0 && errno != EAGAIN) break;  // the server hung up
    if (sent > 0) at += static_cast<size_t>(sent);
    if (config & kChangeBit) {
      ++s->display.frame;
      s->display.changed = true;
    }
    s->loop.run_once(0);
    s->server.frame();
    drain(fd);
    // A server that stopped reading (its output bound reached) and a client that reads
    // everything: the server reads again on the next round, so this ends.
  }
  for (int i = 0; i < 4; ++i) {
    s->loop.run_once(0);
    s->server.frame();
    drain(fd);
  }
  close(fd);
  // The server sees the hang-up and lets the client go (posted to the loop).
  for (int i = 0; i < 8 && s->server.client_count(); ++i) s->loop.run_once(0);
  if (s->server.client_count() != 0) {
    fprintf(stderr, "hvmd-fuzz: the VNC server kept a client that hung up\n");
    abort();
  }
}

}  // namespace hvmd::fuzz
