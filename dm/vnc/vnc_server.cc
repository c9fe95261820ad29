#include "dm/vnc/vnc_server.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "dm/log.h"
#include "dm/vnc/vnc_client.h"

namespace hvmd::vnc {
namespace {

constexpr int kBacklog = 16;

SocketAddress describe(const sockaddr_storage& address, socklen_t length) {
  SocketAddress out;
  if (address.ss_family == AF_UNIX) {
    const auto& un = reinterpret_cast<const sockaddr_un&>(address);
    size_t max =
        length > offsetof(sockaddr_un, sun_path) ? length - offsetof(sockaddr_un, sun_path) : 0;
    out.host = std::string(un.sun_path, strnlen(un.sun_path, std::min(max, sizeof(un.sun_path))));
    out.family = "unix";
    return out;
  }
  char host[NI_MAXHOST] = "", service[NI_MAXSERV] = "";
  getnameinfo(reinterpret_cast<const sockaddr*>(&address), length, host, sizeof(host), service,
              sizeof(service), NI_NUMERICHOST | NI_NUMERICSERV);
  out.host = host;
  out.service = service;
  out.family = address.ss_family == AF_INET6 ? "ipv6" : "ipv4";
  return out;
}

}  // namespace

VncServer::VncServer(EventLoop& loop, DisplayHub& hub, InputRouter& input, const Keymap& keymap,
                     std::string name)
    : loop_(loop), hub_(hub), input_(input), keymap_(keymap), name_(std::move(name)) {}

VncServer::~VncServer() {
  *alive_ = false;
  clients_.clear();
  if (listen_fd_ >= 0) {
    loop_.unwatch(listen_fd_);
    close(listen_fd_);
  }
  if (timer_fd_ >= 0) {
    loop_.unwatch(timer_fd_);
    close(timer_fd_);
  }
}

Result<int> VncServer::bind_tcp(const VncOptions& options) {
  for (uint32_t display = options.display; display <= options.last_display; ++display) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    addrinfo* found = nullptr;
    std::string port = std::to_string(kBasePort + display);
    if (int rc = getaddrinfo(options.host.empty() ? nullptr : options.host.c_str(), port.c_str(),
                             &hints, &found);
        rc != 0)
      return make_error("-vnc: cannot resolve '%s': %s", options.host.c_str(), gai_strerror(rc));
    int fd = -1;
    int error = 0;
    for (addrinfo* a = found; a && fd < 0; a = a->ai_next) {
      fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
      if (fd < 0) {
        error = errno;
        continue;
      }
      int on = 1;
      setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
      // Accepted sockets inherit it: updates leave at once (no setsockopt in the sandbox).
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
      if (bind(fd, a->ai_addr, a->ai_addrlen) < 0 || ::listen(fd, kBacklog) < 0) {
        error = errno;
        close(fd);
        fd = -1;
      }
    }
    freeaddrinfo(found);
    if (fd >= 0) return fd;
    if (error != EADDRINUSE || display == options.last_display)
      return make_error("-vnc: cannot listen on %s port %s: %s",
                        options.host.empty() ? "*" : options.host.c_str(), port.c_str(),
                        strerror(error));
  }
  return make_error("-vnc: no display free");
}

Result<int> VncServer::bind_unix(const VncOptions& options) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (options.unix_path.size() >= sizeof(address.sun_path))
    return make_error("-vnc unix:%s: path too long", options.unix_path.c_str());
  memcpy(address.sun_path, options.unix_path.c_str(), options.unix_path.size());
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return make_error("-vnc: socket: %s", strerror(errno));
  unlink(options.unix_path.c_str());  // a socket left by an earlier run
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) < 0 ||
      ::listen(fd, kBacklog) < 0) {
    int error = errno;
    close(fd);
    return make_error("-vnc unix:%s: %s", options.unix_path.c_str(), strerror(error));
  }
  return fd;
}

Result<void> VncServer::listen(const VncOptions& options) {
  auto fd = options.unix_path.empty() ? bind_tcp(options) : bind_unix(options);
  if (!fd) return fd.error();
  listen_fd_ = *fd;
  sockaddr_storage address{};
  socklen_t length = sizeof(address);
  if (getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length) == 0)
    address_ = describe(address, length);
  if (!options.unix_path.empty()) address_.host = options.unix_path;
  password_auth_ = options.password;
  timer_fd_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (timer_fd_ < 0) return make_error("-vnc: timerfd_create: %s", strerror(errno));
  HVMD_TRY(loop_.watch(timer_fd_, EPOLLIN, [this](uint32_t) {
    uint64_t expirations;
    if (read(timer_fd_, &expirations, sizeof(expirations)) > 0) frame();
  }));
  resume_accepting();
  if (!accepting_) return make_error("-vnc: cannot watch the listening socket");
  HVMD_INFO("VNC server on %s%s%s", address_.host.c_str(), address_.service.empty() ? "" : ":",
            address_.service.c_str());
  return ok();
}

void VncServer::resume_accepting() {
  if (accepting_ || listen_fd_ < 0) return;
  accepting_ =
      static_cast<bool>(loop_.watch(listen_fd_, EPOLLIN, [this](uint32_t) { accept_clients(); }));
}

void VncServer::pause_accepting() {
  if (!accepting_) return;
  loop_.unwatch(listen_fd_);
  accepting_ = false;
}

void VncServer::accept_clients() {
  while (clients_.size() < kMaxClients) {
    sockaddr_storage address{};
    socklen_t length = sizeof(address);
    int fd = accept4(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length,
                     SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED) return;
      // Out of descriptors: wait for a client to leave rather than spin on the backlog.
      HVMD_HOST_LOG("VNC: accept: %s; not accepting until a client leaves", strerror(errno));
      if (!clients_.empty()) pause_accepting();
      return;
    }
    SocketAddress peer = describe(address, length);
    if (peer.family == "unix") peer.host = address_.host;
    (void)add_client(fd, std::move(peer));
  }
  // At the cap the rest wait in the kernel's backlog.
  pause_accepting();
}

Result<void> VncServer::add_client(int fd, SocketAddress peer) {
  if (clients_.size() >= kMaxClients) {
    close(fd);
    return make_error("VNC: %zu clients already", kMaxClients);
  }
  clients_.push_back(std::make_unique<VncClient>(*this, fd, std::move(peer)));
  auto started = clients_.back()->start();
  if (!started) clients_.pop_back();
  return started;
}

std::vector<SocketAddress> VncServer::clients() const {
  std::vector<SocketAddress> list;
  for (const auto& client : clients_)
    if (client->ready()) list.push_back(client->peer());
  return list;
}

void VncServer::set_password(std::string password) {
  password_ = std::move(password);
  expires_.reset();
}

std::optional<std::string> VncServer::current_password() const {
  if (password_.empty()) return std::nullopt;  // never set: nobody gets in
  if (expires_ && time(nullptr) >= *expires_) return std::nullopt;
  return password_;
}

const Framebuffer& VncServer::draw(const Rect& area) {
  DisplayInfo info = hub_.info();
  uint32_t width = info.mode == DisplayMode::kBlank ? 0 : info.width;
  uint32_t height = info.mode == DisplayMode::kBlank ? 0 : info.height;
  if (width != surface_.width || height != surface_.height) {
    surface_pixels_.assign(size_t{width} * height, 0);
    surface_pixels_.shrink_to_fit();
    surface_ = {surface_pixels_.data(), width, height, width};
  }
  if (width && height) hub_.render(surface_, area);
  return surface_;
}

void VncServer::client_ready() {
  update_timer();
}

void VncServer::client_closed(VncClient* client) {
  // Destroyed from the loop, never inside its own callback.
  loop_.post([this, client, alive = alive_] {
    if (!*alive) return;
    clients_.remove_if([client](const auto& c) { return c.get() == client; });
    update_timer();
    resume_accepting();
    if (clients_.empty()) {
      std::vector<uint32_t>().swap(surface_pixels_);  // no one watching: no memory kept for them
      surface_ = {};
    }
  });
}

void VncServer::update_timer() {
  bool want = std::any_of(clients_.begin(), clients_.end(),
                          [](const auto& client) { return client->ready(); });
  if (want == timer_armed_ || timer_fd_ < 0) return;
  itimerspec spec{};
  if (want) {
    spec.it_interval.tv_nsec = kFrameIntervalNs;
    spec.it_value.tv_nsec = kFrameIntervalNs;
  }
  if (timerfd_settime(timer_fd_, 0, &spec, nullptr) == 0) timer_armed_ = want;
}

size_t VncServer::queued_bytes() const {
  size_t total = 0;
  for (const auto& client : clients_) total += client->queued();
  return total;
}

void VncServer::frame() {
  for (auto& client : clients_) client->frame();
}

}  // namespace hvmd::vnc
