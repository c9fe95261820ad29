// xHCI host controller (eXtensible Host Controller Interface 1.x), as `nec-usb-xhci` (the NEC
// uPD720200, 1033:0194, which libxl asks for with usbversion=3) and `qemu-xhci` (1b36:000d): one
// 64-bit memory BAR with the capability, operational, port, runtime and doorbell registers and the
// MSI-X table; MSI, MSI-X and INTA#. Four connectors, each a USB2 and a USB3 port (a super-speed
// device shows on the USB3 one), 64 device slots, 16 interrupters.
//
// Work happens when software rings a doorbell: the command ring (doorbell 0) or one endpoint's
// transfer ring runs at once, at most kMaxCommandsPerKick / kMaxTrbsPerKick TRBs, and a ring with
// more resumes on a short timer. An IN endpoint whose device NAKs waits, without a timer, until the
// device says it has data (UsbPortOwner::port_endpoint_ready). The only other timer is an
// interrupter's moderation interval, armed after an interrupt. An idle controller never wakes hvmd.
//
// Guest memory is hostile: the rings, the device context base array, every context and buffer
// are read and written through GuestMemory; anything outside RAM is a host system error (the
// controller halts, as on a PCI master abort). Slot IDs, endpoint IDs, interrupter targets,
// port numbers and route strings are checked before use; link TRB chains are bounded per fetch.
//
// Layout: xhci.cc (PCI function, registers, interrupters), xhci_ports.cc (PORTSC and port
// events), xhci_commands.cc (the command ring, slots and contexts), xhci_transfers.cc (transfer
// rings), xhci_rings.cc (TRB fetch, the event ring).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "devices/usb/usb_device.h"
#include "devices/usb/usb_port.h"
#include "devices/usb/xhci_regs.h"
#include "devices/usb/xhci_rings.h"
#include "dm/clock.h"
#include "dm/guest_memory.h"
#include "dm/io_handler.h"
#include "dm/pci/pci_device.h"
#include "dm/state_fields.h"

namespace hvmd::devices::usb {

namespace xhci {

struct EndpointRecord {
  uint8_t state = kEpDisabled;
  uint8_t type = kEpNotValid;
  uint16_t max_packet = 8;
  RingState ring;
  bool waiting = false;             // the TRB at the dequeue pointer was NAKed
  uint32_t td_length = 0;           // bytes moved in the current TD (Event Data's EDTLA)
  bool td_short = false;            // a short packet: the rest of the TD is skipped
  std::array<uint32_t, 8> words{};  // the context as software gave it
  bool in() const;
  template <class V>
  void describe(V& v) {
    v("state", state, AtMost{uint8_t{kEpError}});
    v("type", type, AtMost{uint8_t{kEpInterruptIn}});
    v("max packet", max_packet, InRange{uint16_t{8}, uint16_t{0xffff}});
    v("ring", ring);
    v("waiting", waiting);
    v("TD length", td_length);
    v("TD short", td_short);
    v("context", words);
  }
};

struct SlotRecord {
  bool enabled = false;
  uint8_t state = kSlotEnabled;
  uint8_t port = 0;  // root hub port, register numbering (1..kPorts)
  uint32_t route = 0;
  uint16_t interrupter = 0;
  uint64_t context = 0;             // the output device context (from the DCBAA)
  std::array<uint32_t, 8> words{};  // the slot context as software gave it
  std::array<EndpointRecord, kEndpoints> endpoints{};
  template <class V>
  void describe(V& v) {
    v("enabled", enabled);
    v("state", state, AtMost{uint8_t{kSlotConfigured}});
    v("port", port, AtMost{uint8_t{kPorts}});
    v("route", route, Mask{kSlotRouteMask});
    v("interrupter", interrupter);
    v("context", context);
    v("slot context", words);
    v("endpoints", endpoints);
  }
};

struct InterrupterRecord {
  uint32_t iman = 0;
  uint32_t imod = kImodDefault;
  bool want_irq = false;  // an event asked for an interrupt not yet signalled
  EventRing ring;
  template <class V>
  void describe(V& v) {
    v("IMAN", iman, Mask{kImanIp | kImanIe});
    v("IMOD", imod, Mask{uint32_t{0xffff}});
    v("interrupt wanted", want_irq);
    v("event ring", static_cast<EventRingState&>(ring));
  }
};

struct PortView {        // what one PORTSC shows beyond the UsbPort state machine
  uint32_t changes = 0;  // CSC, PEC, WRC, PRC, PLC
  uint32_t wake = 0;     // WCE, WDE, WOE
  template <class V>
  void describe(V& v) {
    v("changes", changes, Mask{kPortChangeBits});
    v("wake", wake, Mask{kPortWakeBits});
  }
};

// What the controller keeps between accesses (and saves).
struct XhciState {
  uint32_t usbcmd_ = 0;
  uint32_t usbsts_ = kStsHalted;
  uint32_t dnctrl_ = 0;
  uint32_t max_slots_enabled_ = 0;
  uint64_t dcbaap_ = 0;
  RingState command_ring_;
  bool command_ring_running_ = false;
  std::array<SlotRecord, kMaxSlots + 1> slots_{};  // index = slot ID; 0 unused
  std::array<InterrupterRecord, kInterrupters> interrupters_{};
  std::array<PortView, kPorts> views_{};
  std::array<uint32_t, kPortsPerProtocol> shown_{};  // register port showing the device
  template <class V>
  void describe(V& v);
};

}  // namespace xhci

class Xhci final : public pci::PciDevice, public UsbPortOwner, private xhci::XhciState {
 public:
  enum class Model : uint8_t { kNec, kQemu };
  Xhci(Model model, Clock& clock, GuestMemory& memory, std::string bus_name);
  ~Xhci() override;
  std::string_view type() const override {
    return model_ == Model::kNec ? "nec-usb-xhci" : "qemu-xhci";
  }
  void unrealize() override;
  UsbBus& bus() { return bus_; }

  uint64_t mmio_read(uint64_t offset, unsigned size);
  void mmio_write(uint64_t offset, unsigned size, uint64_t value);

  void port_changed(UsbPort& port) override;
  void port_wakeup(UsbPort& port) override;
  void port_endpoint_ready(UsbPort& port) override;

 protected:
  void reset_device() override;
  void config_written(uint32_t reg, unsigned size, uint32_t value) override;
  void save_device(StateWriter& out) const override;
  Result<std::unique_ptr<StagedState>> parse_device(StateReader& in, uint32_t version) override;
  void post_load_device() override;

 private:
  using Endpoint = xhci::EndpointRecord;
  using Slot = xhci::SlotRecord;
  using Interrupter = xhci::InterrupterRecord;

  // --- registers (xhci.cc) ---
  uint32_t read32(uint32_t offset);
  void write32(uint32_t offset, uint32_t value);
  // Bits of a register a narrow write must not write back as they read (write-1-to-clear and
  // write-1-to-act bits).
  uint32_t write_preserve_mask(uint32_t offset) const;
  uint32_t capability_read(uint32_t offset) const;
  uint32_t operational_read(uint32_t offset);
  void operational_write(uint32_t offset, uint32_t value);
  uint32_t runtime_read(uint32_t offset);
  void runtime_write(uint32_t offset, uint32_t value);
  void doorbell_write(unsigned index, uint32_t value);
  void write_command(uint32_t value);
  void controller_reset();
  void halt();
  // A guest DMA that missed RAM: HSE, the controller halts.
  void host_system_error(const char* what, uint64_t address);

  // --- interrupters (xhci.cc) ---
  void post_event(unsigned interrupter, xhci::Trb event, bool interrupt = true);
  void try_interrupt(unsigned interrupter);
  void update_intx();

  // --- ports (xhci_ports.cc) ---
  // Register port number (1..kPorts) -> connector index and protocol.
  unsigned connector_of(unsigned port) const;
  bool usb3_port(unsigned port) const;
  unsigned port_number(unsigned connector, bool usb3) const;
  // The register port a connector's device shows on now (0: none).
  unsigned device_port(unsigned connector) const;
  uint32_t port_read(unsigned port, uint32_t reg);
  void port_write(unsigned port, uint32_t reg, uint32_t value);
  void set_port_change(unsigned port, uint32_t bits);
  void ports_reset();

  // --- command ring and contexts (xhci_commands.cc) ---
  void run_commands();
  void run_command(const xhci::Trb& trb, uint64_t at);
  void command_done(uint64_t at, uint8_t code, uint8_t slot_id = 0);
  uint8_t enable_slot();
  uint8_t disable_slot(uint8_t slot_id);
  uint8_t address_device(uint8_t slot_id, uint64_t input, bool block_set_address);
  uint8_t configure_endpoint(uint8_t slot_id, uint64_t input, bool deconfigure);
  uint8_t evaluate_context(uint8_t slot_id, uint64_t input);
  uint8_t reset_endpoint(uint8_t slot_id, unsigned dci);
  uint8_t stop_endpoint(uint8_t slot_id, unsigned dci);
  uint8_t set_dequeue(uint8_t slot_id, unsigned dci, uint64_t pointer);
  uint8_t reset_device_slot(uint8_t slot_id);
  // Valid slot ID (1..MaxSlotsEn) of an enabled slot, else nullptr.
  Slot* slot(uint8_t slot_id);
  bool read_context(uint64_t address, std::array<uint32_t, 8>& words);
  bool write_slot_context(Slot& s, uint8_t slot_id);
  bool write_endpoint_context(Slot& s, unsigned dci);
  // An endpoint context as software gave it (Address Device, Configure Endpoint).
  static bool load_endpoint(Endpoint& ep, const std::array<uint32_t, 8>& words);
  void disable_endpoints(Slot& s, unsigned from);

  // --- transfers (xhci_transfers.cc) ---
  UsbDevice* slot_device(const Slot& s);
  void kick_endpoint(uint8_t slot_id, unsigned dci);
  void retry_waiting_endpoints();
  enum class TrbOutcome { kNext, kWait, kStop };
  TrbOutcome run_transfer_trb(uint8_t slot_id, unsigned dci, const xhci::Trb& trb, uint64_t at);
  // Moves a data stage or normal TRB's bytes: IN into guest memory, OUT from it.
  struct Moved {
    PacketStatus status = PacketStatus::kAck;
    uint32_t length = 0;
    bool dma_failed = false;
  };
  Moved move_data(UsbDevice* device, unsigned endpoint, bool in, const xhci::Trb& trb,
                  uint16_t max_packet);
  void transfer_event(uint8_t slot_id, unsigned dci, uint64_t pointer, uint8_t code,
                      uint32_t residual, const xhci::Trb& trb, bool event_data = false);
  void halt_endpoint(uint8_t slot_id, unsigned dci);
  void schedule_continue();

  Model model_;
  Clock& clock_;
  GuestMemory& memory_;
  std::vector<UsbPort> ports_;  // the connectors (UsbBus ports 1..4)
  UsbBus bus_;
  static_assert(xhci::kPortsPerProtocol == 4, "the constructor names the four connectors");
  std::array<std::unique_ptr<Timer>, xhci::kInterrupters> moderation_;  // IMOD intervals
  Timer continue_timer_;  // a ring that hit its per-kick budget resumes here
  bool kicking_ = false;  // a transfer ring is running (a device's notification waits for it)
  bool retry_requested_ = false;
  std::vector<uint8_t> buffer_;  // one TRB's data

  MemberIoHandler<Xhci, &Xhci::mmio_read, &Xhci::mmio_write> mmio_{*this};
};

}  // namespace hvmd::devices::usb
