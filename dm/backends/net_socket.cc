#include "dm/backends/net_socket.h"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "dm/log.h"

namespace hvmd {

namespace {

constexpr size_t kLengthBytes = 4;  // the big-endian frame length on stream sockets
// Bytes waiting for a slow stream peer; beyond this frames are dropped, as a full tap would.
constexpr size_t kMaxPendingOut = 1 << 20;
// Frames read per wake-up, so one busy peer cannot starve the loop.
constexpr int kFramesPerWakeup = 64;

class SocketFdBackend final : public NetBackend {
 public:
  SocketFdBackend(std::string id, int fd, bool stream, EventLoop& loop)
      : NetBackend(std::move(id)), fd_(fd), stream_(stream), loop_(loop) {}
  ~SocketFdBackend() override {
    if (watched_) loop_.unwatch(fd_);
    close(fd_);
  }

  bool send(std::span<const uint8_t> frame) override {
    if (!link_up() || closed_ || frame.empty()) return false;
    if (!stream_) return write(fd_, frame.data(), frame.size()) == ssize_t(frame.size());
    if (out_.size() + kLengthBytes + frame.size() > kMaxPendingOut) return false;
    uint8_t length[kLengthBytes] = {
        static_cast<uint8_t>(frame.size() >> 24), static_cast<uint8_t>(frame.size() >> 16),
        static_cast<uint8_t>(frame.size() >> 8), static_cast<uint8_t>(frame.size())};
    if (out_.empty()) {
      // The common case: straight out; only what the socket did not take is kept.
      iovec parts[2] = {{length, kLengthBytes}, {const_cast<uint8_t*>(frame.data()), frame.size()}};
      ssize_t n = writev(fd_, parts, 2);
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return peer_gone("write");
      size_t written = n < 0 ? 0 : size_t(n);
      if (written == kLengthBytes + frame.size()) return true;
      if (written < kLengthBytes) out_.insert(out_.end(), length + written, length + kLengthBytes);
      size_t skip = written > kLengthBytes ? written - kLengthBytes : 0;
      out_.insert(out_.end(), frame.begin() + skip, frame.end());
    } else {
      out_.insert(out_.end(), length, length + kLengthBytes);
      out_.insert(out_.end(), frame.begin(), frame.end());
    }
    update_watch();
    return true;
  }

  void set_receiving(bool on) override {
    receiving_ = on;
    if (on && stream_ && !in_.empty()) {
      // Frames already read wait for the loop: the NIC calls this from a register write.
      loop_.post([this, alive = std::weak_ptr<bool>(alive_)] {
        if (alive.lock()) on_ready(0);
      });
    }
    update_watch();
  }

  std::string describe() const override {
    return "socket: fd=" + std::to_string(fd_) + (stream_ ? " (stream)" : " (datagram)");
  }

 private:
  void update_watch() {
    uint32_t events = 0;
    if (!closed_ && receiving_) events |= EPOLLIN;
    if (!closed_ && !out_.empty()) events |= EPOLLOUT;
    if (events == watched_events_) return;
    watched_events_ = events;
    if (events == 0) {
      if (watched_) loop_.unwatch(fd_);
      watched_ = false;
      return;
    }
    watched_ = static_cast<bool>(loop_.watch(fd_, events, [this](uint32_t e) { on_ready(e); }));
  }

  bool peer_gone(const char* what) {
    if (!closed_)
      HVMD_WARN("netdev %s: %s: the peer is gone (%s)", id().c_str(), what, strerror(errno));
    closed_ = true;
    out_.clear();
    update_watch();
    return false;
  }

  void on_ready(uint32_t events) {
    if (events & EPOLLOUT) flush_out();
    if (stream_)
      read_stream();
    else if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
      read_datagrams();
    update_watch();
  }

  void flush_out() {
    while (!out_.empty() && !closed_) {
      ssize_t n = write(fd_, out_.data(), out_.size());
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      if (n <= 0) {
        peer_gone("write");
        return;
      }
      out_.erase(out_.begin(), out_.begin() + n);
    }
  }

  void read_datagrams() {
    if (buffer_.empty()) buffer_.resize(kMaxFrame);
    for (int i = 0; i < kFramesPerWakeup && receiving_ && !closed_; ++i) {
      if (!client_can_receive()) {
        receiving_ = false;  // the NIC turns it back on when it has room
        return;
      }
      ssize_t n = recv(fd_, buffer_.data(), buffer_.size(), MSG_DONTWAIT);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      if (n < 0) {
        peer_gone("read");
        return;
      }
      if (n > 0) deliver({buffer_.data(), size_t(n)});
    }
  }

  // Delivers the whole frames in in_, then reads more: at most kFramesPerWakeup frames.
  void read_stream() {
    for (int frames = 0; frames < kFramesPerWakeup && !closed_;) {
      if (in_.size() >= kLengthBytes) {
        size_t length = size_t{in_[0]} << 24 | size_t{in_[1]} << 16 | size_t{in_[2]} << 8 | in_[3];
        if (length > kMaxFrame) {
          // Not a frame stream (or a hostile peer): stop reading it, as QEMU drops the peer.
          HVMD_WARN("netdev %s: frame length %zu from the peer is above %zu: peer dropped",
                    id().c_str(), length, kMaxFrame);
          closed_ = true;
          return;
        }
        if (in_.size() >= kLengthBytes + length) {
          if (!receiving_) return;
          if (!client_can_receive()) {
            receiving_ = false;
            return;
          }
          if (length > 0) deliver({in_.data() + kLengthBytes, length});
          in_.erase(in_.begin(), in_.begin() + static_cast<ptrdiff_t>(kLengthBytes + length));
          ++frames;
          continue;
        }
      }
      if (!receiving_) return;
      // Read at most what completes the frame under way (or its length), so in_ stays bounded.
      size_t want =
          in_.size() < kLengthBytes
              ? kLengthBytes - in_.size()
              : kLengthBytes +
                    (size_t{in_[0]} << 24 | size_t{in_[1]} << 16 | size_t{in_[2]} << 8 | in_[3]) -
                    in_.size();
      size_t old = in_.size();
      in_.resize(old + want);
      ssize_t n = recv(fd_, in_.data() + old, want, MSG_DONTWAIT);
      in_.resize(old + (n > 0 ? size_t(n) : 0));
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      if (n == 0) errno = ECONNRESET;
      if (n <= 0) {
        peer_gone("read");
        return;
      }
    }
  }

  int fd_;
  bool stream_;
  EventLoop& loop_;
  std::vector<uint8_t> buffer_;  // datagrams
  std::vector<uint8_t> in_;      // stream: a frame being assembled
  std::vector<uint8_t> out_;     // stream: bytes the socket has not taken yet
  bool receiving_ = false;
  bool closed_ = false;
  bool watched_ = false;
  uint32_t watched_events_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // for posted work
};

}  // namespace

Result<std::unique_ptr<NetBackend>> open_socket_fd_backend(const std::string& id,
                                                           OptionReader& reader, EventLoop& loop) {
  const std::string& what = reader.what();
  auto text = reader.string("fd").value_or("");
  for (const char* other : {"udp", "localaddr", "listen", "connect", "mcast"})
    if (reader.string(other)) return make_error("%s: fd= excludes %s=", what.c_str(), other);
  HVMD_TRY(reader.finish());
  auto number = parse_number(text, INT32_MAX);
  if (!number)
    return make_error("%s: fd=%s is not a descriptor number", what.c_str(), text.c_str());
  int fd = static_cast<int>(*number);
  int type = 0;
  socklen_t length = sizeof(type);
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &length) != 0)
    return make_error("%s: fd=%s: %s", what.c_str(), text.c_str(),
                      errno == ENOTSOCK ? "not a socket" : strerror(errno));
  if (type != SOCK_STREAM && type != SOCK_DGRAM && type != SOCK_SEQPACKET)
    return make_error("%s: fd=%s: neither a stream nor a datagram socket", what.c_str(),
                      text.c_str());
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0 ||
      fcntl(fd, F_SETFD, FD_CLOEXEC) != 0)
    return make_error("%s: fd=%s: %s", what.c_str(), text.c_str(), strerror(errno));
  // A sequenced-packet socket keeps frame boundaries as datagrams do.
  return std::unique_ptr<NetBackend>(
      std::make_unique<SocketFdBackend>(id, fd, type == SOCK_STREAM, loop));
}

}  // namespace hvmd
