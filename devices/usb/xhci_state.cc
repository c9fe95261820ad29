// xHCI device state: the registers, the rings' positions, every slot's and endpoint's state and
// the root ports. Guest memory (contexts, rings) travels with RAM; what is here is what the
// controller holds on its own. A stream is checked field by field (state_fields.h) and then as a
// whole: event ring positions inside their segments, slots only within MaxSlotsEn, running
// exactly when not halted.
#include "devices/usb/xhci.h"

namespace hvmd::devices::usb {

using namespace xhci;

template <class V>
void XhciState::describe(V& v) {
  v("USBCMD", usbcmd_, Mask{kCmdMask});
  v("USBSTS", usbsts_, Mask{kStsHalted | kStsWriteClear | kStsHce});
  v("DNCTRL", dnctrl_, Mask{kDnCtrlMask});
  v("CONFIG", max_slots_enabled_, AtMost{kMaxSlots});
  v("DCBAAP", dcbaap_, Mask{kDcbaapMask});
  v("command ring", command_ring_);
  v("command ring running", command_ring_running_);
  v("slots", slots_);
  v("interrupters", interrupters_);
  v("port views", views_);
  v("shown ports", shown_);
}

void Xhci::save_device(StateWriter& out) const {
  write_fields(out, static_cast<const XhciState&>(*this));
  for (const auto& port : ports_) write_fields(out, static_cast<const UsbPortState&>(port));
}

Result<std::unique_ptr<StagedState>> Xhci::parse_device(StateReader& in, uint32_t version) {
  XhciState next{};
  HVMD_TRY(read_fields(in, version, "xhci", next));
  std::array<UsbPortState, kPortsPerProtocol> ports;
  for (auto& port : ports) HVMD_TRY(read_fields(in, version, "xhci port", port));
  if (bool(next.usbcmd_ & kCmdRun) == bool(next.usbsts_ & kStsHalted))
    return make_error("xhci: saved USBCMD and USBSTS disagree on running");
  for (auto& ir : next.interrupters_)
    if (!ir.ring.consistent()) return make_error("xhci: saved event ring position is not in it");
  for (unsigned id = 0; id <= kMaxSlots; ++id) {
    const SlotRecord& s = next.slots_[id];
    if (s.enabled && (id == 0 || id > next.max_slots_enabled_))
      return make_error("xhci: saved slot %u is beyond MaxSlotsEn", id);
  }
  for (uint32_t shown : next.shown_)
    if (shown > kPorts) return make_error("xhci: saved port %u does not exist", shown);
  return staged([this, next = std::move(next), ports] {
    static_cast<XhciState&>(*this) = next;
    for (unsigned i = 0; i < kPortsPerProtocol; ++i) ports_[i].load(ports[i]);
  });
}

void Xhci::post_load_device() {
  continue_timer_.cancel();
  for (auto& timer : moderation_) timer->cancel();
  // The devices plugged in now decide which register port shows each of them.
  for (unsigned c = 0; c < kPortsPerProtocol; ++c) shown_[c] = device_port(c);
  update_intx();
  // An endpoint saved waiting for data may have data already (the device's queue came back).
  retry_waiting_endpoints();
}

}  // namespace hvmd::devices::usb
