#include "dm/vnc/vnc_client.h"

#include <sys/epoll.h>
#include <sys/random.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "dm/log.h"

namespace hvmd::vnc {
namespace {

uint16_t get16(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] << 8 | p[1]);
}
uint32_t get32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}
void put16(std::vector<uint8_t>& out, uint32_t v) {
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v));
}
void put32(std::vector<uint8_t>& out, uint32_t v) {
  put16(out, v >> 16);
  put16(out, v & 0xffff);
}
void put_rect_header(std::vector<uint8_t>& out, const Rect& r, int32_t encoding) {
  put16(out, r.x);
  put16(out, r.y);
  put16(out, r.width);
  put16(out, r.height);
  put32(out, static_cast<uint32_t>(encoding));
}
void put_pixel_format(std::vector<uint8_t>& out, const rfb::PixelFormat& f) {
  out.insert(out.end(), {f.bits_per_pixel, f.depth, f.big_endian, f.true_colour});
  put16(out, f.red_max);
  put16(out, f.green_max);
  put16(out, f.blue_max);
  out.insert(out.end(), {f.red_shift, f.green_shift, f.blue_shift, 0, 0, 0});
}

// ExtendedDesktopSize's reasons and outcomes.
constexpr uint32_t kReasonServer = 0;
constexpr uint32_t kReasonClient = 1;
constexpr uint32_t kStatusOk = 0;
constexpr uint32_t kStatusProhibited = 1;

// The largest message a client may send whole (SetEncodings listing 65535 encodings).
constexpr size_t kMaxMessage = rfb::kSetEncodingsHeader + 4 * 65535;

}  // namespace

VncClient::VncClient(VncServer& server, int fd, SocketAddress peer)
    : server_(server), fd_(fd), peer_(std::move(peer)) {}

VncClient::~VncClient() {
  if (console_) server_.hub().remove_console(console_);
  // Keys the client held stay pressed for the guest otherwise.
  for (size_t q = 0; q < pressed_.size(); ++q)
    if (pressed_[q]) server_.input().key_event(static_cast<uint16_t>(q), false);
  if (fd_ >= 0) {
    server_.loop().unwatch(fd_);
    ::close(fd_);
  }
}

Result<void> VncClient::start() {
  send(rfb::kServerVersion, rfb::kVersionLength);
  update_watch();
  if (watched_events_ == 0) return make_error("VNC client: cannot watch its socket");
  return ok();
}

void VncClient::update_watch() {
  if (phase_ == Phase::kClosed) return;
  uint32_t events = (input_paused_ ? 0u : uint32_t{EPOLLIN}) | (queued() ? uint32_t{EPOLLOUT} : 0u);
  if (events == watched_events_) return;
  // With nothing to wait for (paused, nothing queued: cannot happen) keep EPOLLIN off anyway.
  if (auto watched = server_.loop().watch(fd_, events, [this](uint32_t e) { on_events(e); });
      !watched) {
    close("cannot watch its socket");
    return;
  }
  watched_events_ = events;
}

void VncClient::on_events(uint32_t events) {
  if (phase_ == Phase::kClosed) return;
  if (events & EPOLLOUT) flush();
  if (phase_ != Phase::kClosed && (events & (EPOLLIN | EPOLLHUP | EPOLLERR))) read_input();
  update_watch();
}

void VncClient::read_input() {
  size_t budget = kReadBudget;
  uint8_t buffer[64 << 10];
  while (budget && !input_paused_ && phase_ != Phase::kClosed) {
    size_t want = std::min(sizeof(buffer), budget);
    ssize_t n = ::read(fd_, buffer, want);
    if (n == 0) return close(nullptr);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) return;
      return close(strerror(errno));
    }
    budget -= static_cast<size_t>(n);
    const uint8_t* data = buffer;
    size_t size = static_cast<size_t>(n);
    // Cut text is dropped as it arrives.
    uint64_t skipped = std::min<uint64_t>(skip_, size);
    skip_ -= skipped;
    data += skipped;
    size -= static_cast<size_t>(skipped);
    in_.insert(in_.end(), data, data + size);
    if (!process()) return;
  }
}

bool VncClient::process() {
  size_t used = 0;
  while (used < in_.size() && phase_ != Phase::kClosed) {
    if (queued() >= kSoftQueueBytes) {
      // The client is not reading what it asked for: stop reading what it asks next.
      input_paused_ = true;
      break;
    }
    auto n = handle(in_.data() + used, in_.size() - used);
    if (!n) return false;
    if (*n == 0) break;
    used += *n;
    if (skip_) {
      uint64_t skipped = std::min<uint64_t>(skip_, in_.size() - used);
      skip_ -= skipped;
      used += static_cast<size_t>(skipped);
    }
  }
  if (phase_ == Phase::kClosed) return false;
  in_.erase(in_.begin(), in_.begin() + static_cast<ptrdiff_t>(used));
  if (in_.size() > kMaxMessage) {
    close("message too long");
    return false;
  }
  return true;
}

std::optional<size_t> VncClient::handle(const uint8_t* data, size_t size) {
  switch (phase_) {
    case Phase::kVersion: {
      if (size < rfb::kVersionLength) return 0;
      // "RFB 003.00N\n"; 3.3 and 3.7 behave differently, anything later is treated as 3.8.
      if (memcmp(data, "RFB 003.", 8) != 0 || data[11] != '\n' ||
          !std::all_of(data + 8, data + 11, [](uint8_t c) { return c >= '0' && c <= '9'; })) {
        close("not an RFB 3.x version");
        return std::nullopt;
      }
      int minor = (data[8] - '0') * 100 + (data[9] - '0') * 10 + (data[10] - '0');
      if (minor < 3) {
        close("RFB version older than 3.3");
        return std::nullopt;
      }
      minor_version_ = minor < 7 ? 3 : minor == 7 ? 7 : 8;
      uint8_t type = server_.password_auth() ? rfb::kSecurityVncAuth : rfb::kSecurityNone;
      if (minor_version_ == 3) {
        // 3.3: the server decides.
        std::vector<uint8_t> out;
        put32(out, type);
        send(out.data(), out.size());
        choose_security(type);
      } else {
        uint8_t offer[] = {1, type};
        send(offer, sizeof(offer));
        phase_ = Phase::kSecurityType;
      }
      return rfb::kVersionLength;
    }
    case Phase::kSecurityType: {
      uint8_t offered = server_.password_auth() ? rfb::kSecurityVncAuth : rfb::kSecurityNone;
      if (data[0] != offered) {
        fail_security("security type not offered");
        return std::nullopt;
      }
      choose_security(data[0]);
      return 1;
    }
    case Phase::kAuthResponse:
      if (size < rfb::kChallengeLength) return 0;
      check_auth(data);
      return phase_ == Phase::kClosed ? std::nullopt : std::optional<size_t>(rfb::kChallengeLength);
    case Phase::kClientInit:
      // The shared flag: every client shares the one display.
      send_server_init();
      return 1;
    case Phase::kNormal:
      return handle_message(data, size);
    case Phase::kClosed:
      return std::nullopt;
  }
  return std::nullopt;
}

void VncClient::choose_security(uint8_t type) {
  if (type == rfb::kSecurityNone) {
    // 3.8 reports the result of "no authentication" too.
    if (minor_version_ == 8) {
      std::vector<uint8_t> out;
      put32(out, rfb::kSecurityResultOk);
      send(out.data(), out.size());
    }
    phase_ = Phase::kClientInit;
    return;
  }
  if (getrandom(challenge_.data(), challenge_.size(), 0) != static_cast<ssize_t>(challenge_.size()))
    return fail_security("no random bytes for a challenge");
  send(challenge_.data(), challenge_.size());
  phase_ = Phase::kAuthResponse;
}

void VncClient::check_auth(const uint8_t* answer) {
  auto password = server_.current_password();
  if (!password || !vnc_auth_matches(vnc_auth_response(challenge_, *password), answer)) {
    fail_security("Authentication failed");
    return;
  }
  std::vector<uint8_t> out;
  put32(out, rfb::kSecurityResultOk);
  send(out.data(), out.size());
  phase_ = Phase::kClientInit;
}

void VncClient::fail_security(const char* reason) {
  std::vector<uint8_t> out;
  put32(out, rfb::kSecurityResultFailed);
  if (minor_version_ == 8) {
    put32(out, static_cast<uint32_t>(strlen(reason)));
    out.insert(out.end(), reason, reason + strlen(reason));
  }
  send(out.data(), out.size());
  flush();  // a few bytes: the socket takes them, or the client was not listening anyway
  HVMD_HOST_LOG("VNC client %s: %s", peer_.host.c_str(), reason);
  close(nullptr);
}

void VncClient::send_server_init() {
  DisplayInfo info = server_.hub().info();
  bool blank = info.mode == DisplayMode::kBlank || !info.width || !info.height;
  width_ = blank ? VncServer::kBlankWidth : std::min<uint32_t>(info.width, 0xffff);
  height_ = blank ? VncServer::kBlankHeight : std::min<uint32_t>(info.height, 0xffff);
  std::vector<uint8_t> out;
  put16(out, width_);
  put16(out, height_);
  put_pixel_format(out, format_);
  put32(out, static_cast<uint32_t>(server_.name().size()));
  out.insert(out.end(), server_.name().begin(), server_.name().end());
  send(out.data(), out.size());
  console_ = server_.hub().add_console();
  phase_ = Phase::kNormal;
  server_.client_ready();
}

std::optional<size_t> VncClient::handle_message(const uint8_t* data, size_t size) {
  switch (data[0]) {
    case rfb::kSetPixelFormat:
      if (size < rfb::kSetPixelFormatLength) return 0;
      set_pixel_format(data + 4);
      if (phase_ == Phase::kClosed) return std::nullopt;
      return rfb::kSetPixelFormatLength;
    case rfb::kSetEncodings: {
      if (size < rfb::kSetEncodingsHeader) return 0;
      size_t count = get16(data + 2);
      size_t length = rfb::kSetEncodingsHeader + 4 * count;
      if (size < length) return 0;
      set_encodings(data + rfb::kSetEncodingsHeader, count);
      return length;
    }
    case rfb::kFramebufferUpdateRequest: {
      if (size < rfb::kFramebufferUpdateRequestLength) return 0;
      Rect area = Rect{get16(data + 2), get16(data + 4), get16(data + 6), get16(data + 8)}.clipped(
          width_, height_);
      update_requested_ = true;
      if (!data[1]) full_ = full_.united(area);
      return rfb::kFramebufferUpdateRequestLength;
    }
    case rfb::kKeyEvent:
      if (size < rfb::kKeyEventLength) return 0;
      key(data[1] != 0, get32(data + 4), 0);
      return rfb::kKeyEventLength;
    case rfb::kPointerEvent:
      if (size < rfb::kPointerEventLength) return 0;
      pointer(data[1], get16(data + 2), get16(data + 4));
      return rfb::kPointerEventLength;
    case rfb::kClientCutText:
      if (size < rfb::kClientCutTextHeader) return 0;
      // hvmd has no clipboard: the text is skipped as it arrives, whatever its length.
      skip_ = get32(data + 4);
      return rfb::kClientCutTextHeader;
    case rfb::kSetDesktopSize: {
      if (size < rfb::kSetDesktopSizeHeader) return 0;
      size_t length = rfb::kSetDesktopSizeHeader + 16 * size_t{data[6]};
      if (size < length) return 0;
      // The guest decides its mode: a client's request is answered as refused.
      if (extended_desktop_size_) send_desktop_size(kReasonClient, kStatusProhibited);
      return length;
    }
    case rfb::kQemuClientMessage:
      if (size < 2) return 0;
      if (data[1] != rfb::kQemuExtendedKeyEvent) {
        close("unknown QEMU client message");
        return std::nullopt;
      }
      if (size < rfb::kQemuExtendedKeyEventLength) return 0;
      key(get16(data + 2) != 0, get32(data + 4), get32(data + 8));
      return rfb::kQemuExtendedKeyEventLength;
    default:
      close("unknown message type");
      return std::nullopt;
  }
}

void VncClient::set_pixel_format(const uint8_t* p) {
  rfb::PixelFormat f{p[0],         p[1],         p[2] != 0, p[3] != 0, get16(p + 4),
                     get16(p + 6), get16(p + 8), p[10],     p[11],     p[12]};
  std::string why;
  if (!pixel_format_supported(f, &why)) return close(("pixel format: " + why).c_str());
  format_ = f;
  converter_ = PixelConverter(f);
  if (!f.true_colour) send_colour_map();
  // What the client holds is in the old format.
  full_ = Rect{0, 0, width_, height_};
}

void VncClient::set_encodings(const uint8_t* p, size_t count) {
  bool had_extended_keys = extended_keys_;
  desktop_size_ = extended_desktop_size_ = extended_keys_ = false;
  bool chosen = false;
  encoding_ = rfb::kEncodingRaw;
  for (size_t i = 0; i < count; ++i) {
    auto encoding = static_cast<int32_t>(get32(p + 4 * i));
    // The list is in the client's order of preference: the first encoding hvmd has wins.
    if (!chosen && (encoding == rfb::kEncodingRaw || encoding == rfb::kEncodingHextile ||
                    encoding == rfb::kEncodingZrle)) {
      encoding_ = encoding;
      chosen = true;
    }
    if (encoding == rfb::kEncodingDesktopSize) desktop_size_ = true;
    if (encoding == rfb::kEncodingExtendedDesktopSize) extended_desktop_size_ = true;
    if (encoding == rfb::kEncodingQemuExtendedKeyEvent) extended_keys_ = true;
  }
  // Raw is always understood; a list without an encoding hvmd has gets raw. QEMU's clients learn
  // that the server takes extended key events from an update carrying the pseudo-encoding.
  if (extended_keys_ && !had_extended_keys) {
    std::vector<uint8_t> out = {rfb::kFramebufferUpdate, 0};
    put16(out, 1);
    put_rect_header(out, Rect{}, rfb::kEncodingQemuExtendedKeyEvent);
    send(out.data(), out.size());
  }
}

void VncClient::key(bool down, uint32_t keysym, uint32_t keycode) {
  // An extended key event names the key itself (its set-1 code, 0x80 | code behind 0xE0).
  uint32_t qnum = keycode ? keycode : server_.keymap().qnum(keysym);
  if (qnum == 0 || qnum >= pressed_.size()) {
    HVMD_HOST_LOG("VNC: no key makes keysym 0x%x (keycode 0x%x) on layout %s", keysym, keycode,
                  server_.keymap().name().c_str());
    return;
  }
  pressed_[qnum] = down;
  server_.input().key_event(static_cast<uint16_t>(qnum), down);
}

void VncClient::pointer(uint8_t mask, uint32_t x, uint32_t y) {
  int dz = 0;
  // A wheel step is a press of its button.
  if ((mask & rfb::kWheelUp) && !(last_mask_ & rfb::kWheelUp)) dz -= 1;
  if ((mask & rfb::kWheelDown) && !(last_mask_ & rfb::kWheelDown)) dz += 1;
  last_mask_ = mask;
  uint8_t buttons = static_cast<uint8_t>(((mask & rfb::kButton1) ? kButtonLeft : 0) |
                                         ((mask & rfb::kButton2) ? kButtonMiddle : 0) |
                                         ((mask & rfb::kButton3) ? kButtonRight : 0));
  // The position scaled to the absolute range over the picture the client shows; the router
  // gives it to an absolute pointer (a USB tablet) or turns it into motion for the PS/2 mouse.
  auto scale = [](uint32_t v, uint32_t size) -> uint32_t {
    if (size <= 1) return 0;
    v = std::min(v, size - 1);
    return static_cast<uint32_t>(uint64_t{v} * InputRouter::kAbsoluteMax / (size - 1));
  };
  server_.input().set_screen_size(width_, height_);
  server_.input().absolute_event(scale(x, width_), scale(y, height_), dz, buttons);
}

void VncClient::frame() {
  if (phase_ != Phase::kNormal || !update_requested_ || queued() >= kSoftQueueBytes) return;
  DisplayHub::Update update = server_.hub().poll(console_);
  bool blank = update.info.mode == DisplayMode::kBlank || !update.info.width || !update.info.height;
  uint32_t width = blank ? VncServer::kBlankWidth : std::min<uint32_t>(update.info.width, 0xffff);
  uint32_t height =
      blank ? VncServer::kBlankHeight : std::min<uint32_t>(update.info.height, 0xffff);
  if (width != width_ || height != height_) {
    if (desktop_size_ || extended_desktop_size_) {
      // The new size answers this request; the client then asks for the whole new picture.
      width_ = width;
      height_ = height;
      send_desktop_size(kReasonServer, kStatusOk);
      full_ = Rect{0, 0, width_, height_};
      update_requested_ = false;
      return;
    }
  }
  // A client that cannot resize keeps its size and sees the part of the picture that fits.
  if (update.resized) full_ = Rect{0, 0, width_, height_};
  std::vector<Rect> rects;
  if (!full_.empty()) rects.push_back(full_);
  for (const Rect& damage : update.damage) {
    Rect r = damage.clipped(width_, height_);
    if (r.empty() || full_.united(r) == full_) continue;
    rects.push_back(r);
  }
  if (rects.empty()) return;  // the request stays pending until something changes
  send_update(rects);
  full_ = {};
  update_requested_ = false;
}

void VncClient::send_desktop_size(uint32_t reason, uint32_t status) {
  std::vector<uint8_t> out = {rfb::kFramebufferUpdate, 0};
  put16(out, 1);
  // The classic form where the client knows it (libvncclient announces both but handles only it).
  if (desktop_size_ || !extended_desktop_size_) {
    put_rect_header(out, Rect{0, 0, width_, height_}, rfb::kEncodingDesktopSize);
  } else {
    // x: why the size changed, y: the outcome; then the one screen, the whole framebuffer.
    put_rect_header(out, Rect{reason, status, width_, height_}, rfb::kEncodingExtendedDesktopSize);
    out.insert(out.end(), {1, 0, 0, 0});
    put32(out, 0);                                         // screen id
    put_rect_header(out, Rect{0, 0, width_, height_}, 0);  // its area, then flags 0
  }
  send(out.data(), out.size());
  flush();
}

void VncClient::send_colour_map() {
  std::vector<uint8_t> out = {rfb::kSetColourMapEntries, 0};
  put16(out, 0);    // first colour
  put16(out, 256);  // colours
  for (uint32_t i = 0; i < 256; ++i) {
    put16(out, (i >> 5) * 0xffff / 7);
    put16(out, ((i >> 2) & 7) * 0xffff / 7);
    put16(out, (i & 3) * 0xffff / 3);
  }
  send(out.data(), out.size());
}

void VncClient::send_update(const std::vector<Rect>& rects) {
  std::vector<uint8_t> header = {rfb::kFramebufferUpdate, 0};
  put16(header, static_cast<uint32_t>(rects.size()));
  send(header.data(), header.size());
  for (const Rect& r : rects) {
    const Framebuffer& fb = server_.draw(r);
    int32_t encoding = encoding_;
    if (encoding == rfb::kEncodingZrle && !zrle_ && !zrle_failed_) {
      zrle_ = std::make_unique<ZrleEncoder>();
      if (!zrle_->ok()) zrle_.reset();
      zrle_failed_ = !zrle_;
    }
    if (encoding == rfb::kEncodingZrle && !zrle_) encoding = rfb::kEncodingRaw;
    size_t header_at = out_.size();
    put_rect_header(out_, r, encoding);
    if (encoding == rfb::kEncodingZrle) {
      if (zrle_->encode(fb, r, format_, converter_, out_)) continue;
      // zlib failed (no memory): this rectangle and the rest go raw.
      HVMD_HOST_LOG("VNC client %s: ZRLE failed; sending raw", peer_.host.c_str());
      zrle_.reset();
      zrle_failed_ = true;
      out_.resize(header_at);
      put_rect_header(out_, r, rfb::kEncodingRaw);
    } else if (encoding == rfb::kEncodingHextile) {
      encode_hextile(fb, r, converter_, out_);
      continue;
    }
    send_raw(fb, r);
  }
  flush();
}

void VncClient::send_raw(const Framebuffer& fb, const Rect& r) {
  size_t bytes = converter_.bytes_per_pixel();
  // Raw pixels, row by row; what lies outside the picture (a client that could not follow a
  // mode change to a smaller one, a blank screen) is black.
  size_t start = out_.size();
  out_.resize(start + size_t{r.width} * r.height * bytes);
  uint8_t* dst = out_.data() + start;
  for (uint32_t y = r.y; y < r.y + r.height; ++y) {
    uint32_t inside = y < fb.height && r.x < fb.width ? std::min(r.width, fb.width - r.x) : 0;
    if (inside) converter_.convert(fb.pixels + size_t{y} * fb.stride + r.x, inside, dst);
    memset(dst + size_t{inside} * bytes, 0, size_t{r.width - inside} * bytes);
    dst += size_t{r.width} * bytes;
  }
}

void VncClient::send(const void* data, size_t size) {
  auto bytes = static_cast<const uint8_t*>(data);
  out_.insert(out_.end(), bytes, bytes + size);
}

void VncClient::flush() {
  while (queued() && phase_ != Phase::kClosed) {
    ssize_t n = ::write(fd_, out_.data() + out_offset_, queued());
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) break;
      return close(strerror(errno));
    }
    out_offset_ += static_cast<size_t>(n);
  }
  if (out_offset_ == out_.size()) {
    out_.clear();
    out_offset_ = 0;
    // Keep a frame's worth of capacity at most once drained.
    if (out_.capacity() > 4 * kSoftQueueBytes) out_.shrink_to_fit();
  } else if (out_offset_ >= kSoftQueueBytes) {
    out_.erase(out_.begin(), out_.begin() + static_cast<ptrdiff_t>(out_offset_));
    out_offset_ = 0;
  }
  if (input_paused_ && queued() < kSoftQueueBytes && phase_ != Phase::kClosed) {
    input_paused_ = false;
    process();  // what was held back
  }
  update_watch();
}

void VncClient::close(const char* why) {
  if (phase_ == Phase::kClosed) return;
  if (why) HVMD_HOST_LOG("VNC client %s: %s; disconnecting", peer_.host.c_str(), why);
  phase_ = Phase::kClosed;
  server_.loop().unwatch(fd_);
  watched_events_ = 0;
  server_.client_closed(this);
}

}  // namespace hvmd::vnc
