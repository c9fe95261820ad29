// The machine hvmd-fuzz drives: the board plus the devices named with -device=SPEC, on a virtual
// clock and a small guest RAM, exactly as the daemon builds it under qtest.
#pragma once

#include <functional>
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
  // Each drive (a -drive spec without file=) gets an in-memory image, zeroed for every input.
  static constexpr uint64_t kDiskBytes = 1ull << 20;
  static constexpr uint64_t kDiscBytes = 512ull << 10;
  FuzzMachine(std::vector<std::string> devices, std::vector<std::string> drives);
  ~FuzzMachine();

  // Runs one input: a bounded sequence of guest operations decoded from data.
  Result<void> run(const uint8_t* data, size_t size);
  // Builds the machine as run() does (RAM and drives back to zero) and hands it to fn; the
  // management-side targets (fuzz_management.cc) drive it through QMP or qtest.
  Result<void> with_machine(const std::function<void(Machine&, qtest::QtestInterrupts&)>& fn);

 private:
  void run_ops(Machine& machine, const uint8_t* data, size_t size);

  std::vector<std::string> devices_;
  std::vector<DriveSpec> drives_;
  std::vector<int> images_;  // memfds behind drives_
  InlineExecutor block_io_;  // disk I/O at once, completions after each operation
  // The network: -device e1000,netdev=fuzz attaches to it; frames it sends go nowhere and the
  // input injects received ones.
  class FuzzNet final : public NetBackend {
   public:
    FuzzNet() : NetBackend("fuzz") {}
    bool send(std::span<const uint8_t>) override { return true; }
    void set_receiving(bool) override {}
    std::string describe() const override { return "fuzz"; }
    void inject(std::span<const uint8_t> frame) {
      if (client_can_receive()) deliver(frame);
    }
  };
  std::unique_ptr<FuzzNet> net_;
  HostRam ram_{RamLayout::pc(kRamBytes)};
  qtest::QtestInterrupts interrupts_{ram_};
  DeviceRegistry registry_;
};

}  // namespace hvmd::fuzz
