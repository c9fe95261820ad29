#include "devices/serial/uart_16550.h"

#include "dm/log.h"

namespace hvmd::devices {

using namespace uart;

namespace {
// Modem input lines of a port with something attached: clear to send, data set ready, carrier.
constexpr uint8_t kLinesConnected = kMsrCts | kMsrDsr | kMsrDcd;
constexpr uint8_t kMsrLines = kMsrCts | kMsrDsr | kMsrRi | kMsrDcd;
constexpr uint8_t kMsrDeltas = kMsrDeltaCts | kMsrDeltaDsr | kMsrTrailingRi | kMsrDeltaDcd;
}  // namespace

Uart16550::Uart16550(Dispatcher& dispatcher, Clock& clock, IrqLine irq, uint16_t base)
    : dispatcher_(dispatcher), irq_(irq), base_(base), timeout_timer_(clock, [this] {
        if (!rx_.empty()) {
          timeout_pending_ = true;
          update_interrupt();
        }
      }) {
  mapping_ = dispatcher_.map_ports(base_, kPortCount, &io_, "serial");
}

Uart16550::~Uart16550() {
  if (chardev_) chardev_->on_connect({});
  if (connection_) connection_->close();
}

void Uart16550::unrealize() {
  dispatcher_.unmap(mapping_);
  mapping_ = Dispatcher::kNoMapping;
}

void Uart16550::reset() {
  rx_.clear();
  timeout_timer_.cancel();
  ier_ = fcr_ = lcr_ = mcr_ = scr_ = 0;
  lsr_ = kLsrTransmitEmpty | kLsrTransmitterIdle;
  msr_ = connection_ ? kLinesConnected : 0;
  divisor_ = 12;
  transmit_empty_pending_ = timeout_pending_ = false;
  refill_from_host();
  update_interrupt();
}

void Uart16550::attach(Chardev& chardev) {
  chardev_ = &chardev;
  chardev.on_connect([this](std::shared_ptr<CharConnection> connection) {
    if (connection_) connection_->close();
    connection_ = connection;
    CharConnection* raw = connection.get();
    connection->set_output_outlives_input();
    connection->start([this](std::string_view data) { receive(data); },
                      [this, raw] {
                        if (connection_.get() != raw) return;
                        connection_.reset();
                        set_modem_inputs(0);
                      });
    if (connection_.get() == raw) set_modem_inputs(kLinesConnected);
  });
}

void Uart16550::receive(std::string_view bytes) {
  size_t room = kMaxPendingInput - std::min(kMaxPendingInput, pending_.size());
  if (bytes.size() > room)
    HVMD_GUEST_LOG("serial %#x: guest not reading, %zu input bytes dropped", base_,
                   bytes.size() - room);
  pending_.insert(pending_.end(), bytes.begin(), bytes.begin() + std::min(room, bytes.size()));
  refill_from_host();
  update_interrupt();
}

size_t Uart16550::trigger_level() const {
  static constexpr size_t kLevels[] = {1, 4, 8, 14};
  return fifo_enabled() ? kLevels[fcr_ >> kFcrTriggerShift] : 1;
}

int64_t Uart16550::character_time_ns() const {
  uint64_t divisor = divisor_ ? divisor_ : 0x10000;
  return static_cast<int64_t>(divisor * 16 * kBitsPerCharacter * 1'000'000'000ull / kClockHz);
}

// The character timeout: data below the trigger level, untouched for four character times.
void Uart16550::arm_timeout() {
  if (fifo_enabled() && !rx_.empty())
    timeout_timer_.arm_after(4 * character_time_ns());
  else
    timeout_timer_.cancel();
}

void Uart16550::push_received(uint8_t byte) {
  if (rx_.size() >= receive_capacity()) {
    lsr_ |= kLsrOverrun;  // the new character is lost, as in the shift register
    return;
  }
  rx_.push_back(byte);
  lsr_ |= kLsrDataReady;
  arm_timeout();
}

void Uart16550::refill_from_host() {
  if (mcr_ & kMcrLoop) return;  // loopback disconnects the serial input
  bool moved = false;
  while (!pending_.empty() && rx_.size() < receive_capacity()) {
    push_received(pending_.front());
    pending_.pop_front();
    moved = true;
  }
  if (moved) arm_timeout();
}

void Uart16550::transmit(uint8_t byte) {
  if (mcr_ & kMcrLoop) {
    push_received(byte);
  } else if (connection_) {
    connection_->write(std::string_view(reinterpret_cast<const char*>(&byte), 1));
  }
  // Sent at once: the holding register is empty again, which is worth an interrupt.
  lsr_ |= kLsrTransmitEmpty | kLsrTransmitterIdle;
  transmit_empty_pending_ = true;
}

void Uart16550::set_modem_inputs(uint8_t lines) {
  uint8_t changed = (msr_ ^ lines) & kMsrLines;
  if (changed & kMsrCts) msr_ |= kMsrDeltaCts;
  if (changed & kMsrDsr) msr_ |= kMsrDeltaDsr;
  if (changed & kMsrDcd) msr_ |= kMsrDeltaDcd;
  if ((msr_ & kMsrRi) && !(lines & kMsrRi)) msr_ |= kMsrTrailingRi;
  msr_ = (msr_ & kMsrDeltas) | lines;
  update_interrupt();
}

void Uart16550::update_interrupt() {
  uint8_t id = kIirNoInterrupt;
  if ((ier_ & kIerLineStatus) && (lsr_ & kLsrErrors))
    id = kIirLineStatus;
  else if ((ier_ & kIerReceivedData) && timeout_pending_)
    id = kIirCharacterTimeout;
  else if ((ier_ & kIerReceivedData) && rx_.size() >= trigger_level())
    id = kIirReceivedData;
  else if ((ier_ & kIerTransmitEmpty) && transmit_empty_pending_)
    id = kIirTransmitEmpty;
  else if ((ier_ & kIerModemStatus) && (msr_ & kMsrDeltas))
    id = kIirModemStatus;
  iir_ = id | (fifo_enabled() ? kIirFifosEnabled : 0);
  // On a PC the UART's interrupt reaches the PIC only through OUT2.
  irq_.set(id != kIirNoInterrupt && (mcr_ & kMcrOut2));
}

uint64_t Uart16550::io_read(uint64_t offset, unsigned) {
  bool dlab = lcr_ & kLcrDlab;
  uint8_t value = 0;
  switch (offset) {
    case kRbrThr:
      if (dlab) return divisor_ & 0xff;
      if (!rx_.empty()) {
        value = rx_.front();
        rx_.pop_front();
      }
      timeout_pending_ = false;
      refill_from_host();
      if (rx_.empty()) lsr_ &= ~(kLsrDataReady | kLsrFifoError);
      arm_timeout();
      break;
    case kIer:
      if (dlab) return divisor_ >> 8;
      value = ier_;
      break;
    case kIirFcr:
      value = iir_;
      // Reading IIR is how the THRE interrupt is acknowledged.
      if ((iir_ & 0x0f) == kIirTransmitEmpty) transmit_empty_pending_ = false;
      break;
    case kLcr:
      value = lcr_;
      break;
    case kMcr:
      value = mcr_;
      break;
    case kLsr:
      value = lsr_;
      lsr_ &= ~(kLsrErrors | kLsrFifoError);
      break;
    case kMsr:
      value = msr_;
      msr_ &= ~kMsrDeltas;
      break;
    case kScr:
      value = scr_;
      break;
    default:
      return all_ones(1);
  }
  update_interrupt();
  return value;
}

void Uart16550::io_write(uint64_t offset, unsigned, uint64_t value) {
  auto byte = static_cast<uint8_t>(value);
  bool dlab = lcr_ & kLcrDlab;
  switch (offset) {
    case kRbrThr:
      if (dlab) {
        divisor_ = static_cast<uint16_t>((divisor_ & 0xff00) | byte);
        return;
      }
      transmit(byte);
      break;
    case kIer: {
      if (dlab) {
        divisor_ = static_cast<uint16_t>((divisor_ & 0x00ff) | byte << 8);
        return;
      }
      uint8_t enabled = byte & kIerMask & ~ier_;
      ier_ = byte & kIerMask;
      // Enabling the THRE interrupt with the holding register empty raises it at once.
      if ((enabled & kIerTransmitEmpty) && (lsr_ & kLsrTransmitEmpty))
        transmit_empty_pending_ = true;
      break;
    }
    case kIirFcr: {
      bool was_enabled = fifo_enabled();
      fcr_ = byte & (kFcrEnable | 0xc0);
      // Turning the FIFOs on or off empties them, as does a clear bit.
      if (was_enabled != fifo_enabled() || (byte & kFcrClearReceive)) {
        rx_.clear();
        timeout_pending_ = false;
        lsr_ &= ~(kLsrDataReady | kLsrFifoError);
        refill_from_host();
      }
      arm_timeout();
      break;
    }
    case kLcr:
      lcr_ = byte;
      return;
    case kMcr: {
      bool was_loop = mcr_ & kMcrLoop;
      mcr_ = byte & kMcrMask;
      if (mcr_ & kMcrLoop) {
        // Loopback: the outputs come back as inputs (RTS->CTS, DTR->DSR, OUT1->RI, OUT2->DCD).
        uint8_t lines = ((mcr_ & kMcrRts) ? kMsrCts : 0) | ((mcr_ & kMcrDtr) ? kMsrDsr : 0) |
                        ((mcr_ & kMcrOut1) ? kMsrRi : 0) | ((mcr_ & kMcrOut2) ? kMsrDcd : 0);
        set_modem_inputs(lines);
      } else if (was_loop) {
        set_modem_inputs(connection_ ? kLinesConnected : 0);
        refill_from_host();
      }
      break;
    }
    case kScr:
      scr_ = byte;
      return;
    default:
      return;  // LSR and MSR are read-only
  }
  update_interrupt();
}

namespace {
// What the device itself ever sets in LSR; the error bits it never raises are dropped on load.
constexpr uint8_t kLsrReachable =
    kLsrDataReady | kLsrOverrun | kLsrTransmitEmpty | kLsrTransmitterIdle;
constexpr uint8_t kFcrStored = kFcrEnable | (3u << kFcrTriggerShift);  // as the FCR write keeps
}  // namespace

template <class V>
void UartState::describe(V& v) {
  // Masked as the register writes mask them (LSR: as the device sets it).
  v("IER", ier_, Mask{kIerMask});
  v("FCR", fcr_, Mask{kFcrStored});
  v("LCR", lcr_);
  v("MCR", mcr_, Mask{kMcrMask});
  v("LSR", lsr_, Mask{kLsrReachable});
  v("MSR", msr_);
  v("SCR", scr_);
  v("divisor", divisor_);
  v("THRE pending", transmit_empty_pending_);
  v("timeout pending", timeout_pending_);
  // Refused beyond the FIFO (and checked against FCR's FIFO enable below).
  v("receive FIFO", rx_, MaxSize{kFifoSize});
}

void Uart16550::save(StateWriter& out) const {
  write_fields(out, static_cast<const UartState&>(*this));
}

Result<std::unique_ptr<StagedState>> Uart16550::parse_state(StateReader& in, uint32_t version) {
  return stage_fields<UartState>(
      in, version, "isa-serial", *this, [](UartState& s) -> Result<void> {
        size_t capacity = (s.fcr_ & kFcrEnable) ? kFifoSize : 1;
        if (s.rx_.size() > capacity)
          return make_error("isa-serial: %zu bytes in a FIFO of %zu", s.rx_.size(), capacity);
        // Data ready says whether the FIFO holds a byte, as reads and receives keep it.
        s.lsr_ = s.rx_.empty() ? s.lsr_ & ~kLsrDataReady : s.lsr_ | kLsrDataReady;
        return ok();
      });
}

void Uart16550::post_load() {
  arm_timeout();
  update_interrupt();
}

}  // namespace hvmd::devices
