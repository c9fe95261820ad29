// Small devices and fakes shared by the unit tests.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "dm/dispatcher.h"
#include "dm/guest_memory.h"
#include "dm/interrupts.h"

namespace hvmd::test {

// A register file that records every access: offset -> value, plus a log.
class RecordingDevice final : public IoHandler {
 public:
  struct Access {
    bool is_write;
    uint64_t offset;
    unsigned size;
    uint64_t value;
    bool operator==(const Access&) const = default;
  };
  uint64_t read(uint64_t offset, unsigned size) override {
    uint64_t v = next_read_value ? next_read_value++ : 0x1000 + offset;
    log.push_back({false, offset, size, v});
    return v;
  }
  void write(uint64_t offset, unsigned size, uint64_t value) override {
    log.push_back({true, offset, size, value});
  }
  uint64_t next_read_value = 0;  // non-zero: reads return 1, 2, 3... from this value on
  std::vector<Access> log;
};

class FakeInterrupts final : public InterruptSink {
 public:
  void set_isa_irq(unsigned irq, bool level) override { isa[irq] = level; }
  void set_pci_intx(PciAddress device, unsigned pin, bool level) override {
    intx[{device.devfn, pin}] = level;
  }
  void set_pci_link_route(unsigned link, unsigned isa_irq) override { routes[link] = isa_irq; }
  void send_msi(const MsiMessage& message) override { msis.push_back(message); }

  bool intx_level(uint8_t devfn, unsigned pin) const {
    auto it = intx.find({devfn, pin});
    return it != intx.end() && it->second;
  }

  std::map<unsigned, bool> isa;
  std::map<std::pair<uint8_t, unsigned>, bool> intx;
  std::map<unsigned, unsigned> routes;
  std::vector<MsiMessage> msis;
};

}  // namespace hvmd::test
