#include "dm/backends/net_slirp.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <libslirp.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <limits>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "dm/log.h"

namespace hvmd {

namespace {

constexpr int64_t kNsPerMs = 1000000;
// Frames slirp produced for a guest that has no room yet. Slirp allows dropping them (TCP
// retransmits); the bound keeps a guest that never reads from growing the queue without end.
constexpr size_t kMaxQueuedToGuest = 256;
// Descriptors handled per wake-up of the private epoll set.
constexpr int kMaxEvents = 64;

// libslirp, and the GLib it brings, are loaded when a -netdev user is first asked for: linked in,
// they cost every hvmd a quarter of a MiB of resident relocated data whether it uses them or not.
constexpr const char* kLibslirp = "libslirp.so.0";

struct Libslirp {
  decltype(&::slirp_new) slirp_new = nullptr;
  decltype(&::slirp_cleanup) slirp_cleanup = nullptr;
  decltype(&::slirp_input) slirp_input = nullptr;
  decltype(&::slirp_pollfds_fill) slirp_pollfds_fill = nullptr;
  decltype(&::slirp_pollfds_poll) slirp_pollfds_poll = nullptr;
  decltype(&::slirp_add_hostfwd) slirp_add_hostfwd = nullptr;
};

// Once per process, while the command line is read (before the sandbox, which forbids mapping new
// code); the library stays loaded.
Result<const Libslirp*> load_libslirp() {
  static Libslirp lib;
  if (lib.slirp_new) return &lib;
  void* handle = dlopen(kLibslirp, RTLD_NOW | RTLD_LOCAL);
  if (!handle) return make_error("cannot load %s (Debian's libslirp0): %s", kLibslirp, dlerror());
  Libslirp found;
  bool complete = true;
  auto bind = [&](auto& function, const char* name) {
    function = reinterpret_cast<std::remove_reference_t<decltype(function)>>(dlsym(handle, name));
    complete = complete && function;
  };
  bind(found.slirp_new, "slirp_new");
  bind(found.slirp_cleanup, "slirp_cleanup");
  bind(found.slirp_input, "slirp_input");
  bind(found.slirp_pollfds_fill, "slirp_pollfds_fill");
  bind(found.slirp_pollfds_poll, "slirp_pollfds_poll");
  bind(found.slirp_add_hostfwd, "slirp_add_hostfwd");
  if (!complete) {
    dlclose(handle);
    return make_error("%s lacks the libslirp 4 interface", kLibslirp);
  }
  lib = found;
  return &lib;
}

int64_t monotonic_ns() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return int64_t{now.tv_sec} * 1000000000 + now.tv_nsec;
}

// Slirp's stack runs on the device thread. Its sockets change as the guest opens and closes
// connections, and slirp reports them only through slirp_pollfds_fill; they live in a private
// epoll set (whose one descriptor the event loop watches), so a socket slirp closes and a number
// the kernel reuses can never disturb another component's watch on the main loop.
// Slirp's own timing (TCP timers, IPv6 router advertisements, the poll timeout) follows the
// host's monotonic clock through one timerfd, under qtest too: what tests ask of slirp (DHCP,
// TFTP, frames) is answered at once, without waiting on time.
class SlirpBackend final : public NetBackend {
 public:
  SlirpBackend(std::string id, const Libslirp& lib, EventLoop& loop, std::string description)
      : NetBackend(std::move(id)), lib_(lib), loop_(loop), description_(std::move(description)) {}

  ~SlirpBackend() override {
    if (slirp_) lib_.slirp_cleanup(slirp_);  // frees its timers through timer_free
    for (int fd : {epoll_fd_, timer_fd_}) {
      if (fd < 0) continue;
      loop_.unwatch(fd);
      close(fd);
    }
  }

  Result<void> start(const SlirpConfig& config) {
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0) return make_error("epoll_create1: %s", strerror(errno));
    timer_fd_ = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    if (timer_fd_ < 0) return make_error("timerfd_create: %s", strerror(errno));
    HVMD_TRY(loop_.watch(epoll_fd_, EPOLLIN, [this](uint32_t) { poll_and_refresh(); }));
    HVMD_TRY(loop_.watch(timer_fd_, EPOLLIN, [this](uint32_t) { on_timer(); }));
    static const SlirpCb callbacks = {
        .send_packet = send_packet,
        .guest_error = guest_error,
        .clock_get_ns = clock_get_ns,
        .timer_new = timer_new,
        .timer_free = timer_free,
        .timer_mod = timer_mod,
        .register_poll_fd = [](int, void*) {},    // the private epoll set follows fill instead
        .unregister_poll_fd = [](int, void*) {},  // (epoll drops closed descriptors itself)
        .notify = notify,
        .init_completed = nullptr,
        .timer_new_opaque = nullptr,
    };
    slirp_ = lib_.slirp_new(&config, &callbacks, this);
    if (!slirp_) return make_error("slirp could not start");
    refresh();
    return ok();
  }

  Slirp* slirp() const { return slirp_; }
  void keep(std::shared_ptr<void> strings) { strings_ = std::move(strings); }

  bool send(std::span<const uint8_t> frame) override {
    if (!link_up() || frame.empty() || frame.size() > kMaxFrame) return false;
    lib_.slirp_input(slirp_, frame.data(), static_cast<int>(frame.size()));
    refresh();  // a new flow may have opened a socket
    return true;
  }

  void set_receiving(bool on) override {
    receiving_ = on;
    if (on) schedule_flush();
  }

  std::string describe() const override { return description_; }

 private:
  static SlirpBackend& self(void* opaque) { return *static_cast<SlirpBackend*>(opaque); }

  // Slirp -> guest. Called inside slirp_input and slirp_pollfds_poll, possibly while the NIC is
  // in the middle of transmitting: the frame waits for the loop, so the NIC is never re-entered.
  static ssize_t send_packet(const void* data, size_t length, void* opaque) {
    SlirpBackend& s = self(opaque);
    if (length > kMaxFrame || s.to_guest_.size() >= kMaxQueuedToGuest)
      return static_cast<ssize_t>(length);  // dropped, as a full NIC would
    auto bytes = static_cast<const uint8_t*>(data);
    s.to_guest_.emplace_back(bytes, bytes + length);
    s.schedule_flush();
    return static_cast<ssize_t>(length);
  }
  static void guest_error(const char* message, void* opaque) {
    HVMD_GUEST_LOG("netdev %s: slirp: %s", self(opaque).id().c_str(), message);
  }
  static int64_t clock_get_ns(void*) { return monotonic_ns(); }
  static void* timer_new(SlirpTimerCb callback, void* callback_opaque, void* opaque) {
    auto timer = std::make_unique<SlirpTimer>(SlirpTimer{callback, callback_opaque, kNever});
    SlirpTimer* raw = timer.get();
    self(opaque).timers_.push_back(std::move(timer));
    return raw;
  }
  static void timer_free(void* timer, void* opaque) {
    auto& timers = self(opaque).timers_;
    std::erase_if(timers, [timer](const auto& t) { return t.get() == timer; });
  }
  static void timer_mod(void* timer, int64_t expire_ms, void* opaque) {
    int64_t limit = kNever / kNsPerMs - 1;
    static_cast<SlirpTimer*>(timer)->deadline_ns =
        std::clamp<int64_t>(expire_ms, 0, limit) * kNsPerMs;
    self(opaque).arm_timerfd();
  }
  // A TCP buffer drained: slirp wants to be polled again.
  static void notify(void* opaque) {
    SlirpBackend* s = &self(opaque);
    s->loop_.post([s, alive = std::weak_ptr<bool>(s->alive_)] {
      if (alive.lock()) s->refresh();
    });
  }

  static int add_poll(int fd, int events, void* opaque) {
    SlirpBackend& s = self(opaque);
    uint32_t wanted = 0;
    if (events & SLIRP_POLL_IN) wanted |= EPOLLIN;
    if (events & SLIRP_POLL_OUT) wanted |= EPOLLOUT;
    if (events & SLIRP_POLL_PRI) wanted |= EPOLLPRI;
    s.polled_.push_back({fd, wanted, 0});
    return static_cast<int>(s.polled_.size() - 1);
  }
  static int get_revents(int index, void* opaque) {
    SlirpBackend& s = self(opaque);
    if (index < 0 || static_cast<size_t>(index) >= s.polled_.size()) return 0;
    uint32_t ready = s.polled_[index].ready;
    int revents = 0;
    if (ready & EPOLLIN) revents |= SLIRP_POLL_IN;
    if (ready & EPOLLOUT) revents |= SLIRP_POLL_OUT;
    if (ready & EPOLLPRI) revents |= SLIRP_POLL_PRI;
    if (ready & EPOLLERR) revents |= SLIRP_POLL_ERR;
    if (ready & EPOLLHUP) revents |= SLIRP_POLL_HUP;
    return revents;
  }

  // Asks slirp which descriptors and how long to wait for, and sets the private epoll set and
  // the poll timer to match. Run after anything that let slirp act.
  void refresh() {
    uint32_t timeout_ms = UINT32_MAX;
    polled_.clear();
    lib_.slirp_pollfds_fill(slirp_, &timeout_ms, add_poll, this);
    std::unordered_map<int, uint32_t> wanted;
    for (const auto& p : polled_) wanted[p.fd] |= p.events;
    for (const auto& [fd, events] : in_epoll_)
      if (!wanted.count(fd)) epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
    for (const auto& [fd, events] : wanted) {
      // Always set: slirp may have closed a socket and opened another with the same number,
      // which the set no longer holds (ENOENT) even though the number is unchanged.
      epoll_event ev{};
      ev.events = events;
      ev.data.fd = fd;
      if (epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &ev) != 0 && errno == ENOENT &&
          epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0)
        HVMD_HOST_LOG("netdev %s: cannot watch slirp socket %d: %s", id().c_str(), fd,
                      strerror(errno));
    }
    in_epoll_ = std::move(wanted);
    poll_deadline_ns_ =
        timeout_ms == UINT32_MAX ? kNever : monotonic_ns() + int64_t{timeout_ms} * kNsPerMs;
    arm_timerfd();
  }

  // The timerfd at the earliest of slirp's timers and its poll timeout.
  void arm_timerfd() {
    int64_t earliest = poll_deadline_ns_;
    for (const auto& t : timers_) earliest = std::min(earliest, t->deadline_ns);
    itimerspec spec{};
    if (earliest != kNever) {
      earliest = std::max<int64_t>(earliest, 1);  // 0 would disarm
      spec.it_value.tv_sec = earliest / 1000000000;
      spec.it_value.tv_nsec = earliest % 1000000000;
    }
    timerfd_settime(timer_fd_, TFD_TIMER_ABSTIME, &spec, nullptr);
  }

  // Runs slirp's due timers (each once; one may re-arm or free another), then its poll.
  void on_timer() {
    uint64_t expirations = 0;
    ssize_t ignored = read(timer_fd_, &expirations, sizeof(expirations));
    (void)ignored;
    int64_t now = monotonic_ns();
    std::vector<SlirpTimer*> due;
    for (const auto& t : timers_)
      if (t->deadline_ns <= now) due.push_back(t.get());
    for (SlirpTimer* t : due) {
      bool still_there =
          std::any_of(timers_.begin(), timers_.end(), [t](const auto& p) { return p.get() == t; });
      if (!still_there || t->deadline_ns > now) continue;
      t->deadline_ns = kNever;
      t->callback(t->opaque);
    }
    poll_and_refresh();
  }

  // Hands slirp what is ready (nothing, when its timeout expired: it then runs its TCP timers).
  void poll_and_refresh() {
    epoll_event events[kMaxEvents];
    int n = epoll_wait(epoll_fd_, events, kMaxEvents, 0);
    for (int i = 0; i < n; ++i)
      for (auto& p : polled_)
        if (p.fd == events[i].data.fd) p.ready = events[i].events;
    lib_.slirp_pollfds_poll(slirp_, n < 0 ? 1 : 0, get_revents, this);
    refresh();
  }

  void schedule_flush() {
    if (flush_posted_) return;
    flush_posted_ = true;
    loop_.post([this, alive = std::weak_ptr<bool>(alive_)] {
      if (!alive.lock()) return;
      flush_posted_ = false;
      flush();
    });
  }
  // Frames to the guest while its NIC has room; the NIC resumes us through set_receiving.
  void flush() {
    while (receiving_ && !to_guest_.empty()) {
      if (!client_can_receive()) return;
      std::vector<uint8_t> frame = std::move(to_guest_.front());
      to_guest_.pop_front();
      deliver(frame);
    }
  }

  static constexpr int64_t kNever = std::numeric_limits<int64_t>::max();
  struct SlirpTimer {
    SlirpTimerCb callback;
    void* opaque;
    int64_t deadline_ns;  // CLOCK_MONOTONIC, kNever when not armed
  };
  struct Polled {
    int fd;
    uint32_t events;  // what slirp asked for (EPOLL*)
    uint32_t ready;   // what epoll reported this round
  };

  const Libslirp& lib_;
  EventLoop& loop_;
  std::string description_;
  Slirp* slirp_ = nullptr;
  int epoll_fd_ = -1;
  int timer_fd_ = -1;
  int64_t poll_deadline_ns_ = kNever;
  std::vector<std::unique_ptr<SlirpTimer>> timers_;
  std::vector<Polled> polled_;                  // this round's descriptors, by slirp's index
  std::unordered_map<int, uint32_t> in_epoll_;  // what the private set holds
  std::deque<std::vector<uint8_t>> to_guest_;
  bool receiving_ = false;
  bool flush_posted_ = false;
  std::shared_ptr<void> strings_;                               // the configuration's strings
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // for posted work
};

Result<in_addr> parse_ipv4(const std::string& text, const std::string& what, const char* key) {
  in_addr address{};
  if (inet_pton(AF_INET, text.c_str(), &address) != 1)
    return make_error("%s: %s=%s is not an IPv4 address", what.c_str(), key, text.c_str());
  return address;
}

std::string ipv4_text(in_addr address) {
  char text[INET_ADDRSTRLEN] = "";
  inet_ntop(AF_INET, &address, text, sizeof(text));
  return text;
}

// net=ADDR[/BITS|/MASK] -> network and mask (host bits of ADDR cleared).
Result<std::pair<in_addr, in_addr>> parse_network(const std::string& text,
                                                  const std::string& what) {
  size_t slash = text.find('/');
  auto network = parse_ipv4(text.substr(0, slash), what, "net");
  if (!network) return make_error("%s: net=%s is not ADDR[/MASK]", what.c_str(), text.c_str());
  in_addr mask{htonl(0xffffff00u)};  // /24, QEMU's default
  if (slash != std::string::npos) {
    std::string tail = text.substr(slash + 1);
    if (auto bits = parse_number(tail, 32)) {
      mask.s_addr = *bits == 0 ? 0 : htonl(~uint32_t{0} << (32 - *bits));
    } else if (inet_pton(AF_INET, tail.c_str(), &mask) != 1) {
      return make_error("%s: net=%s: bad mask '%s'", what.c_str(), text.c_str(), tail.c_str());
    }
    uint32_t m = ntohl(mask.s_addr);
    if ((m & (~m >> 1)) != 0 || (~m & 0x3) != 0x3)  // contiguous, and room for .2 and .3
      return make_error("%s: net=%s: mask must be contiguous and leave host bits", what.c_str(),
                        text.c_str());
  }
  network->s_addr &= mask.s_addr;
  return std::pair{*network, mask};
}

// An address given by key, or network + host_part; it must be a host of the network.
Result<in_addr> host_address(OptionReader& reader, const char* key, in_addr network, in_addr mask,
                             uint32_t host_part, const std::string& what, const std::string& net) {
  in_addr address{htonl(ntohl(network.s_addr) | host_part)};
  if (auto text = reader.string(key)) {
    auto parsed = parse_ipv4(*text, what, key);
    if (!parsed) return parsed.error();
    address = *parsed;
  }
  uint32_t host_bits = ntohl(address.s_addr) & ~ntohl(mask.s_addr);
  if ((address.s_addr & mask.s_addr) != network.s_addr || host_bits == 0 ||
      host_bits == ~ntohl(mask.s_addr))
    return make_error("%s: %s=%s is not a host address in net=%s", what.c_str(), key,
                      ipv4_text(address).c_str(), net.c_str());
  return address;
}

Result<in6_addr> parse_ipv6(const std::string& text, const std::string& what, const char* key) {
  in6_addr address{};
  if (inet_pton(AF_INET6, text.c_str(), &address) != 1)
    return make_error("%s: %s=%s is not an IPv6 address", what.c_str(), key, text.c_str());
  return address;
}

// hostfwd=[tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT
struct HostForward {
  bool udp = false;
  in_addr host{};
  uint16_t host_port = 0;
  in_addr guest{};
  uint16_t guest_port = 0;
};

Result<HostForward> parse_hostfwd(const std::string& text, in_addr default_guest,
                                  const std::string& what) {
  auto bad = [&](const char* why) {
    return make_error("%s: hostfwd=%s: %s (expected [tcp|udp]:[HOSTADDR]:PORT-[GUESTADDR]:PORT)",
                      what.c_str(), text.c_str(), why);
  };
  HostForward forward;
  std::string rest = text;
  size_t colon = rest.find(':');
  if (colon == std::string::npos) return bad("no ':'");
  std::string protocol = rest.substr(0, colon);
  if (protocol == "udp")
    forward.udp = true;
  else if (protocol != "tcp" && !protocol.empty())
    return bad("protocol must be tcp or udp");
  rest = rest.substr(colon + 1);
  size_t dash = rest.find('-');
  if (dash == std::string::npos) return bad("no '-'");
  auto endpoint = [&](const std::string& part, in_addr fallback, in_addr* address,
                      uint16_t* port) -> bool {
    size_t c = part.rfind(':');
    if (c == std::string::npos) return false;
    std::string host = part.substr(0, c);
    *address = fallback;
    if (!host.empty() && inet_pton(AF_INET, host.c_str(), address) != 1) return false;
    auto number = parse_number(part.substr(c + 1), 65535);
    if (!number) return false;
    *port = static_cast<uint16_t>(*number);
    return true;
  };
  if (!endpoint(rest.substr(0, dash), in_addr{INADDR_ANY}, &forward.host, &forward.host_port))
    return bad("bad host address or port");
  if (!endpoint(rest.substr(dash + 1), default_guest, &forward.guest, &forward.guest_port) ||
      forward.guest_port == 0)
    return bad("bad guest address or port");
  return forward;
}

}  // namespace

Result<std::unique_ptr<NetBackend>> open_slirp_backend(const std::string& id,
                                                       const SubOptions& options,
                                                       OptionReader& reader, EventLoop& loop) {
  const std::string& what = reader.what();
  for (const char* unsupported : {"guestfwd", "smb", "ipv6-prefix", "ipv6-prefixlen"})
    if (options.has(unsupported))
      return make_error("%s: %s= is not supported", what.c_str(), unsupported);
  auto lib = load_libslirp();
  if (!lib) return make_error("%s: %s", what.c_str(), lib.error().message.c_str());
  SlirpConfig config{};
  config.version = 4;  // the fields up to disable_dhcp (libslirp 4.7, Debian 12)
  auto ipv4 = reader.boolean("ipv4");
  if (!ipv4) return ipv4.error();
  auto ipv6 = reader.boolean("ipv6");
  if (!ipv6) return ipv6.error();
  config.in_enabled = ipv4->value_or(true);
  config.in6_enabled = ipv6->value_or(true);
  if (!config.in_enabled && !config.in6_enabled)
    return make_error("%s: ipv4=off and ipv6=off leave no network", what.c_str());
  auto restricted = reader.boolean("restrict");
  if (!restricted) return restricted.error();
  config.restricted = restricted->value_or(false) ? 1 : 0;

  std::string net = reader.string("net").value_or("10.0.2.0/24");
  auto network = parse_network(net, what);
  if (!network) return network.error();
  config.vnetwork = network->first;
  config.vnetmask = network->second;
  auto [vnet, vmask] = *network;
  auto host = host_address(reader, "host", vnet, vmask, 2, what, net);
  if (!host) return host.error();
  auto dhcp = host_address(reader, "dhcpstart", vnet, vmask, 15, what, net);
  if (!dhcp) return dhcp.error();
  auto dns = host_address(reader, "dns", vnet, vmask, 3, what, net);
  if (!dns) return dns.error();
  if (dhcp->s_addr == host->s_addr || dns->s_addr == dhcp->s_addr)
    return make_error("%s: dhcpstart=%s collides with host= or dns=", what.c_str(),
                      ipv4_text(*dhcp).c_str());
  config.vhost = *host;
  config.vdhcp_start = *dhcp;
  config.vnameserver = *dns;

  // IPv6: fec0::/64 with the host at ::2 and DNS at ::3 unless given.
  std::string net6 = reader.string("ipv6-net").value_or("fec0::/64");
  size_t slash = net6.find('/');
  auto prefix = parse_ipv6(net6.substr(0, slash), what, "ipv6-net");
  if (!prefix) return prefix.error();
  auto prefix_length =
      slash == std::string::npos ? Result<uint64_t>(64) : parse_number(net6.substr(slash + 1), 126);
  if (!prefix_length)
    return make_error("%s: ipv6-net=%s: the prefix length must be 0 to 126", what.c_str(),
                      net6.c_str());
  config.vprefix_addr6 = *prefix;
  config.vprefix_len = static_cast<uint8_t>(*prefix_length);
  auto in_prefix = [&](uint8_t last) {
    in6_addr address = *prefix;
    address.s6_addr[15] = last;
    return address;
  };
  config.vhost6 = in_prefix(2);
  config.vnameserver6 = in_prefix(3);
  if (auto text = reader.string("ipv6-host")) {
    auto parsed = parse_ipv6(*text, what, "ipv6-host");
    if (!parsed) return parsed.error();
    config.vhost6 = *parsed;
  }
  if (auto text = reader.string("ipv6-dns")) {
    auto parsed = parse_ipv6(*text, what, "ipv6-dns");
    if (!parsed) return parsed.error();
    config.vnameserver6 = *parsed;
  }

  auto hostname = reader.string("hostname");
  auto domainname = reader.string("domainname");
  auto tftp_server = reader.string("tftp-server-name");
  auto bootfile = reader.string("bootfile");
  auto tftp = reader.string("tftp");
  reader.ignore("dnssearch");
  reader.ignore("hostfwd");
  std::vector<std::string> dnssearch;
  std::vector<HostForward> forwards;
  for (const auto& [key, value] : options.items()) {
    if (key == "dnssearch") {
      if (value.empty()) return make_error("%s: dnssearch= is empty", what.c_str());
      dnssearch.push_back(value);
    } else if (key == "hostfwd") {
      auto forward = parse_hostfwd(value, *dhcp, what);
      if (!forward) return forward.error();
      forwards.push_back(*forward);
    }
  }
  HVMD_TRY(reader.finish());
  if (bootfile && bootfile->size() >= 128)  // the BOOTP file field holds 127 characters
    return make_error("%s: bootfile=%s is longer than 127 characters", what.c_str(),
                      bootfile->c_str());
  std::string tftp_path;
  if (tftp) {
    // Absolute, checked now: the sandbox lets slirp open files but not look for them.
    char resolved[PATH_MAX];
    struct stat st {};
    if (tftp->empty() || !realpath(tftp->c_str(), resolved) || stat(resolved, &st) != 0 ||
        !S_ISDIR(st.st_mode))
      return make_error("%s: tftp=%s is not a directory", what.c_str(), tftp->c_str());
    tftp_path = resolved;
  }

  std::string description = "user: net=" + ipv4_text(vnet) + "/" +
                            std::to_string(__builtin_popcount(ntohl(vmask.s_addr)));
  if (!tftp_path.empty()) description += ",tftp=" + tftp_path;
  if (bootfile) description += ",bootfile=" + *bootfile;
  if (config.restricted) description += ",restrict=on";

  // Slirp copies what it keeps, but the strings outlive its pointers anyway: the backend holds
  // them.
  struct Strings {
    std::string hostname, domainname, tftp_server, bootfile, tftp_path;
    std::vector<std::string> dnssearch;
    std::vector<const char*> dnssearch_pointers;
  };
  auto backend = std::make_unique<SlirpBackend>(id, **lib, loop, description);
  auto strings = std::make_shared<Strings>();
  strings->hostname = hostname.value_or("");
  strings->domainname = domainname.value_or("");
  strings->tftp_server = tftp_server.value_or("");
  strings->bootfile = bootfile.value_or("");
  strings->tftp_path = tftp_path;
  strings->dnssearch = std::move(dnssearch);
  for (const auto& name : strings->dnssearch) strings->dnssearch_pointers.push_back(name.c_str());
  strings->dnssearch_pointers.push_back(nullptr);
  config.vhostname = hostname ? strings->hostname.c_str() : nullptr;
  config.vdomainname = domainname ? strings->domainname.c_str() : nullptr;
  config.tftp_server_name = tftp_server ? strings->tftp_server.c_str() : nullptr;
  config.bootfile = bootfile ? strings->bootfile.c_str() : nullptr;
  config.tftp_path = tftp ? strings->tftp_path.c_str() : nullptr;
  config.vdnssearch = strings->dnssearch.empty()
                          ? nullptr
                          : const_cast<const char**>(strings->dnssearch_pointers.data());
  if (auto started = backend->start(config); !started)
    return make_error("%s: %s", what.c_str(), started.error().message.c_str());
  for (const auto& f : forwards) {
    if ((*lib)->slirp_add_hostfwd(backend->slirp(), f.udp, f.host, f.host_port, f.guest,
                                  f.guest_port) < 0)
      return make_error("%s: hostfwd %s:%s:%u: could not listen (port in use?)", what.c_str(),
                        f.udp ? "udp" : "tcp", ipv4_text(f.host).c_str(), f.host_port);
  }
  backend->keep(std::move(strings));
  return std::unique_ptr<NetBackend>(std::move(backend));
}

}  // namespace hvmd
