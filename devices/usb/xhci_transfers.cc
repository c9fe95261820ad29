// xHCI transfer rings: a doorbell runs one endpoint's ring, TRB by TRB, as transactions with the
// device the slot addresses (Setup/Data/Status stages on the default control endpoint, Normal
// TRBs on interrupt and bulk endpoints, Event Data and No-op anywhere). A NAK leaves the TRB where
// it is until the device has data; a STALL, babble or no answer halts the endpoint with a
// Transfer Event, as the specification's error handling says.
#include "devices/usb/xhci.h"

#include <algorithm>
#include <cstring>

#include "devices/usb/usb_hub.h"
#include "devices/usb/usb_regs.h"
#include "dm/log.h"

namespace hvmd::devices::usb {

using namespace xhci;

namespace {
constexpr unsigned kRouteTiers = 5;  // a route string has five 4-bit hub port numbers
}  // namespace

void Xhci::doorbell_write(unsigned index, uint32_t value) {
  if (usbsts_ & kStsHalted) return;  // a halted controller ignores doorbells
  uint8_t target = value & 0xff;
  if (index == 0) {
    if (target != 0) return;  // the host controller doorbell's only target is the command ring
    command_ring_running_ = true;
    run_commands();
    return;
  }
  if (target == 0 || target >= kEndpoints) {
    HVMD_GUEST_LOG("xhci: doorbell %u rung for endpoint %u", index, target);
    return;
  }
  kick_endpoint(static_cast<uint8_t>(index), target);
}

UsbDevice* Xhci::slot_device(const Slot& s) {
  if (s.port == 0 || s.port > kPorts) return nullptr;
  unsigned connector = connector_of(s.port);
  if (device_port(connector) != s.port) return nullptr;
  UsbPort& root = ports_[connector];
  if (!root.enabled || root.suspended) return nullptr;
  UsbDevice* device = root.device();
  for (unsigned tier = 0; tier < kRouteTiers && device; ++tier) {
    unsigned port = (s.route >> (4 * tier)) & 0xf;
    if (port == 0) break;
    auto* hub = dynamic_cast<UsbHub*>(device);
    if (!hub || port > UsbHub::kPorts) return nullptr;
    UsbPort& downstream = hub->downstream(port);
    if (!downstream.enabled || downstream.suspended) return nullptr;
    device = downstream.device();
  }
  return device;
}

void Xhci::schedule_continue() {
  if (!continue_timer_.armed()) continue_timer_.arm_after(kContinueNs);
}

void Xhci::retry_waiting_endpoints() {
  if (kicking_) {
    retry_requested_ = true;  // the ring running now retries when it is done
    return;
  }
  for (unsigned id = 1; id <= kMaxSlots; ++id) {
    if (!slots_[id].enabled) continue;
    for (unsigned dci = 1; dci < kEndpoints; ++dci)
      if (slots_[id].endpoints[dci].waiting) kick_endpoint(static_cast<uint8_t>(id), dci);
  }
}

void Xhci::kick_endpoint(uint8_t slot_id, unsigned dci) {
  if (usbsts_ & kStsHalted) return;
  Slot* s = slot(slot_id);
  if (!s || dci == 0 || dci >= kEndpoints) return;
  Endpoint& ep = s->endpoints[dci];
  if (ep.state == kEpStopped) ep.state = kEpRunning;  // a doorbell restarts a stopped endpoint
  if (ep.state != kEpRunning) return;
  if (kicking_) {
    retry_requested_ = true;
    return;
  }
  kicking_ = true;
  unsigned n = 0;
  for (; n < kMaxTrbsPerKick; ++n) {
    Trb trb;
    uint64_t at = 0;
    FetchResult fetched = fetch_trb(memory_, ep.ring, trb, at);
    if (fetched == FetchResult::kEmpty) {
      ep.waiting = false;
      break;
    }
    if (fetched == FetchResult::kNotRam) {
      host_system_error("transfer ring", at);
      break;
    }
    if (fetched == FetchResult::kLinkLoop) {
      HVMD_GUEST_LOG("xhci: slot %u endpoint %u: a loop of link TRBs", slot_id, dci);
      transfer_event(slot_id, dci, at, kCcTrb, 0, Trb{});
      halt_endpoint(slot_id, dci);
      break;
    }
    TrbOutcome outcome = run_transfer_trb(slot_id, dci, trb, at);
    if (outcome == TrbOutcome::kWait) {
      ep.waiting = true;
      break;
    }
    advance(ep.ring, at);
    if (outcome == TrbOutcome::kStop || ep.state != kEpRunning || (usbsts_ & kStsHalted)) break;
  }
  if (n == kMaxTrbsPerKick) schedule_continue();
  kicking_ = false;
  if (retry_requested_) {
    retry_requested_ = false;
    retry_waiting_endpoints();
  }
}

void Xhci::transfer_event(uint8_t slot_id, unsigned dci, uint64_t pointer, uint8_t code,
                          uint32_t residual, const Trb& trb, bool event_data) {
  uint8_t type = trb.type();
  bool block = (type == kTrbNormal || type == kTrbEventDataType) && (trb.control & kTrbBei);
  Trb event{.parameter = pointer,
            .status = (residual & 0xffffff) | uint32_t{code} << 24,
            .control = uint32_t{kEventTransfer} << kTrbTypeShift |
                       (event_data ? kTrbEventData : 0) | uint32_t(dci) << kTrbEndpointShift |
                       uint32_t{slot_id} << kTrbSlotShift};
  unsigned interrupter = trb.status >> kTrbInterrupterShift;
  if (trb.control == 0 && trb.status == 0) interrupter = slots_[slot_id].interrupter;
  post_event(interrupter, event, !block);
}

void Xhci::halt_endpoint(uint8_t slot_id, unsigned dci) {
  Slot& s = slots_[slot_id];
  Endpoint& ep = s.endpoints[dci];
  ep.state = kEpHalted;
  ep.waiting = false;
  ep.td_length = 0;
  ep.td_short = false;
  write_endpoint_context(s, dci);
}

Xhci::Moved Xhci::move_data(UsbDevice* device, unsigned endpoint, bool in, const Trb& trb,
                            uint16_t max_packet) {
  Moved moved;
  if (!device) {
    moved.status = PacketStatus::kNoResponse;
    return moved;
  }
  uint32_t length = trb.status & kTrbLengthMask;
  bool immediate = trb.control & kTrbIdt;
  if (in) {
    buffer_.assign(length, 0);
    uint32_t total = 0;
    // Each packet that ends full asks for the next; a short (or empty) one ends the transfer.
    // Every full packet moves at least 8 bytes, so this ends within length / 8 packets.
    do {
      Packet packet{.pid = kPidIn,
                    .endpoint = static_cast<uint8_t>(endpoint),
                    .buffer = std::span<uint8_t>(buffer_).subspan(total)};
      device->handle_packet(packet);
      if (packet.status != PacketStatus::kAck) {
        if (packet.status == PacketStatus::kNak && total) break;  // what came so far, short
        moved.status = packet.status;
        moved.length = total;
        return moved;
      }
      total += static_cast<uint32_t>(packet.actual);
      if (packet.actual < max_packet) break;
    } while (total < length);
    if (total && !memory_.write(trb.parameter, buffer_.data(), total)) {
      moved.dma_failed = true;
      return moved;
    }
    if (total) memory_.mark_dirty(trb.parameter, total);
    moved.length = total;
    return moved;
  }
  if (immediate) {
    length = std::min<uint32_t>(length, 8);
    buffer_.resize(8);
    for (unsigned i = 0; i < 8; ++i) buffer_[i] = static_cast<uint8_t>(trb.parameter >> (8 * i));
  } else {
    buffer_.resize(length);
    if (length && !memory_.read(trb.parameter, buffer_.data(), length)) {
      moved.dma_failed = true;
      return moved;
    }
  }
  uint32_t total = 0;
  do {
    uint32_t chunk = std::min<uint32_t>(max_packet, length - total);
    Packet packet{.pid = kPidOut,
                  .endpoint = static_cast<uint8_t>(endpoint),
                  .buffer = std::span<uint8_t>(buffer_).subspan(total, chunk)};
    device->handle_packet(packet);
    if (packet.status != PacketStatus::kAck) {
      moved.status = packet.status;
      moved.length = total;
      return moved;
    }
    total += chunk;
  } while (total < length);
  moved.length = total;
  return moved;
}

Xhci::TrbOutcome Xhci::run_transfer_trb(uint8_t slot_id, unsigned dci, const Trb& trb,
                                        uint64_t at) {
  Slot& s = slots_[slot_id];
  Endpoint& ep = s.endpoints[dci];
  uint8_t type = trb.type();
  bool chain = trb.control & kTrbChain;
  bool ioc = trb.control & kTrbIoc;
  auto end_of_td = [&] {
    if (!chain) {
      ep.td_length = 0;
      ep.td_short = false;
    }
  };
  // After a short packet the rest of the TD is skipped, except its Event Data TRBs.
  if (ep.td_short && type != kTrbEventDataType) {
    end_of_td();
    return TrbOutcome::kNext;
  }
  // The transaction error a STALL, babble or silence becomes; the endpoint halts.
  auto failed = [&](PacketStatus status, uint32_t residual) {
    uint8_t code = status == PacketStatus::kStall    ? kCcStall
                   : status == PacketStatus::kBabble ? kCcBabble
                                                     : kCcTransaction;
    transfer_event(slot_id, dci, at, code, residual, trb);
    halt_endpoint(slot_id, dci);
    return TrbOutcome::kStop;
  };
  UsbDevice* device = slot_device(s);
  switch (type) {
    case kTrbSetup: {
      uint32_t length = trb.status & kTrbLengthMask;
      if (dci != 1 || !(trb.control & kTrbIdt) || length != 8) {
        HVMD_GUEST_LOG("xhci: slot %u: malformed Setup Stage TRB", slot_id);
        transfer_event(slot_id, dci, at, kCcTrb, 0, trb);
        halt_endpoint(slot_id, dci);
        return TrbOutcome::kStop;
      }
      std::array<uint8_t, 8> setup;
      for (unsigned i = 0; i < 8; ++i) setup[i] = static_cast<uint8_t>(trb.parameter >> (8 * i));
      ep.td_length = 0;
      ep.td_short = false;
      if (!device) return failed(PacketStatus::kNoResponse, 8);
      Packet packet{.pid = kPidSetup, .endpoint = 0, .buffer = setup};
      device->handle_packet(packet);
      if (packet.status == PacketStatus::kNak) return TrbOutcome::kWait;
      if (packet.status != PacketStatus::kAck) return failed(packet.status, 8);
      if (ioc) transfer_event(slot_id, dci, at, kCcSuccess, 0, trb);
      return TrbOutcome::kNext;
    }
    case kTrbData:
    case kTrbNormal: {
      if ((type == kTrbData) != (dci == 1)) {
        transfer_event(slot_id, dci, at, kCcTrb, 0, trb);
        return TrbOutcome::kNext;
      }
      bool in = dci == 1 ? (trb.control & kTrbDirIn) != 0 : (dci & 1) != 0;
      uint32_t length = trb.status & kTrbLengthMask;
      Moved moved = move_data(device, dci / 2, in, trb, ep.max_packet);
      if (moved.dma_failed) {
        host_system_error("transfer buffer", trb.parameter);
        return TrbOutcome::kStop;
      }
      if (moved.status == PacketStatus::kNak) return TrbOutcome::kWait;
      if (moved.status != PacketStatus::kAck) return failed(moved.status, length - moved.length);
      ep.td_length += moved.length;
      if (moved.length < length) {
        // Short packet: reported when asked (ISP) or at the TRB's IOC; the TD's rest is skipped.
        if (trb.control & (kTrbIsp | kTrbIoc))
          transfer_event(slot_id, dci, at, kCcShortPacket, length - moved.length, trb);
        ep.td_short = chain;
        if (!chain) ep.td_length = 0;
        return TrbOutcome::kNext;
      }
      if (ioc) transfer_event(slot_id, dci, at, kCcSuccess, 0, trb);
      end_of_td();
      return TrbOutcome::kNext;
    }
    case kTrbStatus: {
      if (dci != 1) {
        transfer_event(slot_id, dci, at, kCcTrb, 0, trb);
        return TrbOutcome::kNext;
      }
      if (!device) return failed(PacketStatus::kNoResponse, 0);
      Packet packet{.pid = (trb.control & kTrbDirIn) ? kPidIn : kPidOut,
                    .endpoint = 0,
                    .buffer = std::span<uint8_t>(buffer_.data(), 0)};
      device->handle_packet(packet);
      if (packet.status == PacketStatus::kNak) return TrbOutcome::kWait;
      if (packet.status != PacketStatus::kAck) return failed(packet.status, 0);
      if (ioc) transfer_event(slot_id, dci, at, kCcSuccess, 0, trb);
      end_of_td();
      return TrbOutcome::kNext;
    }
    case kTrbEventDataType: {
      // The event carries software's 64-bit value and the bytes the TD moved so far (EDTLA).
      if (ioc)
        transfer_event(slot_id, dci, trb.parameter, ep.td_short ? kCcShortPacket : kCcSuccess,
                       ep.td_length, trb, /*event_data=*/true);
      end_of_td();
      return TrbOutcome::kNext;
    }
    case kTrbNoOp:
      if (ioc) transfer_event(slot_id, dci, at, kCcSuccess, 0, trb);
      end_of_td();
      return TrbOutcome::kNext;
    default:
      // Isochronous transfers are not modelled; anything else does not belong on a transfer ring.
      HVMD_GUEST_LOG("xhci: slot %u endpoint %u: TRB type %u not run", slot_id, dci, type);
      transfer_event(slot_id, dci, at, kCcTrb, 0, trb);
      end_of_td();
      return TrbOutcome::kNext;
  }
}

void Xhci::port_endpoint_ready(UsbPort&) {
  retry_waiting_endpoints();
}

}  // namespace hvmd::devices::usb
