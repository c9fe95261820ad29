// UHCI host controller (Intel UHCI 1.1) as the PIIX3's USB function, 8086:7020 at 00:01.2 with
// its registers in I/O BAR4 and INTD#: two root ports, and a 1 ms frame timer that walks the
// guest's schedule (frame list, queue heads, transfer descriptors) and runs each active TD as a
// transaction with the addressed device.
//
// The schedule is guest memory and hostile. Every read and write goes through GuestMemory (a
// link outside RAM is a host system error: the controller halts, as on a PCI master abort); a
// frame visits at most kMaxElementsPerFrame queue heads and TDs and runs at most
// kMaxPacketsPerFrame transactions, and stops at a queue head seen again without progress, so a
// cyclic or endless schedule costs bounded time per frame. An invalid PID or MaxLen is a host
// controller process error (halt), as the specification says.
//
// The frame timer runs only while the Run/Stop bit is set, so a stopped controller costs nothing.
//
// The ICH9's UHCI functions (ich9-usb-uhci1..6, 8086:2934..2939) are the same controller. As an
// EHCI companion (masterbus=, firstport=) one has no ports of its own: it serves two of the
// EHCI's, and only while the EHCI routes them to it (CONFIGFLAG clear, or PORT_OWNER set); a
// port routed elsewhere reads as an empty one.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "devices/usb/usb_device.h"
#include "devices/usb/usb_port.h"
#include "dm/clock.h"
#include "dm/guest_memory.h"
#include "dm/io_handler.h"
#include "dm/pci/pci_device.h"

namespace hvmd::devices::usb {

class Uhci;

// The EHCI controller a companion UHCI serves.
class CompanionHost {
 public:
  virtual ~CompanionHost() = default;
  // The host's port NUMBER (from 1) if it is routed to the companions now, else nullptr.
  virtual UsbPort* companion_port(unsigned number) = 0;
  virtual void companion_gone(Uhci& companion) = 0;
};

// Which UHCI function this is.
struct UhciModel {
  std::string_view type = "piix3-usb-uhci";
  uint16_t device = 0x7020;
  uint8_t interrupt_pin = 4;
  bool multi_function = false;
};

struct UhciState {
  uint16_t cmd_ = 0;
  uint16_t sts_ = 0;
  uint16_t intr_ = 0;
  uint16_t frnum_ = 0;
  uint32_t flbase_ = 0;
  uint8_t sofmod_ = 0;
  uint8_t pending_ = 0;                // why USBINT is set: kPendingComplete, kPendingShort
  std::array<bool, 2> port_resume_{};  // PORTSC resume-detect bit, software-driven
  template <class V>
  void describe(V& v);
};

class Uhci final : public pci::PciDevice, public UsbPortOwner, private UhciState {
 public:
  static constexpr unsigned kMaxElementsPerFrame = 1024;
  static constexpr unsigned kMaxPacketsPerFrame = 128;
  static constexpr int64_t kFrameNs = 1'000'000;

  Uhci(Clock& clock, GuestMemory& memory, std::string bus_name, const UhciModel& model = {});
  std::string_view type() const override { return type_; }
  void unrealize() override;
  UsbBus& bus() { return bus_; }
  UsbPort& root_port(unsigned index) { return ports_[index]; }
  // Companion mode: serve the host's ports first_port+1 and first_port+2 (nullptr: the host went,
  // and the companion has no ports at all).
  void set_companion_host(CompanionHost* host, unsigned first_port);
  bool companion() const { return companion_; }
  unsigned first_port() const { return first_port_; }

  uint64_t io_read(uint64_t offset, unsigned size);
  void io_write(uint64_t offset, unsigned size, uint64_t value);

  void port_changed(UsbPort& port) override;
  void port_wakeup(UsbPort& port) override;

  // One frame's work (the timer's; tests and the fuzzer may call it).
  void run_frame();

 protected:
  void reset_device() override;
  void save_device(StateWriter& out) const override;
  Result<std::unique_ptr<StagedState>> parse_device(StateReader& in, uint32_t version) override;
  void post_load_device() override;

 private:
  enum class TdResult { kDone, kStop, kFatal };
  struct Td {
    uint32_t link, control, token, buffer;
  };
  uint16_t read16(unsigned offset);
  void write16(unsigned offset, uint16_t value);
  uint16_t port_status(unsigned index) const;
  void write_port(unsigned index, uint16_t value);
  void write_command(uint16_t value);
  void controller_reset();
  void start_timer();
  void update_irq();
  // Host system error (DMA outside RAM) or process error (bad TD): halt and interrupt.
  void halt_with(uint16_t error);
  void traverse(uint32_t link);
  TdResult execute_td(uint32_t address, Td& td);
  bool read_td(uint32_t address, Td& td);
  UsbDevice* find_device(uint8_t address);
  // Root port index (0, 1) as this controller sees it now, or nullptr (a companion's port routed
  // to the EHCI).
  UsbPort* root(unsigned index);
  const UsbPort* root(unsigned index) const { return const_cast<Uhci*>(this)->root(index); }

  std::string_view type_;
  bool companion_ = false;
  CompanionHost* host_ = nullptr;
  unsigned first_port_ = 0;
  Clock& clock_;
  GuestMemory& memory_;
  std::vector<UsbPort> ports_;
  UsbBus bus_;
  Timer frame_timer_;
  void frame_tick();
  int64_t frame_start_ns_ = 0;  // when the frame being timed began
  unsigned packets_this_frame_ = 0;
  std::vector<uint8_t> buffer_;  // a transaction's data
  MemberIoHandler<Uhci, &Uhci::io_read, &Uhci::io_write> io_{*this};
};

}  // namespace hvmd::devices::usb
