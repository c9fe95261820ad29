// Network backends: where a NIC's frames go and come from. A NetBackend sends whole Ethernet
// frames (no FCS) and hands received frames to its one client, the NIC, on the device thread. A
// NIC that has no room tells the backend to pause; the backend then leaves frames in the host's
// queue (the tap's) instead of dropping them, until the NIC resumes it.
//   tap     -netdev tap,id=ID,ifname=NAME[,script=no,downscript=no][,br=..][,vnet_hdr=on|off]
//           (libxl creates nothing; hvmd creates or attaches the tap, libxl's hotplug script
//           adds it to the bridge)
//   socket  -netdev socket,id=ID,udp=HOST:PORT,localaddr=HOST:PORT: one UDP datagram per frame
//           (QEMU's form; tests use it to see and inject frames)
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "dm/event_loop.h"
#include "dm/result.h"
#include "dm/sub_options.h"

namespace hvmd {

class NetBackend {
 public:
  // Largest frame either way: a 64 KiB TSO-sized frame plus headers, what a tap may carry.
  static constexpr size_t kMaxFrame = 65536 + 256;
  using ReceiveFn = std::function<void(std::span<const uint8_t> frame)>;
  using CanReceiveFn = std::function<bool()>;
  using LinkFn = std::function<void(bool up)>;

  virtual ~NetBackend() = default;
  const std::string& id() const { return id_; }
  // Sends one frame; false if the host dropped it (full queue, link down on the host side).
  virtual bool send(std::span<const uint8_t> frame) = 0;
  // A TCP frame of up to 64 KiB the host segments itself (a tap with virtio-net headers): the
  // L4 checksum field holds the pseudo-header sum of the whole frame, csum_start/csum_offset say
  // where the checksum goes, and segments carry mss bytes of payload after hdr_len header bytes.
  struct Segmentation {
    bool ipv6 = false;
    uint16_t header_length = 0;
    uint16_t mss = 0;
    uint16_t csum_start = 0;
    uint16_t csum_offset = 0;
  };
  virtual bool can_segment() const { return false; }
  virtual bool send_segmented(std::span<const uint8_t> /*frame*/, const Segmentation& /*how*/) {
    return false;
  }
  // Frames arrive through receive while receiving is on and can_receive says there is room;
  // otherwise they wait in the host's queue. The client turns receiving on when it has room.
  void attach(ReceiveFn receive, CanReceiveFn can_receive, LinkFn link_changed) {
    receive_ = std::move(receive);
    can_receive_ = std::move(can_receive);
    link_changed_ = std::move(link_changed);
  }
  void detach() { attach(nullptr, nullptr, nullptr); }
  bool attached() const { return receive_ != nullptr; }
  virtual void set_receiving(bool on) = 0;
  // QMP set_link: a link that is down neither sends nor receives; the NIC sees the change.
  void set_link_up(bool up) {
    link_up_ = up;
    if (link_changed_) link_changed_(up);
  }
  bool link_up() const { return link_up_; }
  virtual std::string describe() const = 0;

  static Result<std::unique_ptr<NetBackend>> open(const SubOptions& options, EventLoop& loop);

 protected:
  explicit NetBackend(std::string id) : id_(std::move(id)) {}
  bool client_can_receive() const { return can_receive_ && can_receive_(); }
  // A frame that arrives while the link is down is lost, as on a cable.
  void deliver(std::span<const uint8_t> frame) {
    if (receive_ && link_up_) receive_(frame);
  }

 private:
  std::string id_;
  ReceiveFn receive_;
  CanReceiveFn can_receive_;
  LinkFn link_changed_;
  bool link_up_ = true;
};

// A device with a network backend (a NIC), as QMP's set_link finds it by the device's id.
class NetClient {
 public:
  virtual ~NetClient() = default;
  virtual NetBackend* backend() const = 0;
};

}  // namespace hvmd
