// One VNC client connection: the RFB handshake (version, security, VNC authentication, init),
// then the client's messages (pixel format, encodings, update requests, key and pointer events,
// cut text) and the framebuffer updates the server's frame timer sends it.
//
// Client input is hostile: every message is checked before it is acted on, a malformed one ends
// the connection (logged, rate-limited), and nothing the client says sizes an allocation: a
// message is buffered only up to the largest legal one (SetEncodings with 65535 entries), cut
// text is skipped as it arrives rather than stored.
#pragma once

#include <bitset>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dm/display.h"
#include "dm/result.h"
#include "dm/vnc/encodings.h"
#include "dm/vnc/pixel_format.h"
#include "dm/vnc/rfb.h"
#include "dm/vnc/vnc_auth.h"
#include "dm/vnc/vnc_server.h"

namespace hvmd::vnc {

class VncClient {
 public:
  // A new frame is produced only while less than this is waiting to be sent, and client
  // messages are not read meanwhile: the most a client that stops reading costs is this plus
  // one frame.
  static constexpr size_t kSoftQueueBytes = 1 << 20;
  // Bytes read per readiness event, so one busy client cannot starve the loop.
  static constexpr size_t kReadBudget = 256 << 10;

  VncClient(VncServer& server, int fd, SocketAddress peer);
  ~VncClient();
  VncClient(const VncClient&) = delete;
  VncClient& operator=(const VncClient&) = delete;

  Result<void> start();
  const SocketAddress& peer() const { return peer_; }
  bool ready() const { return phase_ == Phase::kNormal; }
  // Sends an update if one was asked for, there is something to send and room to queue it.
  void frame();
  size_t queued() const { return out_.size() - out_offset_; }

 private:
  enum class Phase { kVersion, kSecurityType, kAuthResponse, kClientInit, kNormal, kClosed };

  void on_events(uint32_t events);
  void read_input();
  // Acts on the complete messages buffered; false when the connection ended.
  bool process();
  // Handles the message at the front of in_; returns the bytes it used, 0 if it is incomplete,
  // or nullopt if the connection ended.
  std::optional<size_t> handle(const uint8_t* data, size_t size);
  std::optional<size_t> handle_message(const uint8_t* data, size_t size);
  void choose_security(uint8_t type);
  void check_auth(const uint8_t* answer);
  void fail_security(const char* reason);
  void send_server_init();
  void set_pixel_format(const uint8_t* data);
  void set_encodings(const uint8_t* data, size_t count);
  void key(bool down, uint32_t keysym, uint32_t keycode);
  void pointer(uint8_t mask, uint32_t x, uint32_t y);
  void send_update(const std::vector<Rect>& rects);
  void send_raw(const Framebuffer& fb, const Rect& r);
  void send_desktop_size(uint32_t reason, uint32_t status);
  void send_colour_map();
  void send(const void* data, size_t size);
  void flush();
  void update_watch();
  // Ends the connection (once): the server destroys the client from the loop.
  void close(const char* why);

  VncServer& server_;
  int fd_;
  SocketAddress peer_;
  DisplayHub::ConsoleId console_ = 0;
  Phase phase_ = Phase::kVersion;
  int minor_version_ = 8;  // 3, 7 or 8
  Challenge challenge_{};
  std::vector<uint8_t> in_;
  uint64_t skip_ = 0;  // cut text still to be discarded
  std::vector<uint8_t> out_;
  size_t out_offset_ = 0;
  uint32_t watched_events_ = 0;
  bool input_paused_ = false;

  rfb::PixelFormat format_;
  PixelConverter converter_{format_};
  std::vector<uint8_t> row_;  // one converted row
  // The rectangle encoding: the first of raw, Hextile and ZRLE in the client's SetEncodings list.
  int32_t encoding_ = rfb::kEncodingRaw;
  // ZRLE's zlib stream, made when the first ZRLE rectangle is sent and kept for the connection
  // (the client inflates one stream); after a zlib failure ZRLE is not used again.
  std::unique_ptr<ZrleEncoder> zrle_;
  bool zrle_failed_ = false;
  bool desktop_size_ = false;
  bool extended_desktop_size_ = false;
  bool extended_keys_ = false;
  bool update_requested_ = false;
  Rect full_;           // asked for whole (non-incremental requests)
  uint32_t width_ = 0;  // the framebuffer size the client knows
  uint32_t height_ = 0;
  uint8_t last_mask_ = 0;
  std::bitset<256> pressed_;  // released for the guest when the client goes
};

}  // namespace hvmd::vnc
