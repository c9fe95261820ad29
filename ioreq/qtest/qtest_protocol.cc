#include "ioreq/qtest/qtest_protocol.h"

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "dm/log.h"
#include "ioreq/qtest/base64.h"

namespace hvmd::qtest {
namespace {

constexpr unsigned kIsaIrqZeroPin = 2;  // the PC routes the PIT's IRQ0 to IOAPIC pin 2

bool parse_u64(std::string_view word, uint64_t* out) {
  std::string s(word);
  if (s.empty() || s[0] == '-') return false;
  char* end = nullptr;
  errno = 0;
  *out = strtoull(s.c_str(), &end, 0);  // base 0: 0x.. hex, 0.. octal, as QEMU parses
  return *end == '\0' && errno == 0;
}

int64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

std::string hex(uint64_t value, int width) {
  char buf[32];
  snprintf(buf, sizeof(buf), "0x%0*" PRIx64, width, value);
  return buf;
}

// The access size of in*/out*/read*/write* commands from their last letter.
unsigned size_suffix(std::string_view command) {
  switch (command.back()) {
    case 'b':
      return 1;
    case 'w':
      return 2;
    case 'l':
      return 4;
    case 'q':
      return 8;
    default:
      return 0;
  }
}

bool is_ioapic_path(std::string_view path) {
  return path == "ioapic" || path.ends_with("/ioapic");
}

}  // namespace

QtestInterrupts::QtestInterrupts(GuestMemory& memory)
    : memory_(memory), router_([this](unsigned irq, bool level) { set_isa_irq(irq, level); }) {}

void QtestInterrupts::set_pin(unsigned pin, bool level) {
  if (pin >= kIoapicPins || pins_[pin] == level) return;
  pins_[pin] = level;
  if (on_pin_) on_pin_(pin, level);
}

void QtestInterrupts::set_isa_irq(unsigned irq, bool level) {
  if (irq >= 16) return;
  set_pin(irq == 0 ? kIsaIrqZeroPin : irq, level);
}

void QtestInterrupts::set_pci_intx(PciAddress device, unsigned pin, bool level) {
  router_.set_pci_intx(device, pin, level);
}

void QtestInterrupts::set_pci_link_route(unsigned link, unsigned isa_irq) {
  router_.set_link_route(link, isa_irq);
}

void QtestInterrupts::send_msi(const MsiMessage& message) {
  // With no local APIC, an MSI aimed at RAM is just the 32-bit write it is on the bus.
  memory_.write(message.address, &message.data, sizeof(message.data));
}

QtestProtocol::QtestProtocol(Machine& machine, QtestInterrupts& interrupts, SendFn send, FILE* log)
    : machine_(machine),
      interrupts_(interrupts),
      send_(std::move(send)),
      log_(log),
      start_ns_(monotonic_ns()) {
  interrupts_.set_pin_listener([this](unsigned pin, bool level) {
    if (intercepting_)
      reply(std::string("IRQ ") + (level ? "raise " : "lower ") + std::to_string(pin));
  });
}

void QtestProtocol::log(char direction, std::string_view text) {
  if (!log_) return;
  int64_t elapsed = monotonic_ns() - start_ns_;
  fprintf(log_, "[%c +%" PRId64 ".%06" PRId64 "] %.*s\n", direction, elapsed / 1'000'000'000,
          elapsed / 1000 % 1'000'000, int(text.size()), text.data());
  if (fflush(log_) != 0 || ferror(log_)) {
    // A full disk must not go unnoticed, nor end the test run: say so once, stop logging.
    HVMD_ERROR("-qtest-log: write failed: %s; no further lines are logged", strerror(errno));
    log_ = nullptr;
  }
}

void QtestProtocol::reply(const std::string& text) {
  log('S', text);
  send_(text + "\n");
}

void QtestProtocol::feed(std::string_view data) {
  for (char c : data) {
    if (c == '\n') {
      handle_line(partial_);
      partial_.clear();
    } else if (partial_.size() < kMaxLine) {
      partial_ += c;
    }
  }
}

void QtestProtocol::handle_line(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  log('R', line);
  std::vector<std::string_view> words;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && line[i] == ' ') ++i;
    size_t start = i;
    while (i < line.size() && line[i] != ' ') ++i;
    if (i > start) words.push_back(line.substr(start, i - start));
  }
  if (words.empty()) return;
  if (auto text = execute(words)) reply(*text);
}

void QtestProtocol::stream_read(uint64_t addr, uint64_t length, bool base64) {
  static constexpr char kHex[] = "0123456789abcdef";
  log('S', (base64 ? "OK <base64 of " : "OK 0x<hex of ") + std::to_string(length) + " bytes>");
  send_(base64 ? "OK " : "OK 0x");
  std::vector<uint8_t> data(std::min<uint64_t>(length, kStreamChunk));
  std::string text;
  for (uint64_t done = 0; done < length;) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(length - done, kStreamChunk));
    memory_read(addr + done, data.data(), n);
    if (base64) {
      text = base64_encode(data.data(), n);
    } else {
      text.resize(2 * n);
      for (size_t i = 0; i < n; ++i) {
        text[2 * i] = kHex[data[i] >> 4];
        text[2 * i + 1] = kHex[data[i] & 15];
      }
    }
    send_(text);
    done += n;
  }
  send_("\n");
}

// An MMIO access as a vCPU's would arrive from a hypervisor: one IoRequest through the dispatcher.
uint64_t QtestProtocol::mmio(uint64_t addr, unsigned size, bool is_write, uint64_t value) {
  IoRequest r{.addr = addr,
              .data = value,
              .size = static_cast<uint8_t>(size),
              .kind = IoKind::kMmio,
              .is_write = is_write};
  machine_.dispatcher().handle(r);
  return r.data;
}

// RAM is reached directly unless MMIO sits over it (the PAM-routed BIOS area), as a CPU's
// accesses would be.
bool QtestProtocol::ram_read(uint64_t addr, void* out, uint64_t length) {
  return !machine_.dispatcher().over_ram(addr, length) && machine_.memory().read(addr, out, length);
}

bool QtestProtocol::ram_write(uint64_t addr, const void* in, uint64_t length) {
  return !machine_.dispatcher().over_ram(addr, length) && machine_.memory().write(addr, in, length);
}

bool QtestProtocol::memory_read(uint64_t addr, uint8_t* out, uint64_t length) {
  if (ram_read(addr, out, length)) return true;
  // Not all RAM: byte by byte, RAM where there is RAM and MMIO elsewhere.
  for (uint64_t i = 0; i < length; ++i) {
    if (!ram_read(addr + i, out + i, 1)) out[i] = static_cast<uint8_t>(mmio(addr + i, 1, false, 0));
  }
  return true;
}

void QtestProtocol::memory_write(uint64_t addr, const uint8_t* in, uint64_t length) {
  if (ram_write(addr, in, length)) return;
  for (uint64_t i = 0; i < length; ++i) {
    if (!ram_write(addr + i, in + i, 1)) mmio(addr + i, 1, true, in[i]);
  }
}

uint64_t QtestProtocol::read_value(uint64_t addr, unsigned size) {
  uint64_t value = 0;
  if (ram_read(addr, &value, size)) return value;
  return mmio(addr, size, false, 0);
}

void QtestProtocol::write_value(uint64_t addr, unsigned size, uint64_t value) {
  if (ram_write(addr, &value, size)) return;
  mmio(addr, size, true, value);
}

std::optional<std::string> QtestProtocol::execute(const std::vector<std::string_view>& words) {
  std::string_view command = words[0];
  auto arg = [&](size_t index, uint64_t* out) {
    return index < words.size() && parse_u64(words[index], out);
  };
  uint64_t a = 0;
  uint64_t b = 0;
  uint64_t c = 0;

  if (command == "outb" || command == "outw" || command == "outl") {
    unsigned size = size_suffix(command);
    if (words.size() != 3 || !arg(1, &a) || !arg(2, &b) || a > 0xffff)
      return "FAIL usage: " + std::string(command) + " PORT VALUE";
    IoRequest r{.addr = a, .data = b & all_ones(size), .size = uint8_t(size), .is_write = true};
    machine_.dispatcher().handle(r);
    return "OK";
  }
  if (command == "inb" || command == "inw" || command == "inl") {
    unsigned size = size_suffix(command);
    if (words.size() != 2 || !arg(1, &a) || a > 0xffff)
      return "FAIL usage: " + std::string(command) + " PORT";
    IoRequest r{.addr = a, .size = uint8_t(size)};
    machine_.dispatcher().handle(r);
    return "OK " + hex(r.data, 4);
  }
  if (command == "writeb" || command == "writew" || command == "writel" || command == "writeq") {
    if (words.size() != 3 || !arg(1, &a) || !arg(2, &b))
      return "FAIL usage: " + std::string(command) + " ADDR VALUE";
    unsigned size = size_suffix(command);
    write_value(a, size, b & all_ones(size));
    return "OK";
  }
  if (command == "readb" || command == "readw" || command == "readl" || command == "readq") {
    if (words.size() != 2 || !arg(1, &a)) return "FAIL usage: " + std::string(command) + " ADDR";
    return "OK " + hex(read_value(a, size_suffix(command)), 16);
  }
  if (command == "read" || command == "b64read") {
    if (words.size() != 3 || !arg(1, &a) || !arg(2, &b))
      return "FAIL usage: " + std::string(command) + " ADDR SIZE";
    if (b == 0 || b > kMaxTransfer) return "FAIL size out of range";
    stream_read(a, b, command == "b64read");
    return std::nullopt;
  }
  if (command == "write") {
    if (words.size() != 4 || !arg(1, &a) || !arg(2, &b))
      return "FAIL usage: write ADDR SIZE 0xDATA";
    std::string_view data = words[3];
    if (b == 0 || b > kMaxTransfer) return "FAIL size out of range";
    if (!data.starts_with("0x") || data.size() < 3) return "FAIL invalid data";
    data.remove_prefix(2);
    std::vector<uint8_t> bytes(b, 0);  // shorter data is padded with zeros, as QEMU does
    for (size_t i = 0; i < b && 2 * i < data.size(); ++i) {
      std::string pair(data.substr(2 * i, 2));
      char* end = nullptr;
      unsigned long v = strtoul(pair.c_str(), &end, 16);
      if (*end != '\0') return "FAIL invalid data";
      bytes[i] = static_cast<uint8_t>(v);
    }
    memory_write(a, bytes.data(), b);
    return "OK";
  }
  if (command == "b64write") {
    if (words.size() != 4 || !arg(1, &a) || !arg(2, &b))
      return "FAIL usage: b64write ADDR SIZE BASE64";
    if (b == 0 || b > kMaxTransfer) return "FAIL size out of range";
    auto decoded = base64_decode(words[3]);
    if (!decoded) return "FAIL invalid base64";
    decoded->resize(b, 0);
    memory_write(a, decoded->data(), b);
    return "OK";
  }
  if (command == "memset") {
    if (words.size() != 4 || !arg(1, &a) || !arg(2, &b) || !arg(3, &c) || c > 0xff)
      return "FAIL usage: memset ADDR SIZE VALUE";
    if (b > kMaxTransfer) return "FAIL size out of range";
    if (machine_.dispatcher().over_ram(a, b) ||
        !machine_.memory().fill(a, static_cast<uint8_t>(c), b)) {
      std::vector<uint8_t> bytes(b, static_cast<uint8_t>(c));
      memory_write(a, bytes.data(), b);
    }
    return "OK";
  }
  // Both answer with the clock's new value, "OK" when time moved as asked and "FAIL" when it did
  // not (QEMU since 10.0): a test stepping to the next timer with none armed, a zero step or a
  // time in the past would otherwise wait forever; libqtest aborts on the FAIL instead.
  if (command == "clock_step") {
    Clock& clock = machine_.clock();
    if (words.size() > 2) return "FAIL usage: clock_step [NS]";
    int64_t before = clock.now_ns();
    int64_t target;
    if (words.size() == 2) {
      if (!arg(1, &a) || a > uint64_t(INT64_MAX - before)) return "FAIL invalid ns";
      target = before + static_cast<int64_t>(a);
    } else {
      // Without an argument: to the next timer deadline, if any.
      int64_t deadline = clock.next_deadline();
      target = deadline == Clock::kNever ? before : std::max(deadline, before);
    }
    int64_t after = clock.advance_to(target);
    return (after > before ? "OK " : "FAIL ") + std::to_string(after);
  }
  if (command == "clock_set") {
    if (words.size() != 2 || !arg(1, &a) || a > uint64_t(INT64_MAX))
      return "FAIL usage: clock_set NS";
    // Time never runs backwards; setting an earlier time leaves it where it is.
    int64_t after = machine_.clock().advance_to(static_cast<int64_t>(a));
    return (after == static_cast<int64_t>(a) ? "OK " : "FAIL ") + std::to_string(after);
  }
  if (command == "irq_intercept_in" || command == "irq_intercept_out") {
    if (words.size() != 2) return "FAIL usage: " + std::string(command) + " QOM-PATH";
    if (!is_ioapic_path(words[1])) return "FAIL Unknown device";
    if (intercepting_) return "OK";
    intercepting_ = true;
    // Report lines that are already high, so the test's view starts in sync.
    for (unsigned pin = 0; pin < QtestInterrupts::kIoapicPins; ++pin)
      if (interrupts_.pin_level(pin)) reply("IRQ raise " + std::to_string(pin));
    return "OK";
  }
  if (command == "set_irq_in") {
    // set_irq_in QOM-PATH NAME NUM LEVEL
    if (words.size() != 5 || !arg(3, &a)) return "FAIL usage: set_irq_in QOM-PATH NAME NUM LEVEL";
    if (!is_ioapic_path(words[1])) return "FAIL Unknown device";
    if (a >= QtestInterrupts::kIoapicPins) return "FAIL no such irq";
    int64_t level = strtoll(std::string(words[4]).c_str(), nullptr, 0);
    interrupts_.set_pin(static_cast<unsigned>(a), level != 0);
    return "OK";
  }
  if (command == "endianness") return "OK little";
  return "FAIL Unknown command '" + std::string(command) + "'";
}

}  // namespace hvmd::qtest
