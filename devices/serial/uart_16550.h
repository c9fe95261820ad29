// A 16550A UART (the PC's COM ports): 16-byte receive FIFO with trigger levels and the character
// timeout, all four interrupt sources in their priority order, modem control and status lines
// (with loopback), the divisor latch and the scratch register. Transmitted bytes go straight to
// the attached character device; received bytes wait in a bounded host-side queue until the
// guest has room for them, so nothing typed is lost to a busy guest.
#pragma once

#include <deque>
#include <memory>

#include "devices/serial/uart_regs.h"
#include "dm/backends/chardev.h"
#include "dm/clock.h"
#include "dm/device.h"
#include "dm/dispatcher.h"
#include "dm/interrupts.h"
#include "dm/io_handler.h"

namespace hvmd::devices {

// The registers and receive FIFO a save carries, described in uart_16550.cc.
struct UartState {
  std::deque<uint8_t> rx_;  // the receive FIFO (one byte when FIFOs are off)
  uint8_t ier_ = 0;
  uint8_t fcr_ = 0;
  uint8_t lcr_ = 0;
  uint8_t mcr_ = 0;
  uint8_t lsr_ = uart::kLsrTransmitEmpty | uart::kLsrTransmitterIdle;
  uint8_t msr_ = 0;
  uint8_t scr_ = 0;
  uint16_t divisor_ = 12;                // 9600 baud
  bool transmit_empty_pending_ = false;  // THRE interrupt latched until IIR reports it
  bool timeout_pending_ = false;
  template <class V>
  void describe(V& v);
};

class Uart16550 final : public Device, private UartState {
 public:
  // Host input held for the guest beyond its FIFO; more than this is dropped (and logged).
  static constexpr size_t kMaxPendingInput = 64 << 10;

  Uart16550(Dispatcher& dispatcher, Clock& clock, IrqLine irq, uint16_t base);
  ~Uart16550() override;
  std::string_view type() const override { return "isa-serial"; }
  void reset() override;
  void save(StateWriter& out) const override;
  Result<std::unique_ptr<StagedState>> parse_state(StateReader& in, uint32_t version) override;
  void post_load() override;
  void unrealize() override;

  // Connects the port to a character device (every connection it makes, in turn).
  void attach(Chardev& chardev);
  // Bytes from the outside world, as if they arrived on the wire.
  void receive(std::string_view bytes);

  uint64_t io_read(uint64_t offset, unsigned size);
  void io_write(uint64_t offset, unsigned size, uint64_t value);

 private:
  bool fifo_enabled() const { return fcr_ & uart::kFcrEnable; }
  size_t receive_capacity() const { return fifo_enabled() ? uart::kFifoSize : 1; }
  size_t trigger_level() const;
  int64_t character_time_ns() const;
  void transmit(uint8_t byte);
  void push_received(uint8_t byte);
  void refill_from_host();
  void arm_timeout();
  void set_modem_inputs(uint8_t lines);
  void update_interrupt();

  Dispatcher& dispatcher_;
  IrqLine irq_;
  uint16_t base_;
  MemberIoHandler<Uart16550, &Uart16550::io_read, &Uart16550::io_write> io_{*this};
  Dispatcher::MappingId mapping_ = Dispatcher::kNoMapping;
  Timer timeout_timer_;
  Chardev* chardev_ = nullptr;
  std::shared_ptr<CharConnection> connection_;

  std::deque<uint8_t> pending_;  // host input not yet in the FIFO
  uint8_t iir_ = uart::kIirNoInterrupt;
};

}  // namespace hvmd::devices
