#include "devices/usb/uhci.h"

#include <algorithm>

#include "devices/usb/uhci_regs.h"
#include "devices/usb/usb_regs.h"
#include "dm/log.h"

namespace hvmd::devices::usb {

using namespace uhci;

namespace {
constexpr uint8_t kPendingComplete = 1 << 0;
constexpr uint8_t kPendingShort = 1 << 1;
// Queue heads remembered per frame for loop detection; beyond these the element budget bounds.
constexpr size_t kMaxTrackedQueues = 64;
}  // namespace

template <class V>
void UhciState::describe(V& v) {
  v("USBCMD", cmd_, Mask{kCmdMask});
  v("USBSTS", sts_, Mask{uint16_t{kStsWriteClear | kStsHalted}});
  v("USBINTR", intr_, Mask{kIntrMask});
  v("FRNUM", frnum_, Mask{kFrNumMask});
  v("FLBASEADD", flbase_, Mask{kFlBaseMask});
  v("SOFMOD", sofmod_, Mask{kSofModMask});
  v("interrupt causes", pending_, Mask{uint8_t{kPendingComplete | kPendingShort}});
  v("port resume", port_resume_);
}

Uhci::Uhci(Clock& clock, GuestMemory& memory, std::string bus_name, const UhciModel& model)
    : PciDevice({.vendor = kVendorIntel,
                 .device = model.device,
                 .class_code = kClassUhci,
                 .multi_function = model.multi_function,
                 .interrupt_pin = model.interrupt_pin}),
      type_(model.type),
      clock_(clock),
      memory_(memory),
      ports_{UsbPort(*this, 1), UsbPort(*this, 2)},
      bus_(std::move(bus_name), ports_),
      frame_timer_(clock, [this] { frame_tick(); }) {
  add_bar(kIoBar, pci::BarType::kIo, kIoBarSize, &io_);
  auto& config = mutable_config();
  config.set8(kSbrn, kSbrnUsb10);
  config.set16(kLegsup, kLegsupPirqEnable);
  config.set_write_mask(kLegsup, 2, kLegsupWritable);
  controller_reset();
}

void Uhci::unrealize() {
  frame_timer_.cancel();
  if (host_) host_->companion_gone(*this);
  host_ = nullptr;
  PciDevice::unrealize();
}

void Uhci::set_companion_host(CompanionHost* host, unsigned first_port) {
  companion_ = true;
  host_ = host;
  first_port_ = first_port;
}

UsbPort* Uhci::root(unsigned index) {
  if (!companion_) return &ports_[index];
  return host_ ? host_->companion_port(first_port_ + index + 1) : nullptr;
}

void Uhci::controller_reset() {
  static_cast<UhciState&>(*this) = UhciState{};
  sts_ = kStsHalted;
  sofmod_ = kSofModDefault;
  frame_timer_.cancel();
  for (unsigned i = 0; i < kPorts; ++i)
    if (UsbPort* port = root(i)) port->power_on_reset();
  update_irq();
}

void Uhci::reset_device() {
  controller_reset();
}

// --- registers --------------------------------------------------------------------------------

uint64_t Uhci::io_read(uint64_t offset, unsigned size) {
  unsigned reg = static_cast<unsigned>(offset);
  if (reg == kFlBaseAdd && size == 4) return flbase_;
  if (size == 4) return read16(reg) | uint32_t{read16(reg + 2)} << 16;
  uint16_t word = read16(reg & ~1u);
  return size == 1 ? (reg & 1 ? word >> 8 : word & 0xff) : word;
}

void Uhci::io_write(uint64_t offset, unsigned size, uint64_t value) {
  unsigned reg = static_cast<unsigned>(offset);
  if (reg == kFlBaseAdd && size == 4) {
    flbase_ = static_cast<uint32_t>(value) & kFlBaseMask;
    return;
  }
  if (size == 4) {
    write16(reg, static_cast<uint16_t>(value));
    write16(reg + 2, static_cast<uint16_t>(value >> 16));
    return;
  }
  if (size == 1) {
    if (reg == kSofMod) {
      sofmod_ = static_cast<uint8_t>(value) & kSofModMask;
      return;
    }
    // A byte of a 16-bit register: the other byte keeps its value, without writing 1s back to
    // its write-1-to-clear bits.
    unsigned word_reg = reg & ~1u;
    uint16_t current = read16(word_reg);
    if (word_reg == kUsbSts) current &= ~kStsWriteClear;
    if (word_reg >= kPortSc1 && word_reg < kPortSc1 + 2 * kPorts) current &= ~kPortScWriteClear;
    uint16_t merged = reg & 1 ? static_cast<uint16_t>((current & 0x00ff) | (value & 0xff) << 8)
                              : static_cast<uint16_t>((current & 0xff00) | (value & 0xff));
    write16(word_reg, merged);
    return;
  }
  write16(reg, static_cast<uint16_t>(value));
}

uint16_t Uhci::read16(unsigned offset) {
  switch (offset) {
    case kUsbCmd:
      return cmd_;
    case kUsbSts:
      return sts_;
    case kUsbIntr:
      return intr_;
    case kFrNum:
      return frnum_;
    case kFlBaseAdd:
      return static_cast<uint16_t>(flbase_);
    case kFlBaseAdd + 2:
      return static_cast<uint16_t>(flbase_ >> 16);
    case kSofMod:
      return sofmod_;
    default:
      if (offset >= kPortSc1 && offset < kPortSc1 + 2 * kPorts)
        return port_status((offset - kPortSc1) / 2);
      // Past the two ports: bit 7 clear, which is how drivers counting ports (Linux's
      // uhci_count_ports) see that there is no third one.
      return 0;
  }
}

void Uhci::write16(unsigned offset, uint16_t value) {
  switch (offset) {
    case kUsbCmd:
      write_command(value);
      return;
    case kUsbSts:
      sts_ &= static_cast<uint16_t>(~(value & kStsWriteClear));
      if (!(sts_ & kStsInterrupt)) pending_ = 0;
      update_irq();
      return;
    case kUsbIntr:
      intr_ = value & kIntrMask;
      update_irq();
      return;
    case kFrNum:
      // Only a halted controller's frame number may be set.
      if (sts_ & kStsHalted) frnum_ = value & kFrNumMask;
      return;
    case kFlBaseAdd:
      flbase_ = (flbase_ & 0xffff0000) | (value & kFlBaseMask & 0xffff);
      return;
    case kFlBaseAdd + 2:
      flbase_ = (flbase_ & 0x0000ffff) | uint32_t{value} << 16;
      return;
    case kSofMod:
      sofmod_ = value & kSofModMask;
      return;
    default:
      if (offset >= kPortSc1 && offset < kPortSc1 + 2 * kPorts)
        write_port((offset - kPortSc1) / 2, value);
      return;
  }
}

void Uhci::write_command(uint16_t value) {
  if (value & kCmdHcReset) {
    // Self-clearing: the controller, its registers and the root ports back to power-on.
    controller_reset();
    return;
  }
  if ((value & kCmdGlobalReset) && !(cmd_ & kCmdGlobalReset)) {
    controller_reset();  // while it is set, every port signals reset
    cmd_ = kCmdGlobalReset;
    return;
  }
  uint16_t old = cmd_;
  cmd_ = value & kCmdMask;
  if ((cmd_ & kCmdRun) && !(old & kCmdRun)) {
    sts_ &= ~kStsHalted;
    start_timer();
  } else if (!(cmd_ & kCmdRun) && (old & kCmdRun)) {
    sts_ |= kStsHalted;
    frame_timer_.cancel();
  }
  // Resume from global suspend: a remote wake-up seen while suspended stays in USBSTS.
  update_irq();
}

void Uhci::start_timer() {
  if (frame_timer_.armed()) return;
  frame_start_ns_ = clock_.now_ns();
  frame_timer_.arm_at(frame_start_ns_ + kFrameNs);
}

void Uhci::frame_tick() {
  // Late (the host was busy, or qtest stepped the clock far): the schedule runs once and the
  // frame number catches up with the frames that passed, as FRNUM counts time.
  int64_t frames = std::max<int64_t>(1, (clock_.now_ns() - frame_start_ns_) / kFrameNs);
  frame_start_ns_ += frames * kFrameNs;
  run_frame();
  if (!(cmd_ & kCmdRun)) return;
  frnum_ = static_cast<uint16_t>((frnum_ + frames - 1) & kFrNumMask);
  frame_timer_.arm_at(frame_start_ns_ + kFrameNs);
}

uint16_t Uhci::port_status(unsigned index) const {
  uint16_t v = kPortScAlwaysOne;
  if (!root(index)) return v;  // routed to the EHCI: an empty port here
  const UsbPort& port = *root(index);
  if (port.connected()) {
    v |= kPortScConnected;
    if (port.device()->speed() == Speed::kLow)
      v |= kPortScLowSpeed;
    else if (!port.suspended)
      v |= kPortScLineDPlus;
  }
  if (port.connect_change) v |= kPortScConnectChange;
  if (port.enabled) v |= kPortScEnabled;
  if (port.enable_change) v |= kPortScEnableChange;
  if (port_resume_[index]) v |= kPortScResumeDetect;
  if (port.resetting) v |= kPortScReset;
  if (port.suspended) v |= kPortScSuspend;
  return v;
}

void Uhci::write_port(unsigned index, uint16_t value) {
  if (!root(index)) return;
  UsbPort& port = *root(index);
  if (value & kPortScConnectChange) port.connect_change = false;
  if (value & kPortScEnableChange) port.enable_change = false;
  bool reset = value & kPortScReset;
  if (reset && !port.resetting) {
    port.begin_reset();
  } else if (!reset && port.resetting) {
    // UHCI leaves the port disabled after reset: the driver enables it.
    port.end_reset(false);
    port.reset_change = false;  // UHCI has no reset-change bit
  }
  if (!port.resetting) {
    port.set_enabled(value & kPortScEnabled);
    port.set_suspended(value & kPortScSuspend);
  }
  port_resume_[index] = value & kPortScResumeDetect;
}

void Uhci::port_changed(UsbPort&) {
  // Connect changes show in PORTSC; UHCI raises no interrupt for them (drivers poll the ports),
  // but a change while in global suspend is a resume event.
  if (cmd_ & kCmdGlobalSuspend) {
    sts_ |= kStsResumeDetect;
    update_irq();
  }
}

void Uhci::port_wakeup(UsbPort& port) {
  unsigned index = port.number() - 1 - (companion_ ? first_port_ : 0);
  if (index >= kPorts) return;
  port_resume_[index] = true;
  sts_ |= kStsResumeDetect;
  update_irq();
}

void Uhci::update_irq() {
  bool level =
      ((sts_ & kStsInterrupt) && (((pending_ & kPendingComplete) && (intr_ & kIntrComplete)) ||
                                  ((pending_ & kPendingShort) && (intr_ & kIntrShortPacket)))) ||
      ((sts_ & kStsErrorInterrupt) && (intr_ & kIntrTimeoutCrc)) ||
      ((sts_ & kStsResumeDetect) && (intr_ & kIntrResume)) ||
      (sts_ & (kStsHostSystemError | kStsProcessError));
  set_intx(level);
}

void Uhci::halt_with(uint16_t error) {
  sts_ |= error | kStsHalted;
  cmd_ &= ~kCmdRun;
  frame_timer_.cancel();
  update_irq();
}

// --- the schedule -----------------------------------------------------------------------------

UsbDevice* Uhci::find_device(uint8_t address) {
  for (unsigned i = 0; i < kPorts; ++i)
    if (UsbPort* port = root(i))
      if (UsbDevice* device = port->find(address, 0)) return device;
  return nullptr;
}

bool Uhci::read_td(uint32_t address, Td& td) {
  uint32_t words[4];
  if (!memory_.read(address, words, sizeof(words))) return false;
  td = {words[0], words[1], words[2], words[3]};  // little-endian host, as the guest's
  return true;
}

void Uhci::run_frame() {
  if (!(cmd_ & kCmdRun)) return;
  uint32_t entry = 0;
  uint64_t entry_address = flbase_ + (frnum_ & 0x3ffu) * 4u;
  if (!memory_.read(entry_address, &entry, sizeof(entry))) {
    HVMD_GUEST_LOG("uhci: frame list at %#x is not RAM", flbase_);
    halt_with(kStsHostSystemError);
    return;
  }
  packets_this_frame_ = 0;
  traverse(entry);
  if (!(cmd_ & kCmdRun)) return;  // halted on the way
  frnum_ = (frnum_ + 1) & kFrNumMask;
  if (pending_) sts_ |= kStsInterrupt;
  update_irq();
}

void Uhci::traverse(uint32_t link) {
  unsigned budget = kMaxElementsPerFrame;
  uint32_t progress = 0;  // TDs completed this frame
  struct Seen {
    uint32_t address;
    uint32_t progress;
  };
  std::vector<Seen> queues;
  while (!(link & kLinkTerminate) && budget > 0) {
    --budget;
    uint32_t address = link & kLinkAddressMask;
    if (!(link & kLinkQh)) {
      // A TD straight in the frame list (isochronous style): run it if active, then move on.
      Td td;
      if (!read_td(address, td)) {
        HVMD_GUEST_LOG("uhci: TD at %#x is not RAM", address);
        halt_with(kStsHostSystemError);
        return;
      }
      if (td.control & kTdActive) {
        TdResult r = execute_td(address, td);
        if (r == TdResult::kFatal) return;
        if (r == TdResult::kDone) ++progress;
      }
      link = td.link;
      continue;
    }
    // A queue head seen again without any TD completing since: the rest of the frame would
    // only go round the same loop (Linux links its last queue back for bandwidth reclamation).
    auto seen = std::find_if(queues.begin(), queues.end(),
                             [&](const Seen& s) { return s.address == address; });
    if (seen != queues.end()) {
      if (seen->progress == progress) return;
      seen->progress = progress;
    } else if (queues.size() < kMaxTrackedQueues) {
      queues.push_back({address, progress});
    }
    uint32_t qh[2];
    if (!memory_.read(address, qh, sizeof(qh))) {
      HVMD_GUEST_LOG("uhci: queue head at %#x is not RAM", address);
      halt_with(kStsHostSystemError);
      return;
    }
    uint32_t element = qh[1];
    while (!(element & kLinkTerminate) && budget > 0) {
      if (element & kLinkQh) {
        // A queue head as a queue's element (nested queues): not used by drivers; skipped.
        HVMD_GUEST_LOG("uhci: nested queue head at %#x skipped", element & kLinkAddressMask);
        break;
      }
      --budget;
      uint32_t td_address = element & kLinkAddressMask;
      Td td;
      if (!read_td(td_address, td)) {
        HVMD_GUEST_LOG("uhci: TD at %#x is not RAM", td_address);
        halt_with(kStsHostSystemError);
        return;
      }
      if (!(td.control & kTdActive)) break;  // the queue stands until software moves it
      TdResult r = execute_td(td_address, td);
      if (r == TdResult::kFatal) return;
      if (r != TdResult::kDone) break;  // NAK, error or short packet: the queue waits
      ++progress;
      // Advance the queue: its element is now the TD's successor.
      element = td.link;
      if (!memory_.write(address + 4, &element, sizeof(element))) {
        halt_with(kStsHostSystemError);
        return;
      }
      memory_.mark_dirty(address + 4, sizeof(element));
      if (!(element & kLinkDepth)) break;  // breadth first: the next queue
      if (packets_this_frame_ >= kMaxPacketsPerFrame) return;
    }
    if (packets_this_frame_ >= kMaxPacketsPerFrame) return;
    link = qh[0];
  }
}

Uhci::TdResult Uhci::execute_td(uint32_t address, Td& td) {
  ++packets_this_frame_;
  uint8_t pid = td.token & kTokenPidMask;
  if (pid != kPidSetup && pid != kPidIn && pid != kPidOut) {
    HVMD_GUEST_LOG("uhci: TD at %#x has PID %#x", address, pid);
    halt_with(kStsProcessError);
    return TdResult::kFatal;
  }
  uint32_t max_length_field = td.token >> kTokenMaxLengthShift;
  uint32_t length = max_length_field == kMaxLengthNull ? 0 : max_length_field + 1;
  if (length > kMaxPacketLength) {
    HVMD_GUEST_LOG("uhci: TD at %#x has MaxLen %u", address, length);
    halt_with(kStsProcessError);
    return TdResult::kFatal;
  }
  buffer_.assign(length, 0);
  if (pid != kPidIn && length && !memory_.read(td.buffer, buffer_.data(), length)) {
    HVMD_GUEST_LOG("uhci: TD buffer at %#x is not RAM", td.buffer);
    halt_with(kStsHostSystemError);
    return TdResult::kFatal;
  }
  Packet packet{.pid = pid,
                .endpoint = static_cast<uint8_t>((td.token >> kTokenEndpointShift) & 0xf),
                .buffer = std::span<uint8_t>(buffer_)};
  uint8_t device_address = (td.token >> kTokenAddressShift) & 0x7f;
  UsbDevice* device = find_device(device_address);
  if (device)
    device->handle_packet(packet);
  else
    packet.status = PacketStatus::kNoResponse;

  uint32_t control = td.control & ~kTdStatusBits;
  TdResult result = TdResult::kStop;
  bool completed = true;
  switch (packet.status) {
    case PacketStatus::kAck: {
      if (pid == kPidIn && packet.actual) {
        if (!memory_.write(td.buffer, buffer_.data(), packet.actual)) {
          HVMD_GUEST_LOG("uhci: TD buffer at %#x is not RAM", td.buffer);
          halt_with(kStsHostSystemError);
          return TdResult::kFatal;
        }
        memory_.mark_dirty(td.buffer, packet.actual);
      }
      uint32_t actual = packet.actual ? static_cast<uint32_t>(packet.actual - 1) : kMaxLengthNull;
      control = (control & ~(kTdActive | kTdActualLengthMask)) | actual;
      bool short_packet = pid == kPidIn && packet.actual < length;
      if (short_packet && (control & kTdShortPacketDetect)) {
        pending_ |= kPendingShort;
        result = TdResult::kStop;  // the queue stops at the short TD; the driver moves it on
      } else {
        result = TdResult::kDone;
      }
      break;
    }
    case PacketStatus::kNak:
      control |= kTdNak;  // stays active: retried next frame
      completed = false;
      break;
    case PacketStatus::kStall:
      control = (control & ~kTdActive) | kTdStalled;
      sts_ |= kStsErrorInterrupt;
      break;
    case PacketStatus::kBabble:
      control = (control & ~kTdActive) | kTdBabble | kTdStalled;
      sts_ |= kStsErrorInterrupt;
      break;
    case PacketStatus::kNoResponse: {
      // A timeout counts down C_ERR; at zero the TD stops (0 from the start: retried forever).
      control |= kTdCrcTimeout;
      uint32_t errors = (control & kTdErrorCountMask) >> kTdErrorCountShift;
      if (errors == 0) {
        completed = false;
      } else {
        --errors;
        control = (control & ~kTdErrorCountMask) | errors << kTdErrorCountShift;
        if (errors == 0) {
          control = (control & ~kTdActive) | kTdStalled;
          sts_ |= kStsErrorInterrupt;
        } else {
          completed = false;
        }
      }
      break;
    }
  }
  if (completed && (control & kTdIoc)) pending_ |= kPendingComplete;
  td.control = control;
  if (!memory_.write(address + 4, &control, sizeof(control))) {
    halt_with(kStsHostSystemError);
    return TdResult::kFatal;
  }
  memory_.mark_dirty(address + 4, sizeof(control));
  return result;
}

// --- state ------------------------------------------------------------------------------------

void Uhci::save_device(StateWriter& out) const {
  write_fields(out, static_cast<const UhciState&>(*this));
  for (const auto& port : ports_) write_fields(out, static_cast<const UsbPortState&>(port));
}

Result<std::unique_ptr<StagedState>> Uhci::parse_device(StateReader& in, uint32_t version) {
  UhciState next = *this;
  HVMD_TRY(read_fields(in, version, "uhci", next));
  // A companion's own ports are unused (the EHCI saves the ports it shares).
  std::array<UsbPortState, kPorts> ports;
  for (auto& port : ports) HVMD_TRY(read_fields(in, version, "uhci port", port));
  // Halted exactly when not running: anything else is not a state the registers can reach.
  if (bool(next.cmd_ & kCmdRun) == bool(next.sts_ & kStsHalted))
    return make_error("%s: saved USBCMD and USBSTS disagree on running",
                      std::string(type_).c_str());
  return staged([this, next, ports] {
    static_cast<UhciState&>(*this) = next;
    for (unsigned i = 0; i < kPorts; ++i) ports_[i].load(ports[i]);
  });
}

void Uhci::post_load_device() {
  frame_timer_.cancel();
  if (cmd_ & kCmdRun) start_timer();
  update_irq();
}

}  // namespace hvmd::devices::usb
