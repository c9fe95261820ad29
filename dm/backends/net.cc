#include "dm/backends/net.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <netdb.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "dm/backends/net_hub.h"
#include "dm/backends/net_slirp.h"
#include "dm/backends/net_socket.h"
#include "dm/log.h"

namespace hvmd {

namespace {

// struct virtio_net_hdr (virtio 1.x, 5.1.6), what a tap opened with IFF_VNET_HDR puts before each
// frame (the kernel's header is not C++-clean, so the fixed layout is spelled out here).
struct VirtioNetHeader {
  uint8_t flags;
  uint8_t gso_type;
  uint16_t hdr_len;
  uint16_t gso_size;
  uint16_t csum_start;
  uint16_t csum_offset;
};
static_assert(sizeof(VirtioNetHeader) == 10);
constexpr uint8_t kVirtioNeedsCsum = 1;
constexpr uint8_t kVirtioGsoTcpv4 = 1;
constexpr uint8_t kVirtioGsoTcpv6 = 4;

// A backend on one non-blocking descriptor that carries a frame per read and write (a tap, a
// UDP socket).
class FdBackend final : public NetBackend {
 public:
  // vnet_header: every frame on fd is preceded by a struct virtio_net_hdr (a tap opened with
  // IFF_VNET_HDR), which lets the host segment TSO frames.
  FdBackend(std::string id, int fd, EventLoop& loop, std::string description, bool vnet_header)
      : NetBackend(std::move(id)),
        fd_(fd),
        loop_(loop),
        description_(std::move(description)),
        vnet_header_(vnet_header) {}
  ~FdBackend() override {
    if (receiving_) loop_.unwatch(fd_);
    close(fd_);
  }

  bool send(std::span<const uint8_t> frame) override {
    if (!link_up()) return false;
    if (vnet_header_) return write_with_header({}, frame);
    ssize_t n = write(fd_, frame.data(), frame.size());
    return n == static_cast<ssize_t>(frame.size());
  }

  bool can_segment() const override { return vnet_header_; }
  bool send_segmented(std::span<const uint8_t> frame, const Segmentation& how) override {
    if (!link_up() || !vnet_header_) return false;
    VirtioNetHeader header{};
    header.flags = kVirtioNeedsCsum;
    header.gso_type = how.ipv6 ? kVirtioGsoTcpv6 : kVirtioGsoTcpv4;
    header.hdr_len = how.header_length;
    header.gso_size = how.mss;
    header.csum_start = how.csum_start;
    header.csum_offset = how.csum_offset;
    return write_with_header(header, frame);
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
  bool write_with_header(const VirtioNetHeader& header, std::span<const uint8_t> frame) {
    iovec parts[2] = {{const_cast<VirtioNetHeader*>(&header), sizeof(header)},
                      {const_cast<uint8_t*>(frame.data()), frame.size()}};
    ssize_t n = writev(fd_, parts, 2);
    return n == static_cast<ssize_t>(sizeof(header) + frame.size());
  }

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
      // With no offloads enabled towards us the header is all zeroes: skip it.
      size_t skip = vnet_header_ ? sizeof(VirtioNetHeader) : 0;
      if (static_cast<size_t>(n) <= skip) continue;
      deliver({buffer_.data() + skip, static_cast<size_t>(n) - skip});
    }
  }

  int fd_;
  EventLoop& loop_;
  std::string description_;
  std::vector<uint8_t> buffer_;
  bool vnet_header_;
  bool receiving_ = false;
};

// Opens (or creates) the tap; with vnet_header where the kernel offers it, *vnet_header is left
// true when frames carry a virtio-net header.
Result<int> open_tap(const std::string& ifname, std::string* actual, bool* vnet_header) {
  int fd = ::open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return make_error("/dev/net/tun: %s", strerror(errno));
  unsigned features = 0;
  if (ioctl(fd, TUNGETFEATURES, &features) != 0 || !(features & IFF_VNET_HDR)) *vnet_header = false;
  ifreq request{};
  request.ifr_flags = IFF_TAP | IFF_NO_PI | (*vnet_header ? IFF_VNET_HDR : 0);
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
  if (*vnet_header) {
    // Frames to us come whole and checksummed: no offloads in that direction.
    int header_size = sizeof(VirtioNetHeader);
    if (ioctl(fd, TUNSETVNETHDRSZ, &header_size) != 0 || ioctl(fd, TUNSETOFFLOAD, 0) != 0) {
      int error = errno;
      close(fd);
      return make_error("tap %s: virtio-net header set-up: %s", actual->c_str(), strerror(error));
    }
  }
  return fd;
}

Result<sockaddr_in> parse_address(const std::string& text, const char* key) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos) return make_error("%s=%s: expected HOST:PORT", key, text.c_str());
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

Result<std::unique_ptr<NetBackend>> NetBackend::open(const SubOptions& options, EventLoop& loop) {
  std::string what = "-netdev " + options.to_string();
  OptionReader reader(options, what);
  auto type = reader.string("type");
  auto id = reader.string("id");
  if (!id || id->empty()) return make_error("%s: id= is required", what.c_str());
  if (type == "tap") {
    auto ifname = reader.string("ifname");
    auto script = reader.string("script");
    auto downscript = reader.string("downscript");
    auto vnet = reader.boolean("vnet_hdr");
    reader.ignore("br");  // libxl's hotplug script does the bridging
    if (!vnet) return vnet.error();
    if ((script && *script != "no") || (downscript && *downscript != "no"))
      return make_error("%s: only script=no,downscript=no is supported", what.c_str());
    HVMD_TRY(reader.finish());
    std::string actual;
    bool vnet_header = vnet->value_or(true);  // where the kernel offers it
    auto fd = open_tap(ifname.value_or(""), &actual, &vnet_header);
    if (!fd) return make_error("%s: %s", what.c_str(), fd.error().message.c_str());
    return std::unique_ptr<NetBackend>(std::make_unique<FdBackend>(
        *id, *fd, loop, "tap: ifname=" + actual + (vnet_header ? ",vnet_hdr=on" : ""),
        vnet_header));
  }
  if (type == "user") return open_slirp_backend(*id, options, reader, loop);
  if (type == "hubport") return open_hubport_backend(*id, reader, loop);
  if (type == "socket" && options.has("fd")) return open_socket_fd_backend(*id, reader, loop);
  if (type == "socket") {
    auto udp = reader.string("udp");
    auto local = reader.string("localaddr");
    HVMD_TRY(reader.finish());
    if (!udp || !local)
      return make_error("%s: the socket backend needs udp=HOST:PORT,localaddr=HOST:PORT",
                        what.c_str());
    auto remote_address = parse_address(*udp, "udp");
    if (!remote_address)
      return make_error("%s: %s", what.c_str(), remote_address.error().message.c_str());
    auto local_address = parse_address(*local, "localaddr");
    if (!local_address)
      return make_error("%s: %s", what.c_str(), local_address.error().message.c_str());
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
        std::make_unique<FdBackend>(*id, fd, loop, "socket: udp=" + *udp, false));
  }
  return make_error("%s: type '%s' is not supported (tap, user, socket, hubport)", what.c_str(),
                    type.value_or("").c_str());
}

}  // namespace hvmd
