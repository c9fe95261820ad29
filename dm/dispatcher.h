// Dispatcher: routes every IoRequest to the device that claims it.
//  - port I/O through a flat 64 Ki-entry table (one load per access);
//  - MMIO through a sorted vector of non-overlapping ranges (binary search);
//  - PCI configuration space by segment/bus/devfn.
// Rep and data-pointer requests are unrolled here, once, with the guest-memory checks, so no
// device ever sees a guest pointer. Unclaimed reads return all-ones; unclaimed writes are dropped.
// Mappings can be added, moved and removed at any time (BAR relocation); where two overlap, the
// most recently mapped one wins, as a predictable stand-in for hardware's undefined decode. A
// claim that deliberately sits inside another one (the reset control register 0xcf9 inside the
// host bridge's 0xcf8-0xcff) says so with Claim::kOverlay and wins whatever the order.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "dm/device_memory.h"
#include "dm/guest_memory.h"
#include "dm/io_handler.h"
#include "dm/io_request.h"

namespace hvmd {

// A function's configuration space, as the PCI framework exposes it to the dispatcher.
class PciConfigTarget {
 public:
  virtual ~PciConfigTarget() = default;
  virtual uint32_t config_read(uint32_t reg, unsigned size) = 0;
  virtual void config_write(uint32_t reg, unsigned size, uint32_t value) = 0;
};

// Transports that must tell a hypervisor where devices live (Xen's ioreq-server ranges, KVM
// memory slots) observe the dispatcher's mappings through this. Calls come after the change, so
// mappings() already shows it.
class MappingListener {
 public:
  virtual ~MappingListener() = default;
  virtual void ports_changed(uint64_t base, uint64_t length, bool mapped) = 0;
  virtual void mmio_changed(uint64_t base, uint64_t length, bool mapped) = 0;
  virtual void pci_changed(PciAddress address, bool mapped) = 0;
  // Bytes [offset, offset + length) of device memory (VRAM, a ROM, a bank of VRAM behind a
  // window) mapped at base or unmapped from it, told before the MMIO range change that follows.
  // One memory may be mapped several times at once (a linear framebuffer and a banked window onto
  // it). A transport that places it in the guest's memory map directly does so here (and then
  // leaves its range out of what it claims as MMIO).
  virtual void memory_changed(DeviceMemory& /*memory*/, uint64_t /*offset*/, uint64_t /*length*/,
                              uint64_t /*base*/, bool /*mapped*/) {}
};

// How a mapping relates to those it overlaps.
enum class Claim : uint8_t {
  kNormal,  // the newest wins (guest-programmed BARs)
  // MMIO over guest RAM that takes the RAM's accesses (the i440FX's PAM-routed BIOS area). A
  // transport that reaches RAM itself (qtest) asks over_ram() first; KVM's RAM slots hide it.
  kOverRam,
  kOverlay,  // a fixed register known to sit inside another device's range: always wins
};

class Dispatcher {
 public:
  using MappingId = uint32_t;
  static constexpr MappingId kNoMapping = 0;
  static constexpr uint32_t kPortSpace = 0x10000;
  static constexpr uint32_t kPciConfigSize = 256;
  // Xen and KVM split string I/O at page boundaries, so one request never carries more than a
  // page's worth of items; anything larger is a broken transport or a hostile request, and is
  // truncated here.
  static constexpr uint64_t kMaxRepBytes = 4096;

  struct Mapping {
    IoKind kind = IoKind::kPort;
    uint64_t base = 0;
    uint64_t length = 0;
    IoHandler* handler = nullptr;
    DeviceMemory* memory = nullptr;  // set for map_memory: the handler is a view of this memory
    uint64_t offset = 0;             // map_memory: where in memory the mapping starts
    std::shared_ptr<DeviceMemoryView> view;  // map_memory: the handler (copies share it)
    std::string name;
    uint64_t sequence = 0;  // 0: slot is free
    Claim claim = Claim::kNormal;
    // Which of two overlapping mappings decodes: overlays first, then the newest.
    bool outranks(const Mapping& other) const {
      return claim != other.claim ? claim > other.claim : sequence > other.sequence;
    }
  };

  explicit Dispatcher(GuestMemory* memory);
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  void set_listener(MappingListener* listener) { listener_ = listener; }

  MappingId map_ports(uint64_t base, uint64_t length, IoHandler* handler, std::string name,
                      Claim claim = Claim::kNormal);
  MappingId map_mmio(uint64_t base, uint64_t length, IoHandler* handler, std::string name,
                     Claim claim = Claim::kNormal);
  // Whether any byte of [addr, addr + length) decodes to a Claim::kOverRam mapping.
  bool over_ram(uint64_t addr, uint64_t length) const;
  // Bytes [offset, offset + length) of device memory as MMIO at base, which a transport may
  // instead place in the guest's memory map (MappingListener::memory_changed). Refused
  // (kNoMapping) unless the bytes lie within the memory.
  MappingId map_memory(uint64_t base, uint64_t length, DeviceMemory* memory, std::string name,
                       uint64_t offset = 0);
  // Points a device-memory mapping at other bytes of its memory (a bank switch); listeners see
  // the old placement go and the new one come. Returns false, changing nothing, if id is not a
  // device-memory mapping or [offset, offset + length) leaves the memory.
  bool set_memory_offset(MappingId id, uint64_t offset);
  void move(MappingId id, uint64_t new_base);
  void unmap(MappingId id);
  void map_pci(PciAddress address, PciConfigTarget* target);
  void unmap_pci(PciAddress address);
  PciConfigTarget* pci_target(PciAddress address) const;

  // The one path of every trapped access, as each transport (Xen, KVM, qtest) hands it over:
  // sizes are checked and rep, data-pointer and host-buffer requests are unrolled here.
  void handle(IoRequest& request);

  // Single accesses as IoRequests through handle(), for tests and tools.
  uint64_t port_read(uint64_t port, unsigned size);
  void port_write(uint64_t port, unsigned size, uint64_t value);
  uint64_t mmio_read(uint64_t addr, unsigned size);
  void mmio_write(uint64_t addr, unsigned size, uint64_t value);
  // Configuration space by address, for the host bridge's own decoder (0xcf8/0xcfc).
  uint32_t pci_read(PciAddress address, uint32_t reg, unsigned size);
  void pci_write(PciAddress address, uint32_t reg, unsigned size, uint32_t value);

  // Live mappings (free slots have sequence 0), e.g. for the fuzzer to aim at.
  const std::vector<Mapping>& mappings() const { return mappings_; }
  std::vector<PciAddress> pci_addresses() const;

 private:
  struct MmioRange {
    uint64_t start;
    uint64_t end;  // exclusive
    uint32_t slot;
  };
  using PciBusTable = std::array<PciConfigTarget*, 256>;

  MappingId add(IoKind kind, uint64_t base, uint64_t length, IoHandler* handler,
                DeviceMemory* memory, std::string name, uint64_t offset = 0,
                Claim claim = Claim::kNormal);
  void refresh(IoKind kind, uint64_t base, uint64_t length);
  void refresh_ports(uint64_t base, uint64_t length);
  void rebuild_mmio();
  const MmioRange* find_mmio(uint64_t addr) const;
  void notify(const Mapping& m, bool mapped);
  uint64_t access(IoKind kind, uint64_t addr, unsigned size, bool is_write, uint64_t value);
  uint64_t access_split(IoKind kind, uint64_t addr, unsigned size, bool is_write, uint64_t value);
  void handle_repeated(IoRequest& request);

  GuestMemory* memory_;
  MappingListener* listener_ = nullptr;
  std::vector<Mapping> mappings_;  // slot 0 is never used
  uint64_t next_sequence_ = 1;
  std::unique_ptr<uint16_t[]> port_table_;  // port -> mapping slot
  std::vector<MmioRange> mmio_;             // sorted, non-overlapping
  std::array<std::unique_ptr<PciBusTable>, 256> pci_buses_;
};

// A device's fixed mapping, released when the device goes (moved, never copied).
class ScopedMapping {
 public:
  ScopedMapping() = default;
  ScopedMapping(Dispatcher& dispatcher, Dispatcher::MappingId id)
      : dispatcher_(&dispatcher), id_(id) {}
  ScopedMapping(ScopedMapping&& other) noexcept
      : dispatcher_(other.dispatcher_), id_(std::exchange(other.id_, Dispatcher::kNoMapping)) {}
  ScopedMapping& operator=(ScopedMapping&& other) noexcept {
    if (this != &other) {
      reset();
      dispatcher_ = other.dispatcher_;
      id_ = std::exchange(other.id_, Dispatcher::kNoMapping);
    }
    return *this;
  }
  ~ScopedMapping() { reset(); }
  void reset() {
    if (dispatcher_ && id_ != Dispatcher::kNoMapping) dispatcher_->unmap(id_);
    id_ = Dispatcher::kNoMapping;
  }
  Dispatcher::MappingId id() const { return id_; }

 private:
  Dispatcher* dispatcher_ = nullptr;
  Dispatcher::MappingId id_ = Dispatcher::kNoMapping;
};

}  // namespace hvmd
