#include "dm/backends/chardev.h"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "dm/log.h"

namespace hvmd {
namespace {

void set_nonblocking(int fd) {
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

bool is_regular_file(int fd) {
  struct stat st {};
  return fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
}

Result<sockaddr_un> unix_address(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path))
    return make_error("socket path '%s' is empty or too long", path.c_str());
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return addr;
}

Result<void> apply_socket_keys(ChardevSpec& spec, OptionReader& r) {
  auto server = r.boolean("server");
  if (!server) return server.error();
  auto wait = r.boolean("wait");
  if (!wait) return wait.error();
  spec.server = server->value_or(false);
  spec.wait = wait->value_or(true);
  if (r.string("host") || r.string("port"))
    return make_error("%s: only unix sockets (path= or fd=) are supported", r.what().c_str());
  return ok();
}

}  // namespace

Result<ChardevSpec> ChardevSpec::from_options(const SubOptions& options) {
  ChardevSpec spec;
  auto backend = options.get("backend");
  OptionReader r(options, "chardev '" + options.get("id").value_or("") + "'");
  r.ignore("backend");
  auto id = r.string("id");
  if (!id || id->empty())
    return make_error("-chardev %s: missing id=", options.to_string().c_str());
  spec.id = *id;
  if (backend == "socket") {
    spec.kind = Kind::kSocket;
    auto path = r.string("path");
    auto fd = r.number("fd", INT32_MAX);
    if (!fd) return fd.error();
    HVMD_TRY(apply_socket_keys(spec, r));
    if (path.has_value() == fd->has_value())
      return make_error("chardev '%s': socket needs exactly one of path= and fd=", id->c_str());
    if (path) spec.path = *path;
    if (*fd) spec.fd = static_cast<int>(**fd);
  } else if (backend == "pty") {
    spec.kind = Kind::kPty;
  } else if (backend == "stdio") {
    spec.kind = Kind::kStdio;
    r.ignore("signal");
  } else if (backend == "file") {
    spec.kind = Kind::kFile;
    auto path = r.string("path");
    if (!path || path->empty()) return make_error("chardev '%s': file needs path=", id->c_str());
    spec.path = *path;
  } else if (backend == "null") {
    spec.kind = Kind::kNull;
  } else {
    return make_error(
        "chardev '%s': backend '%s' is not supported (socket, pty, stdio, file, null)", id->c_str(),
        backend.value_or("").c_str());
  }
  r.ignore("logfile");  // accepted for compatibility, not used
  HVMD_TRY(r.finish());
  return spec;
}

Result<ChardevSpec> ChardevSpec::from_short(std::string_view text, std::string id) {
  ChardevSpec spec;
  spec.id = std::move(id);
  if (text == "stdio") {
    spec.kind = Kind::kStdio;
  } else if (text == "pty") {
    spec.kind = Kind::kPty;
  } else if (text == "null" || text == "none") {
    spec.kind = Kind::kNull;
  } else if (text.starts_with("file:")) {
    spec.kind = Kind::kFile;
    spec.path = std::string(text.substr(5));
  } else if (text.starts_with("unix:")) {
    auto options = SubOptions::parse(text.substr(5), "path");
    if (!options) return options.error();
    OptionReader r(*options, "'" + std::string(text) + "'");
    spec.kind = Kind::kSocket;
    spec.path = r.string("path").value_or("");
    HVMD_TRY(apply_socket_keys(spec, r));
    HVMD_TRY(r.finish());
  } else {
    return make_error(
        "'%.*s' is not a supported character device (unix:PATH, stdio, pty, "
        "null, file:PATH)",
        int(text.size()), text.data());
  }
  return spec;
}

std::string ChardevSpec::describe(const std::string& pty_path) const {
  switch (kind) {
    case Kind::kSocket:
      return (fd >= 0 ? "fd:" + std::to_string(fd) : "unix:" + path) + (server ? ",server=on" : "");
    case Kind::kPty:
      return "pty:" + pty_path;
    case Kind::kStdio:
      return "stdio";
    case Kind::kFile:
      return "file";
    case Kind::kNull:
      return "null";
  }
  return "";
}

CharConnection::CharConnection(EventLoop& loop, int in_fd, int out_fd, bool owns_fds)
    : loop_(loop), in_fd_(in_fd), out_fd_(out_fd), owns_fds_(owns_fds) {
  out_is_file_ = out_fd_ >= 0 && is_regular_file(out_fd_);
  struct stat st {};
  is_socket_ = in_fd_ >= 0 && fstat(in_fd_, &st) == 0 && S_ISSOCK(st.st_mode);
}

int CharConnection::take_fd() {
  if (received_fds_.empty()) return -1;
  int fd = received_fds_.front();
  received_fds_.pop_front();
  return fd;
}

// Reads what is there; on a socket, descriptors passed with the bytes are kept for take_fd.
ssize_t CharConnection::receive(char* buffer, size_t size) {
  if (!is_socket_) return read(in_fd_, buffer, size);
  constexpr size_t kMaxFds = 8;
  alignas(cmsghdr) char control[CMSG_SPACE(kMaxFds * sizeof(int))];
  iovec iov{buffer, size};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  ssize_t n = recvmsg(in_fd_, &msg, MSG_CMSG_CLOEXEC);
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); n >= 0 && c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      if (received_fds_.size() < kMaxFds)
        received_fds_.push_back(fd);
      else
        ::close(fd);  // a peer flooding us with descriptors gets them closed
    }
  }
  return n;
}

CharConnection::~CharConnection() {
  close();
}

void CharConnection::start(DataFn on_data, CloseFn on_close) {
  on_data_ = std::move(on_data);
  on_close_ = std::move(on_close);
  if (in_fd_ < 0) return;
  if (!is_regular_file(in_fd_)) {
    set_nonblocking(in_fd_);
    if (loop_.watch(in_fd_, EPOLLIN, [this](uint32_t) { on_readable(); })) return;
  }
  // Input that epoll cannot watch (a regular file, /dev/null): read it all now, then EOF.
  auto self = shared_from_this();
  char buffer[4096];
  ssize_t n;
  while (open_ && (n = read(in_fd_, buffer, sizeof(buffer))) > 0) on_data_({buffer, size_t(n)});
  if (open_ && !(output_outlives_input_ && out_fd_ != in_fd_) && on_close_) on_close_();
}

void CharConnection::on_readable() {
  auto self = shared_from_this();  // a callback may drop the last other reference
  char buffer[4096];
  ssize_t n = receive(buffer, sizeof(buffer));
  if (n > 0) {
    on_data_({buffer, static_cast<size_t>(n)});
    return;
  }
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (output_outlives_input_ && out_fd_ != in_fd_) {
    loop_.unwatch(in_fd_);  // stdin ended; stdout still takes output
    return;
  }
  if (n == 0 && !queued_.empty()) {
    // A half-close after a request: the peer still reads the replies queued for it.
    input_ended_ = true;
    update_watch();
    return;
  }
  end();
}

void CharConnection::end() {
  if (!open_) return;
  close();
  loop_.post([weak = weak_from_this()] {
    if (auto self = weak.lock())
      if (self->on_close_) self->on_close_();
  });
}

void CharConnection::write(std::string_view data) {
  if (!open_ || out_fd_ < 0) return;
  if (out_is_file_) {
    while (!data.empty()) {
      ssize_t n = ::write(out_fd_, data.data(), data.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return;
  }
  if (queued_.size() + data.size() > max_queued_) {
    HVMD_WARN("character device peer does not read (%zu bytes queued); closing the connection",
              queued_.size());
    end();
    return;
  }
  queued_.append(data);
  flush();
}

void CharConnection::flush() {
  while (!queued_.empty()) {
    ssize_t n = ::write(out_fd_, queued_.data(), queued_.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) break;
    if (n <= 0) {
      queued_.clear();  // peer gone; the read side reports the close
      if (input_ended_) end();
      return;
    }
    queued_.erase(0, static_cast<size_t>(n));
  }
  if (input_ended_ && queued_.empty()) return end();
  update_watch();
}

void CharConnection::update_watch() {
  if (!open_) return;
  bool want_out = !queued_.empty();
  if (out_fd_ == in_fd_) {
    uint32_t events = (input_ended_ ? 0u : EPOLLIN) | (want_out ? EPOLLOUT : 0u);
    (void)loop_.watch(in_fd_, events, [this](uint32_t ready) {
      auto self = shared_from_this();
      if (ready & EPOLLOUT) flush();
      if (open_ && !input_ended_ && (ready & (EPOLLIN | EPOLLHUP | EPOLLERR))) on_readable();
      // Half-closed and now gone altogether: nobody will read the rest.
      if (open_ && input_ended_ && (ready & (EPOLLERR | EPOLLHUP))) end();
    });
  } else if (want_out) {
    set_nonblocking(out_fd_);
    (void)loop_.watch(out_fd_, EPOLLOUT, [this](uint32_t) {
      auto self = shared_from_this();
      flush();
    });
  } else {
    loop_.unwatch(out_fd_);
  }
}

void CharConnection::close() {
  if (!open_) return;
  open_ = false;
  for (int fd : received_fds_) ::close(fd);
  received_fds_.clear();
  std::string().swap(queued_);  // a peer that never read must not keep its backlog alive
  if (in_fd_ >= 0) loop_.unwatch(in_fd_);
  if (out_fd_ >= 0 && out_fd_ != in_fd_) loop_.unwatch(out_fd_);
  if (owns_fds_) {
    if (in_fd_ >= 0) ::close(in_fd_);
    if (out_fd_ >= 0 && out_fd_ != in_fd_) ::close(out_fd_);
  }
  if (auto release = std::move(on_release_)) release();
}

Result<std::unique_ptr<Chardev>> Chardev::open(const ChardevSpec& spec, EventLoop& loop) {
  std::unique_ptr<Chardev> dev(new Chardev(spec, loop));
  HVMD_TRY(dev->start());
  return dev;
}

Chardev::~Chardev() {
  if (listen_fd_ >= 0) {
    loop_.unwatch(listen_fd_);
    close(listen_fd_);
    if (spec_.fd < 0 && !spec_.path.empty()) unlink(spec_.path.c_str());
  }
  if (pty_slave_fd_ >= 0) close(pty_slave_fd_);
}

Result<void> Chardev::start() {
  switch (spec_.kind) {
    case ChardevSpec::Kind::kSocket:
      return start_socket();
    case ChardevSpec::Kind::kStdio:
      pending_ = std::make_shared<CharConnection>(loop_, STDIN_FILENO, STDOUT_FILENO, false);
      return ok();
    case ChardevSpec::Kind::kFile: {
      int fd = ::open(spec_.path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
      if (fd < 0)
        return make_error("chardev '%s': cannot open '%s': %s", spec_.id.c_str(),
                          spec_.path.c_str(), strerror(errno));
      pending_ = std::make_shared<CharConnection>(loop_, -1, fd, true);
      return ok();
    }
    case ChardevSpec::Kind::kPty: {
      int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
      if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0)
        return make_error("chardev '%s': cannot create a pty: %s", spec_.id.c_str(),
                          strerror(errno));
      pty_path_ = ptsname(master);
      // Keep the slave open ourselves: otherwise the master reports hang-up until someone
      // (xl console) opens it, and the loop would spin.
      pty_slave_fd_ = ::open(pty_path_.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC);
      if (pty_slave_fd_ >= 0) {
        termios tio{};
        tcgetattr(pty_slave_fd_, &tio);
        cfmakeraw(&tio);
        tcsetattr(pty_slave_fd_, TCSAFLUSH, &tio);
      }
      HVMD_INFO("char device redirected to %s (label %s)", pty_path_.c_str(), spec_.id.c_str());
      pending_ = std::make_shared<CharConnection>(loop_, master, master, true);
      return ok();
    }
    case ChardevSpec::Kind::kNull:
      return ok();
  }
  return ok();
}

Result<void> Chardev::start_socket() {
  if (spec_.fd >= 0) {
    // libxl's dm_restrict mode hands over a socket it already bound (and listens on).
    if (fcntl(spec_.fd, F_GETFD) < 0)
      return make_error("chardev '%s': fd=%d is not open", spec_.id.c_str(), spec_.fd);
    struct stat st {};
    if (fstat(spec_.fd, &st) < 0 || !S_ISSOCK(st.st_mode))
      return make_error("chardev '%s': fd=%d is not a socket", spec_.id.c_str(), spec_.fd);
    int listening = 0;
    socklen_t length = sizeof(listening);
    if (spec_.server &&
        (getsockopt(spec_.fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &length) < 0 || !listening))
      return make_error("chardev '%s': fd=%d is not a listening socket (server=on)",
                        spec_.id.c_str(), spec_.fd);
    fcntl(spec_.fd, F_SETFD, FD_CLOEXEC);
    if (!spec_.server) {
      pending_ = std::make_shared<CharConnection>(loop_, spec_.fd, spec_.fd, true);
      return ok();
    }
    listen_fd_ = spec_.fd;
  } else {
    auto addr = unix_address(spec_.path);
    if (!addr) return addr.error();
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return make_error("socket: %s", strerror(errno));
    if (!spec_.server) {
      if (connect(fd, reinterpret_cast<sockaddr*>(&*addr), sizeof(*addr)) < 0) {
        int err = errno;
        close(fd);
        return make_error("chardev '%s': cannot connect to '%s': %s", spec_.id.c_str(),
                          spec_.path.c_str(), strerror(err));
      }
      pending_ = std::make_shared<CharConnection>(loop_, fd, fd, true);
      return ok();
    }
    unlink(spec_.path.c_str());
    if (bind(fd, reinterpret_cast<sockaddr*>(&*addr), sizeof(*addr)) < 0 || listen(fd, 8) < 0) {
      int err = errno;
      close(fd);
      return make_error("chardev '%s': cannot listen on '%s': %s", spec_.id.c_str(),
                        spec_.path.c_str(), strerror(err));
    }
    listen_fd_ = fd;
  }
  if (spec_.wait) {
    HVMD_INFO("waiting for a connection on %s", spec_.describe("").c_str());
    int client = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0)
      return make_error("chardev '%s': accept: %s", spec_.id.c_str(), strerror(errno));
    pending_ = std::make_shared<CharConnection>(loop_, client, client, true);
  }
  set_nonblocking(listen_fd_);
  return loop_.watch(listen_fd_, EPOLLIN, [this](uint32_t) { accept_client(); });
}

void Chardev::accept_client() {
  while (!accepting_paused_) {
    if (clients_ >= kMaxClients) return pause_accepting("too many clients");
    int client = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (client < 0) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
        pause_accepting(strerror(errno));
      return;
    }
    auto connection = std::make_shared<CharConnection>(loop_, client, client, true);
    ++clients_;
    connection->on_release([weak = std::weak_ptr<Chardev*>(self_)] {
      if (auto self = weak.lock()) {
        --(*self)->clients_;
        (*self)->resume_accepting();
      }
    });
    deliver(std::move(connection));
  }
}

// New clients stay in the backlog until one of ours goes (which also frees a descriptor).
void Chardev::pause_accepting(const char* why) {
  accepting_paused_ = true;
  loop_.unwatch(listen_fd_);
  if (warned_paused_) return;
  warned_paused_ = true;  // once: a client flood must not become a log flood
  HVMD_WARN("chardev '%s': %s; new connections wait until a client leaves (%zu connected)",
            spec_.id.c_str(), why, clients_);
}

void Chardev::resume_accepting() {
  if (!accepting_paused_ || clients_ >= kMaxClients) return;
  accepting_paused_ = false;
  (void)loop_.watch(listen_fd_, EPOLLIN, [this](uint32_t) { accept_client(); });
}

void Chardev::deliver(std::shared_ptr<CharConnection> connection) {
  if (on_connect_)
    on_connect_(std::move(connection));
  else
    pending_ = std::move(connection);
}

void Chardev::on_connect(ConnectFn fn) {
  on_connect_ = std::move(fn);
  if (pending_) deliver(std::move(pending_));
}

}  // namespace hvmd
