// Character devices: the byte streams QMP monitors, the qtest protocol and serial ports attach to
// (-chardev socket|pty|stdio|file|null, and the short forms of -qmp/-serial/-qtest). A Chardev
// produces connections: one for a client socket, stdio, pty or file; one per accepted client for a
// listening socket. All I/O is non-blocking on the event loop.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "dm/event_loop.h"
#include "dm/result.h"
#include "dm/sub_options.h"

namespace hvmd {

struct ChardevSpec {
  enum class Kind { kSocket, kPty, kStdio, kFile, kNull };
  std::string id;
  Kind kind = Kind::kNull;
  std::string path;  // socket or file path
  int fd = -1;       // socket,fd=N: an inherited socket (listening if server)
  bool server = false;
  bool wait = true;  // server: block start-up until the first client connects

  // From -chardev BACKEND,id=ID,...
  static Result<ChardevSpec> from_options(const SubOptions& options);
  // From the short forms: unix:PATH[,server=on][,wait=off], stdio, pty, null, file:PATH.
  static Result<ChardevSpec> from_short(std::string_view text, std::string id);
  // QMP's query-chardev filename, e.g. "unix:/run/qmp.sock,server=on", "pty:/dev/pts/3".
  std::string describe(const std::string& pty_path) const;
};

class CharConnection : public std::enable_shared_from_this<CharConnection> {
 public:
  using DataFn = std::function<void(std::string_view data)>;
  using CloseFn = std::function<void()>;
  // Bytes queued for a slow reader beyond this close the connection rather than grow memory.
  static constexpr size_t kDefaultMaxQueued = 16 << 20;

  CharConnection(EventLoop& loop, int in_fd, int out_fd, bool owns_fds);
  ~CharConnection();
  CharConnection(const CharConnection&) = delete;
  CharConnection& operator=(const CharConnection&) = delete;

  // on_close runs once when the connection ends by itself (the peer closed it, an I/O error, a
  // peer that does not read): always from the loop, never inside write(), so the owner may
  // destroy everything it keeps for the connection there. Not called for close().
  void start(DataFn on_data, CloseFn on_close);
  // Raises the output limit (qtest replies may be large; the protocol bounds them).
  void set_max_queued(size_t bytes) { max_queued_ = bytes; }
  // Called once when the connection closes for any reason (the listener counts its clients).
  void on_release(std::function<void()> fn) { on_release_ = std::move(fn); }
  // For output devices such as a serial port on stdio: the end of the input (stdin on
  // /dev/null, a finished file) leaves the output open. Call before start().
  void set_output_outlives_input() { output_outlives_input_ = true; }
  void write(std::string_view data);
  // Closes at once and frees what is queued; the owner's on_close does not run.
  void close();
  bool is_open() const { return open_; }
  // A descriptor the peer passed with SCM_RIGHTS alongside its data (QMP add-fd), or -1. The
  // caller owns it; ones nobody takes are closed with the connection.
  int take_fd();

 private:
  void on_readable();
  ssize_t receive(char* buffer, size_t size);
  void flush();
  void update_watch();
  // The connection ended by itself: close and tell the owner from the loop.
  void end();

  EventLoop& loop_;
  int in_fd_;
  int out_fd_;
  bool owns_fds_;
  bool open_ = true;
  bool out_is_file_ = false;
  bool is_socket_ = false;
  bool output_outlives_input_ = false;
  bool input_ended_ = false;  // the peer half-closed: send what is queued, then close
  size_t max_queued_ = kDefaultMaxQueued;
  std::deque<int> received_fds_;
  std::string queued_;
  DataFn on_data_;
  CloseFn on_close_;
  std::function<void()> on_release_;
};

class Chardev {
 public:
  // Clients a listening socket serves at once. More wait in the kernel's backlog: the listener
  // is not polled while at the cap (nor while the process is out of descriptors), so neither a
  // flood of clients nor descriptor exhaustion turns accept into a busy loop.
  static constexpr size_t kMaxClients = 64;
  using ConnectFn = std::function<void(std::shared_ptr<CharConnection>)>;
  static Result<std::unique_ptr<Chardev>> open(const ChardevSpec& spec, EventLoop& loop);
  ~Chardev();
  Chardev(const Chardev&) = delete;
  Chardev& operator=(const Chardev&) = delete;

  const ChardevSpec& spec() const { return spec_; }
  // Receives every connection; one made before this is set is delivered now.
  void on_connect(ConnectFn fn);
  std::string describe() const { return spec_.describe(pty_path_); }
  const std::string& pty_path() const { return pty_path_; }

 private:
  Chardev(const ChardevSpec& spec, EventLoop& loop) : spec_(spec), loop_(loop) {}
  Result<void> start();
  Result<void> start_socket();
  void accept_client();
  void pause_accepting(const char* why);
  void resume_accepting();
  void deliver(std::shared_ptr<CharConnection> connection);

  ChardevSpec spec_;
  EventLoop& loop_;
  int listen_fd_ = -1;
  int pty_slave_fd_ = -1;
  std::string pty_path_;
  ConnectFn on_connect_;
  std::shared_ptr<CharConnection> pending_;
  size_t clients_ = 0;
  bool accepting_paused_ = false;
  bool warned_paused_ = false;
  // Connections may outlive the Chardev; their release hooks reach it only through this.
  std::shared_ptr<Chardev*> self_ = std::make_shared<Chardev*>(this);
};

}  // namespace hvmd
