#include "dm/pci/pci_device.h"

#include <algorithm>
#include <cassert>

#include "dm/log.h"
#include "dm/pci/pci_bus.h"

namespace hvmd::pci {
namespace {

constexpr uint32_t bar_reg(int index) {
  return kBar0 + 4 * static_cast<uint32_t>(index);
}

}  // namespace

PciDevice::PciDevice(const Identity& id) {
  config_.set16(kVendorId, id.vendor);
  config_.set16(kDeviceId, id.device);
  config_.set8(kRevisionId, id.revision);
  config_.set8(kClassProgIf, static_cast<uint8_t>(id.class_code));
  config_.set16(kClassProgIf + 1, static_cast<uint16_t>(id.class_code >> 8));
  config_.set8(kHeaderType, id.multi_function ? kHeaderTypeMultiFunction : 0);
  config_.set16(kSubsystemVendorId, id.subsystem_vendor);
  config_.set16(kSubsystemId, id.subsystem);
  config_.set8(kInterruptPin, id.interrupt_pin);
  config_.set_write_mask(kCommand, 2,
                         kCommandIo | kCommandMemory | kCommandBusMaster | kCommandParity |
                             kCommandSerr | kCommandIntxDisable);
  config_.set_w1c_mask(kStatus, 2, kStatusErrorBits);
  config_.set_write_mask(kCacheLineSize, 1, 0xff);
  config_.set_write_mask(kLatencyTimer, 1, 0xff);
  config_.set_write_mask(kInterruptLine, 1, 0xff);
}

PciDevice::~PciDevice() = default;

void PciDevice::attach(PciBus& bus, PciAddress address) {
  bus_ = &bus;
  address_ = address;
  power_on_config_ = config_.bytes();
  uint8_t pin = config_.get8(kInterruptPin);
  if (pin >= 1 && pin <= 4) intx_ = IrqLine::pci(bus.interrupt_sink(), address, pin - 1u);
  if (msix_) msix_->bind_sink(bus.interrupt_sink());
}

Dispatcher* PciDevice::dispatcher() const {
  return bus_ ? &bus_->dispatcher() : nullptr;
}
InterruptSink* PciDevice::interrupt_sink() const {
  return bus_ ? bus_->interrupt_sink() : nullptr;
}

void PciDevice::add_bar(int index, BarType type, uint64_t size, IoHandler* handler,
                        bool prefetchable) {
  assert(index >= 0 && index < kBarCount && std::has_single_bit(size));
  assert(type != BarType::kMemory64 || index + 1 < kBarCount);
  Bar& bar = bars_[index];
  bar.info = {type, size, prefetchable, BarInfo::kUnmapped};
  bar.handler = handler;
  uint32_t reg = bar_reg(index);
  if (type == BarType::kIo) {
    size = std::max<uint64_t>(size, 4);
    config_.set32(reg, kBarIoSpace);
    config_.set_write_mask(reg, 4, static_cast<uint32_t>(~(size - 1)) & kBarIoAddressMask);
    return;
  }
  size = std::max<uint64_t>(size, 16);
  uint32_t flags =
      (type == BarType::kMemory64 ? kBarMemType64 : 0) | (prefetchable ? kBarPrefetchable : 0);
  config_.set32(reg, flags);
  config_.set_write_mask(reg, 4, static_cast<uint32_t>(~(size - 1)) & kBarMemAddressMask);
  if (type == BarType::kMemory64)
    config_.set_write_mask(reg + 4, 4, static_cast<uint32_t>(~(size - 1) >> 32));
}

void PciDevice::add_memory_bar(int index, BarType type, DeviceMemory& memory, bool prefetchable) {
  assert(type != BarType::kIo);
  add_bar(index, type, std::bit_ceil(memory.size()), &memory, prefetchable);
  bars_[index].memory = &memory;
}

void PciDevice::add_host_bar(int index, BarType type, uint64_t size, HostBar host,
                             bool prefetchable) {
  add_bar(index, type, size, nullptr, prefetchable);
  bars_[index].host = std::make_unique<HostBarMapper>(type == BarType::kIo, size, std::move(host));
}

void PciDevice::set_host_config(HostConfigAccess* host) {
  // Guest BAR addresses never reach the hardware, and the host's never reach the guest.
  registers_.keep_emulated(kBar0, 4 * kBarCount);
  registers_.keep_emulated(kRomAddress, 4);
  registers_.set_host(host);
}

void PciDevice::set_rom(std::unique_ptr<DeviceMemory> rom) {
  uint64_t size = std::max<uint64_t>(std::bit_ceil(rom->size()), 2048);
  rom_.info = {BarType::kMemory32, size, false, BarInfo::kUnmapped};
  rom_.handler = rom.get();
  rom_.memory = rom.get();
  rom_memory_ = std::move(rom);
  config_.set_write_mask(kRomAddress, 4,
                         (static_cast<uint32_t>(~(size - 1)) & kRomAddressMask) | kRomEnable);
}

std::string PciDevice::firmware_path() const {
  static constexpr std::pair<uint32_t, const char*> kClassNames[] = {
      {0x0101, "ide"}, {0x0106, "sata"}, {0x0200, "ethernet"}, {0x0300, "vga"}, {0x0c03, "usb"}};
  uint32_t class_code = config_.get16(kClassProgIf + 1);  // base class and sub-class
  char name[32];
  snprintf(name, sizeof(name), "pci%x,%x", config_.get16(kVendorId), config_.get16(kDeviceId));
  for (const auto& [code, known] : kClassNames)
    if (code == class_code) snprintf(name, sizeof(name), "%s", known);
  char path[64];
  if (address_.function())
    snprintf(path, sizeof(path), "/pci@i0cf8/%s@%x,%x", name, address_.device(),
             address_.function());
  else
    snprintf(path, sizeof(path), "/pci@i0cf8/%s@%x", name, address_.device());
  return path;
}

void PciDevice::set_rom_image(std::span<const uint8_t> image, DeviceMemoryBacking* backing) {
  std::span<uint8_t> out = make_rom(image.size(), backing);
  std::copy(image.begin(), image.end(), out.begin());
}

std::span<uint8_t> PciDevice::make_rom(size_t image_bytes, DeviceMemoryBacking* backing) {
  // A power of two of at least a page, so a transport can place it in the guest directly.
  uint64_t size = std::max<uint64_t>(std::bit_ceil(image_bytes), 4096);
  auto rom = std::make_unique<DeviceMemory>(std::string(type()) + ".rom", size,
                                            DeviceMemory::Access::kReadOnly, backing);
  std::span<uint8_t> out = rom->host_data().first(image_bytes);
  set_rom(std::move(rom));
  return out;
}

uint8_t PciDevice::add_capability(uint8_t id, unsigned length) {
  uint32_t offset = (next_capability_ + 3) & ~3u;
  assert(offset + length <= kConfigSize);
  config_.set8(offset, id);
  config_.set8(offset + 1, 0);
  if (last_capability_)
    config_.set8(last_capability_ + 1u, static_cast<uint8_t>(offset));
  else
    config_.set8(kCapabilitiesPointer, static_cast<uint8_t>(offset));
  config_.set16(kStatus, config_.get16(kStatus) | kStatusCapabilities);
  last_capability_ = static_cast<uint8_t>(offset);
  next_capability_ = offset + length;
  return static_cast<uint8_t>(offset);
}

void PciDevice::add_msi(unsigned vectors, bool is_64bit, bool maskable) {
  uint8_t cap = add_capability(kCapMsi, Msi::capability_length(is_64bit, maskable));
  place_msi(cap, vectors, is_64bit, maskable);
}

void PciDevice::add_msix(unsigned vectors, int bar, uint32_t table_offset, uint32_t pba_offset) {
  uint8_t cap = add_capability(kCapMsix, Msix::capability_length());
  place_msix(cap, vectors, bar, table_offset, pba_offset);
}

void PciDevice::place_msi(uint8_t cap, unsigned vectors, bool is_64bit, bool maskable) {
  unsigned length = Msi::capability_length(is_64bit, maskable);
  assert(cap >= kFirstCapability && cap % 4 == 0 && cap + length <= kConfigSize);
  config_.set8(cap, kCapMsi);
  msi_ = std::make_unique<Msi>(config_, cap, vectors, is_64bit, maskable);
  registers_.keep_emulated(cap, length);
}

void PciDevice::place_msix(uint8_t cap, unsigned vectors, int bar, uint32_t table_offset,
                           uint32_t pba_offset) {
  assert(vectors >= 1 && vectors <= kMsixMaxVectors);
  assert(cap >= kFirstCapability && cap % 4 == 0 && cap + kMsixCapLength <= kConfigSize);
  config_.set8(cap, kCapMsix);
  msix_ = std::make_unique<Msix>(config_, cap, vectors, static_cast<uint8_t>(bar), table_offset,
                                 pba_offset);
  registers_.keep_emulated(cap, Msix::capability_length());
}

uint32_t PciDevice::config_read(uint32_t reg, unsigned size) {
  if (registers_.trivial()) return config_.read(reg, size);
  if (reg >= kConfigSize) return 0;
  return registers_.read(config_, reg, std::min({size, 4u, kConfigSize - reg}));
}

void PciDevice::config_write(uint32_t reg, unsigned size, uint32_t value) {
  if (reg >= kConfigSize || size > kConfigSize - reg) return;
  if (registers_.trivial())
    config_.guest_write(reg, size, value);
  else
    registers_.write(config_, reg, std::min(size, 4u), value);
  uint32_t end = reg + size;
  auto touches = [&](uint32_t lo, uint32_t hi) { return reg < hi && lo < end; };
  if (touches(kCommand, kCommand + 2) || touches(kBar0, kBar0 + 4 * kBarCount) ||
      touches(kRomAddress, kRomAddress + 4))
    update_mappings();
  if (touches(kCommand, kCommand + 2)) update_intx();
  if (msi_ && touches(kFirstCapability, kConfigSize)) msi_->config_written(interrupt_sink());
  if (msix_ && touches(kFirstCapability, kConfigSize)) msix_->config_written(interrupt_sink());
  config_written(reg, size, value);
}

void PciDevice::config_written(uint32_t, unsigned, uint32_t) {}

// Where a BAR decodes now, or kUnmapped: decoding must be enabled in the command register, and an
// address of 0, one that overflows its space, or one still holding the all-ones sizing pattern
// does not decode (firmware writes all-ones to size a BAR with decoding on).
uint64_t PciDevice::decoded_address(const Bar& bar, uint32_t reg) const {
  uint16_t command = config_.get16(kCommand);
  uint64_t size = bar.info.size;
  if (bar.info.type == BarType::kIo) {
    if (!(command & kCommandIo)) return BarInfo::kUnmapped;
    uint64_t addr = config_.get32(reg) & kBarIoAddressMask & ~(size - 1);
    if (addr == 0 || addr + size > Dispatcher::kPortSpace) return BarInfo::kUnmapped;
    return addr;
  }
  if (!(command & kCommandMemory)) return BarInfo::kUnmapped;
  uint64_t addr;
  if (reg == kRomAddress) {
    if (!(config_.get32(reg) & kRomEnable)) return BarInfo::kUnmapped;
    addr = config_.get32(reg) & kRomAddressMask;
  } else {
    addr = config_.get32(reg) & kBarMemAddressMask;
  }
  if (bar.info.type == BarType::kMemory64) addr |= uint64_t{config_.get32(reg + 4)} << 32;
  addr &= ~(size - 1);
  uint64_t last = addr + size - 1;
  if (addr == 0 || last < addr) return BarInfo::kUnmapped;
  if (bar.info.type != BarType::kMemory64 && last >= 0xffffffffull) return BarInfo::kUnmapped;
  if (bar.info.type == BarType::kMemory64 && last >= (1ull << 52)) return BarInfo::kUnmapped;
  return addr;
}

void PciDevice::update_mapping(Bar& bar, uint32_t reg, const char* what) {
  if (bar.info.size == 0 || !bus_) return;
  uint64_t addr = decoded_address(bar, reg);
  if (addr == bar.info.address) return;
  Dispatcher& d = bus_->dispatcher();
  if (bar.host) {
    bar.info.address = addr;  // before place(), so the relocation callback sees it
    bar.host->place(d, addr, std::string(type()) + "." + what);
    return;
  }
  if (addr == BarInfo::kUnmapped) {
    d.unmap(bar.mapping);
    bar.mapping = Dispatcher::kNoMapping;
  } else if (bar.mapping != Dispatcher::kNoMapping) {
    d.move(bar.mapping, addr);
  } else {
    std::string name = std::string(type()) + "." + what;
    if (bar.info.type == BarType::kIo)
      bar.mapping = d.map_ports(addr, bar.info.size, bar.handler, std::move(name));
    else if (bar.memory)
      bar.mapping = d.map_memory(addr, std::min(bar.info.size, bar.memory->size()), bar.memory,
                                 std::move(name));
    else
      bar.mapping = d.map_mmio(addr, bar.info.size, bar.handler, std::move(name));
  }
  bar.info.address = addr;
}

void PciDevice::update_mappings() {
  static constexpr const char* kNames[kBarCount] = {"bar0", "bar1", "bar2", "bar3", "bar4", "bar5"};
  for (int i = 0; i < kBarCount; ++i) update_mapping(bars_[i], bar_reg(i), kNames[i]);
  update_mapping(rom_, kRomAddress, "rom");
}

void PciDevice::unmap_all() {
  if (!bus_) return;
  for (Bar* bar : {&bars_[0], &bars_[1], &bars_[2], &bars_[3], &bars_[4], &bars_[5], &rom_}) {
    if (bar->host) bar->host->place(bus_->dispatcher(), BarInfo::kUnmapped, {});
    bus_->dispatcher().unmap(bar->mapping);
    bar->mapping = Dispatcher::kNoMapping;
    bar->info.address = BarInfo::kUnmapped;
  }
}

void PciDevice::set_intx(bool level) {
  intx_level_ = level;
  update_intx();
}

void PciDevice::update_intx() {
  uint16_t status = config_.get16(kStatus);
  config_.set16(kStatus, intx_level_ ? status | kStatusInterrupt : status & ~kStatusInterrupt);
  intx_.set(intx_level_ && !(config_.get16(kCommand) & kCommandIntxDisable));
}

void PciDevice::notify_msi(unsigned vector) {
  if (msi_) msi_->notify(interrupt_sink(), vector);
}
void PciDevice::notify_msix(unsigned vector) {
  if (msix_) msix_->notify(interrupt_sink(), vector);
}

void PciDevice::unrealize() {
  set_intx(false);
  unmap_all();
}

void PciDevice::reset() {
  intx_level_ = false;
  update_intx();
  config_.mutable_bytes() = power_on_config_;
  if (msi_) msi_->reset();  // the bytes are back already; this tells its listener
  if (msix_) msix_->reset();
  update_mappings();
  reset_device();
}

// The PCI layer's saved fields. The MSI capability needs nothing of its own: it lives in config
// space. MSI-X's table and pending bits are present when the device has MSI-X.
struct PciDevice::SavedFields {
  uint32_t layout = kStateVersion;
  std::array<uint8_t, kConfigSize> config{};
  bool intx_level = false;
  bool has_msix = false;  // from the device, not the stream
  Msix::State msix;

  template <class V>
  void describe(V& v) {
    // Refused when newer than this hvmd: what follows could not be read.
    v("PCI layout version", layout, InRange{1u, kStateVersion});
    v("config space", config);
    v("INTx level", intx_level);
    if (has_msix) v("MSI-X", msix);
  }
};

PciDevice::SavedFields PciDevice::saved_fields() const {
  SavedFields fields{.config = config_.bytes(), .intx_level = intx_level_, .has_msix = bool(msix_)};
  if (msix_) fields.msix = msix_->state();
  return fields;
}

void PciDevice::save(StateWriter& out) const {
  write_fields(out, saved_fields());
  save_device(out);
}

Result<std::unique_ptr<StagedState>> PciDevice::parse_state(StateReader& in, uint32_t version) {
  std::string what(type());
  // Read into a copy of the current fields: it has the device's MSI-X table size.
  SavedFields fields = saved_fields();
  HVMD_TRY(read_fields(in, version, what.c_str(), fields));
  // The stream must describe this kind of device; its read-only bits are the device's own, so
  // only guest-writable bits are taken over from it (as a config write would take them).
  for (uint32_t reg : {kVendorId, kVendorId + 1, kDeviceId, kDeviceId + 1, kRevisionId,
                       kClassProgIf, kClassProgIf + 1, kClassProgIf + 2, kHeaderType}) {
    if (fields.config[reg] != power_on_config_[reg])
      return make_error("device state for '%s' has a different PCI identity (byte %#x)",
                        what.c_str(), reg);
  }
  for (uint32_t reg = 0; reg < kConfigSize; ++reg) {
    uint8_t writable = config_.writable_bits(reg);
    fields.config[reg] =
        static_cast<uint8_t>((fields.config[reg] & writable) | (power_on_config_[reg] & ~writable));
  }
  // The status register's error bits are write-1-to-clear: a guest only clears them, and no
  // hvmd device signals a PCI error, so none is ever set. (The interrupt bit follows INTx.)
  uint16_t status = static_cast<uint16_t>(fields.config[kStatus] | fields.config[kStatus + 1] << 8);
  status &= static_cast<uint16_t>(~kStatusErrorBits);
  fields.config[kStatus] = static_cast<uint8_t>(status);
  fields.config[kStatus + 1] = static_cast<uint8_t>(status >> 8);
  if (msix_) msix_->sanitize(fields.msix);
  auto device = parse_device(in, version);
  if (!device) return device.error();
  return staged([this, fields = std::move(fields), device = std::move(*device)]() mutable {
    config_.mutable_bytes() = fields.config;
    intx_level_ = fields.intx_level;
    if (msix_) msix_->restore(std::move(fields.msix));
    device->apply();
  });
}

void PciDevice::post_load() {
  update_mappings();
  update_intx();
  post_load_device();
}

}  // namespace hvmd::pci
