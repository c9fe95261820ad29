// hvmd's VNC server: shows the machine's display (DisplayHub) to RFB clients and turns their
// keyboard and pointer events into the guest's input (InputRouter, through the -k keymap).
//
// Everything runs on the device thread's event loop: the listening socket and each client are
// non-blocking descriptors on it, and a frame timer (a host-clock timerfd, so it also runs under
// qtest's virtual clock) polls the display 30 times a second, only while a client is connected.
// With no client, an idle guest costs nothing. Bounds: at most kMaxClients clients (the rest wait
// in the backlog); a client gets a new frame only while less than VncClient::kSoftQueueBytes of
// what it was sent is still unread, and its further requests are not even read until it catches
// up, so a slow or stalled client holds at most one frame plus that much; damage meanwhile
// merges in the hub.
//
// The listening socket and the timer are made before the sandbox; serving needs only accept4,
// read/write, epoll, timerfd_settime and getrandom, all in the daemon's allowlist.
#pragma once

#include <cstdint>
#include <ctime>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dm/display.h"
#include "dm/event_loop.h"
#include "dm/input.h"
#include "dm/result.h"
#include "dm/vnc/keymap.h"
#include "dm/vnc/vnc_options.h"

namespace hvmd::vnc {

class VncClient;

// A socket address as QMP's query-vnc reports it.
struct SocketAddress {
  std::string host;
  std::string service;
  std::string family;  // "ipv4", "ipv6", "unix"
};

class VncServer {
 public:
  static constexpr size_t kMaxClients = 8;
  static constexpr int64_t kFrameIntervalNs = 33'333'333;  // 30 frames a second
  // What a client sees while the guest shows nothing (QEMU's size for it).
  static constexpr uint32_t kBlankWidth = 640;
  static constexpr uint32_t kBlankHeight = 480;

  VncServer(EventLoop& loop, DisplayHub& hub, InputRouter& input, const Keymap& keymap,
            std::string name);
  ~VncServer();
  VncServer(const VncServer&) = delete;
  VncServer& operator=(const VncServer&) = delete;

  // Opens the listening socket (the first free display of the range) and the frame timer.
  Result<void> listen(const VncOptions& options);
  // Serves an already connected socket (tests, benchmarks); takes the descriptor.
  Result<void> add_client(int fd, SocketAddress peer);

  // QMP: the address listened on, the clients, and the password.
  bool enabled() const { return listen_fd_ >= 0; }
  const SocketAddress& address() const { return address_; }
  bool password_auth() const { return password_auth_; }
  void set_password_auth(bool on) { password_auth_ = on; }
  std::vector<SocketAddress> clients() const;
  void set_password(std::string password);
  // The password stops working at expires (seconds since the epoch), or never (nullopt).
  void set_password_expiry(std::optional<int64_t> expires) { expires_ = expires; }

  // Used by clients.
  EventLoop& loop() { return loop_; }
  DisplayHub& hub() { return hub_; }
  InputRouter& input() { return input_; }
  const Keymap& keymap() const { return keymap_; }
  const std::string& name() const { return name_; }
  // The password a client must know now; nullopt when none is set or it has expired.
  std::optional<std::string> current_password() const;
  // Draws area of the current picture into the shared surface and returns it (width x height
  // of the picture; empty when the display is blank).
  const Framebuffer& draw(const Rect& area);
  void client_ready();
  void client_closed(VncClient* client);

  // One frame for every client (the timer's work; benchmarks call it directly).
  void frame();
  size_t client_count() const { return clients_.size(); }
  // Bytes waiting to be sent, all clients together (tests and benchmarks watch the bound).
  size_t queued_bytes() const;

 private:
  void accept_clients();
  void pause_accepting();
  void resume_accepting();
  void update_timer();
  Result<int> bind_tcp(const VncOptions& options);
  Result<int> bind_unix(const VncOptions& options);

  EventLoop& loop_;
  DisplayHub& hub_;
  InputRouter& input_;
  const Keymap& keymap_;
  std::string name_;
  int listen_fd_ = -1;
  bool accepting_ = false;
  int timer_fd_ = -1;
  bool timer_armed_ = false;
  SocketAddress address_;
  bool password_auth_ = false;
  std::string password_;
  std::optional<int64_t> expires_;
  std::list<std::unique_ptr<VncClient>> clients_;
  // Work posted to the loop checks it: the server may be gone by the time it runs.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::vector<uint32_t> surface_pixels_;
  Framebuffer surface_;
};

}  // namespace hvmd::vnc
