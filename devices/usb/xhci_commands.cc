// The xHCI command ring (doorbell 0) and the slot and endpoint contexts the commands manage.
// Contexts are read from the input context software points at and written to the output device
// context the DCBAA names; both only through GuestMemory. Every slot ID and endpoint ID in a
// command is checked against MaxSlotsEn and 1..31 before it indexes anything.
#include "devices/usb/xhci.h"

#include "devices/usb/usb_regs.h"
#include "dm/log.h"

namespace hvmd::devices::usb {

using namespace xhci;

bool xhci::EndpointRecord::in() const {
  return type == kEpIsochIn || type == kEpBulkIn || type == kEpInterruptIn;
}

void Xhci::run_commands() {
  if ((usbsts_ & kStsHalted) || !command_ring_running_) return;
  for (unsigned n = 0; n < kMaxCommandsPerKick; ++n) {
    Trb trb;
    uint64_t at = 0;
    switch (fetch_trb(memory_, command_ring_, trb, at)) {
      case FetchResult::kEmpty:
        return;
      case FetchResult::kNotRam:
        host_system_error("command ring", at);
        return;
      case FetchResult::kLinkLoop:
        // Links only: nothing to run. The ring stays where it is until software fixes it.
        HVMD_GUEST_LOG("xhci: command ring at %#llx is a loop of link TRBs",
                       static_cast<unsigned long long>(at));
        return;
      case FetchResult::kTrb:
        break;
    }
    advance(command_ring_, at);
    run_command(trb, at);
    if ((usbsts_ & kStsHalted) || !command_ring_running_) return;
  }
  schedule_continue();  // more commands than one doorbell's budget: the rest a little later
}

void Xhci::command_done(uint64_t at, uint8_t code, uint8_t slot_id) {
  post_event(0, Trb{.parameter = at,
                    .status = uint32_t{code} << 24,
                    .control = uint32_t{kEventCommandCompletion} << kTrbTypeShift |
                               uint32_t{slot_id} << kTrbSlotShift});
}

void Xhci::run_command(const Trb& trb, uint64_t at) {
  uint8_t slot_id = static_cast<uint8_t>(trb.control >> kTrbSlotShift);
  unsigned dci = (trb.control >> kTrbEndpointShift) & 0x1f;
  uint8_t code = kCcTrb;
  switch (trb.type()) {
    case kCmdEnableSlot: {
      uint8_t id = enable_slot();
      command_done(at, id ? kCcSuccess : kCcNoSlots, id);
      return;
    }
    case kCmdDisableSlot:
      code = disable_slot(slot_id);
      break;
    case kCmdAddressDevice:
      code = address_device(slot_id, trb.parameter & ~uint64_t{0xf}, trb.control & kTrbBsr);
      break;
    case kCmdConfigureEndpoint:
      code = configure_endpoint(slot_id, trb.parameter & ~uint64_t{0xf}, trb.control & kTrbDc);
      break;
    case kCmdEvaluateContext:
      code = evaluate_context(slot_id, trb.parameter & ~uint64_t{0xf});
      break;
    case kCmdResetEndpoint:
      code = reset_endpoint(slot_id, dci);
      break;
    case kCmdStopEndpoint:
      code = stop_endpoint(slot_id, dci);
      break;
    case kCmdSetTrDequeue:
      code = set_dequeue(slot_id, dci, trb.parameter);
      break;
    case kCmdResetDevice:
      code = reset_device_slot(slot_id);
      break;
    case kCmdNoOp:
      code = kCcSuccess;
      slot_id = 0;
      break;
    default:
      HVMD_GUEST_LOG("xhci: command TRB type %u at %#llx", trb.type(),
                     static_cast<unsigned long long>(at));
      slot_id = 0;
      break;
  }
  command_done(at, code, slot_id);
}

Xhci::Slot* Xhci::slot(uint8_t slot_id) {
  if (slot_id == 0 || slot_id > kMaxSlots || slot_id > max_slots_enabled_) return nullptr;
  Slot& s = slots_[slot_id];
  return s.enabled ? &s : nullptr;
}

uint8_t Xhci::enable_slot() {
  unsigned limit = std::min<unsigned>(max_slots_enabled_, kMaxSlots);
  for (unsigned id = 1; id <= limit; ++id) {
    if (slots_[id].enabled) continue;
    slots_[id] = Slot{};
    slots_[id].enabled = true;
    return static_cast<uint8_t>(id);
  }
  return 0;
}

uint8_t Xhci::disable_slot(uint8_t slot_id) {
  Slot* s = slot(slot_id);
  if (!s) return kCcSlotNotEnabled;
  *s = Slot{};
  return kCcSuccess;
}

bool Xhci::read_context(uint64_t address, std::array<uint32_t, 8>& words) {
  if (memory_.read(address, words.data(), kContextSize)) return true;
  host_system_error("context", address);
  return false;
}

bool Xhci::load_endpoint(Endpoint& ep, const std::array<uint32_t, 8>& words) {
  uint8_t type = (words[1] >> kEpTypeShift) & kEpTypeMask;
  if (type == kEpNotValid) return false;
  ep = Endpoint{};
  ep.type = type;
  ep.max_packet = static_cast<uint16_t>(words[1] >> kEpMaxPacketShift);
  if (ep.max_packet < 8) ep.max_packet = 8;  // a zero would never end a transfer
  ep.ring.dequeue = (words[2] | uint64_t{words[3]} << 32) & kEpDequeueMask;
  ep.ring.cycle = words[2] & kEpDcs;
  ep.state = kEpRunning;
  ep.words = words;
  return true;
}

bool Xhci::write_slot_context(Slot& s, uint8_t slot_id) {
  std::array<uint32_t, 8> words = s.words;
  uint32_t address = s.state >= kSlotAddressed ? slot_id : 0;
  words[3] = address | uint32_t{s.state} << kSlotStateShift;
  if (!memory_.write(s.context, words.data(), kContextSize)) {
    host_system_error("output slot context", s.context);
    return false;
  }
  memory_.mark_dirty(s.context, kContextSize);
  return true;
}

bool Xhci::write_endpoint_context(Slot& s, unsigned dci) {
  Endpoint& ep = s.endpoints[dci];
  std::array<uint32_t, 8> words = ep.words;
  words[0] = (words[0] & ~kEpStateMask) | ep.state;
  words[2] = static_cast<uint32_t>(ep.ring.dequeue & kEpDequeueMask) | (ep.ring.cycle ? 1 : 0);
  words[3] = static_cast<uint32_t>(ep.ring.dequeue >> 32);
  uint64_t at = s.context + uint64_t{kContextSize} * dci;
  if (!memory_.write(at, words.data(), kContextSize)) {
    host_system_error("output endpoint context", at);
    return false;
  }
  memory_.mark_dirty(at, kContextSize);
  return true;
}

void Xhci::disable_endpoints(Slot& s, unsigned from) {
  for (unsigned dci = from; dci < kEndpoints; ++dci) {
    if (s.endpoints[dci].state == kEpDisabled) continue;
    s.endpoints[dci].state = kEpDisabled;
    s.endpoints[dci].waiting = false;
    write_endpoint_context(s, dci);
  }
}

uint8_t Xhci::address_device(uint8_t slot_id, uint64_t input, bool block_set_address) {
  Slot* s = slot(slot_id);
  if (!s) return kCcSlotNotEnabled;
  // BSR=1 only from Enabled; BSR=0 from Enabled or Default (after a BSR=1 one).
  if (s->state > kSlotDefault || (s->state == kSlotDefault && block_set_address))
    return kCcContextState;
  std::array<uint32_t, 8> control, slot_words, ep0;
  if (!read_context(input, control) || !read_context(input + kContextSize, slot_words) ||
      !read_context(input + 2 * kContextSize, ep0))
    return kCcTrb;
  if ((control[1] & 3) != 3) return kCcParameter;  // A0 and A1: the slot and endpoint 0
  unsigned port = (slot_words[1] >> kSlotRootPortShift) & 0xff;
  if (port == 0 || port > kPorts) return kCcParameter;
  uint64_t entry_at = dcbaap_ + 8ull * slot_id;
  uint64_t context = 0;
  if (!memory_.read(entry_at, &context, sizeof(context))) {
    host_system_error("device context base address array", entry_at);
    return kCcTrb;
  }
  Slot next = *s;
  next.port = static_cast<uint8_t>(port);
  next.route = slot_words[0] & kSlotRouteMask;
  next.interrupter = static_cast<uint16_t>(slot_words[2] >> kSlotInterrupterShift);
  next.context = context & ~uint64_t{0x3f};
  next.words = slot_words;
  Endpoint& control_ep = next.endpoints[1];
  if (!load_endpoint(control_ep, ep0) || control_ep.type != kEpControl) return kCcParameter;
  UsbDevice* device = slot_device(next);
  if (!device) return kCcTransaction;  // nothing there, or its port is not enabled
  if (!block_set_address) {
    // SET_ADDRESS with the slot ID as the address, then its (IN) status stage.
    std::array<uint8_t, 8> setup = {0, kSetAddress, slot_id, 0, 0, 0, 0, 0};
    Packet packet{.pid = kPidSetup, .endpoint = 0, .buffer = setup};
    device->handle_packet(packet);
    if (packet.status != PacketStatus::kAck) return kCcTransaction;
    Packet status{.pid = kPidIn, .endpoint = 0, .buffer = std::span<uint8_t>(buffer_.data(), 0)};
    device->handle_packet(status);
    if (status.status != PacketStatus::kAck) return kCcTransaction;
    next.state = kSlotAddressed;
  } else {
    next.state = kSlotDefault;
  }
  *s = next;
  if (!write_slot_context(*s, slot_id) || !write_endpoint_context(*s, 1)) return kCcTrb;
  return kCcSuccess;
}

uint8_t Xhci::configure_endpoint(uint8_t slot_id, uint64_t input, bool deconfigure) {
  Slot* s = slot(slot_id);
  if (!s) return kCcSlotNotEnabled;
  if (s->state != kSlotAddressed && s->state != kSlotConfigured) return kCcContextState;
  if (deconfigure) {
    disable_endpoints(*s, 2);
    s->state = kSlotAddressed;
    write_slot_context(*s, slot_id);
    return kCcSuccess;
  }
  std::array<uint32_t, 8> control;
  if (!read_context(input, control)) return kCcTrb;
  uint32_t drop = control[0], add = control[1];
  if ((drop & 3) || (add & 2)) return kCcParameter;  // D0, D1 and A1 are reserved here
  // Every added context is read and checked before anything changes.
  std::array<Endpoint, kEndpoints> added{};
  for (unsigned dci = 2; dci < kEndpoints; ++dci) {
    if (!(add >> dci & 1)) continue;
    std::array<uint32_t, 8> words;
    if (!read_context(input + kContextSize * (dci + 1ull), words)) return kCcTrb;
    if (!load_endpoint(added[dci], words)) return kCcParameter;
  }
  if (add & 1) {
    std::array<uint32_t, 8> slot_words;
    if (!read_context(input + kContextSize, slot_words)) return kCcTrb;
    // Context Entries is what software may change here.
    s->words[0] = (s->words[0] & ~(0x1fu << kSlotEntriesShift)) |
                  (slot_words[0] & (0x1fu << kSlotEntriesShift));
  }
  bool any = false;
  for (unsigned dci = 2; dci < kEndpoints; ++dci) {
    Endpoint& ep = s->endpoints[dci];
    if (drop >> dci & 1) {
      ep.state = kEpDisabled;
      ep.waiting = false;
    }
    if (add >> dci & 1) ep = added[dci];
    if ((drop | add) >> dci & 1) {
      if (!write_endpoint_context(*s, dci)) return kCcTrb;
    }
    any |= ep.state != kEpDisabled;
  }
  s->state = any ? kSlotConfigured : kSlotAddressed;
  write_slot_context(*s, slot_id);
  return kCcSuccess;
}

uint8_t Xhci::evaluate_context(uint8_t slot_id, uint64_t input) {
  Slot* s = slot(slot_id);
  if (!s) return kCcSlotNotEnabled;
  if (s->state == kSlotEnabled) return kCcContextState;
  std::array<uint32_t, 8> control, words;
  if (!read_context(input, control)) return kCcTrb;
  if (control[1] & 1) {
    if (!read_context(input + kContextSize, words)) return kCcTrb;
    // Max Exit Latency and the Interrupter Target.
    s->words[1] = (s->words[1] & ~0xffffu) | (words[1] & 0xffff);
    s->words[2] = (s->words[2] & 0x003fffffu) | (words[2] & ~0x003fffffu);
    s->interrupter = static_cast<uint16_t>(words[2] >> kSlotInterrupterShift);
    write_slot_context(*s, slot_id);
  }
  if (control[1] & 2) {
    if (!read_context(input + 2 * kContextSize, words)) return kCcTrb;
    Endpoint& ep0 = s->endpoints[1];
    ep0.max_packet = std::max<uint16_t>(8, static_cast<uint16_t>(words[1] >> kEpMaxPacketShift));
    ep0.words[1] = (ep0.words[1] & 0xffff) | (words[1] & 0xffff0000u);
    write_endpoint_context(*s, 1);
  }
  return kCcSuccess;
}

uint8_t Xhci::reset_endpoint(uint8_t slot_id, unsigned dci) {
  Slot* s = slot(slot_id);
  if (!s) return kCcSlotNotEnabled;
  if (dci == 0) return kCcTrb;
  Endpoint& ep = s->endpoints[dci];
  if (ep.state == kEpDisabled) return kCcEndpointNotEnabled;
  if (ep.state != kEpHalted) return kCcContextState;
  ep.state = kEpStopped;
  ep.waiting = false;
  ep.td_length = 0;
  ep.td_short = false;
  write_endpoint_context(*s, dci);
  return kCcSuccess;
}

uint8_t Xhci::stop_endpoint(uint8_t slot_id, unsigned dci) {
  Slot* s = slot(slot_id);
  if (!s) return kCcSlotNotEnabled;
  if (dci == 0) return kCcTrb;
  Endpoint& ep = s->endpoints[dci];
  if (ep.state == kEpDisabled) return kCcEndpointNotEnabled;
  if (ep.state != kEpRunning) return kCcContextState;
  if (ep.waiting) {
    // The TRB that was waiting for data is where the endpoint stopped, nothing moved.
    transfer_event(slot_id, dci, ep.ring.dequeue, kCcStoppedLengthInvalid, 0, Trb{});
  }
  ep.state = kEpStopped;
  ep.waiting = false;
  write_endpoint_context(*s, dci);
  return kCcSuccess;
}

uint8_t Xhci::set_dequeue(uint8_t slot_id, unsigned dci, uint64_t pointer) {
  Slot* s = slot(slot_id);
  if (!s) return kCcSlotNotEnabled;
  if (dci == 0) return kCcTrb;
  Endpoint& ep = s->endpoints[dci];
  if (ep.state == kEpDisabled) return kCcEndpointNotEnabled;
  if (ep.state != kEpStopped && ep.state != kEpError) return kCcContextState;
  ep.ring.dequeue = pointer & kEpDequeueMask;
  ep.ring.cycle = pointer & kEpDcs;
  ep.td_length = 0;
  ep.td_short = false;
  write_endpoint_context(*s, dci);
  return kCcSuccess;
}

uint8_t Xhci::reset_device_slot(uint8_t slot_id) {
  Slot* s = slot(slot_id);
  if (!s) return kCcSlotNotEnabled;
  if (s->state == kSlotEnabled || s->state == kSlotDefault) return kCcContextState;
  disable_endpoints(*s, 2);
  s->state = kSlotDefault;
  write_slot_context(*s, slot_id);
  return kCcSuccess;
}

}  // namespace hvmd::devices::usb
