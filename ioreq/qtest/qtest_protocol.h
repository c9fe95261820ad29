// QEMU's qtest line protocol, served by hvmd so QEMU-style test programs and fuzz reproducers can
// drive our devices unchanged. One request per line; replies "OK [VALUE]" or "FAIL reason";
// interrupt changes on intercepted IOAPIC pins arrive asynchronously as "IRQ raise N"/"IRQ lower
// N". Guest RAM is hvmd's own (sized by -m); memory commands outside RAM go to MMIO devices.
#pragma once

#include <array>
#include <cstdio>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dm/interrupts.h"
#include "dm/machine.h"

namespace hvmd::qtest {

// The interrupt controller qtest stands in for: ISA IRQs land on IOAPIC pins (IRQ0 on pin 2, as
// the PC's interrupt source override has it), PCI INTx through the PIIX3 links, MSI as the memory
// write it is (QEMU-style tests point MSI-X vectors at guest RAM and poll it).
class QtestInterrupts final : public InterruptSink {
 public:
  static constexpr unsigned kIoapicPins = 24;
  using PinFn = std::function<void(unsigned pin, bool level)>;

  explicit QtestInterrupts(GuestMemory& memory);
  void set_pin_listener(PinFn fn) { on_pin_ = std::move(fn); }
  bool pin_level(unsigned pin) const { return pin < kIoapicPins && pins_[pin]; }
  // A level change on an IOAPIC input, from a device or from set_irq_in.
  void set_pin(unsigned pin, bool level);

  void set_isa_irq(unsigned irq, bool level) override;
  void set_pci_intx(PciAddress device, unsigned pin, bool level) override;
  void set_pci_link_route(unsigned link, unsigned isa_irq) override;
  void send_msi(const MsiMessage& message) override;

 private:
  GuestMemory& memory_;
  IntxRouter router_;
  std::array<bool, kIoapicPins> pins_{};
  PinFn on_pin_;
};

class QtestProtocol {
 public:
  using SendFn = std::function<void(std::string_view line)>;
  // Reads and writes larger than this are refused (FAIL), so one line cannot exhaust memory.
  static constexpr uint64_t kMaxTransfer = 64ull << 20;
  static constexpr size_t kMaxLine = 2 * kMaxTransfer + 64;
  // The longest reply: "OK 0x" and two hex digits per byte of the largest read. The transport
  // must queue this much for a test program that reads it.
  static constexpr size_t kMaxReply = 2 * kMaxTransfer + 64;
  // Large reads are produced and sent in pieces this long (a multiple of 3 for base64), so no
  // second copy of a reply is built.
  static constexpr size_t kStreamChunk = 48 << 10;

  QtestProtocol(Machine& machine, QtestInterrupts& interrupts, SendFn send, FILE* log);
  // Stops listening to the interrupt pins: devices may still move them as the machine goes.
  ~QtestProtocol() { interrupts_.set_pin_listener(nullptr); }

  void feed(std::string_view data);
  // Handles one line (without newline); public for tests and the fuzzer.
  void handle_line(std::string_view line);

 private:
  void reply(const std::string& text);
  void log(char direction, std::string_view text);
  // A reply, or nothing when the command sent its (streamed) reply itself.
  std::optional<std::string> execute(const std::vector<std::string_view>& words);
  void stream_read(uint64_t addr, uint64_t length, bool base64);
  uint64_t mmio(uint64_t addr, unsigned size, bool is_write, uint64_t value);
  bool ram_read(uint64_t addr, void* out, uint64_t length);
  bool ram_write(uint64_t addr, const void* in, uint64_t length);
  bool memory_read(uint64_t addr, uint8_t* out, uint64_t length);
  void memory_write(uint64_t addr, const uint8_t* in, uint64_t length);
  uint64_t read_value(uint64_t addr, unsigned size);
  void write_value(uint64_t addr, unsigned size, uint64_t value);

  Machine& machine_;
  QtestInterrupts& interrupts_;
  SendFn send_;
  FILE* log_;
  std::string partial_;
  bool intercepting_ = false;
  int64_t start_ns_;
};

}  // namespace hvmd::qtest
