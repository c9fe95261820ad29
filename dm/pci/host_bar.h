// HostBar: a BAR that is a host function's region, mapped straight into the guest through the
// transport's HostPassthrough wherever the guest places it, except for trapped holes (the MSI-X
// table and PBA pages, registers the device model must see), which stay MMIO (or port I/O)
// dispatched to the device's trap handler. A part the transport refuses to map directly is trapped
// too, so the guest always reaches the whole BAR.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "dm/dispatcher.h"
#include "dm/host_passthrough.h"
#include "dm/io_handler.h"

namespace hvmd::pci {

struct HostBarHole {
  uint64_t offset = 0;  // from the start of the BAR
  uint64_t length = 0;
};

struct HostBar {
  HostPassthrough* passthrough = nullptr;
  HostMmioRegion region;   // memory BARs
  uint32_t host_port = 0;  // I/O BARs: the host's first port
  // Trapped parts; a memory BAR's holes grow to whole pages (direct mappings are page granular),
  // and a memory BAR smaller than a page is trapped whole.
  std::vector<HostBarHole> holes;
  // Serves every trapped access, with offsets from the start of the BAR. Required whenever
  // anything can be trapped; a device forwards what it does not emulate to the host region.
  IoHandler* trap = nullptr;
  // After the BAR moved: its old and new guest address (BarInfo::kUnmapped when it was not, or
  // is no longer, decoded: the guest disabled decoding, or the device was reset or removed).
  std::function<void(uint64_t old_address, uint64_t new_address)> relocated;
};

class HostBarMapper {
 public:
  static constexpr uint64_t kPageSize = 4096;
  HostBarMapper(bool is_io, uint64_t size, HostBar bar);
  ~HostBarMapper();
  HostBarMapper(const HostBarMapper&) = delete;
  HostBarMapper& operator=(const HostBarMapper&) = delete;

  // Removes the BAR from where it is and maps it at address (kUnmapped: nowhere), then tells the
  // relocation callback.
  void place(Dispatcher& dispatcher, uint64_t address, const std::string& name);
  uint64_t address() const { return address_; }
  static constexpr uint64_t kUnmapped = ~0ull;

 private:
  // A stretch of the BAR mapped one way, with the offset the trap handler sees added back.
  struct Piece final : IoHandler {
    uint64_t offset = 0;
    uint64_t length = 0;
    bool trapped = false;
    bool mapped_direct = false;
    Dispatcher::MappingId mapping = Dispatcher::kNoMapping;
    IoHandler* trap = nullptr;
    uint64_t read(uint64_t o, unsigned size) override { return trap->read(offset + o, size); }
    void write(uint64_t o, unsigned size, uint64_t value) override {
      trap->write(offset + o, size, value);
    }
  };
  void split(uint64_t size);
  void unmap(Dispatcher& dispatcher);
  void map(Dispatcher& dispatcher, uint64_t address, const std::string& name);
  Result<void> map_direct(const Piece& piece, uint64_t address, bool add);

  bool is_io_;
  HostBar bar_;
  std::vector<std::unique_ptr<Piece>> pieces_;
  uint64_t address_ = kUnmapped;
};

}  // namespace hvmd::pci
