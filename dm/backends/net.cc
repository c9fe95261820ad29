#include "dm/backends/net.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <netdb.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "dm/log.h"

namespace hvmd {

namespace {

// A backend on one non-blocking descriptor that carries a frame per read and write (a tap, a
// UDP socket).
class FdBackend final : public NetBackend {
 public:
  FdBackend(std::string id, int fd, EventLoop& loop, std::string description)
      : NetBackend(std::move(id)), fd_(fd), loop_(loop), description_(std::move(description)) {}
  ~FdBackend() override {
    if (receiving_) loop_.unwatch(fd_);
    close(fd_);
  }

  bool send(std::span<const uint8_t> frame) override {
    if (!link_up()) return false;
    ssize_t n = write(fd_, frame.data(), frame.size());
    return n == static_cast<ssize_t>(frame.size());
  }

  void set_receiving(bool on) override {
    if (on == receiving_) return;
    receiving_ = on;
    if (!on) {
      loop_.unwatch(fd_);
      return;
    }
    (void)loop_.watch(fd_, EPOLLIN, [this](uint32_t) { drain(); });
  }

  std::string describe() const override { return description_; }

 private:
  // Reads what is queued, a bounded number of frames a wake-up so one busy NIC cannot starve
  // the loop; the NIC may pause receiving on the way.
  void drain() {
    if (buffer_.empty()) buffer_.resize(kMaxFrame);
    for (int i = 0; i < 64 && receiving_; ++i) {
      if (!client_can_receive()) {
        set_receiving(false);  // the client turns it back on when it has room
        return;
      }
      ssize_t n = read(fd_, buffer_.data(), buffer_.size());
      if (n <= 0) return;
      deliver({buffer_.data(), static_cast<size_t>(n)});
    }
  }

  int fd_;
  EventLoop& loop_;
  std::string description_;
  std::vector<uint8_t> buffer_;
  bool receiving_ = false;
};

Result<int> open_tap(const std::string& ifname, std::string* actual) {
  int fd = ::open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return make_error("/dev/net/tun: %s", strerror(errno));
  ifreq request{};
  request.ifr_flags = IFF_TAP | IFF_NO_PI;
  if (ifname.size() >= IFNAMSIZ) {
    close(fd);
    return make_error("ifname=%s: longer than %d characters", ifname.c_str(), IFNAMSIZ - 1);
  }
  std::strncpy(request.ifr_name, ifname.c_str(), IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &request) != 0) {
    int error = errno;
    close(fd);
    return make_error("tap %s: %s", ifname.empty() ? "(new)" : ifname.c_str(), strerror(error));
  }
  *actual = request.ifr_name;
  return fd;
}

Result<sockaddr_in> parse_address(const std::string& text, const char* key) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos)
    return make_error("%s=%s: expected HOST:PORT", key, text.c_str());
  std::string host = text.substr(0, colon);
  auto port = parse_number(text.substr(colon + 1), 65535);
  if (!port) return make_error("%s=%s: bad port", key, text.c_str());
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(*port));
  if (host.empty() || host == "localhost") host = "127.0.0.1";
  if (inet_pton(AF_INET, host.c_str(), &address.sin_addr) != 1)
    return make_error("%s=%s: host must be an IPv4 address", key, text.c_str());
  return address;
}

}  // namespace

Result<std::unique_ptr<NetBackend>> NetBackend::open(const SubOptions& options,
                                                     EventLoop& loop) {
  std::string what = "-netdev " + options.to_string();
  OptionReader reader(options, what);
  auto type = reader.string("type");
  auto id = reader.string("id");
  if (!id || id->empty()) return make_error("%s: id= is required", what.c_str());
  if (type == "tap") {
    auto ifname = reader.string("ifname");
    auto script = reader.string("script");
    auto downscript = reader.string("downscript");
    reader.ignore("br");        // libxl's hotplug script does the bridging
    reader.ignore("vnet_hdr");  // frames are whole; offloads are done in the device
    if ((script && *script != "no") || (downscript && *downscript != "no"))
      return make_error("%s: only script=no,downscript=no is supported", what.c_str());
    HVMD_TRY(reader.finish());
    std::string actual;
    auto fd = open_tap(ifname.value_or(""), &actual);
    if (!fd) return make_error("%s: %s", what.c_str(), fd.error().message.c_str());
    return std::unique_ptr<NetBackend>(
        std::make_unique<FdBackend>(*id, *fd, loop, "tap: ifname=" + actual));
  }
  if (type == "socket") {
    auto udp = reader.string("udp");
    auto local = reader.string("localaddr");
    HVMD_TRY(reader.finish());
    if (!udp || !local)
      return make_error("%s: the socket backend needs udp=HOST:PORT,localaddr=HOST:PORT",
                        what.c_str());
    auto remote_address = parse_address(*udp, "udp");
    if (!remote_address) return make_error("%s: %s", what.c_str(), remote_address.error().message.c_str());
    auto local_address = parse_address(*local, "localaddr");
    if (!local_address) return make_error("%s: %s", what.c_str(), local_address.error().message.c_str());
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return make_error("%s: socket: %s", what.c_str(), strerror(errno));
    int size = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    if (bind(fd, reinterpret_cast<sockaddr*>(&*local_address), sizeof(*local_address)) != 0 ||
        connect(fd, reinterpret_cast<sockaddr*>(&*remote_address), sizeof(*remote_address)) != 0) {
      int error = errno;
      close(fd);
      return make_error("%s: %s", what.c_str(), strerror(error));
    }
    return std::unique_ptr<NetBackend>(
        std::make_unique<FdBackend>(*id, fd, loop, "socket: udp=" + *udp));
  }
  return make_error("%s: type '%s' is not supported (tap, socket)", what.c_str(),
                    type.value_or("").c_str());
}

}  // namespace hvmd
