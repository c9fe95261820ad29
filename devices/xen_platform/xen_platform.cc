#include "devices/xen_platform/xen_platform.h"

#include "devices/xen_platform/xen_platform_regs.h"
#include "dm/log.h"

namespace hvmd::devices {

using namespace xen_platform;

XenPlatformDevice::XenPlatformDevice(Dispatcher& dispatcher, EmulatedUnplug& unplug)
    : PciDevice({.vendor = kVendorXen,
                 .device = kDeviceId,
                 .class_code = kClassOther,
                 .revision = kRevision,
                 .subsystem_vendor = kVendorXen,
                 .subsystem = kDeviceId,
                 .interrupt_pin = 1}),
      unplug_(unplug),
      fixed_mapping_(dispatcher, dispatcher.map_ports(kFixedPorts, kFixedPortCount, &fixed_io_,
                                                      "xen-platform")) {
  add_bar(0, pci::BarType::kIo, kIoBarSize, &bar_io_);
  add_bar(1, pci::BarType::kMemory32, kMmioBarSize, &mmio_, /*prefetchable=*/true);
}

void XenPlatformDevice::reset_device() {
  flags_ = 0;
  product_ = 0;
  log_line_.clear();
}

uint64_t XenPlatformDevice::fixed_read(uint64_t offset, unsigned size) {
  if (offset == kMagicOffset && size == 2) return kMagic;
  if (offset == kFlagsOffset && size == 1) return flags_;
  if (offset == kVersionOffset && size == 1) return kProtocolVersion;
  return all_ones(size);
}

void XenPlatformDevice::fixed_write(uint64_t offset, unsigned size, uint64_t value) {
  if (offset == kMagicOffset && size == 2) {
    unplug(static_cast<uint16_t>(value));
  } else if (offset == kMagicOffset && size == 4) {
    HVMD_INFO("xen-platform: PV drivers, product %#x build %u", product_,
              static_cast<uint32_t>(value));
  } else if (offset == kFlagsOffset && size == 1) {
    // The ROM lock would make 0xc0000-0xfffff read-only in the guest's map; hvmloader and
    // SeaBIOS never set it on these machines, so it is kept, not enforced.
    flags_ = static_cast<uint8_t>(value) & kFlagRomLock;
  } else if (offset == kVersionOffset && size == 2) {
    product_ = static_cast<uint16_t>(value);
  } else if (offset == kVersionOffset && size == 1) {
    log_char(static_cast<uint8_t>(value));
  }
}

uint64_t XenPlatformDevice::bar_read(uint64_t offset, unsigned size) {
  return offset == 0 && size == 1 ? flags_ : all_ones(size);
}

void XenPlatformDevice::bar_write(uint64_t offset, unsigned size, uint64_t value) {
  if (offset == 0 && size == 1) flags_ = static_cast<uint8_t>(value) & kFlagRomLock;
  if (offset == kBarLogOffset && size == 1) log_char(static_cast<uint8_t>(value));
}

// The PV drivers' log: printable characters gathered into bounded lines.
void XenPlatformDevice::log_char(uint8_t c) {
  if (c == '\n' || log_line_.size() >= kMaxLogLine) {
    HVMD_GUEST_LOG("xen-platform: guest: %s", log_line_.c_str());
    log_line_.clear();
    if (c == '\n') return;
  }
  if (c >= 0x20 && c < 0x7f) log_line_.push_back(static_cast<char>(c));
}

void XenPlatformDevice::unplug(uint16_t mask) {
  unsigned removed = unplug_.unplug_emulated(mask);
  HVMD_INFO("xen-platform: the guest unplugged emulated devices (mask %#x): %u removed", mask,
            removed);
}

template <class V>
void XenPlatformState::describe(V& v) {
  v("flags", flags_, Mask{kFlagRomLock});  // as the flags write masks it
  v("product", product_);
}

void XenPlatformDevice::save_device(StateWriter& out) const {
  write_fields(out, static_cast<const XenPlatformState&>(*this));
}

Result<std::unique_ptr<StagedState>> XenPlatformDevice::parse_device(StateReader& in,
                                                                     uint32_t version) {
  return stage_fields<XenPlatformState>(in, version, "xen-platform", *this);
}

}  // namespace hvmd::devices
