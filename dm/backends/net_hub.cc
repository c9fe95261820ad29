#include "dm/backends/net_hub.h"

#include <algorithm>
#include <cstdint>
#include <deque>
#include <map>
#include <utility>
#include <vector>

namespace hvmd {

namespace {

// Frames waiting for a port's NIC to have room; beyond this they are dropped, as a switch
// drops what a full port cannot take.
constexpr size_t kMaxQueued = 256;

class HubPort;

// The ports of one hub id on one event loop.
struct Hub {
  std::vector<HubPort*> ports;
};

// Hubs by (loop, hub id): ports find their hub when opened; a hub dies with its last port.
std::map<std::pair<EventLoop*, uint32_t>, std::weak_ptr<Hub>>& hubs() {
  static std::map<std::pair<EventLoop*, uint32_t>, std::weak_ptr<Hub>> all;
  return all;
}

class HubPort final : public NetBackend {
 public:
  HubPort(std::string id, uint32_t hub_id, std::shared_ptr<Hub> hub, EventLoop& loop)
      : NetBackend(std::move(id)), hub_id_(hub_id), hub_(std::move(hub)), loop_(loop) {
    hub_->ports.push_back(this);
  }
  ~HubPort() override {
    auto& ports = hub_->ports;
    ports.erase(std::remove(ports.begin(), ports.end(), this), ports.end());
  }

  // To every other port. Delivery waits for the loop, so a NIC is never entered from another
  // NIC's transmit.
  bool send(std::span<const uint8_t> frame) override {
    if (!link_up() || frame.empty() || frame.size() > kMaxFrame) return false;
    for (HubPort* port : hub_->ports)
      if (port != this) port->enqueue(frame);
    return true;
  }

  void set_receiving(bool on) override {
    receiving_ = on;
    if (on) schedule_flush();
  }

  std::string describe() const override { return "hubport: hubid=" + std::to_string(hub_id_); }

 private:
  void enqueue(std::span<const uint8_t> frame) {
    if (queue_.size() >= kMaxQueued) return;
    queue_.emplace_back(frame.begin(), frame.end());
    schedule_flush();
  }
  void schedule_flush() {
    if (flush_posted_ || queue_.empty()) return;
    flush_posted_ = true;
    loop_.post([this, alive = std::weak_ptr<bool>(alive_)] {
      if (!alive.lock()) return;
      flush_posted_ = false;
      while (receiving_ && !queue_.empty() && client_can_receive()) {
        std::vector<uint8_t> frame = std::move(queue_.front());
        queue_.pop_front();
        deliver(frame);
      }
    });
  }

  uint32_t hub_id_;
  std::shared_ptr<Hub> hub_;
  EventLoop& loop_;
  std::deque<std::vector<uint8_t>> queue_;
  bool receiving_ = false;
  bool flush_posted_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // for posted work
};

}  // namespace

Result<std::unique_ptr<NetBackend>> open_hubport_backend(const std::string& id,
                                                         OptionReader& reader, EventLoop& loop) {
  const std::string& what = reader.what();
  if (reader.string("netdev"))
    return make_error("%s: netdev= (a backend on the hub) is not supported; give the hub NICs",
                      what.c_str());
  auto hub_id = reader.number("hubid", INT32_MAX);
  if (!hub_id) return hub_id.error();
  HVMD_TRY(reader.finish());
  if (!*hub_id) return make_error("%s: hubid= is required", what.c_str());
  auto key = std::pair{&loop, static_cast<uint32_t>(**hub_id)};
  std::shared_ptr<Hub> hub = hubs()[key].lock();
  if (!hub) {
    hub = std::make_shared<Hub>();
    hubs()[key] = hub;
  }
  return std::unique_ptr<NetBackend>(std::make_unique<HubPort>(id, key.second, hub, loop));
}

}  // namespace hvmd
