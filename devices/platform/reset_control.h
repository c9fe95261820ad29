// The board's reset ports: the PIIX3 Reset Control Register at 0xcf9 (firmware and Linux's
// "reboot=pci") and System Control Port A at 0x92 (fast reset and the A20 gate). A reset a guest
// asks for goes to the machine as a guest-reset request; what that means is the transport's call.
#pragma once

#include "dm/device.h"
#include "dm/dispatcher.h"
#include "dm/io_handler.h"
#include "dm/power_control.h"

namespace hvmd::devices {

namespace reset_control {
inline constexpr uint16_t kResetControlPort = 0xcf9;  // inside mechanism #1's 0xcf8..0xcff
inline constexpr uint8_t kRcrSystemReset = 1u << 1;   // SRST: hard rather than soft reset
inline constexpr uint8_t kRcrResetCpu = 1u << 2;      // RCPU: a 0->1 edge starts the reset
inline constexpr uint8_t kRcrFullReset = 1u << 3;     // FULL_RST (PIIX4): also cycle power
inline constexpr uint8_t kRcrWritable = kRcrSystemReset | kRcrResetCpu | kRcrFullReset;

inline constexpr uint16_t kPortA = 0x92;
inline constexpr uint8_t kPortAFastReset = 1u << 0;  // a 0->1 edge resets the processor
inline constexpr uint8_t kPortAA20 = 1u << 1;        // A20 gate (kept; not enforced)
}  // namespace reset_control

// The saved registers, described once.
struct ResetControlState {
  uint8_t rcr_ = 0;
  uint8_t port_a_ = 0;
  template <class V>
  void describe(V& v) {
    // Both masked as the guest's writes to the ports mask them.
    v("RCR", rcr_, Mask{reset_control::kRcrWritable});
    v("port A", port_a_,
      Mask{static_cast<uint8_t>(reset_control::kPortAFastReset | reset_control::kPortAA20)});
  }
};

class ResetControl final : public Device, private ResetControlState {
 public:
  ResetControl(Dispatcher& dispatcher, PowerControl& power);
  std::string_view type() const override { return "reset-control"; }
  void reset() override;
  void save(StateWriter& out) const override;
  Result<std::unique_ptr<StagedState>> parse_state(StateReader& in, uint32_t version) override;

  uint64_t rcr_read(uint64_t offset, unsigned size);
  void rcr_write(uint64_t offset, unsigned size, uint64_t value);
  uint64_t port_a_read(uint64_t offset, unsigned size);
  void port_a_write(uint64_t offset, unsigned size, uint64_t value);

 private:
  PowerControl& power_;
  MemberIoHandler<ResetControl, &ResetControl::rcr_read, &ResetControl::rcr_write> rcr_io_{*this};
  MemberIoHandler<ResetControl, &ResetControl::port_a_read, &ResetControl::port_a_write> port_a_io_{
      *this};
  ScopedMapping rcr_mapping_;
  ScopedMapping port_a_mapping_;
};

}  // namespace hvmd::devices
