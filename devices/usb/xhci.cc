// The xHCI PCI function: BAR0's register blocks, run/stop and reset, and the interrupters (event
// rings, IMAN/IMOD/ERDP, and delivery through MSI-X, MSI or INTA#).
#include "devices/usb/xhci.h"

#include "dm/log.h"

namespace hvmd::devices::usb {

using namespace xhci;

Xhci::Xhci(Model model, Clock& clock, GuestMemory& memory, std::string bus_name)
    : PciDevice({.vendor = model == Model::kNec ? kVendorNec : kVendorRedHat,
                 .device = model == Model::kNec ? kDeviceNecUpd720200 : kDeviceQemuXhci,
                 .class_code = kClassXhci,
                 .revision = static_cast<uint8_t>(model == Model::kNec ? 3 : 1),
                 .interrupt_pin = 1}),
      model_(model),
      clock_(clock),
      memory_(memory),
      ports_{UsbPort(*this, 1), UsbPort(*this, 2), UsbPort(*this, 3), UsbPort(*this, 4)},
      bus_(std::move(bus_name), ports_),
      continue_timer_(clock, [this] {
        run_commands();
        for (unsigned id = 1; id <= kMaxSlots; ++id)
          for (unsigned dci = 1; dci < kEndpoints; ++dci)
            if (slots_[id].enabled && slots_[id].endpoints[dci].state == kEpRunning &&
                !slots_[id].endpoints[dci].waiting)
              kick_endpoint(static_cast<uint8_t>(id), dci);
      }) {
  for (unsigned i = 0; i < kInterrupters; ++i)
    moderation_[i] = std::make_unique<Timer>(clock, [this, i] { try_interrupt(i); });
  // Zero-length packets still point somewhere (devices may memcpy zero bytes from them).
  buffer_.reserve(kMaxSegmentTrbs);
  add_bar(kMmioBar, pci::BarType::kMemory64, kMmioSize, &mmio_);
  add_msi(kInterrupters, /*is_64bit=*/true, /*maskable=*/false);
  add_msix(kInterrupters, kMmioBar, kMsixTable, kMsixPba);
  auto& config = mutable_config();
  config.set8(kSbrn, kSbrnUsb30);
  config.set8(kFladj, kFladjDefault);
  controller_reset();
}

Xhci::~Xhci() = default;

void Xhci::unrealize() {
  continue_timer_.cancel();
  for (auto& timer : moderation_) timer->cancel();
  PciDevice::unrealize();
}

void Xhci::reset_device() {
  controller_reset();
}

void Xhci::config_written(uint32_t, unsigned, uint32_t) {
  // MSI or MSI-X switched on or off: INTA# follows.
  update_intx();
}

void Xhci::controller_reset() {
  continue_timer_.cancel();
  for (auto& timer : moderation_) timer->cancel();
  static_cast<XhciState&>(*this) = XhciState{};
  ports_reset();
  update_intx();
}

void Xhci::halt() {
  usbcmd_ &= ~kCmdRun;
  usbsts_ |= kStsHalted;
  command_ring_running_ = false;
  continue_timer_.cancel();
}

void Xhci::host_system_error(const char* what, uint64_t address) {
  HVMD_GUEST_LOG("xhci: %s at %#llx is not RAM: host system error", what,
                 static_cast<unsigned long long>(address));
  usbsts_ |= kStsHse;
  halt();
  update_intx();
}

// --- BAR0 -------------------------------------------------------------------------------------

uint64_t Xhci::mmio_read(uint64_t offset, unsigned size) {
  if (msix() && msix()->claims(offset)) return msix()->read(offset, size);
  uint32_t reg = static_cast<uint32_t>(offset & ~uint64_t{3});
  if (size == 8) return read32(reg) | uint64_t{read32(reg + 4)} << 32;
  uint32_t value = read32(reg) >> (8 * (offset & 3));
  return size == 4 ? value : value & ((1u << (8 * size)) - 1);
}

void Xhci::mmio_write(uint64_t offset, unsigned size, uint64_t value) {
  if (msix() && msix()->claims(offset)) {
    msix()->write(offset, size, value);
    return;
  }
  uint32_t reg = static_cast<uint32_t>(offset & ~uint64_t{3});
  if (size == 8) {
    write32(reg, static_cast<uint32_t>(value));
    write32(reg + 4, static_cast<uint32_t>(value >> 32));
    return;
  }
  if (size < 4) {
    // Part of a dword: the other bytes as they read, without their write-1 action bits.
    unsigned shift = 8 * (offset & 3);
    uint32_t mask = ((1u << (8 * size)) - 1) << shift;
    uint32_t current = read32(reg) & ~write_preserve_mask(reg);
    value = (current & ~mask) | ((static_cast<uint32_t>(value) << shift) & mask);
  }
  write32(reg, static_cast<uint32_t>(value));
}

uint32_t Xhci::write_preserve_mask(uint32_t offset) const {
  if (offset == kCapLength + kUsbCmd) return kCmdHcReset | kCmdLhcReset;
  if (offset == kCapLength + kUsbSts) return kStsWriteClear;
  if (offset == kCapLength + kCrcrLo) return kCrcrCs | kCrcrCa;
  if (offset >= kPortRegs && offset < kPortRegs + kPorts * kPortStride &&
      (offset - kPortRegs) % kPortStride == kPortSc)
    return kPortChangeBits | kPortPed | kPortPr | kPortWpr | kPortLws;
  if (offset >= kInterrupterRegs) {
    uint32_t reg = (offset - kInterrupterRegs) % kInterrupterStride;
    if (reg == kIman) return kImanIp;
    if (reg == kErdpLo) return static_cast<uint32_t>(kErdpEhb);
  }
  return 0;
}

uint32_t Xhci::read32(uint32_t offset) {
  if (offset < kCapLength) return capability_read(offset);
  if (offset < kPortRegs) return operational_read(offset - kCapLength);
  if (offset < kPortRegs + kPorts * kPortStride)
    return port_read((offset - kPortRegs) / kPortStride + 1, (offset - kPortRegs) % kPortStride);
  if (offset >= kRuntime && offset < kDoorbells) return runtime_read(offset - kRuntime);
  return 0;  // doorbells read as zero; the rest is reserved
}

void Xhci::write32(uint32_t offset, uint32_t value) {
  if (offset < kCapLength) return;  // read-only
  if (offset < kPortRegs) {
    operational_write(offset - kCapLength, value);
  } else if (offset < kPortRegs + kPorts * kPortStride) {
    port_write((offset - kPortRegs) / kPortStride + 1, (offset - kPortRegs) % kPortStride, value);
  } else if (offset >= kRuntime && offset < kDoorbells) {
    runtime_write(offset - kRuntime, value);
  } else if (offset >= kDoorbells && offset < kDoorbells + 4 * (kMaxSlots + 1)) {
    doorbell_write((offset - kDoorbells) / 4, value);
  }
}

uint32_t Xhci::capability_read(uint32_t offset) const {
  bool usb3_first = model_ == Model::kNec;
  uint32_t usb2_first_port = usb3_first ? kPortsPerProtocol + 1 : 1;
  uint32_t usb3_first_port = usb3_first ? 1 : kPortsPerProtocol + 1;
  switch (offset) {
    case kCapLengthVersion:
      return kCapLength | kHciVersion << 16;
    case kHcsParams1:
      return kMaxSlots | kInterrupters << 8 | kPorts << 24;
    case kHcsParams2:
      return kErstMaxLog2 << 4;
    case kHcsParams3:
      return 0;
    case kHccParams1:
      return kHccAc64 | (kExtCaps / 4) << kHccXecpShift;
    case kDbOff:
      return kDoorbells;
    case kRtsOff:
      return kRuntime;
    case kHccParams2:
      return 0;
    // Supported Protocol capabilities: USB 2.0, then USB 3.0 (the last, next pointer 0).
    case kExtCaps:
      return kExtCapSupportedProtocol | (kExtCapSize / 4) << 8 | 0x02u << 24;
    case kExtCaps + 4:
    case kExtCaps + kExtCapSize + 4:
      return kUsbNameString;
    case kExtCaps + 8:
      return usb2_first_port | kPortsPerProtocol << 8;
    case kExtCaps + kExtCapSize:
      return kExtCapSupportedProtocol | 0x03u << 24;
    case kExtCaps + kExtCapSize + 8:
      return usb3_first_port | kPortsPerProtocol << 8;
    default:
      return 0;
  }
}

uint32_t Xhci::operational_read(uint32_t offset) {
  switch (offset) {
    case kUsbCmd:
      return usbcmd_;
    case kUsbSts:
      return usbsts_;
    case kPageSize:
      return kPageSize4k;
    case kDnCtrl:
      return dnctrl_;
    case kCrcrLo:
      // The pointer reads as zero (xHCI 5.4.5); only Command Ring Running shows.
      return command_ring_running_ ? static_cast<uint32_t>(kCrcrCrr) : 0;
    case kDcbaapLo:
      return static_cast<uint32_t>(dcbaap_);
    case kDcbaapHi:
      return static_cast<uint32_t>(dcbaap_ >> 32);
    case kConfig:
      return max_slots_enabled_;
    default:
      return 0;
  }
}

void Xhci::operational_write(uint32_t offset, uint32_t value) {
  switch (offset) {
    case kUsbCmd:
      write_command(value);
      return;
    case kUsbSts:
      usbsts_ &= ~(value & kStsWriteClear);
      update_intx();
      return;
    case kDnCtrl:
      dnctrl_ = value & kDnCtrlMask;
      return;
    case kCrcrLo:
      if (command_ring_running_) {
        if (value & (kCrcrCs | kCrcrCa)) {
          // Stop or abort: nothing runs between doorbells, so the ring stops at once.
          command_ring_running_ = false;
          command_done(command_ring_.dequeue, kCcCommandRingStopped);
        }
        return;
      }
      command_ring_.dequeue = (command_ring_.dequeue & ~uint64_t{0xffffffff}) |
                              (value & static_cast<uint32_t>(kCrcrPointerMask));
      command_ring_.cycle = value & kCrcrRcs;
      return;
    case kCrcrHi:
      if (!command_ring_running_)
        command_ring_.dequeue = (command_ring_.dequeue & 0xffffffff) | uint64_t{value} << 32;
      return;
    case kDcbaapLo:
      dcbaap_ = (dcbaap_ & ~uint64_t{0xffffffff}) | (value & static_cast<uint32_t>(kDcbaapMask));
      return;
    case kDcbaapHi:
      dcbaap_ = (dcbaap_ & 0xffffffff) | uint64_t{value} << 32;
      return;
    case kConfig:
      max_slots_enabled_ = std::min<uint32_t>(value & kConfigMaxSlotsMask, kMaxSlots);
      return;
    default:
      return;
  }
}

void Xhci::write_command(uint32_t value) {
  if (value & kCmdHcReset) {
    controller_reset();  // completes at once: HCRST and CNR read back clear
    return;
  }
  uint32_t old = usbcmd_;
  usbcmd_ = value & kCmdMask;
  if ((usbcmd_ & kCmdRun) && !(old & kCmdRun)) {
    usbsts_ &= ~kStsHalted;
  } else if (!(usbcmd_ & kCmdRun) && (old & kCmdRun)) {
    halt();
  }
  update_intx();
  if (usbcmd_ & kCmdInte)
    for (unsigned i = 0; i < kInterrupters; ++i) try_interrupt(i);
}

uint32_t Xhci::runtime_read(uint32_t offset) {
  if (offset == kMfIndex) return static_cast<uint32_t>(clock_.now_ns() / kMicroframeNs) & 0x3fff;
  if (offset < kInterrupterRegs - kRuntime) return 0;
  unsigned index = (offset - (kInterrupterRegs - kRuntime)) / kInterrupterStride;
  if (index >= kInterrupters) return 0;
  const Interrupter& ir = interrupters_[index];
  switch ((offset - (kInterrupterRegs - kRuntime)) % kInterrupterStride) {
    case kIman:
      return ir.iman;
    case kImod: {
      uint32_t counter = 0;
      if (moderation_[index]->armed())
        counter = static_cast<uint32_t>(std::min<int64_t>(
            0xffff, (moderation_[index]->deadline() - clock_.now_ns()) / kImodUnitNs));
      return (ir.imod & 0xffff) | counter << 16;
    }
    case kErstSz:
      return ir.ring.erstsz;
    case kErstBaLo:
      return static_cast<uint32_t>(ir.ring.erstba);
    case kErstBaHi:
      return static_cast<uint32_t>(ir.ring.erstba >> 32);
    case kErdpLo:
      return static_cast<uint32_t>(ir.ring.erdp) | (ir.ring.busy ? kErdpEhb : 0);
    case kErdpHi:
      return static_cast<uint32_t>(ir.ring.erdp >> 32);
    default:
      return 0;
  }
}

void Xhci::runtime_write(uint32_t offset, uint32_t value) {
  if (offset < kInterrupterRegs - kRuntime) return;
  unsigned index = (offset - (kInterrupterRegs - kRuntime)) / kInterrupterStride;
  if (index >= kInterrupters) return;
  Interrupter& ir = interrupters_[index];
  switch ((offset - (kInterrupterRegs - kRuntime)) % kInterrupterStride) {
    case kIman:
      if (value & kImanIp) ir.iman &= ~kImanIp;
      ir.iman = (ir.iman & ~kImanIe) | (value & kImanIe);
      update_intx();
      try_interrupt(index);
      return;
    case kImod:
      ir.imod = value & 0xffff;
      return;
    case kErstSz:
      ir.ring.erstsz = value & kErstSzMask;
      return;
    case kErstBaLo:
    case kErstBaHi: {
      bool low = (offset - (kInterrupterRegs - kRuntime)) % kInterrupterStride == kErstBaLo;
      ir.ring.erstba = low ? (ir.ring.erstba & ~uint64_t{0xffffffff}) |
                                 (value & static_cast<uint32_t>(kErstBaMask))
                           : (ir.ring.erstba & 0xffffffff) | uint64_t{value} << 32;
      // Writing ERSTBA (re)starts the event ring at its first segment (xHCI 4.9.4). Drivers
      // write the low half first; the high half completes the address.
      ir.ring.setup(memory_);
      return;
    }
    case kErdpLo:
    case kErdpHi: {
      bool low = (offset - (kInterrupterRegs - kRuntime)) % kInterrupterStride == kErdpLo;
      uint64_t erdp = low ? (ir.ring.erdp & ~uint64_t{0xffffffff}) | value
                          : (ir.ring.erdp & 0xffffffff) | uint64_t{value} << 32;
      ir.ring.dequeue_written(erdp);
      if (low && (value & kErdpEhb)) {
        ir.ring.busy = false;
        // Events software has not reached yet ask for another interrupt.
        if (ir.ring.pending()) ir.want_irq = true;
        try_interrupt(index);
      }
      return;
    }
    default:
      return;
  }
}

// --- interrupters -----------------------------------------------------------------------------

void Xhci::post_event(unsigned interrupter, Trb event, bool interrupt) {
  if (usbsts_ & kStsHalted) return;  // a halted controller writes no events
  if (interrupter >= kInterrupters) interrupter = 0;
  Interrupter& ir = interrupters_[interrupter];
  switch (ir.ring.post(memory_, event)) {
    case EventRing::Post::kNotRam:
      host_system_error("event ring", ir.ring.enqueue_address());
      return;
    case EventRing::Post::kDropped:
      if (!ir.ring.full) return;
      break;  // the Event Ring Full event interrupts
    case EventRing::Post::kWritten:
      if (!interrupt) return;
      break;
  }
  ir.want_irq = true;
  try_interrupt(interrupter);
}

void Xhci::try_interrupt(unsigned index) {
  Interrupter& ir = interrupters_[index];
  // IMODC still counting, or software has not acknowledged the last one (EHB): later.
  if (!ir.want_irq || moderation_[index]->armed() || ir.ring.busy) return;
  ir.want_irq = false;
  ir.iman |= kImanIp;
  ir.ring.busy = true;
  usbsts_ |= kStsEint;
  if (!(ir.iman & kImanIe) || !(usbcmd_ & kCmdInte)) return;
  if (msix() && msix()->enabled()) {
    notify_msix(index);
    ir.iman &= ~kImanIp;  // cleared once the message is written (xHCI 5.5.2.1)
  } else if (msi() && msi()->enabled()) {
    notify_msi(index);
    ir.iman &= ~kImanIp;
  } else {
    update_intx();
  }
  if (uint32_t interval = ir.imod & 0xffff)
    moderation_[index]->arm_after(int64_t{interval} * kImodUnitNs);
}

void Xhci::update_intx() {
  bool message = (msix() && msix()->enabled()) || (msi() && msi()->enabled());
  const Interrupter& ir = interrupters_[0];
  bool level = !message && (usbcmd_ & kCmdInte) && (ir.iman & kImanIp) && (ir.iman & kImanIe);
  level |= !message && (usbsts_ & kStsHse) && (usbcmd_ & kCmdHsee);
  set_intx(level);
}

}  // namespace hvmd::devices::usb
