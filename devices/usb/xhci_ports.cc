// xHCI root hub ports: PORTSC over the shared UsbPort state machine. Each connector has a USB2
// and a USB3 register port (the Supported Protocol capabilities say which numbers are which:
// qemu-xhci puts USB2 first, the NEC part USB3 first); a device shows on the one of its speed.
// A change bit going from 0 to 1 raises a Port Status Change event on interrupter 0.
#include "devices/usb/xhci.h"

#include "dm/log.h"

namespace hvmd::devices::usb {

using namespace xhci;

bool Xhci::usb3_port(unsigned port) const {
  bool first_half = port <= kPortsPerProtocol;
  return model_ == Model::kNec ? first_half : !first_half;
}

unsigned Xhci::connector_of(unsigned port) const {
  return (port - 1) % kPortsPerProtocol;
}

unsigned Xhci::port_number(unsigned connector, bool usb3) const {
  bool first_half = model_ == Model::kNec ? usb3 : !usb3;
  return connector + 1 + (first_half ? 0 : kPortsPerProtocol);
}

unsigned Xhci::device_port(unsigned connector) const {
  const UsbDevice* device = ports_[connector].device();
  if (!device) return 0;
  return port_number(connector, device->speed() == Speed::kSuper);
}

uint32_t Xhci::port_read(unsigned port, uint32_t reg) {
  if (reg != kPortSc) return 0;  // no link power management: PORTPMSC, PORTLI, PORTHLPMC zero
  const UsbPort& p = ports_[connector_of(port)];
  const PortView& view = views_[port - 1];
  uint32_t v = kPortPp | view.changes | view.wake;
  if (device_port(connector_of(port)) != port) return v | kPlsRxDetect << kPortPlsShift;
  v |= kPortCcs;
  uint32_t speed = kSpeedFull;
  switch (p.device()->speed()) {
    case Speed::kLow:
      speed = kSpeedLow;
      break;
    case Speed::kFull:
      speed = kSpeedFull;
      break;
    case Speed::kHigh:
      speed = kSpeedHigh;
      break;
    case Speed::kSuper:
      speed = kSpeedSuper;
      break;
  }
  v |= speed << kPortSpeedShift;
  uint32_t pls = kPlsPolling;  // a USB2 device waits for the port reset
  if (p.enabled) {
    v |= kPortPed;
    pls = p.suspended ? kPlsU3 : kPlsU0;
  }
  return v | pls << kPortPlsShift;
}

void Xhci::port_write(unsigned port, uint32_t reg, uint32_t value) {
  if (reg != kPortSc) return;
  unsigned connector = connector_of(port);
  UsbPort& p = ports_[connector];
  PortView& view = views_[port - 1];
  view.changes &= ~(value & kPortChangeBits);
  view.wake = value & kPortWakeBits;
  bool here = device_port(connector) == port;
  if ((value & kPortPed) && here) p.set_enabled(false);  // write 1 to disable
  if (value & (kPortPr | kPortWpr)) {
    // Reset signalling completes at once: the port is enabled in U0 with the reset change.
    if (here) {
      // The reset's chirp settles the speed: a dual-speed device (tablet, usb-storage) comes up
      // at high speed on a USB2 port, as behind an EHCI.
      if (p.device()) p.device()->set_speed(Speed::kHigh);
      p.begin_reset();
      p.end_reset(true);
      p.reset_change = false;
    }
    uint32_t changes = kPortPrc;
    if ((value & kPortWpr) && usb3_port(port)) changes |= kPortWrc;
    set_port_change(port, changes);
    return;
  }
  if ((value & kPortLws) && here && p.enabled) {
    uint32_t pls = (value & kPortPlsMask) >> kPortPlsShift;
    if (pls == kPlsU3) {
      p.set_suspended(true);  // software's own suspend sets no link state change
    } else if ((pls == kPlsU0 || pls == kPlsResume) && p.suspended) {
      p.set_suspended(false);
      set_port_change(port, kPortPlc);
    }
  }
}

void Xhci::set_port_change(unsigned port, uint32_t bits) {
  PortView& view = views_[port - 1];
  uint32_t rising = bits & ~view.changes;
  view.changes |= bits;
  if (!rising) return;
  usbsts_ |= kStsPcd;
  post_event(0, Trb{.parameter = uint64_t{port} << 24,
                    .status = uint32_t{kCcSuccess} << 24,
                    .control = uint32_t{kEventPortStatusChange} << kTrbTypeShift});
}

void Xhci::port_changed(UsbPort& p) {
  unsigned connector = p.number() - 1;
  unsigned before = shown_[connector];
  unsigned now = device_port(connector);
  shown_[connector] = now;
  if (before && before != now) set_port_change(before, kPortCsc | (p.enable_change ? kPortPec : 0));
  p.connect_change = p.enable_change = false;  // PORTSC keeps its own change bits
  if (now) {
    // A super-speed device trains its link and the port enables itself; USB2 waits for reset.
    if (usb3_port(now)) p.set_enabled(true);
    set_port_change(now, kPortCsc);
  }
}

void Xhci::port_wakeup(UsbPort& p) {
  if (!p.suspended) return;
  p.set_suspended(false);
  if (unsigned port = shown_[p.number() - 1]) set_port_change(port, kPortPlc);
}

void Xhci::ports_reset() {
  for (unsigned c = 0; c < kPortsPerProtocol; ++c) {
    UsbPort& p = ports_[c];
    p.power_on_reset();
    p.connect_change = false;
    shown_[c] = device_port(c);
  }
  views_ = {};
  for (unsigned c = 0; c < kPortsPerProtocol; ++c) {
    if (!shown_[c]) continue;
    views_[shown_[c] - 1].changes |= kPortCsc;  // a halted controller posts no event
    if (usb3_port(shown_[c])) ports_[c].set_enabled(true);
  }
}

}  // namespace hvmd::devices::usb
