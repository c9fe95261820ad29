#include "devices/platform/reset_control.h"

namespace hvmd::devices {

using namespace reset_control;

ResetControl::ResetControl(Dispatcher& dispatcher, PowerControl& power)
    : power_(power),
      // An overlay on the host bridge's 0xcf8..0xcff window: a byte at 0xcf9 is this register
      // whichever was mapped first, while the dword CONFIG_ADDRESS access at 0xcf8 still reaches
      // the host bridge whole (the dispatcher routes an access by its first port).
      rcr_mapping_(dispatcher, dispatcher.map_ports(kResetControlPort, 1, &rcr_io_, "reset-control",
                                                    Claim::kOverlay)),
      port_a_mapping_(dispatcher, dispatcher.map_ports(kPortA, 1, &port_a_io_, "port-a")) {}

void ResetControl::reset() {
  rcr_ = 0;
  port_a_ = 0;
}

uint64_t ResetControl::rcr_read(uint64_t, unsigned) {
  return rcr_;
}

void ResetControl::rcr_write(uint64_t, unsigned, uint64_t value) {
  uint8_t next = static_cast<uint8_t>(value) & kRcrWritable;
  bool edge = !(rcr_ & kRcrResetCpu) && (next & kRcrResetCpu);
  rcr_ = next;
  if (edge) power_.request_shutdown(ShutdownCause::kGuestReset);
}

uint64_t ResetControl::port_a_read(uint64_t, unsigned) {
  return port_a_;
}

void ResetControl::port_a_write(uint64_t, unsigned, uint64_t value) {
  uint8_t next = static_cast<uint8_t>(value) & (kPortAFastReset | kPortAA20);
  bool edge = !(port_a_ & kPortAFastReset) && (next & kPortAFastReset);
  port_a_ = next;
  if (edge) power_.request_shutdown(ShutdownCause::kGuestReset);
}

void ResetControl::save(StateWriter& out) const {
  write_fields(out, static_cast<const ResetControlState&>(*this));
}

Result<std::unique_ptr<StagedState>> ResetControl::parse_state(StateReader& in, uint32_t version) {
  return stage_fields<ResetControlState>(in, version, "reset-control", *this);
}

}  // namespace hvmd::devices
