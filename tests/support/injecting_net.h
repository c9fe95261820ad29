// InjectingNet: a network backend for tests and fuzzing: what the NIC sends is dropped, and the
// test hands the NIC frames as if they came from the wire (only when the NIC can take them, as a
// real backend would).
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "dm/backends/net.h"

namespace hvmd::test {

class InjectingNet final : public NetBackend {
 public:
  explicit InjectingNet(std::string id) : NetBackend(std::move(id)) {}
  bool send(std::span<const uint8_t>) override { return true; }
  void set_receiving(bool) override {}
  std::string describe() const override { return "injecting test backend"; }
  // Whether the NIC took the frame.
  bool inject(std::span<const uint8_t> frame) {
    if (!client_can_receive()) return false;
    deliver(frame);
    return true;
  }
};

}  // namespace hvmd::test
