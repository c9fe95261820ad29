#include "devices/usb/ehci.h"

#include <algorithm>
#include <cstring>

#include "devices/usb/usb_regs.h"
#include "dm/log.h"

namespace hvmd::devices::usb {

using namespace ehci;

namespace {
// Queue heads remembered per periodic walk for loop detection; beyond these the budget bounds.
constexpr size_t kMaxTrackedQueueHeads = 64;
constexpr uint32_t kMaxPacketSize = 1024;  // high-speed maximum (QH dword 1)
constexpr uint32_t kPageSize = 4096;
}  // namespace

template <class V>
void EhciState::describe(V& v) {
  v("USBCMD", cmd_, Mask{kCmdWritable});
  v("USBSTS", sts_, Mask{kStsWriteClear | kStsHalted | kStsReclamation});
  v("USBINTR", intr_, Mask{kIntrMask});
  v("FRINDEX", frindex_, Mask{kFrIndexMask});
  v("CTRLDSSEGMENT", ctrldsseg_);
  v("PERIODICLISTBASE", periodic_base_, Mask{kPeriodicBaseMask});
  v("ASYNCLISTADDR", async_addr_, Mask{kAsyncAddrMask});
  v("CONFIGFLAG", configflag_, Mask{kConfigFlagRoute});
  v("pending interrupts", pending_, Mask{kStsInterrupt | kStsErrorInterrupt});
  v("port owner", companion_owned_);
  v("force resume", force_resume_);
  v("port bits", port_stored_);
}

Ehci::Ehci(Clock& clock, GuestMemory& memory, std::string bus_name, uint16_t device_id,
           std::string_view type, bool multi_function)
    : PciDevice({.vendor = kVendorIntel,
                 .device = device_id,
                 .class_code = kClassEhci,
                 .revision = kRevisionIch9,
                 .multi_function = multi_function,
                 .interrupt_pin = kInterruptPinD}),
      type_(type),
      clock_(clock),
      memory_(memory),
      ports_{UsbPort(*this, 1), UsbPort(*this, 2), UsbPort(*this, 3),
             UsbPort(*this, 4), UsbPort(*this, 5), UsbPort(*this, 6)},
      bus_(std::move(bus_name), ports_),
      frame_timer_(clock, [this] { frame_tick(); }),
      kick_timer_(clock, [this] { kick(); }) {
  add_bar(kMemoryBar, pci::BarType::kMemory32, kMemoryBarSize, &mmio_);
  auto& config = mutable_config();
  config.set8(kSbrn, kSbrnUsb20);
  config.set8(kFladj, kFladjDefault);
  config.set_write_mask(kFladj, 1, 0x3f);
  config.set_write_mask(kPortWakeCap, 2, 0xffff);
  config.set32(kEecp, kLegSupCapId);
  config.set_write_mask(kEecp, 4, kLegSupBiosOwned | kLegSupOsOwned);
  config.set_write_mask(kLegCtlSts, 4, 0x0000ffff);  // SMI enables; no SMI is ever raised
  controller_reset();
}

void Ehci::unrealize() {
  frame_timer_.cancel();
  kick_timer_.cancel();
  for (Uhci*& companion : companions_) {
    if (companion) companion->set_companion_host(nullptr, companion->first_port());
    companion = nullptr;
  }
  PciDevice::unrealize();
}

void Ehci::controller_reset() {
  bool had_route = configflag_ & kConfigFlagRoute;
  std::array<bool, kPorts> was_here{};
  for (unsigned i = 0; i < kPorts; ++i) was_here[i] = routed_here(i);
  static_cast<EhciState&>(*this) = EhciState{};
  cmd_ = kCmdThresholdDefault;
  sts_ = kStsHalted;
  frame_timer_.cancel();
  kick_timer_.cancel();
  // Port ownership reverts to the companions (EHCI 4.2): the ports the EHCI had are handed over.
  for (unsigned i = 0; i < kPorts; ++i) {
    if (had_route && was_here[i]) {
      reroute(i);
    } else if (!companion_for(i)) {
      ports_[i].power_on_reset();
    }
  }
  update_irq();
}

void Ehci::reset_device() {
  controller_reset();
}

// --- companions -------------------------------------------------------------------------------

Result<void> Ehci::add_companion(Uhci& companion, unsigned first_port) {
  if (first_port % kPortsPerCompanion || first_port >= kPorts)
    return make_error("firstport=%u: a companion takes two ports from 0, 2 or 4", first_port);
  Uhci*& slot = companions_[first_port / kPortsPerCompanion];
  if (slot)
    return make_error("firstport=%u: ports %u-%u of %s already have a companion", first_port,
                      first_port + 1, first_port + 2, bus_.name().c_str());
  slot = &companion;
  companion.set_companion_host(this, first_port);
  return ok();
}

UsbPort* Ehci::companion_port(unsigned number) {
  if (number < 1 || number > kPorts || routed_here(number - 1)) return nullptr;
  return &ports_[number - 1];
}

void Ehci::companion_gone(Uhci& companion) {
  for (Uhci*& slot : companions_)
    if (slot == &companion) slot = nullptr;
}

void Ehci::reroute(unsigned index) {
  UsbPort& port = ports_[index];
  // A fresh connection for the new owner: disabled, connect change set, the device reset and
  // back at its own speed until a high-speed reset.
  port.power_on_reset();
  if (port.device()) port.device()->set_speed(Speed::kFull);
  force_resume_[index] = false;
  if (routed_here(index)) {
    if (port.connected()) sts_ |= kStsPortChange;
    update_irq();
  } else if (Uhci* companion = companion_for(index)) {
    companion->port_changed(port);
  }
}

// --- registers --------------------------------------------------------------------------------

uint64_t Ehci::mmio_read(uint64_t offset, unsigned size) {
  unsigned reg = static_cast<unsigned>(offset) & ~3u;
  unsigned shift = (static_cast<unsigned>(offset) & 3) * 8;
  uint64_t value = read_register(reg) >> shift;
  if (size == 8) value = read_register(reg) | uint64_t{read_register(reg + 4)} << 32;
  return size >= 4 ? value : value & ((1u << (8 * size)) - 1);
}

void Ehci::mmio_write(uint64_t offset, unsigned size, uint64_t value) {
  unsigned reg = static_cast<unsigned>(offset) & ~3u;
  if (size == 8) {
    write_register(reg, static_cast<uint32_t>(value));
    write_register(reg + 4, static_cast<uint32_t>(value >> 32));
    return;
  }
  if (size == 4) {
    write_register(reg, static_cast<uint32_t>(value));
    return;
  }
  // A byte or word of a register: the rest keeps its value, without writing 1s back to the
  // write-1-to-clear bits (nor a doorbell or reset).
  unsigned shift = (static_cast<unsigned>(offset) & 3) * 8;
  uint32_t mask = (size == 1 ? 0xffu : 0xffffu) << shift;
  uint32_t current = read_register(reg);
  if (reg == kOperationalBase + kUsbSts) current &= ~kStsWriteClear;
  if (reg == kOperationalBase + kUsbCmd) current &= ~(kCmdHcReset | kCmdAsyncDoorbell);
  if (reg >= kOperationalBase + kPortSc && reg < kOperationalBase + kPortSc + 4 * kPorts)
    current &= ~kPsWriteClear;
  write_register(reg, (current & ~mask) | (static_cast<uint32_t>(value << shift) & mask));
}

uint32_t Ehci::read_register(unsigned offset) {
  switch (offset) {
    case kCapLength:
      return kOperationalBase | uint32_t{kVersion10} << 16;
    case kHcsParams:
      return kHcsParamsValue;
    case kHccParams:
      return kHccParamsValue;
    case kHcspPortRoute:
      return 0;
  }
  if (offset < kOperationalBase) return 0;
  unsigned op = offset - kOperationalBase;
  switch (op) {
    case kUsbCmd:
      return cmd_;
    case kUsbSts: {
      sync_frindex();
      uint32_t v = sts_ & ~(kStsPeriodicStatus | kStsAsyncStatus);
      if (running() && (cmd_ & kCmdPeriodicEnable)) v |= kStsPeriodicStatus;
      if (running() && (cmd_ & kCmdAsyncEnable)) v |= kStsAsyncStatus;
      return v;
    }
    case kUsbIntr:
      return intr_;
    case kFrIndex:
      sync_frindex();
      return frindex_;
    case kCtrlDsSegment:
      return ctrldsseg_;
    case kPeriodicListBase:
      return periodic_base_;
    case kAsyncListAddr:
      return async_addr_;
    case kConfigFlag:
      return configflag_;
    default:
      if (op >= kPortSc && op < kPortSc + 4 * kPorts) return port_status((op - kPortSc) / 4);
      return 0;
  }
}

void Ehci::write_register(unsigned offset, uint32_t value) {
  if (offset < kOperationalBase) return;  // capability registers are read-only
  unsigned op = offset - kOperationalBase;
  switch (op) {
    case kUsbCmd:
      write_command(value);
      return;
    case kUsbSts:
      sync_frindex();
      sts_ &= ~(value & kStsWriteClear);
      update_irq();
      return;
    case kUsbIntr:
      intr_ = value & kIntrMask;
      update_irq();
      update_timer();
      return;
    case kFrIndex:
      // Only a halted controller's index may be written (EHCI 2.3.4).
      if (!running()) frindex_ = value & kFrIndexMask;
      return;
    case kCtrlDsSegment:
      ctrldsseg_ = value;
      return;
    case kPeriodicListBase:
      periodic_base_ = value & kPeriodicBaseMask;
      return;
    case kAsyncListAddr:
      async_addr_ = value & kAsyncAddrMask;
      return;
    case kConfigFlag: {
      uint32_t old = configflag_;
      configflag_ = value & kConfigFlagRoute;
      if (old == configflag_) return;
      // Routing every port to the EHCI clears the owner bits (EHCI 4.2.1); clearing CONFIGFLAG
      // gives every port back to the companions.
      std::array<bool, kPorts> was_here{};
      for (unsigned i = 0; i < kPorts; ++i) {
        was_here[i] = (old & kConfigFlagRoute) && !companion_owned_[i];
        companion_owned_[i] = false;
      }
      for (unsigned i = 0; i < kPorts; ++i)
        if (was_here[i] != routed_here(i)) reroute(i);
      return;
    }
    default:
      if (op >= kPortSc && op < kPortSc + 4 * kPorts) write_port((op - kPortSc) / 4, value);
      return;
  }
}

void Ehci::write_command(uint32_t value) {
  if (value & kCmdHcReset) {
    // Self-clearing; only meant for a halted controller, but a reset is a reset.
    controller_reset();
    return;
  }
  sync_frindex();
  uint32_t old = cmd_;
  cmd_ = value & kCmdWritable;
  // A doorbell rung while the asynchronous schedule is off has nothing to wait for.
  if ((cmd_ & kCmdAsyncDoorbell) && !(cmd_ & kCmdAsyncEnable && running())) {
    cmd_ &= ~kCmdAsyncDoorbell;
    sts_ |= kStsAsyncAdvance;
  }
  if ((cmd_ & kCmdRun) && !(old & kCmdRun)) {
    sts_ &= ~kStsHalted;
    frindex_base_ns_ = clock_.now_ns();
  } else if (!(cmd_ & kCmdRun) && (old & kCmdRun)) {
    sts_ |= kStsHalted;
  }
  update_timer();
  update_irq();
}

void Ehci::sync_frindex() {
  if (!running()) return;
  int64_t now = clock_.now_ns();
  int64_t elapsed = (now - frindex_base_ns_) / kMicroframeNs;
  if (elapsed <= 0) return;
  frindex_base_ns_ += elapsed * kMicroframeNs;
  uint64_t next = uint64_t{frindex_} + static_cast<uint64_t>(elapsed);
  // Rollover: FRINDEX[13] toggles as the 1024-entry frame list wraps (EHCI 2.3.2).
  if ((next >> 13) != (frindex_ >> 13)) sts_ |= kStsFrameListRollover;
  microframes_since_interrupt_ += static_cast<uint64_t>(elapsed);
  frindex_ = static_cast<uint32_t>(next) & kFrIndexMask;
}

void Ehci::update_timer() {
  bool needed = running() && (cmd_ & (kCmdPeriodicEnable | kCmdAsyncEnable | kCmdAsyncDoorbell) ||
                              (intr_ & kStsFrameListRollover) || pending_);
  if (!needed) {
    frame_timer_.cancel();
    return;
  }
  if (!frame_timer_.armed()) frame_timer_.arm_at(clock_.now_ns() + kFrameNs);
}

void Ehci::frame_tick() {
  run_frame();
  if (running()) {
    // Re-armed at a steady period: the clock coalesces missed frames into one run.
    frame_timer_.arm_at(frame_timer_.deadline() + kFrameNs);
    update_timer();
  }
}

void Ehci::run_frame() {
  if (!running()) return;
  sync_frindex();
  packets_this_frame_ = 0;
  fatal_ = false;
  bool had_pending = pending_;
  if (cmd_ & kCmdPeriodicEnable) run_periodic();
  if (!fatal_ && (cmd_ & kCmdAsyncEnable)) run_async();
  if (fatal_) return;
  // The threshold counts from the first completion waiting to be reported.
  if (!had_pending && pending_) microframes_since_interrupt_ = 0;
  // The doorbell: the walk that just ended no longer holds any queue head software unlinked.
  if (cmd_ & kCmdAsyncDoorbell) {
    cmd_ &= ~kCmdAsyncDoorbell;
    sts_ |= kStsAsyncAdvance;
  }
  deliver_pending(false);
  update_irq();
}

void Ehci::kick() {
  if (!running() || !(cmd_ & kCmdAsyncEnable)) return;
  sync_frindex();
  packets_this_frame_ = 0;
  fatal_ = false;
  bool had_pending = pending_;
  run_async();
  if (fatal_) return;
  if (!had_pending && pending_) microframes_since_interrupt_ = 0;
  deliver_pending(false);
  update_irq();
}

void Ehci::deliver_pending(bool now) {
  if (!pending_) return;
  // The interrupt threshold (USBCMD[23:16], in microframes): completions are reported at most
  // that often. A frame's work runs at once, so thresholds up to 8 report every frame.
  uint32_t threshold = (cmd_ & kCmdThresholdMask) >> kCmdThresholdShift;
  if (now || threshold <= 8 || microframes_since_interrupt_ >= threshold) {
    sts_ |= pending_;
    pending_ = 0;
    microframes_since_interrupt_ = 0;
  }
}

void Ehci::update_irq() {
  set_intx((sts_ & intr_ & kIntrMask) != 0);
}

void Ehci::host_system_error() {
  sts_ |= kStsHostSystemError | kStsHalted;
  cmd_ &= ~kCmdRun;
  fatal_ = true;
  frame_timer_.cancel();
  kick_timer_.cancel();
  update_irq();
}

// --- ports ------------------------------------------------------------------------------------

uint32_t Ehci::port_status(unsigned index) const {
  uint32_t v = port_stored_[index] | kPsPower;
  if (!routed_here(index)) return v | kPsOwner;
  const UsbPort& port = ports_[index];
  if (port.connected()) {
    v |= kPsConnect;
    // Before a reset the line shows the device's idle state: K for low speed (the driver hands
    // it to a companion at once), J for full and high speed.
    if (!port.enabled && !port.resetting)
      v |= port.device()->speed() == Speed::kLow ? kPsLineK : kPsLineJ;
  }
  if (port.connect_change) v |= kPsConnectChange;
  if (port.enabled) v |= kPsEnable;
  if (port.enable_change) v |= kPsEnableChange;
  if (force_resume_[index]) v |= kPsForceResume;
  if (port.suspended) v |= kPsSuspend;
  if (port.resetting) v |= kPsReset;
  return v;
}

void Ehci::write_port(unsigned index, uint32_t value) {
  port_stored_[index] = value & kPsStored;
  if (configflag_ & kConfigFlagRoute) {
    bool to_companion = value & kPsOwner;
    if (to_companion != companion_owned_[index]) {
      companion_owned_[index] = to_companion;
      reroute(index);
    }
  }
  if (!routed_here(index)) return;
  UsbPort& port = ports_[index];
  if (value & kPsConnectChange) port.connect_change = false;
  if (value & kPsEnableChange) port.enable_change = false;
  bool reset = value & kPsReset;
  if (reset && !port.resetting) {
    port.begin_reset();
    force_resume_[index] = false;
  } else if (!reset && port.resetting) {
    // The reset's chirp handshake: a high-speed-capable device ends it enabled at high speed;
    // any other stays disabled, and the driver gives the port to a companion (EHCI 4.2.2).
    UsbDevice* device = port.device();
    bool high = device && device->high_speed_capable();
    if (device) device->set_speed(high ? Speed::kHigh : Speed::kFull);
    port.end_reset(high);
    port.reset_change = false;  // EHCI has no reset-change bit
    return;  // the write that ends a reset carries PE clear: it does not disable the port
  }
  if (port.resetting) return;
  // Software can disable a port, never enable it (only a reset does).
  if (!(value & kPsEnable) && port.enabled) port.set_enabled(false);
  if (value & kPsForceResume) {
    force_resume_[index] = true;
  } else if (force_resume_[index]) {
    // Resume signalling ends when software clears Force Port Resume.
    force_resume_[index] = false;
    port.set_suspended(false);
  }
  if ((value & kPsSuspend) && port.enabled && !force_resume_[index]) port.set_suspended(true);
}

void Ehci::port_changed(UsbPort& port) {
  unsigned index = port.number() - 1;
  if (routed_here(index)) {
    sts_ |= kStsPortChange;
    update_irq();
  } else if (Uhci* companion = companion_for(index)) {
    companion->port_changed(port);
  }
}

void Ehci::port_wakeup(UsbPort& port) {
  unsigned index = port.number() - 1;
  if (!routed_here(index)) {
    if (Uhci* companion = companion_for(index)) companion->port_wakeup(port);
    return;
  }
  if (!port.suspended) return;
  force_resume_[index] = true;  // resume detected: software times the 20 ms and clears it
  sts_ |= kStsPortChange;
  update_irq();
}

void Ehci::port_endpoint_ready(UsbPort& port) {
  if (!routed_here(port.number() - 1) || !running() || !(cmd_ & kCmdAsyncEnable)) return;
  if (!kick_timer_.armed()) kick_timer_.arm_at(clock_.now_ns());
}

// --- the schedules ----------------------------------------------------------------------------

UsbDevice* Ehci::find_device(uint8_t address) {
  for (unsigned i = 0; i < kPorts; ++i)
    if (routed_here(i))
      if (UsbDevice* device = ports_[i].find(address, 0)) return device;
  return nullptr;
}

void Ehci::run_periodic() {
  uint32_t frame = (frindex_ >> 3) & 0x3ff;
  uint64_t entry_address = (uint64_t{ctrldsseg_} << 32 | periodic_base_) + frame * 4u;
  uint32_t link = 0;
  if (!memory_.read(entry_address, &link, sizeof(link))) {
    HVMD_GUEST_LOG("ehci: periodic frame list at %#x is not RAM", periodic_base_);
    host_system_error();
    return;
  }
  std::vector<uint64_t> seen;
  for (unsigned budget = kMaxPeriodicElements; !(link & kLinkTerminate) && budget > 0; --budget) {
    uint64_t address = structure_address(link);
    uint32_t type = (link & kLinkTypeMask) >> kLinkTypeShift;
    if (type == kTypeItd) {
      // High-speed isochronous: no device of hvmd's has such an endpoint, so each active
      // transaction ends as if nobody answered.
      uint32_t itd[kItdBytes / 4];
      if (!memory_.read(address, itd, sizeof(itd))) {
        HVMD_GUEST_LOG("ehci: iTD at %#llx is not RAM", static_cast<unsigned long long>(address));
        host_system_error();
        return;
      }
      bool changed = false;
      for (unsigned t = 1; t <= 8; ++t) {
        if (!(itd[t] & kItdActive)) continue;
        itd[t] = (itd[t] & ~kItdActive) | kItdXactError;
        if (itd[t] & kItdIoc) pending_ |= kStsInterrupt;
        pending_ |= kStsErrorInterrupt;
        changed = true;
      }
      if (changed && !memory_.write(address + 4, &itd[1], 8 * 4)) {
        host_system_error();
        return;
      }
      if (changed) memory_.mark_dirty(address + 4, 8 * 4);
      link = itd[0];
    } else if (type == kTypeSitd) {
      uint32_t sitd[kSitdBytes / 4];
      if (!memory_.read(address, sitd, sizeof(sitd))) {
        HVMD_GUEST_LOG("ehci: siTD at %#llx is not RAM", static_cast<unsigned long long>(address));
        host_system_error();
        return;
      }
      if (sitd[3] & kSitdActive) {
        sitd[3] = (sitd[3] & ~kSitdActive) | kSitdXactError;
        if (sitd[3] & kSitdIoc) pending_ |= kStsInterrupt;
        pending_ |= kStsErrorInterrupt;
        if (!memory_.write(address + 12, &sitd[3], 4)) {
          host_system_error();
          return;
        }
        memory_.mark_dirty(address + 12, 4);
      }
      link = sitd[0];
    } else if (type == kTypeFstn) {
      uint32_t fstn[2];
      if (!memory_.read(address, fstn, sizeof(fstn))) {
        HVMD_GUEST_LOG("ehci: FSTN at %#llx is not RAM", static_cast<unsigned long long>(address));
        host_system_error();
        return;
      }
      link = fstn[0];  // the normal path; split-transaction spans are not modelled
    } else {
      // Interrupt queue heads sit in a tree every frame's list shares; within one frame's walk
      // a queue head comes once, so seeing one again means the guest built a loop.
      if (std::find(seen.begin(), seen.end(), address) != seen.end()) return;
      if (seen.size() < kMaxTrackedQueueHeads) seen.push_back(address);
      QueueHead qh;
      if (!memory_.read(address, qh.data(), kQhBytes)) {
        HVMD_GUEST_LOG("ehci: queue head at %#llx is not RAM",
                       static_cast<unsigned long long>(address));
        host_system_error();
        return;
      }
      if (qh[2] & kQhSmaskMask) run_queue_head(address, qh, true);
      if (fatal_) return;
      link = qh[0];
    }
    if (packets_this_frame_ >= kMaxPacketsPerFrame) return;
  }
}

void Ehci::run_async() {
  uint32_t link = async_addr_ | (kTypeQh << kLinkTypeShift);
  uint64_t first = 0;
  bool seen_head = false;
  bool progress = false;  // the reclamation bit: a transaction since the head was last passed
  for (unsigned budget = kMaxAsyncQueueHeads; budget > 0; --budget) {
    if ((link & kLinkTypeMask) >> kLinkTypeShift != kTypeQh) {
      HVMD_GUEST_LOG("ehci: asynchronous list holds a link of type %u",
                     (link & kLinkTypeMask) >> kLinkTypeShift);
      break;
    }
    uint64_t address = structure_address(link);
    QueueHead qh;
    if (!memory_.read(address, qh.data(), kQhBytes)) {
      HVMD_GUEST_LOG("ehci: queue head at %#llx is not RAM",
                     static_cast<unsigned long long>(address));
      host_system_error();
      return;
    }
    if (budget == kMaxAsyncQueueHeads) first = address;
    // The head of the reclamation list (H bit; a list without one: where the walk began). Back
    // at it with nothing done since, the list is idle until the next frame (EHCI 4.8.3).
    if ((qh[1] & kQhHead) || address == first) {
      if (seen_head && !progress) break;
      seen_head = true;
      progress = false;
    }
    if (run_queue_head(address, qh, false)) progress = true;
    if (fatal_) return;
    if (packets_this_frame_ >= kMaxPacketsPerFrame) break;
    link = qh[0];
    if (link & kLinkTerminate) break;  // the list should be a ring; a terminated one just ends
  }
  if (progress)
    sts_ |= kStsReclamation;
  else
    sts_ &= ~kStsReclamation;
}

bool Ehci::run_queue_head(uint64_t address, QueueHead& qh, bool periodic) {
  bool moved = false;
  bool changed = false;
  for (unsigned qtds = 0; qtds <= kMaxQtdsPerQueueHead;) {
    uint32_t& token = qh[kQhOverlay + 2];
    if (token & kTokenHalted) break;  // software clears a halted queue
    if (!(token & kTokenActive)) {
      if (qtds == kMaxQtdsPerQueueHead) break;
      // Advance (EHCI 4.10.2): after a short transfer to the alternate next qTD if it has one.
      uint32_t next = qh[kQhOverlay];
      uint32_t alternate = qh[kQhOverlay + 1];
      if ((token & kTokenBytesMask) && !(alternate & kLinkTerminate)) next = alternate;
      if (next & kLinkTerminate) break;  // the queue is empty
      uint64_t qtd_address = uint64_t{ctrldsseg_} << 32 | (next & kQtdPointerMask);
      uint32_t qtd[kQtdDwords];
      if (!memory_.read(qtd_address, qtd, sizeof(qtd))) {
        HVMD_GUEST_LOG("ehci: qTD at %#llx is not RAM",
                       static_cast<unsigned long long>(qtd_address));
        host_system_error();
        return moved;
      }
      if (!(qtd[2] & kTokenActive)) break;  // not handed to the controller yet
      ++qtds;
      uint32_t toggle = token & kTokenToggle;
      qh[3] = next & kQtdPointerMask;
      for (unsigned i = 0; i < 8; ++i) qh[kQhOverlay + i] = qtd[i];
      for (unsigned i = 0; i < kQtdPages; ++i) qh[kQhOverlay + 8 + i] = qtd[8 + i];
      // Data toggle control clear: the queue head keeps the toggle, not the qTD.
      if (!(qh[1] & kQhDataToggleControl))
        qh[kQhOverlay + 2] = (qh[kQhOverlay + 2] & ~kTokenToggle) | toggle;
      changed = true;
    }
    QtdResult result = run_overlay(qh, periodic);
    if (result == QtdResult::kFatal) return moved;
    changed = true;
    // Write the overlay back, and the token to the qTD it came from (drivers read that).
    uint64_t current = uint64_t{ctrldsseg_} << 32 | qh[3];
    if (!memory_.write(current + 8, &qh[kQhOverlay + 2], 4)) {
      host_system_error();
      return moved;
    }
    memory_.mark_dirty(current + 8, 4);
    if (result == QtdResult::kWaiting) break;
    moved = true;
    if (result == QtdResult::kHalted) break;
    if (packets_this_frame_ >= kMaxPacketsPerFrame) break;
  }
  if (changed) {
    // Dwords 3..16: the current qTD pointer and the overlay.
    if (!memory_.write(address + 12, &qh[3], (kQhDwords - 3) * 4)) {
      host_system_error();
      return moved;
    }
    memory_.mark_dirty(address + 12, (kQhDwords - 3) * 4);
  }
  return moved;
}

bool Ehci::copy_pages(QueueHead& qh, uint32_t position, uint8_t* data, size_t length,
                      bool to_guest) {
  // position: bytes from the start of page 0's buffer (its offset included).
  while (length > 0) {
    unsigned page = position / kPageSize;
    if (page >= kQtdPages) return false;
    uint32_t in_page = position % kPageSize;
    size_t n = std::min<size_t>(length, kPageSize - in_page);
    uint64_t base =
        uint64_t{qh[kQhOverlay + 8 + page]} << 32 | (qh[kQhOverlay + 3 + page] & ~kPageOffsetMask);
    bool ok =
        to_guest ? memory_.write(base + in_page, data, n) : memory_.read(base + in_page, data, n);
    if (!ok) return false;
    if (to_guest) memory_.mark_dirty(base + in_page, n);
    data += n;
    position += static_cast<uint32_t>(n);
    length -= n;
  }
  return true;
}

Ehci::QtdResult Ehci::run_overlay(QueueHead& qh, bool periodic) {
  uint32_t& token = qh[kQhOverlay + 2];
  auto halt = [&](uint32_t status) {
    token = (token & ~kTokenActive) | kTokenHalted | status;
    pending_ |= kStsErrorInterrupt;
    if (token & kTokenIoc) pending_ |= kStsInterrupt;
    return QtdResult::kHalted;
  };
  uint32_t pid_code = (token >> kTokenPidShift) & 3;
  uint8_t pid = pid_code == kPidCodeOut ? kPidOut : pid_code == kPidCodeIn ? kPidIn : kPidSetup;
  uint32_t bytes = (token & kTokenBytesMask) >> kTokenBytesShift;
  uint32_t max_packet = (qh[1] >> kQhMaxPacketShift) & kQhMaxPacketMask;
  uint8_t endpoint = (qh[1] >> kQhEndpointShift) & 0xf;
  uint8_t address = qh[1] & kQhAddressMask;
  uint32_t cpage = (token & kTokenCpageMask) >> kTokenCpageShift;
  uint32_t offset = qh[kQhOverlay + 3] & kPageOffsetMask;
  if (pid_code == 3 || max_packet == 0 || max_packet > kMaxPacketSize) {
    HVMD_GUEST_LOG("ehci: queue head for %u.%u has PID code %u, max packet %u", address, endpoint,
                   pid_code, max_packet);
    return halt(kTokenXactError);
  }
  // The transfer must fit the pages it names (five 4 KiB pages from C_Page and the offset).
  uint32_t position = cpage * kPageSize + offset;
  if (bytes > kMaxQtdBytes || cpage >= kQtdPages || position + bytes > kQtdPages * kPageSize) {
    HVMD_GUEST_LOG("ehci: qTD of %u bytes at page %u offset %#x overruns its buffers", bytes, cpage,
                   offset);
    return halt(kTokenBufferError);
  }
  UsbDevice* device = find_device(address);
  // Bulk transfers (an asynchronous queue's data endpoints) go to the device whole: the device
  // answers them as the run of full packets it would send, and a short answer ends them, as a
  // short packet does. Control and interrupt transfers go packet by packet.
  bool whole = !periodic && endpoint != 0 && pid != kPidSetup;
  bool started = false;
  while (true) {
    if (packets_this_frame_ >= kMaxPacketsPerFrame) return QtdResult::kWaiting;
    ++packets_this_frame_;
    uint32_t chunk = whole ? bytes : std::min(bytes, max_packet);
    if (pid == kPidSetup && chunk != 8) {
      HVMD_GUEST_LOG("ehci: SETUP qTD of %u bytes", bytes);
      return halt(kTokenXactError);
    }
    buffer_.resize(chunk);
    if (pid != kPidIn && chunk && !copy_pages(qh, position, buffer_.data(), chunk, false)) {
      HVMD_GUEST_LOG("ehci: qTD buffer for %u.%u is not RAM", address, endpoint);
      host_system_error();
      return QtdResult::kFatal;
    }
    Packet packet{.pid = pid, .endpoint = endpoint, .buffer = std::span<uint8_t>(buffer_)};
    if (device)
      device->handle_packet(packet);
    else
      packet.status = PacketStatus::kNoResponse;
    switch (packet.status) {
      case PacketStatus::kAck:
        break;
      case PacketStatus::kNak:
        return QtdResult::kWaiting;
      case PacketStatus::kStall:
        return halt(0);
      case PacketStatus::kBabble:
        return halt(kTokenBabble);
      case PacketStatus::kNoResponse: {
        // Three strikes (C_ERR); 0 from the start retries for ever.
        token |= kTokenXactError;
        uint32_t errors = (token & kTokenCerrMask) >> kTokenCerrShift;
        if (errors == 0) return QtdResult::kWaiting;
        --errors;
        token = (token & ~kTokenCerrMask) | errors << kTokenCerrShift;
        if (errors == 0) return halt(kTokenXactError);
        return QtdResult::kWaiting;
      }
    }
    size_t actual = std::min<size_t>(packet.actual, chunk);
    if (pid == kPidIn && actual && !copy_pages(qh, position, buffer_.data(), actual, true)) {
      HVMD_GUEST_LOG("ehci: qTD buffer for %u.%u is not RAM", address, endpoint);
      host_system_error();
      return QtdResult::kFatal;
    }
    if (pid != kPidIn) actual = chunk;
    started = true;
    bytes -= static_cast<uint32_t>(actual);
    position += static_cast<uint32_t>(actual);
    // One toggle flip per packet on the wire (a zero-length packet counts).
    uint32_t packets = actual ? static_cast<uint32_t>((actual + max_packet - 1) / max_packet) : 1;
    if (packets & 1) token ^= kTokenToggle;
    token &= ~(kTokenXactError);
    cpage = std::min<uint32_t>(position / kPageSize, kQtdPages - 1);
    token = (token & ~(kTokenBytesMask | kTokenCpageMask)) | bytes << kTokenBytesShift |
            cpage << kTokenCpageShift;
    qh[kQhOverlay + 3] = (qh[kQhOverlay + 3] & ~kPageOffsetMask) | (position % kPageSize);
    bool short_packet = pid == kPidIn && actual < chunk;
    if (bytes == 0 || short_packet) break;
  }
  (void)started;
  token &= ~kTokenActive;
  bool short_transfer = pid == kPidIn && bytes != 0;
  if ((token & kTokenIoc) || short_transfer) pending_ |= kStsInterrupt;
  return QtdResult::kDone;
}

// --- state ------------------------------------------------------------------------------------

void Ehci::save_device(StateWriter& out) const {
  EhciState now = *this;
  if (running()) {
    int64_t elapsed = (clock_.now_ns() - frindex_base_ns_) / kMicroframeNs;
    now.frindex_ = static_cast<uint32_t>(frindex_ + std::max<int64_t>(elapsed, 0)) & kFrIndexMask;
  }
  write_fields(out, now);
  for (const auto& port : ports_) write_fields(out, static_cast<const UsbPortState&>(port));
}

Result<std::unique_ptr<StagedState>> Ehci::parse_device(StateReader& in, uint32_t version) {
  EhciState next = *this;
  HVMD_TRY(read_fields(in, version, "ehci", next));
  std::array<UsbPortState, kPorts> ports;
  for (auto& port : ports) HVMD_TRY(read_fields(in, version, "ehci port", port));
  if (bool(next.cmd_ & kCmdRun) == bool(next.sts_ & kStsHalted))
    return make_error("%s: saved USBCMD and USBSTS disagree on running",
                      std::string(type_).c_str());
  return staged([this, next, ports] {
    static_cast<EhciState&>(*this) = next;
    for (unsigned i = 0; i < kPorts; ++i) ports_[i].load(ports[i]);
  });
}

void Ehci::post_load_device() {
  frame_timer_.cancel();
  kick_timer_.cancel();
  frindex_base_ns_ = clock_.now_ns();
  // Device speeds follow the routing: an enabled port the EHCI owns passed a high-speed reset.
  for (unsigned i = 0; i < kPorts; ++i) {
    UsbDevice* device = ports_[i].device();
    if (!device) continue;
    device->set_speed(routed_here(i) && ports_[i].enabled ? Speed::kHigh : Speed::kFull);
  }
  update_timer();
  update_irq();
}

}  // namespace hvmd::devices::usb
