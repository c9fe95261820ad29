// MC146818 RTC and CMOS RAM on ports 0x70/0x71, IRQ 8. Standalone (kvm, qtest) it is the whole
// clock: time and date in BCD or binary, 12/24-hour, the update cycle with UIP, alarm, periodic
// and update-ended interrupts, on the machine's clock (virtual under qtest). Under Xen the
// hypervisor keeps registers 0x00-0x0d and forwards only the NVRAM bytes above them.
#pragma once

#include <array>
#include <ctime>

#include "devices/platform/rtc_regs.h"
#include "dm/machine.h"

namespace hvmd::devices {

class RtcCmos final : public Device {
 public:
  // nvram_only: under Xen. start_time: the guest's clock at machine time 0 (Unix seconds, UTC).
  RtcCmos(Dispatcher& dispatcher, Clock& clock, IrqLine irq, bool nvram_only, int64_t start_time);
  std::string_view type() const override { return "mc146818rtc"; }
  void reset() override;
  void save(StateWriter& out) const override;
  Result<std::unique_ptr<StagedState>> parse_state(StateReader& in, uint32_t version) override;
  void post_load() override;
  void unrealize() override;

  // Firmware-visible configuration bytes (memory sizes, drives), set while the board is built.
  void set_byte(uint8_t index, uint8_t value) { cmos_[index & rtc::kIndexMask] = value; }
  void update_checksum();

  uint64_t io_read(uint64_t offset, unsigned size);
  void io_write(uint64_t offset, unsigned size, uint64_t value);

 private:
  struct Saved;
  int64_t guest_time_ns() const;    // the clock the guest sees, Unix ns
  int64_t running_time_ns() const;  // what it would read with the divider running
  void set_guest_time_ns(int64_t time_ns);
  bool divider_in_reset() const;
  std::tm current_fields() const;
  uint8_t encode(int value) const;
  int decode(uint8_t value) const;
  uint8_t encode_hour(int hour) const;
  int decode_hour(uint8_t value) const;
  // The clock registers from the running time; other bytes as stored.
  uint8_t read_time_register(uint8_t index) const;
  // Sets a clock field (applied when SET clears); other bytes are stored.
  void write_time_register(uint8_t index, uint8_t value);
  void commit_fields(const std::tm& fields);
  void schedule_update();
  void on_update();
  void schedule_periodic();
  void raise_flags(uint8_t flags);
  bool clock_running() const;

  Dispatcher& dispatcher_;
  Clock& clock_;
  IrqLine irq_;
  bool nvram_only_;
  MemberIoHandler<RtcCmos, &RtcCmos::io_read, &RtcCmos::io_write> io_{*this};
  Dispatcher::MappingId mapping_ = Dispatcher::kNoMapping;
  Timer update_timer_;
  Timer periodic_timer_;

  std::array<uint8_t, rtc::kCmosSize> cmos_{};
  uint8_t index_ = 0;
  int64_t start_ns_;       // guest time at machine time 0
  int64_t offset_ns_ = 0;  // the guest's changes to its clock
  int64_t frozen_ns_ = 0;  // the guest's clock while the divider is held in reset
  std::tm set_fields_{};   // the time being written while SET is on
};

}  // namespace hvmd::devices
