#include "devices/platform/rtc_cmos.h"

#include <algorithm>

#include "dm/log.h"

namespace hvmd::devices {

using namespace rtc;

namespace {

constexpr int64_t kSecond = 1'000'000'000;
constexpr uint8_t kPowerOnRegA = kADividerNormal | 0x06;  // 1024 Hz periodic rate
constexpr uint8_t kPowerOnRegB = kB24Hour;
constexpr uint8_t kInterruptEnables = kBPeriodicEnable | kBAlarmEnable | kBUpdateEnable;
// Time is kept as nanoseconds in an int64 (about +-292 years around 1970); a guest that sets a
// date beyond what that holds (garbage fields, century 99) gets the nearest one it holds.
constexpr int64_t kMaxSetSeconds = 6'000'000'000;  // the year 2160
// A saved clock a guest could have reached: a date it set, plus centuries of running.
constexpr int64_t kMaxSavedTimeNs = 7'000'000'000'000'000'000;
// Register C holds the device's flags; IRQF among them follows from C and B (raise_flags).
constexpr uint8_t kCFlags = kCPeriodic | kCAlarm | kCUpdate;

// Times are summed in 128 bits: the machine's clock may be stepped to the end of its range
// (qtest's clock_set), where start + now no longer fits in 64.
int64_t clamp_ns(__int128 value, int64_t limit) {
  return static_cast<int64_t>(std::clamp<__int128>(value, -__int128{limit}, __int128{limit}));
}

int64_t floor_mod(int64_t value, int64_t modulus) {
  return ((value % modulus) + modulus) % modulus;
}

}  // namespace

RtcCmos::RtcCmos(Dispatcher& dispatcher, Clock& clock, IrqLine irq, bool nvram_only,
                 int64_t start_time)
    : dispatcher_(dispatcher),
      clock_(clock),
      irq_(irq),
      nvram_only_(nvram_only),
      update_timer_(clock, [this] { on_update(); }),
      periodic_timer_(clock,
                      [this] {
                        raise_flags(kCPeriodic);
                        schedule_periodic();
                      }),
      start_ns_(start_time * kSecond) {
  cmos_[kRegA] = kPowerOnRegA;
  cmos_[kRegB] = kPowerOnRegB;
  cmos_[kRegD] = kDValid;
  mapping_ = dispatcher_.map_ports(kIndexPort, 2, &io_, "rtc");
  if (!nvram_only_) schedule_update();
}

void RtcCmos::unrealize() {
  dispatcher_.unmap(mapping_);
}

void RtcCmos::reset() {
  // The reset line clears the interrupt enables and flags; time and NVRAM are battery-backed.
  cmos_[kRegB] &= ~(kInterruptEnables | kBSquareWave);
  cmos_[kRegC] = 0;
  irq_.lower();
  if (!nvram_only_) {
    schedule_periodic();
    schedule_update();
  }
}

void RtcCmos::update_checksum() {
  unsigned sum = 0;
  for (unsigned i = kFloppyTypes; i < kChecksum; ++i) sum += cmos_[i];
  cmos_[kChecksum] = static_cast<uint8_t>(sum >> 8);
  cmos_[kChecksum + 1] = static_cast<uint8_t>(sum);
}

bool RtcCmos::divider_in_reset() const {
  return (cmos_[kRegA] & kADividerResetMask) == kADividerResetMask;
}

// Update cycles run unless the clock is being set or its divider is held in reset.
bool RtcCmos::clock_running() const {
  return !(cmos_[kRegB] & kBSet) && !divider_in_reset();
}

int64_t RtcCmos::running_time_ns() const {
  return clamp_ns(__int128{start_ns_} + clock_.now_ns() + offset_ns_, kMaxSavedTimeNs);
}

int64_t RtcCmos::guest_time_ns() const {
  return divider_in_reset() ? frozen_ns_ : running_time_ns();
}

void RtcCmos::set_guest_time_ns(int64_t time_ns) {
  frozen_ns_ = time_ns;
  offset_ns_ = clamp_ns(__int128{time_ns} - start_ns_ - clock_.now_ns(), INT64_MAX);
}

std::tm RtcCmos::current_fields() const {
  if (cmos_[kRegB] & kBSet) return set_fields_;
  time_t seconds =
      static_cast<time_t>((guest_time_ns() - floor_mod(guest_time_ns(), kSecond)) / kSecond);
  std::tm fields{};
  gmtime_r(&seconds, &fields);
  return fields;
}

uint8_t RtcCmos::encode(int value) const {
  if (cmos_[kRegB] & kBBinary) return static_cast<uint8_t>(value);
  return static_cast<uint8_t>((value / 10) << 4 | value % 10);
}

int RtcCmos::decode(uint8_t value) const {
  if (cmos_[kRegB] & kBBinary) return value;
  return (value >> 4) * 10 + (value & 0x0f);
}

uint8_t RtcCmos::encode_hour(int hour) const {
  if (cmos_[kRegB] & kB24Hour) return encode(hour);
  int twelve = hour % 12 == 0 ? 12 : hour % 12;
  return encode(twelve) | (hour >= 12 ? kHourPm : 0);
}

int RtcCmos::decode_hour(uint8_t value) const {
  if (cmos_[kRegB] & kB24Hour) return decode(value);
  return decode(value & ~kHourPm) % 12 + ((value & kHourPm) ? 12 : 0);
}

uint8_t RtcCmos::read_time_register(uint8_t index) const {
  std::tm f = current_fields();
  switch (index) {
    case kSeconds:
      return encode(f.tm_sec);
    case kMinutes:
      return encode(f.tm_min);
    case kHours:
      return encode_hour(f.tm_hour);
    case kDayOfWeek:
      return encode(f.tm_wday + 1);
    case kDayOfMonth:
      return encode(f.tm_mday);
    case kMonth:
      return encode(f.tm_mon + 1);
    case kYear:
      return encode((f.tm_year + 1900) % 100);
    case kCentury:
    case kCenturyPs2:
      return encode((f.tm_year + 1900) / 100);
    default:
      return cmos_[index];
  }
}

void RtcCmos::write_time_register(uint8_t index, uint8_t value) {
  std::tm f = current_fields();
  int century = (f.tm_year + 1900) / 100;
  switch (index) {
    case kSeconds:
      f.tm_sec = decode(value) % 60;
      break;
    case kMinutes:
      f.tm_min = decode(value) % 60;
      break;
    case kHours:
      f.tm_hour = decode_hour(value) % 24;
      break;
    case kDayOfWeek:
      return;  // follows from the date
    case kDayOfMonth:
      f.tm_mday = std::clamp(decode(value), 1, 31);
      break;
    case kMonth:
      f.tm_mon = std::clamp(decode(value), 1, 12) - 1;
      break;
    case kYear:
      f.tm_year = century * 100 + decode(value) % 100 - 1900;
      break;
    case kCentury:
    case kCenturyPs2:
      f.tm_year = decode(value) * 100 + (f.tm_year + 1900) % 100 - 1900;
      break;
    default:
      cmos_[index] = value;  // alarms and NVRAM
      return;
  }
  if (cmos_[kRegB] & kBSet)
    set_fields_ = f;  // takes effect when SET is cleared
  else
    commit_fields(f);
}

void RtcCmos::commit_fields(const std::tm& fields) {
  std::tm copy = fields;
  int64_t seconds = timegm(&copy);
  if (seconds > kMaxSetSeconds || seconds < -kMaxSetSeconds) {
    HVMD_GUEST_LOG("rtc: date beyond the supported range set; clamped");
    seconds = std::clamp(seconds, -kMaxSetSeconds, kMaxSetSeconds);
  }
  // The divider restarts: the new second begins now (or, in divider reset, when it ends).
  set_guest_time_ns(seconds * kSecond);
  schedule_update();
}

void RtcCmos::schedule_update() {
  if (!clock_running()) {
    update_timer_.cancel();
    return;
  }
  update_timer_.arm_after(kSecond - floor_mod(guest_time_ns(), kSecond));
}

void RtcCmos::on_update() {
  uint8_t flags = kCUpdate;
  auto matches = [&](uint8_t alarm, uint8_t now) {
    return (alarm & kAlarmDontCare) == kAlarmDontCare || alarm == now;
  };
  if (matches(cmos_[kSecondsAlarm], read_time_register(kSeconds)) &&
      matches(cmos_[kMinutesAlarm], read_time_register(kMinutes)) &&
      matches(cmos_[kHoursAlarm], read_time_register(kHours)))
    flags |= kCAlarm;
  raise_flags(flags);
  schedule_update();
}

// The periodic interrupt taps the divider chain at the rate bits' frequency whatever the divider
// setting (as QEMU), while PIE is set (QEMU sets PF only then too). Its edges fall on multiples
// of the period on the machine's clock, so changing the rate keeps the chain's phase.
void RtcCmos::schedule_periodic() {
  unsigned rate = cmos_[kRegA] & kARateMask;
  if (!rate || !(cmos_[kRegB] & kBPeriodicEnable)) {
    periodic_timer_.cancel();
    return;
  }
  if (rate <= 2) rate += 7;  // 256 Hz and 128 Hz, as rates 8 and 9
  int64_t period = (int64_t{1} << (rate - 1)) * kSecond / 32768;
  periodic_timer_.arm_after(period - floor_mod(clock_.now_ns(), period));
}

void RtcCmos::raise_flags(uint8_t flags) {
  cmos_[kRegC] |= flags;
  // The enables sit in register B at the same bit positions as their flags in C.
  if (cmos_[kRegC] & cmos_[kRegB] & kInterruptEnables) {
    cmos_[kRegC] |= kCIrq;
    irq_.raise();
  }
}

uint64_t RtcCmos::io_read(uint64_t offset, unsigned) {
  if (offset == 0) return all_ones(1);  // the index port is write-only
  uint8_t index = index_;
  if (nvram_only_ && index < kFirstNvram) return all_ones(1);
  switch (index) {
    case kRegA: {
      uint8_t uip =
          clock_running() && floor_mod(guest_time_ns(), kSecond) >= kSecond - kUpdateInProgressNs
              ? kAUpdateInProgress
              : 0;
      return (cmos_[kRegA] & ~kAUpdateInProgress) | uip;
    }
    case kRegC: {
      uint8_t flags = cmos_[kRegC];
      cmos_[kRegC] = 0;  // reading acknowledges
      irq_.lower();
      return flags;
    }
    case kRegD:
      return kDValid;
    default:
      return nvram_only_ ? cmos_[index] : read_time_register(index);
  }
}

void RtcCmos::io_write(uint64_t offset, unsigned, uint64_t value) {
  auto byte = static_cast<uint8_t>(value);
  if (offset == 0) {
    index_ = byte & kIndexMask;  // bit 7 is the NMI mask, not ours
    return;
  }
  uint8_t index = index_;
  if (nvram_only_) {
    if (index >= kFirstNvram) cmos_[index] = byte;
    return;
  }
  switch (index) {
    case kRegA: {
      bool was_reset = divider_in_reset();
      int64_t time_ns = guest_time_ns();
      cmos_[kRegA] = byte & ~kAUpdateInProgress;
      if (!was_reset && divider_in_reset()) {
        frozen_ns_ = time_ns;  // time stops where it is
      } else if (was_reset && !divider_in_reset()) {
        // The chain restarts half way through the second: the first update 500 ms from now.
        set_guest_time_ns(time_ns - floor_mod(time_ns, kSecond) +
                          (kSecond - kFirstUpdateAfterResetNs));
      }
      schedule_periodic();
      schedule_update();
      return;
    }
    case kRegB: {
      bool was_set = cmos_[kRegB] & kBSet;
      if ((byte & kBSet) && !was_set) {
        set_fields_ = current_fields();  // frozen while the guest writes the new time
        byte &= ~kBUpdateEnable;         // setting the clock disables update interrupts
      }
      cmos_[kRegB] = byte;
      if (was_set && !(byte & kBSet)) commit_fields(set_fields_);
      schedule_periodic();
      schedule_update();
      if (!(cmos_[kRegC] & cmos_[kRegB] & kInterruptEnables)) {
        cmos_[kRegC] &= ~kCIrq;
        irq_.lower();
      } else {
        raise_flags(0);
      }
      return;
    }
    case kRegC:
    case kRegD:
      return;  // read-only
    default:
      write_time_register(index, byte);
  }
}

// The saved form: CMOS bytes, the index, and the guest's clock as a wall time (restored as the
// same wall time, whatever the new host's machine clock reads).
struct RtcCmos::Saved {
  std::array<uint8_t, kCmosSize> cmos{};
  uint8_t index = 0;
  int64_t guest_time_ns = 0;
  template <class V>
  void describe(V& v) {
    v("CMOS bytes", cmos);
    v("index", index, Mask{kIndexMask});  // as the index port write masks it
    v("guest time", guest_time_ns, InRange{-kMaxSavedTimeNs, kMaxSavedTimeNs});  // else refused
  }
};

void RtcCmos::save(StateWriter& out) const {
  write_fields(out, Saved{cmos_, index_, guest_time_ns()});
}

Result<std::unique_ptr<StagedState>> RtcCmos::parse_state(StateReader& in, uint32_t version) {
  Saved s;
  HVMD_TRY(read_fields(in, version, "mc146818rtc", s));
  if (nvram_only_) {
    // Under Xen the guest reaches only the NVRAM bytes; the rest stay as they are.
    std::copy(cmos_.begin(), cmos_.begin() + kFirstNvram, s.cmos.begin());
  } else {
    // As the register writes and the device leave them: UIP is computed, C holds only the
    // device's flags with IRQF set exactly when an enabled one is, D always reads valid.
    s.cmos[kRegA] &= ~kAUpdateInProgress;
    s.cmos[kRegC] &= kCFlags;
    if (s.cmos[kRegC] & s.cmos[kRegB] & kInterruptEnables) s.cmos[kRegC] |= kCIrq;
    s.cmos[kRegD] = kDValid;
  }
  return staged([this, s] {
    cmos_ = s.cmos;
    index_ = s.index;
    set_guest_time_ns(s.guest_time_ns);
  });
}

void RtcCmos::post_load() {
  set_fields_ = current_fields();
  if (!nvram_only_) {
    schedule_periodic();
    schedule_update();
  }
  irq_.set(cmos_[kRegC] & kCIrq);
}

}  // namespace hvmd::devices
