// A VNC server on an in-process display and input consumers, and a raw RFB client on the other
// end of a socket pair, pumped by the test: for the VNC server's unit tests and benchmark.
#pragma once

#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include "dm/clock.h"
#include "dm/display.h"
#include "dm/event_loop.h"
#include "dm/input.h"
#include "dm/vnc/keymap.h"
#include "dm/vnc/vnc_server.h"

namespace hvmd::test {

// A display whose pixels the test sets; damage is what the test reports.
class PictureDisplay final : public DisplaySource {
 public:
  DisplayInfo display_info() override { return info; }
  void collect_damage(std::vector<Rect>& damage) override {
    damage.insert(damage.end(), pending.begin(), pending.end());
    pending.clear();
  }
  void render(const Framebuffer& fb, const Rect& area) override {
    for (uint32_t y = area.y; y < area.y + area.height; ++y)
      for (uint32_t x = area.x; x < area.x + area.width; ++x)
        fb.pixels[y * fb.stride + x] = pixels[size_t{y} * info.width + x];
  }
  void resize(uint32_t width, uint32_t height) {
    info = {DisplayMode::kGraphics, width, height, 0, 0};
    pixels.assign(size_t{width} * height, 0);
  }
  void set(uint32_t x, uint32_t y, uint32_t rgb) {
    pixels[size_t{y} * info.width + x] = rgb;
    pending.push_back({x, y, 1, 1});
  }
  DisplayInfo info;
  std::vector<uint32_t> pixels;
  std::vector<Rect> pending;
};

struct KeyLog final : KeyboardInput {
  void key_event(uint16_t qnum, bool pressed) override { keys.push_back({qnum, pressed}); }
  std::vector<std::pair<uint16_t, bool>> keys;
};

struct TabletLog final : AbsolutePointerInput {
  void absolute_event(uint32_t x, uint32_t y, int dz, uint8_t buttons) override {
    events.push_back({x, y, dz, buttons});
  }
  struct Event {
    uint32_t x, y;
    int dz;
    uint8_t buttons;
    bool operator==(const Event&) const = default;
  };
  std::vector<Event> events;
};

class VncHarness {
 public:
  explicit VncHarness(const char* layout = "en-us")
      : server(loop, hub, input, *vnc::find_keymap(layout), "test-guest") {
    (void)loop.init();
    hub.set_source(&display);
    display.resize(64, 32);
    input.add_keyboard(&keyboard);
    input.add_absolute(&tablet);
  }
  ~VncHarness() {
    for (int fd : fds) close(fd);
  }
  // A connected client socket (blocking off: reads are pumped).
  int connect() {
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair) < 0) return -1;
    (void)server.add_client(pair[0], {"test", "", "unix"});
    fds.push_back(pair[1]);
    return pair[1];
  }
  void pump(int rounds = 3) {
    for (int i = 0; i < rounds; ++i) loop.run_once(0);
  }
  void send(int fd, const std::string& bytes) {
    size_t done = 0;
    while (done < bytes.size()) {
      ssize_t n = ::send(fd, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
      if (n > 0)
        done += static_cast<size_t>(n);
      else
        pump(1);
      if (n < 0 && errno != EAGAIN) return;
    }
    pump();
  }
  // Exactly n bytes from the server, pumping the loop; fewer if it closed or 2 s passed.
  std::string receive(int fd, size_t n) {
    std::string out;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (out.size() < n && std::chrono::steady_clock::now() < deadline) {
      char buffer[65536];
      ssize_t got = recv(fd, buffer, std::min(sizeof(buffer), n - out.size()), 0);
      if (got > 0) {
        out.append(buffer, static_cast<size_t>(got));
        continue;
      }
      if (got == 0) break;
      pump(1);
    }
    return out;
  }
  // True when the server closed its end (reads return end of file).
  bool closed(int fd) {
    pump();
    char c;
    return recv(fd, &c, 1, MSG_PEEK) == 0;
  }
  // Version and security None (RFB 3.8), client init: returns the ServerInit message.
  std::string handshake(int fd) {
    receive(fd, 12);
    send(fd, "RFB 003.008\n");
    receive(fd, 2);
    send(fd, std::string(1, '\x01'));
    receive(fd, 4);
    send(fd, std::string(1, '\x01'));
    std::string init = receive(fd, 24);
    uint32_t name_length = be32(init, 20);
    return init + receive(fd, name_length);
  }
  static uint16_t be16(const std::string& s, size_t at) {
    return static_cast<uint16_t>(static_cast<uint8_t>(s[at]) << 8 |
                                 static_cast<uint8_t>(s[at + 1]));
  }
  static uint32_t be32(const std::string& s, size_t at) {
    return uint32_t{be16(s, at)} << 16 | be16(s, at + 2);
  }
  static std::string u16(uint32_t v) { return {static_cast<char>(v >> 8), static_cast<char>(v)}; }
  static std::string u32(uint32_t v) { return u16(v >> 16) + u16(v & 0xffff); }
  static std::string update_request(bool incremental, uint32_t x, uint32_t y, uint32_t w,
                                    uint32_t h) {
    return std::string{3, static_cast<char>(incremental)} + u16(x) + u16(y) + u16(w) + u16(h);
  }
  static std::string key(bool down, uint32_t keysym) {
    return std::string{4, static_cast<char>(down), 0, 0} + u32(keysym);
  }

  Clock clock{Clock::Mode::kVirtual};
  EventLoop loop{clock};
  DisplayHub hub;
  InputRouter input;
  PictureDisplay display;
  KeyLog keyboard;
  TabletLog tablet;
  vnc::VncServer server;
  std::vector<int> fds;
};

}  // namespace hvmd::test
