// EHCI host controller (EHCI 1.0) as the ICH9's USB 2.0 function: ich9-usb-ehci1 (8086:293a,
// libxl's usbversion=2 at 00:1d.7) with its registers in memory BAR0, six root ports offered as
// bus ID.0, and up to three companion UHCIs (ich9-usb-uhci1..3, masterbus=, firstport=) that take
// the ports software does not route to the EHCI: all of them while CONFIGFLAG is clear, and each
// port whose PORT_OWNER is set. A port reset shows a high-speed device enabled; a full- or
// low-speed device stays disabled (or shows the K state) so drivers hand it to the companion.
//
// The schedules are guest memory and hostile. Every structure is read and written through
// GuestMemory (outside RAM: host system error, the controller halts); per frame the periodic
// walk visits at most kMaxPeriodicElements iTDs/siTDs/FSTNs/QHs and stops at a queue head seen
// before, the asynchronous walk visits at most kMaxAsyncQueueHeads queue heads and stops when it
// comes back to the reclamation head (H bit, or the first queue head seen) without a transaction
// done since, each queue head runs at most kMaxQtdsPerQueueHead qTDs, and a frame runs at most
// kMaxPacketsPerFrame transactions. qTD lengths and page offsets are checked against the five
// pages before a byte moves.
//
// The frame timer (1 ms: the eight microframes of a frame run together) runs only while the
// controller runs with a schedule enabled (or a doorbell or rollover interrupt to deliver);
// FRINDEX is computed from the clock, so an idle running controller costs no wake-ups.
// Isochronous transfers are not modelled (hvmd has no isochronous device): an active iTD or siTD
// transaction completes with a transaction error, as when no device answers.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "devices/usb/ehci_regs.h"
#include "devices/usb/uhci.h"
#include "devices/usb/usb_device.h"
#include "devices/usb/usb_port.h"
#include "dm/clock.h"
#include "dm/guest_memory.h"
#include "dm/io_handler.h"
#include "dm/pci/pci_device.h"

namespace hvmd::devices::usb {

struct EhciState {
  uint32_t cmd_ = 0;
  uint32_t sts_ = 0;
  uint32_t intr_ = 0;
  uint32_t frindex_ = 0;  // at frindex_base_ns_ while running
  uint32_t ctrldsseg_ = 0;
  uint32_t periodic_base_ = 0;
  uint32_t async_addr_ = 0;
  uint32_t configflag_ = 0;
  uint32_t pending_ = 0;  // USBINT/USBERRINT waiting for the interrupt threshold
  std::array<bool, ehci::kPorts> companion_owned_{};  // PORT_OWNER
  std::array<bool, ehci::kPorts> force_resume_{};
  std::array<uint32_t, ehci::kPorts> port_stored_{};  // indicator, test and wake bits
  template <class V>
  void describe(V& v);
};

class Ehci final : public pci::PciDevice,
                   public UsbPortOwner,
                   public CompanionHost,
                   private EhciState {
 public:
  static constexpr unsigned kMaxPeriodicElements = 512;
  static constexpr unsigned kMaxAsyncQueueHeads = 256;
  static constexpr unsigned kMaxQtdsPerQueueHead = 64;
  static constexpr unsigned kMaxPacketsPerFrame = 4096;
  static constexpr int64_t kFrameNs = 1'000'000;
  static constexpr int64_t kMicroframeNs = 125'000;

  Ehci(Clock& clock, GuestMemory& memory, std::string bus_name, uint16_t device_id,
       std::string_view type, bool multi_function);
  std::string_view type() const override { return type_; }
  void unrealize() override;
  UsbBus& bus() { return bus_; }
  UsbPort& root_port(unsigned index) { return ports_[index]; }

  uint64_t mmio_read(uint64_t offset, unsigned size);
  void mmio_write(uint64_t offset, unsigned size, uint64_t value);

  // A companion UHCI registers for ports first_port+1 and first_port+2.
  Result<void> add_companion(Uhci& companion, unsigned first_port);
  UsbPort* companion_port(unsigned number) override;
  void companion_gone(Uhci& companion) override;

  void port_changed(UsbPort& port) override;
  void port_wakeup(UsbPort& port) override;
  void port_endpoint_ready(UsbPort& port) override;

  // One frame's schedule work (the timer's; tests, benchmarks and the fuzzer may call it).
  void run_frame();

 protected:
  void reset_device() override;
  void save_device(StateWriter& out) const override;
  Result<std::unique_ptr<StagedState>> parse_device(StateReader& in, uint32_t version) override;
  void post_load_device() override;

 private:
  enum class QtdResult { kDone, kWaiting, kHalted, kFatal };
  using QueueHead = std::array<uint32_t, ehci::kQhDwords>;

  uint32_t read_register(unsigned offset);
  void write_register(unsigned offset, uint32_t value);
  uint32_t port_status(unsigned index) const;
  void write_port(unsigned index, uint32_t value);
  void write_command(uint32_t value);
  void controller_reset();
  bool running() const { return cmd_ & ehci::kCmdRun; }
  bool routed_here(unsigned index) const {
    return (configflag_ & ehci::kConfigFlagRoute) && !companion_owned_[index];
  }
  // The port moves between the EHCI and its companion: the new owner sees a fresh connection.
  void reroute(unsigned index);
  Uhci* companion_for(unsigned index) const {
    return companions_[index / ehci::kPortsPerCompanion];
  }
  void update_irq();
  void update_timer();
  void frame_tick();
  void kick();
  // FRINDEX now (running: counted from the clock); sets the rollover status on the way.
  void sync_frindex();
  void deliver_pending(bool now);
  void host_system_error();
  uint64_t structure_address(uint32_t link) const {
    return uint64_t{ctrldsseg_} << 32 | (link & ehci::kLinkAddressMask);
  }

  void run_periodic();
  void run_async();
  // Runs the queue head's overlay and the qTDs after it. Returns whether a transaction moved.
  bool run_queue_head(uint64_t address, QueueHead& qh, bool periodic);
  QtdResult run_overlay(QueueHead& qh, bool periodic);
  bool copy_pages(QueueHead& qh, uint32_t offset_in_transfer, uint8_t* data, size_t length,
                  bool to_guest);
  UsbDevice* find_device(uint8_t address);

  std::string_view type_;
  Clock& clock_;
  GuestMemory& memory_;
  std::vector<UsbPort> ports_;
  UsbBus bus_;
  std::array<Uhci*, ehci::kCompanions> companions_{};
  Timer frame_timer_;
  Timer kick_timer_;  // an early asynchronous pass after a device's I/O completed
  int64_t frindex_base_ns_ = 0;
  uint64_t microframes_since_interrupt_ = 0;
  unsigned packets_this_frame_ = 0;
  bool fatal_ = false;  // a host system error ended this walk
  std::vector<uint8_t> buffer_;
  MemberIoHandler<Ehci, &Ehci::mmio_read, &Ehci::mmio_write> mmio_{*this};
};

}  // namespace hvmd::devices::usb
