#include "dm/interrupts.h"

namespace hvmd {

void IntxRouter::set_pci_intx(PciAddress device, unsigned pin, bool level) {
  if (device.bus != 0 || pin > 3) return;
  unsigned bit = device.devfn * 4u + pin;
  uint64_t& word = asserted_[bit / 64];
  uint64_t mask = 1ull << (bit % 64);
  if (bool(word & mask) == level) return;
  word ^= mask;
  unsigned link = link_of(device, pin);
  bool was = link_level(link);
  link_assertions_[link] += level ? 1 : -1;
  if (link_level(link) != was) drive(link, link_level(link));
}

void IntxRouter::set_link_route(unsigned link, unsigned isa_irq) {
  link &= 3;
  if (isa_irq >= 16) isa_irq = 0;
  if (route_[link] == isa_irq) return;
  bool level = link_level(link);
  if (level) drive(link, false);
  route_[link] = isa_irq;
  if (level) drive(link, true);
}

void IntxRouter::drive(unsigned link, bool level) {
  if (route_[link] == 0) return;
  // Several links may share one ISA IRQ: it stays asserted while any of them is.
  bool combined = level;
  for (unsigned other = 0; other < 4; ++other)
    if (other != link && route_[other] == route_[link] && link_level(other)) combined = true;
  set_isa_level_(route_[link], combined);
}

IrqLine IrqLine::isa(InterruptSink* sink, unsigned irq) {
  IrqLine line;
  line.sink_ = sink;
  line.kind_ = Kind::kIsa;
  line.number_ = irq;
  return line;
}

IrqLine IrqLine::pci(InterruptSink* sink, PciAddress device, unsigned pin) {
  IrqLine line;
  line.sink_ = sink;
  line.kind_ = Kind::kPci;
  line.number_ = pin;
  line.device_ = device;
  return line;
}

void IrqLine::set(bool level) {
  if (told_ && level == level_) return;
  told_ = true;
  level_ = level;
  if (!sink_) return;
  if (kind_ == Kind::kIsa)
    sink_->set_isa_irq(number_, level);
  else
    sink_->set_pci_intx(device_, number_, level);
}

}  // namespace hvmd
