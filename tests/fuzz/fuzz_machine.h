// The machine hvmd-fuzz drives: the board plus the devices named with -device=SPEC, on a virtual
// clock and a small guest RAM, exactly as the daemon builds it under qtest.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "dm/machine.h"
#include "ioreq/qtest/qtest_protocol.h"

namespace hvmd::fuzz {

// Each input runs on a machine built afresh (so a finding reproduces from its input alone); only
// the guest RAM mapping is reused, its pages discarded between inputs.
class FuzzMachine {
 public:
  static constexpr uint64_t kRamBytes = 32ull << 20;
  explicit FuzzMachine(std::vector<std::string> devices);

  // Runs one input: a bounded sequence of guest operations decoded from data.
  Result<void> run(const uint8_t* data, size_t size);

 private:
  void run_ops(Machine& machine, const uint8_t* data, size_t size);

  std::vector<std::string> devices_;
  HostRam ram_{RamLayout::pc(kRamBytes)};
  qtest::QtestInterrupts interrupts_{ram_};
  DeviceRegistry registry_;
};

}  // namespace hvmd::fuzz
