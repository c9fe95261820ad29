#include "dm/dispatcher.h"

#include <algorithm>
#include <cstring>

#include "dm/log.h"

namespace hvmd {
namespace {

// The rep loop is plumbing the unit tests cover item by item; coverage-guided fuzzing gains
// nothing from tracing its comparisons and they dominated the fuzzer's time.
#if defined(__clang__)
#define HVMD_NO_COVERAGE __attribute__((no_sanitize("coverage")))
#else
#define HVMD_NO_COVERAGE
#endif

bool valid_size(IoKind kind, unsigned size) {
  switch (size) {
    case 1:
    case 2:
    case 4:
      return true;
    case 8:
      return kind == IoKind::kMmio;
    default:
      return false;
  }
}

}  // namespace

Dispatcher::Dispatcher(GuestMemory* memory)
    : memory_(memory), mappings_(1), port_table_(new uint16_t[kPortSpace]()) {}

Dispatcher::~Dispatcher() = default;

Dispatcher::MappingId Dispatcher::add(IoKind kind, uint64_t base, uint64_t length,
                                      IoHandler* handler, DeviceMemory* memory, std::string name,
                                      uint64_t offset, Claim claim) {
  if (length == 0 || base + length < base) return kNoMapping;
  if (kind == IoKind::kPort && (base >= kPortSpace || length > kPortSpace - base))
    return kNoMapping;
  size_t slot = 1;
  while (slot < mappings_.size() && mappings_[slot].sequence != 0) ++slot;
  // Slots are 16-bit in the port table; far more than any machine has.
  if (slot > UINT16_MAX) return kNoMapping;
  if (slot == mappings_.size()) mappings_.emplace_back();
  mappings_[slot] = {kind,   base,    length,          handler,          memory,
                     offset, nullptr, std::move(name), next_sequence_++, claim};
  refresh(kind, base, length);
  notify(mappings_[slot], true);
  return static_cast<MappingId>(slot);
}

Dispatcher::MappingId Dispatcher::map_ports(uint64_t base, uint64_t length, IoHandler* handler,
                                            std::string name, Claim claim) {
  return add(IoKind::kPort, base, length, handler, nullptr, std::move(name), 0, claim);
}

Dispatcher::MappingId Dispatcher::map_mmio(uint64_t base, uint64_t length, IoHandler* handler,
                                           std::string name, Claim claim) {
  return add(IoKind::kMmio, base, length, handler, nullptr, std::move(name), 0, claim);
}

bool Dispatcher::over_ram(uint64_t addr, uint64_t length) const {
  // The decoded ranges from the first that ends past addr, while they start before the end: a
  // binary search and a few steps, as qtest asks this for every RAM access.
  uint64_t end = addr + length < addr ? UINT64_MAX : addr + length;
  auto it = std::upper_bound(mmio_.begin(), mmio_.end(), addr,
                             [](uint64_t a, const MmioRange& r) { return a < r.end; });
  for (; it != mmio_.end() && it->start < end; ++it)
    if (mappings_[it->slot].claim == Claim::kOverRam) return true;
  return false;
}

Dispatcher::MappingId Dispatcher::map_memory(uint64_t base, uint64_t length, DeviceMemory* memory,
                                             std::string name, uint64_t offset) {
  auto view = std::make_shared<DeviceMemoryView>(*memory, offset, length);
  if (!view->valid()) return kNoMapping;
  // The view is the handler: an access at o within the mapping reaches offset + o of memory,
  // and a bank switch changes only the view.
  MappingId id = add(IoKind::kMmio, base, length, view.get(), memory, std::move(name), offset);
  if (id != kNoMapping) mappings_[id].view = std::move(view);
  return id;
}

bool Dispatcher::set_memory_offset(MappingId id, uint64_t offset) {
  if (id == kNoMapping || id >= mappings_.size() || mappings_[id].sequence == 0 ||
      !mappings_[id].view)
    return false;
  Mapping& m = mappings_[id];
  if (offset > m.memory->size() || m.length > m.memory->size() - offset) return false;
  if (m.offset == offset) return true;
  Mapping old = m;
  m.offset = offset;
  m.view->set_offset(offset);
  notify(old, false);
  notify(m, true);
  return true;
}

void Dispatcher::move(MappingId id, uint64_t new_base) {
  if (id == kNoMapping || id >= mappings_.size() || mappings_[id].sequence == 0) return;
  Mapping& m = mappings_[id];
  if (m.base == new_base) return;
  if (new_base + m.length < new_base ||
      (m.kind == IoKind::kPort && new_base + m.length > kPortSpace))
    return;
  Mapping old = m;
  m.base = new_base;
  m.sequence = next_sequence_++;
  refresh(m.kind, old.base, m.length);
  refresh(m.kind, new_base, m.length);
  notify(old, false);
  notify(m, true);
}

void Dispatcher::unmap(MappingId id) {
  if (id == kNoMapping || id >= mappings_.size() || mappings_[id].sequence == 0) return;
  Mapping& m = mappings_[id];
  Mapping old = m;
  m.sequence = 0;
  m.handler = nullptr;
  m.memory = nullptr;
  m.view.reset();
  refresh(m.kind, m.base, m.length);
  notify(old, false);  // after the change, so a listener that looks at mappings() sees it gone
}

void Dispatcher::notify(const Mapping& m, bool mapped) {
  if (!listener_) return;
  if (m.memory) listener_->memory_changed(*m.memory, m.offset, m.length, m.base, mapped);
  if (m.kind == IoKind::kPort)
    listener_->ports_changed(m.base, m.length, mapped);
  else
    listener_->mmio_changed(m.base, m.length, mapped);
}

void Dispatcher::refresh(IoKind kind, uint64_t base, uint64_t length) {
  if (kind == IoKind::kPort)
    refresh_ports(base, length);
  else
    rebuild_mmio();
}

void Dispatcher::refresh_ports(uint64_t base, uint64_t length) {
  uint64_t end = base + length;
  std::fill(&port_table_[base], &port_table_[end], 0);
  std::vector<uint32_t> order;
  for (uint32_t slot = 1; slot < mappings_.size(); ++slot) {
    const Mapping& m = mappings_[slot];
    if (m.sequence && m.kind == IoKind::kPort && m.base < end && base < m.base + m.length)
      order.push_back(slot);
  }
  std::sort(order.begin(), order.end(),
            [this](uint32_t a, uint32_t b) { return mappings_[b].outranks(mappings_[a]); });
  for (uint32_t slot : order) {
    const Mapping& m = mappings_[slot];
    uint64_t lo = std::max(base, m.base);
    uint64_t hi = std::min(end, m.base + m.length);
    std::fill(&port_table_[lo], &port_table_[hi], static_cast<uint16_t>(slot));
  }
}

void Dispatcher::rebuild_mmio() {
  // Split the address space at every mapping edge; each piece goes to the mapping that outranks
  // the others covering it. Machines have tens of MMIO ranges and they change only when BARs move.
  std::vector<uint64_t> edges;
  for (const Mapping& m : mappings_) {
    if (m.sequence == 0 || m.kind != IoKind::kMmio) continue;
    edges.push_back(m.base);
    edges.push_back(m.base + m.length);
  }
  std::sort(edges.begin(), edges.end());
  edges.erase(std::unique(edges.begin(), edges.end()), edges.end());
  mmio_.clear();
  for (size_t i = 0; i + 1 < edges.size(); ++i) {
    uint64_t lo = edges[i];
    uint64_t hi = edges[i + 1];
    uint32_t best = 0;
    for (uint32_t slot = 1; slot < mappings_.size(); ++slot) {
      const Mapping& m = mappings_[slot];
      if (m.sequence == 0 || m.kind != IoKind::kMmio) continue;
      if (m.base <= lo && hi <= m.base + m.length && (best == 0 || m.outranks(mappings_[best])))
        best = slot;
    }
    if (best == 0) continue;
    if (!mmio_.empty() && mmio_.back().end == lo && mmio_.back().slot == best)
      mmio_.back().end = hi;
    else
      mmio_.push_back({lo, hi, best});
  }
}

const Dispatcher::MmioRange* Dispatcher::find_mmio(uint64_t addr) const {
  auto it = std::upper_bound(mmio_.begin(), mmio_.end(), addr,
                             [](uint64_t a, const MmioRange& r) { return a < r.start; });
  if (it == mmio_.begin()) return nullptr;
  --it;
  return addr < it->end ? &*it : nullptr;
}

void Dispatcher::map_pci(PciAddress address, PciConfigTarget* target) {
  if (address.segment != 0) return;  // one PCI segment, as on the PC
  auto& bus = pci_buses_[address.bus];
  if (!bus) bus = std::make_unique<PciBusTable>();
  (*bus)[address.devfn] = target;
  if (listener_) listener_->pci_changed(address, true);
}

void Dispatcher::unmap_pci(PciAddress address) {
  if (address.segment != 0 || !pci_buses_[address.bus]) return;
  (*pci_buses_[address.bus])[address.devfn] = nullptr;
  if (listener_) listener_->pci_changed(address, false);
}

PciConfigTarget* Dispatcher::pci_target(PciAddress address) const {
  if (address.segment != 0) return nullptr;
  const auto& bus = pci_buses_[address.bus];
  return bus ? (*bus)[address.devfn] : nullptr;
}

std::vector<PciAddress> Dispatcher::pci_addresses() const {
  std::vector<PciAddress> out;
  for (unsigned bus = 0; bus < pci_buses_.size(); ++bus) {
    if (!pci_buses_[bus]) continue;
    for (unsigned devfn = 0; devfn < 256; ++devfn)
      if ((*pci_buses_[bus])[devfn])
        out.push_back({0, static_cast<uint8_t>(bus), static_cast<uint8_t>(devfn)});
  }
  return out;
}

uint32_t Dispatcher::pci_read(PciAddress address, uint32_t reg, unsigned size) {
  PciConfigTarget* target = pci_target(address);
  if (!target || reg >= kPciConfigSize || size > kPciConfigSize - reg)
    return static_cast<uint32_t>(all_ones(size));
  return target->config_read(reg, size);
}

void Dispatcher::pci_write(PciAddress address, uint32_t reg, unsigned size, uint32_t value) {
  PciConfigTarget* target = pci_target(address);
  if (!target || reg >= kPciConfigSize || size > kPciConfigSize - reg) return;
  target->config_write(reg, size, value);
}

// One access to port or MMIO space. An access that runs past the end of the claiming region is
// split into bytes, each routed on its own, as a bus would deliver it to two devices.
uint64_t Dispatcher::access(IoKind kind, uint64_t addr, unsigned size, bool is_write,
                            uint64_t value) {
  const Mapping* m = nullptr;
  if (kind == IoKind::kPort) {
    if (addr < kPortSpace) {
      uint16_t slot = port_table_[addr];
      if (slot) m = &mappings_[slot];
    }
  } else if (const MmioRange* r = find_mmio(addr)) {
    if (size > r->end - addr) return access_split(kind, addr, size, is_write, value);
    m = &mappings_[r->slot];
  }
  if (!m) return is_write ? 0 : all_ones(size);
  uint64_t offset = addr - m->base;
  if (size > m->length - offset) return access_split(kind, addr, size, is_write, value);
  if (is_write) {
    m->handler->write(offset, size, value);
    return 0;
  }
  return m->handler->read(offset, size) & all_ones(size);
}

uint64_t Dispatcher::access_split(IoKind kind, uint64_t addr, unsigned size, bool is_write,
                                  uint64_t value) {
  uint64_t result = 0;
  for (unsigned i = 0; i < size; ++i) {
    uint64_t byte = access(kind, addr + i, 1, is_write, (value >> (8 * i)) & 0xff);
    result |= byte << (8 * i);
  }
  return result;
}

uint64_t Dispatcher::port_read(uint64_t port, unsigned size) {
  IoRequest r{.addr = port, .size = static_cast<uint8_t>(size), .kind = IoKind::kPort};
  handle(r);
  return r.data;
}
void Dispatcher::port_write(uint64_t port, unsigned size, uint64_t value) {
  IoRequest r{.addr = port,
              .data = value,
              .size = static_cast<uint8_t>(size),
              .kind = IoKind::kPort,
              .is_write = true};
  handle(r);
}
uint64_t Dispatcher::mmio_read(uint64_t addr, unsigned size) {
  IoRequest r{.addr = addr, .size = static_cast<uint8_t>(size), .kind = IoKind::kMmio};
  handle(r);
  return r.data;
}
void Dispatcher::mmio_write(uint64_t addr, unsigned size, uint64_t value) {
  IoRequest r{.addr = addr,
              .data = value,
              .size = static_cast<uint8_t>(size),
              .kind = IoKind::kMmio,
              .is_write = true};
  handle(r);
}

void Dispatcher::handle(IoRequest& r) {
  if (!valid_size(r.kind, r.size)) {
    HVMD_GUEST_LOG("dropped access of size %u to %#llx", r.size,
                   static_cast<unsigned long long>(r.addr));
    if (!r.is_write && !r.data_is_ptr) r.data = ~0ull;
    return;
  }
  if (r.count != 1 || r.data_is_ptr || r.host_buffer) return handle_repeated(r);
  if (r.kind == IoKind::kPciConfig) {
    auto address = PciAddress::from_config_addr(r.addr);
    auto reg = static_cast<uint32_t>(r.addr);
    if (r.is_write)
      pci_write(address, reg, r.size, static_cast<uint32_t>(r.data));
    else
      r.data = pci_read(address, reg, r.size);
    return;
  }
  if (r.is_write)
    access(r.kind, r.addr, r.size, true, r.data & all_ones(r.size));
  else
    r.data = access(r.kind, r.addr, r.size, false, 0);
}

// Rep and data-pointer requests (string I/O, REP MOVS/STOS to MMIO). Item i of the guest buffer
// is at data +/- i*size; the device address steps the same way for MMIO and stays put for ports.
// Address arithmetic wraps, as the CPU's does. The guest buffer is mapped once when it lies in one
// RAM region; an item that is not in RAM ends the request there (the transport only sends RAM).
// A host buffer (KVM's string I/O) holds the items in access order at offsets 0, size, ...
HVMD_NO_COVERAGE void Dispatcher::handle_repeated(IoRequest& r) {
  uint64_t count = r.count;
  if (r.kind == IoKind::kPciConfig) count = std::min<uint64_t>(count, 1);
  if (count * r.size > kMaxRepBytes) {
    HVMD_GUEST_LOG("rep access of %u x %u bytes truncated", r.count, r.size);
    count = kMaxRepBytes / r.size;
  }
  const bool host = r.host_buffer != nullptr;
  if (host) {
    r.data = 0;
    r.df = false;
    r.data_is_ptr = true;
  }
  const uint64_t step = r.df ? -uint64_t{r.size} : uint64_t{r.size};
  std::span<uint8_t> buffer;
  uint64_t buffer_start = 0;
  if (host) {
    buffer = {r.host_buffer, static_cast<size_t>(count * r.size)};
  } else if (r.data_is_ptr && count > 0) {
    buffer_start = r.df ? r.data - (count - 1) * r.size : r.data;
    if (buffer_start <= r.data) buffer = memory_->map(buffer_start, count * r.size);
  }
  auto pci_address = PciAddress::from_config_addr(r.addr);
  auto pci_reg = static_cast<uint32_t>(r.addr);
  for (uint64_t i = 0; i < count; ++i) {
    uint64_t device_addr = r.kind == IoKind::kMmio ? r.addr + i * step : r.addr;
    uint64_t guest_addr = r.data + i * step;
    uint64_t value = 0;
    if (r.is_write) {
      if (!r.data_is_ptr) {
        value = r.data;
      } else if (!buffer.empty()) {
        std::memcpy(&value, buffer.data() + (guest_addr - buffer_start), r.size);
      } else if (!memory_->read(guest_addr, &value, r.size)) {
        HVMD_GUEST_LOG("rep write source %#llx is not RAM",
                       static_cast<unsigned long long>(guest_addr));
        return;
      }
      if (r.kind == IoKind::kPciConfig)
        pci_write(pci_address, pci_reg, r.size, static_cast<uint32_t>(value));
      else
        access(r.kind, device_addr, r.size, true, value & all_ones(r.size));
      continue;
    }
    value = r.kind == IoKind::kPciConfig ? pci_read(pci_address, pci_reg, r.size)
                                         : access(r.kind, device_addr, r.size, false, 0);
    if (!r.data_is_ptr) {
      r.data = value;
    } else if (!buffer.empty()) {
      std::memcpy(buffer.data() + (guest_addr - buffer_start), &value, r.size);
    } else if (!memory_->write(guest_addr, &value, r.size)) {
      HVMD_GUEST_LOG("rep read destination %#llx is not RAM",
                     static_cast<unsigned long long>(guest_addr));
      return;
    }
  }
  if (!buffer.empty() && !r.is_write && !host) memory_->mark_dirty(buffer_start, count * r.size);
}

}  // namespace hvmd
