#include "devices/platform/piix4_pm.h"

#include <functional>

#include "devices/platform/piix_regs.h"
#include "dm/log.h"

namespace hvmd::devices {

using namespace piix;

namespace {
constexpr int64_t kNsPerSecond = 1'000'000'000;
}  // namespace

Piix4Pm::Piix4Pm(Dispatcher& dispatcher, pci::PciBus& bus, InterruptSink& interrupts, Clock& clock,
                 PowerControl& power, bool control_only)
    : PciDevice({.vendor = kVendorIntel,
                 .device = kPmId,
                 .class_code = kClassBridgeOther,
                 .revision = kPmRevision,
                 .interrupt_pin = 1}),
      dispatcher_(dispatcher),
      clock_(clock),
      power_(power),
      control_only_(control_only),
      sci_(IrqLine::isa(&interrupts, kSciIrq)),
      hotplug_(dispatcher, bus, hotplug_slots_,
               std::bind_front(&Piix4Pm::raise_gpe, this, kGpePciHotplug)),
      overflow_timer_(clock, [this] {
        status_ |= kStatusTimer;
        update_sci();
        arm_timer_overflow();
      }) {
  auto& config = mutable_config();
  config.set16(pci::kStatus,
               pci::kStatusFastBackToBack | pci::kStatusDevselMedium);  // 0x0280, as QEMU's
  config.set32(kPmBase, kPmBaseIoSpace);
  config.set_write_mask(kPmBase, 4, kPmBaseMask);
  config.set_write_mask(kPmMisc, 1, kPmIoEnable);
  // hvmd offers no System Management Mode. APMC_EN reads as set and stays so, which tells
  // firmware (SeaBIOS) that SMM is already set up; it would otherwise raise an SMI and wait for a
  // handler that never runs.
  config.set32(kDeviceActivityB, kApmcEnable);
  apm_mapping_ =
      ScopedMapping(dispatcher, dispatcher.map_ports(kApmControlPort, 2, &apm_io_, "apm"));
  // Under Xen too: the hypervisor emulates neither (hvmloader's FADT and DSDT point here).
  gpe_mapping_ = ScopedMapping(dispatcher,
                               dispatcher.map_ports(kGpe0Base, kGpe0Length, &gpe_io_, "acpi-gpe0"));
  hotplug_.attach();
}

void Piix4Pm::unrealize() {
  hotplug_.detach();
  pm_mapping_.reset();
  apm_mapping_.reset();
  gpe_mapping_.reset();
  PciDevice::unrealize();
}

void Piix4Pm::config_written(uint32_t reg, unsigned size, uint32_t value) {
  PciDevice::config_written(reg, size, value);
  update_pm_mapping();
}

// The PM block follows PMBA while PMREGMISC enables it.
void Piix4Pm::update_pm_mapping() {
  uint64_t base =
      (config().get8(kPmMisc) & kPmIoEnable) ? (config().get32(kPmBase) & kPmBaseMask) : 0;
  if (base == pm_base_) return;
  Dispatcher& d = dispatcher_;
  pm_mapping_.reset();
  pm_base_ = base;
  if (!base) return;
  // Under Xen only PM1 control is ours: the hypervisor serves the rest of the block.
  pm_mapping_ =
      ScopedMapping(d, control_only_ ? d.map_ports(base + kPm1Control, 2, &pm_io_, "pm1-control")
                                     : d.map_ports(base, kPmBlockSize, &pm_io_, "piix4-pm"));
}

void Piix4Pm::reset_device() {
  status_ = enable_ = control_ = 0;
  apm_status_ = 0;
  gpe_status_ = gpe_enable_ = 0;
  hotplug_.reset();
  overflow_timer_.cancel();
  sci_.lower();
  update_pm_mapping();
}

uint32_t Piix4Pm::timer_value() const {
  // 3.579545 MHz since machine time 0; 128-bit product, as ns * Hz overflows 64 bits in 81 min.
  auto ticks = static_cast<unsigned __int128>(clock_.now_ns()) * kTimerHz / kNsPerSecond;
  return static_cast<uint32_t>(ticks) & kTimerMask;
}

// TMR_STS is set each time the counter's top bit changes; only worth a timer while enabled.
void Piix4Pm::arm_timer_overflow() {
  if (control_only_ || !(enable_ & kStatusTimer)) {
    overflow_timer_.cancel();
    return;
  }
  uint32_t now = timer_value();
  uint64_t ticks_left = kTimerMsb - (now & (kTimerMsb - 1));
  overflow_timer_.arm_after(
      static_cast<int64_t>((ticks_left * kNsPerSecond + kTimerHz - 1) / kTimerHz));
}

// Level-triggered while an enabled event is pending, as long as the OS has ACPI mode on.
void Piix4Pm::update_sci() {
  bool pending = (status_ & enable_ & kEnableMask) || (gpe_status_ & gpe_enable_);
  sci_.set((control_ & kControlSciEnable) && pending);
}

void Piix4Pm::write_control(uint16_t value) {
  control_ = value & kControlWritable;
  update_sci();
  if (!(value & kControlSleepEnable)) return;
  unsigned sleep_type = (value & kControlSleepTypeMask) >> kControlSleepTypeShift;
  if (sleep_type == kSleepSoftOff) {
    power_.request_shutdown(ShutdownCause::kGuestPoweroff);
  } else {
    HVMD_GUEST_LOG("ACPI sleep type %u (S3 and others) is not supported; the guest runs on",
                   sleep_type);
  }
}

uint64_t Piix4Pm::pm_read(uint64_t offset, unsigned size) {
  if (control_only_) offset += kPm1Control;
  uint64_t value;
  switch (offset) {
    case kPm1Status:
      value = status_;
      break;
    case kPm1Enable:
      value = enable_;
      break;
    case kPm1Control:
      value = control_;
      break;
    case kPmTimer:
      value = timer_value();
      break;
    default:
      return 0;  // the general-purpose and processor registers are not modelled
  }
  return value & all_ones(size);
}

void Piix4Pm::pm_write(uint64_t offset, unsigned size, uint64_t value) {
  if (control_only_) offset += kPm1Control;
  // Firmware writes these 16-bit registers whole, but a dword at PM1_STS also covers PM1_EN.
  if (offset == kPm1Status) {
    status_ &= ~(static_cast<uint16_t>(value) & kStatusMask);  // write 1 to clear
    if (size == 4) {
      enable_ = static_cast<uint16_t>(value >> 16) & kEnableMask;
      arm_timer_overflow();
    }
    update_sci();
  } else if (offset == kPm1Enable) {
    enable_ = static_cast<uint16_t>(value) & kEnableMask;
    arm_timer_overflow();
    update_sci();
  } else if (offset == kPm1Control) {
    write_control(static_cast<uint16_t>(value));
  }
}

uint64_t Piix4Pm::apm_read(uint64_t offset, unsigned) {
  return offset == 1 ? apm_status_ : 0;
}

void Piix4Pm::apm_write(uint64_t offset, unsigned, uint64_t value) {
  auto byte = static_cast<uint8_t>(value);
  if (offset == 1) {
    apm_status_ = byte;
    return;
  }
  // The OS asks firmware (here: the chipset) to hand the machine to ACPI, or take it back.
  if (byte == kAcpiEnable) write_control(control_ | kControlSciEnable);
  if (byte == kAcpiDisable) write_control(control_ & ~kControlSciEnable);
}

void Piix4Pm::raise_gpe(uint16_t bits) {
  gpe_status_ |= bits;
  update_sci();
}

// GPE0: byte registers (an access of several bytes is several registers), status then enable.
uint64_t Piix4Pm::gpe_read(uint64_t offset, unsigned size) {
  uint64_t value = 0;
  for (unsigned i = 0; i < size && offset + i < kGpe0Length; ++i) {
    uint64_t byte = offset + i;
    uint16_t reg = byte < kGpe0Enable ? gpe_status_ : gpe_enable_;
    value |= uint64_t{static_cast<uint8_t>(reg >> (byte % 2 * 8))} << (i * 8);
  }
  return value;
}

void Piix4Pm::gpe_write(uint64_t offset, unsigned size, uint64_t value) {
  for (unsigned i = 0; i < size && offset + i < kGpe0Length; ++i) {
    uint64_t byte = offset + i;
    auto bits = static_cast<uint16_t>((value >> (i * 8) & 0xff) << (byte % 2 * 8));
    auto byte_mask = static_cast<uint16_t>(0xff << (byte % 2 * 8));
    if (byte < kGpe0Enable) {
      gpe_status_ &= ~bits;  // write 1 to clear
    } else {
      gpe_enable_ = (gpe_enable_ & ~byte_mask) | bits;
    }
  }
  update_sci();
}

template <class V>
void Piix4PmState::describe(V& v) {
  // Masked as the guest's register writes mask them; the APM status byte takes any value.
  v("PM1 status", status_, Mask{kStatusMask});
  v("PM1 enable", enable_, Mask{kEnableMask});
  v("PM1 control", control_, Mask{kControlWritable});
  v("APM status", apm_status_);
  v("GPE0 status", gpe_status_, Mask{kGpePciHotplug});  // only hvmd raises, only this one
  v("GPE0 enable", gpe_enable_);                        // any: the guest writes any
  v("PCI hot-plug", hotplug_slots_);
}

void Piix4Pm::save_device(StateWriter& out) const {
  write_fields(out, static_cast<const Piix4PmState&>(*this));
}

Result<std::unique_ptr<StagedState>> Piix4Pm::parse_device(StateReader& in, uint32_t version) {
  return stage_fields<Piix4PmState>(in, version, "PIIX4_PM", *this);
}

void Piix4Pm::post_load_device() {
  pm_base_ = ~0ull;  // remap from the restored config space
  update_pm_mapping();
  arm_timer_overflow();
  update_sci();
}

}  // namespace hvmd::devices
