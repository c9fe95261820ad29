#include "passthrough/passthrough_device.h"

#include <algorithm>
#include <bit>

#include <unistd.h>

#include "dm/log.h"

namespace hvmd::passthrough {
namespace {

using namespace pci;

Identity identity_of(HostConfigAccess& host) {
  return {.vendor = static_cast<uint16_t>(host.read(kVendorId, 2)),
          .device = static_cast<uint16_t>(host.read(kDeviceId, 2)),
          .class_code = host.read(kClassProgIf, 4) & 0xffffff,
          .revision = static_cast<uint8_t>(host.read(kRevisionId, 1)),
          .subsystem_vendor = static_cast<uint16_t>(host.read(kSubsystemVendorId, 2)),
          .subsystem = static_cast<uint16_t>(host.read(kSubsystemId, 2)),
          .interrupt_pin = static_cast<uint8_t>(host.read(kInterruptPin, 1))};
}

}  // namespace

Result<std::unique_ptr<PassthroughDevice>> PassthroughDevice::create(
    std::unique_ptr<HostFunction> host, PassthroughOptions options) {
  uint32_t id = host->read(kVendorId, 4);
  if (id == 0xffffffff || id == 0)
    return make_error("host %s: config space reads %#x (no function there)", host->name().c_str(),
                      id);
  if (host->read(kHeaderType, 1) & 0x7f)
    return make_error("host %s: header type %#x is a bridge; only endpoints can be assigned",
                      host->name().c_str(), host->read(kHeaderType, 1));
  std::unique_ptr<PassthroughDevice> device(new PassthroughDevice(std::move(host), options));
  HVMD_TRY(device->lay_out_bars());
  device->apply_plan();
  if (device->options_.rom) {
    auto rom = device->host_->read_rom();
    if (!rom)
      HVMD_WARN("host %s: no expansion ROM: %s", device->host_->name().c_str(),
                rom.error().message.c_str());
    else if (!rom->empty())
      device->set_rom_image(*rom, device->options_.rom_backing);
  }
  return device;
}

PassthroughDevice::PassthroughDevice(std::unique_ptr<HostFunction> host, PassthroughOptions options)
    : PciDevice(identity_of(*host)), host_(std::move(host)), options_(std::move(options)) {
  for (int i = 0; i < kRegionCount; ++i) regions_[i] = host_->region(i);
  plan_ = plan_config(*host_, regions_);
  ext_plan_ = plan_extended([this](uint32_t reg) { return host_->extended_read(reg, 4); },
                            host_->config_size(), options_.extended_config);
  filter_.device = this;
  msi_router_.device = this;
  msix_router_.device = this;
  msix_router_.msix = true;
  if (plan_.broken_chain)
    HVMD_WARN("host %s: capability list broken (%s): the guest sees what came before",
              host_->name().c_str(), plan_.broken_chain);
  if (ext_plan_.broken_chain)
    HVMD_WARN("host %s: extended capability list broken (%s): the guest sees what came before",
              host_->name().c_str(), ext_plan_.broken_chain);
}

PassthroughDevice::~PassthroughDevice() {
  if (options_.release) options_.release(std::move(host_));
}

Result<void> PassthroughDevice::lay_out_bars() {
  for (int i = 0; i < kBarCount; ++i) {
    const HostRegion& r = regions_[i];
    if (r.kind == RegionKind::kNone || r.size == 0) continue;
    if (r.kind == RegionKind::kMemory64 && i == kBarCount - 1)
      return make_error("host %s: BAR5 claims to be 64-bit", host_->name().c_str());
    if (r.kind == RegionKind::kIo && r.size > 0x10000)
      return make_error("host %s: I/O BAR%d of %#llx ports", host_->name().c_str(), i,
                        static_cast<unsigned long long>(r.size));
    // A guest BAR is a power of two of at least the architectural minimum; the host's size is
    // normally one already.
    uint64_t size = std::bit_ceil(std::max<uint64_t>(r.size, r.kind == RegionKind::kIo ? 4 : 16));
    traps_[i].device = this;
    traps_[i].index = i;
    HostBar bar{
        .passthrough = options_.transport,
        .region = {.host_physical = r.host_address, .host_virtual = r.mapping, .size = r.size},
        .host_port = static_cast<uint32_t>(r.host_address),
        .trap = &traps_[i],
        .relocated = [this, i](uint64_t, uint64_t) { bar_relocated(i); }};
    if (plan_.msix && plan_.msix->bar == i) {
      bar.holes.push_back({plan_.msix->table, uint64_t{plan_.msix->vectors} * kMsixEntrySize});
      bar.holes.push_back({plan_.msix->pba, (plan_.msix->vectors + 63u) / 64 * 8});
    }
    BarType type = r.kind == RegionKind::kIo         ? BarType::kIo
                   : r.kind == RegionKind::kMemory64 ? BarType::kMemory64
                                                     : BarType::kMemory32;
    add_host_bar(i, type, size, std::move(bar), r.prefetchable);
    if (type == BarType::kMemory64) ++i;  // the upper half is this BAR's
  }
  return ok();
}

void PassthroughDevice::apply_plan() {
  ConfigSpace& config = mutable_config();
  for (const RegisterRule& rule : plan_.rules) {
    uint32_t emulated = rule.emulated;
    uint32_t read_only = rule.read_only | (options_.permissive ? 0 : rule.reserved);
    if (options_.permissive) emulated &= ~rule.reserved;  // reserved bits are the host's then
    for (unsigned i = 0; i < rule.size; ++i)
      config.set8(rule.offset + i, static_cast<uint8_t>((rule.initial & emulated) >> (8 * i)));
    ConfigRegister reg{.offset = rule.offset,
                       .size = rule.size,
                       .emulated = emulated,
                       .read_only = read_only,
                       .w1c = rule.w1c};
    if (rule.command) reg.written = [this](uint32_t, uint32_t) { sync_host_command(); };
    add_config_register(std::move(reg));
  }
  if (plan_.msi) {
    const MsiPlan& m = *plan_.msi;
    place_msi(m.offset, m.vectors, m.is_64bit, m.maskable);
    config.set8(m.offset + 1u, m.next);
    msi()->set_listener(&msi_router_);
  }
  if (plan_.msix) {
    const MsixPlan& m = *plan_.msix;
    place_msix(m.offset, m.vectors, m.bar, m.table, m.pba);
    config.set8(m.offset + 1u, m.next);
    msix()->set_listener(&msix_router_);
  }
  set_host_config(&filter_);
  // The host decodes its own BARs (they are reached through Xen's mappings or our mmap, whatever
  // the guest's view of the command register), and its INTx stays off until one is bound.
  uint16_t decode = 0;
  for (const HostRegion& r : regions_) {
    if (r.kind == RegionKind::kIo) decode |= kCommandIo;
    if (r.kind == RegionKind::kMemory32 || r.kind == RegionKind::kMemory64)
      decode |= kCommandMemory;
  }
  uint32_t command = host_->read(kCommand, 2);
  host_->write(kCommand, 2, command | decode | kCommandIntxDisable);
}

template <typename Route, typename HostWrite>
void PassthroughDevice::filter_write(uint32_t reg, unsigned size, uint32_t value, const char* what,
                                     const char* why, Route route, HostWrite host_write) {
  bool whole = true;
  for (unsigned i = 0; i < size; ++i) whole &= route(reg + i) == ByteRoute::kHost;
  if (whole) {  // the register as the guest wrote it
    host_write(reg, size, value);
    return;
  }
  for (unsigned i = 0; i < size; ++i) {
    uint32_t at = reg + i;
    switch (route(at)) {
      case ByteRoute::kHost:
        host_write(at, 1, value >> (8 * i) & 0xff);
        break;
      case ByteRoute::kEmulated:
        break;
      case ByteRoute::kDropped:
        ++dropped_.count;
        if (!dropped_.logged[at / 4]) {
          dropped_.logged[at / 4] = true;
          HVMD_WARN(
              "host %s: guest write to %s %#x dropped: %s (permissive=on lets such writes "
              "through)",
              host_->name().c_str(), what, at & ~3u, why);
        }
        break;
    }
  }
}

void PassthroughDevice::Filter::write(uint32_t reg, unsigned size, uint32_t value) {
  HostFunction& host = *device->host_;
  const ConfigPlan& plan = device->plan_;
  // A register's host bits: the table already decided what may change.
  if (plan.claimed[reg]) {
    host.write(reg, size, value);
    return;
  }
  device->filter_write(
      reg, size, value, "config register", "no table entry for it",
      [&, permissive = device->options_.permissive](uint32_t at) {
        return permissive || plan.writable_through[at] ? ByteRoute::kHost : ByteRoute::kDropped;
      },
      [&host](uint32_t at, unsigned n, uint32_t v) { host.write(at, n, v); });
}

uint32_t PassthroughDevice::config_read(uint32_t reg, unsigned size) {
  bind_intx();
  if (reg >= kConfigSize) return extended_read(reg, size);
  return PciDevice::config_read(reg, size);
}

void PassthroughDevice::config_write(uint32_t reg, unsigned size, uint32_t value) {
  bind_intx();
  if (reg >= kConfigSize) return extended_write(reg, size, value);
  PciDevice::config_write(reg, size, value);
}

bool PassthroughDevice::extended_emulated(uint32_t reg, uint8_t* value) const {
  for (const ExtendedPlan::Header& h : ext_plan_.headers)
    if ((reg & ~3u) == h.offset) {
      *value = static_cast<uint8_t>(h.value >> (8 * (reg & 3)));
      return true;
    }
  for (const ExtendedPlan::Range& r : ext_plan_.zeroed)
    if (reg >= r.begin && reg < r.end) {
      *value = 0;
      return true;
    }
  return false;
}

// Extended space as the table says: headers and hidden bodies emulated, the rest the host's.
// Outside it (no extended space, or an access past 0xfff) reads 0 as for any function.
uint32_t PassthroughDevice::extended_read(uint32_t reg, unsigned size) {
  if (size == 0 || size > 4 || reg >= ext_plan_.size || size > ext_plan_.size - reg) return 0;
  uint32_t value = host_->extended_read(reg, size);
  for (unsigned i = 0; i < size; ++i) {
    uint8_t byte;
    if (extended_emulated(reg + i, &byte))
      value = (value & ~(0xffu << (8 * i))) | uint32_t{byte} << (8 * i);
  }
  return size == 4 ? value : value & ((1u << (8 * size)) - 1);
}

// Headers and hidden bodies are read-only; kept bodies are the host's, written only when
// permissive (one log line per register otherwise, as for the first 256 bytes).
void PassthroughDevice::extended_write(uint32_t reg, unsigned size, uint32_t value) {
  if (size == 0 || size > 4 || reg >= ext_plan_.size || size > ext_plan_.size - reg) return;
  filter_write(
      reg, size, value, "extended config register", "read-only",
      [this](uint32_t at) {
        uint8_t ignored;
        if (extended_emulated(at, &ignored)) return ByteRoute::kEmulated;
        return options_.permissive ? ByteRoute::kHost : ByteRoute::kDropped;
      },
      [this](uint32_t at, unsigned n, uint32_t v) { host_->extended_write(at, n, v); });
}

// Once the function has its guest address (the first config access after it was plugged): INTx
// through the transport. Without one the host's INTx stays disabled.
void PassthroughDevice::bind_intx() {
  if (intx_tried_) return;
  intx_tried_ = true;
  HostIntx intx = host_->intx();
  uint8_t pin = config().get8(kInterruptPin);
  if (pin < 1 || pin > 4 || (intx.machine_irq == 0 && intx.trigger_fd < 0)) return;
  if (options_.transport) {
    auto r = options_.transport->bind_intx(intx, address(), pin - 1u);
    if (r) {
      intx_bound_ = true;
      sync_host_command();
      return;
    }
    if (intx.trigger_fd < 0 || !options_.watcher) {
      HVMD_WARN("host %s: INTx not bound (%s): INTx stays disabled", host_->name().c_str(),
                r.error().message.c_str());
      return;
    }
    // An eventfd INTx the transport cannot take (KVM without irqfd resample): hvmd's own path.
    HVMD_INFO("host %s: INTx not bound by the transport (%s): delivered by hvmd",
              host_->name().c_str(), r.error().message.c_str());
  }
  if (intx.trigger_fd < 0 || !options_.watcher) return;
  if (auto r = options_.watcher->watch(intx.trigger_fd, [this] { intx_fired(); }); !r) {
    HVMD_WARN("host %s: INTx eventfd: %s", host_->name().c_str(), r.error().message.c_str());
    return;
  }
  intx_soft_ = true;
  sync_host_command();
}

// The host's INTx-disable: the guest's bit, or set whatever the guest says when nothing is bound
// (an unbound line would assert with nobody to EOI it).
void PassthroughDevice::sync_host_command() {
  uint32_t command = host_->read(kCommand, 2);
  bool disable = !intx_bound() || (config().get16(kCommand) & kCommandIntxDisable);
  uint32_t want =
      disable ? command | kCommandIntxDisable : command & ~uint32_t{kCommandIntxDisable};
  if (want != command) host_->write(kCommand, 2, want);
}

void PassthroughDevice::intx_fired() {
  uint64_t count;
  if (::read(host_->intx().trigger_fd, &count, sizeof(count)) < 0) return;  // spurious wake-up
  intx_pending_ = true;
  set_intx(true);
}

// VFIO masked the line when it fired; the guest's next write to the function's BARs is taken as
// its handler acknowledging it: the line drops and is unmasked, and fires again if the device
// still asserts. (Reads do not count: a handler reads its status before it acknowledges, and an
// unmask then would only fire the same interrupt again.)
void PassthroughDevice::end_of_intx() {
  if (!intx_pending_) return;
  intx_pending_ = false;
  set_intx(false);
  uint64_t one = 1;
  if (int fd = host_->intx().resample_fd; fd >= 0) (void)!::write(fd, &one, sizeof(one));
}

void PassthroughDevice::unrealize() {
  msi_router_.vectors_disabled();
  msix_router_.vectors_disabled();
  if (intx_soft_) {
    options_.watcher->unwatch(host_->intx().trigger_fd);
    intx_soft_ = false;
    intx_pending_ = false;
  }
  if (intx_bound_ && options_.transport) {
    if (auto r = options_.transport->unbind_intx(host_->intx(), address(),
                                                 config().get8(kInterruptPin) - 1u);
        !r)
      HVMD_WARN("host %s: INTx unbind: %s", host_->name().c_str(), r.error().message.c_str());
    intx_bound_ = false;
  }
  sync_host_command();
  PciDevice::unrealize();
  // Through VFIO the next user (a later device_add, or the host) gets the function in its
  // power-on state, not with the guest's DMA and interrupt set-up still programmed (under Xen
  // libxl resets it after the detach). Its INTx stays disabled: nothing is bound.
  if (options_.host_resets) {
    reset_host("removal");
    sync_host_command();
  }
}

void PassthroughDevice::reset_device() {
  reset_host("system reset");
  sync_host_command();
}

// Under Xen libxl resets the function (SysfsHost says so, quietly); through VFIO the host function
// resets it by VFIO_DEVICE_RESET or a bus hot reset, and says why not when it cannot (said once:
// a guest may reset often).
void PassthroughDevice::reset_host(const char* why) {
  if (auto r = host_->reset(); r) {
    HVMD_DEBUG("host %s reset (%s)", host_->name().c_str(), why);
    ++host_resets_;
  } else if (options_.host_resets && !reset_refusal_logged_) {
    reset_refusal_logged_ = true;
    HVMD_WARN("host %s not reset on %s: %s", host_->name().c_str(), why, r.error().message.c_str());
  }
}

uint64_t PassthroughDevice::bar_read(int index, uint64_t offset, unsigned size) {
  if (plan_.msix && plan_.msix->bar == index && msix()->claims(offset))
    return msix()->read(offset, size);
  return host_->region_read(index, offset, size);
}

void PassthroughDevice::bar_write(int index, uint64_t offset, unsigned size, uint64_t value) {
  end_of_intx();
  if (plan_.msix && plan_.msix->bar == index && msix()->claims(offset))
    return msix()->write(offset, size, value);
  host_->region_write(index, offset, size, value);
}

// Xen intercepts the guest's MSI-X table where the guest put it: live vectors follow the BAR.
void PassthroughDevice::bar_relocated(int index) {
  if (!plan_.msix || plan_.msix->bar != index) return;
  for (unsigned v = 0; v < msix_router_.routed.size(); ++v)
    if (msix_router_.routed[v]) msix_router_.route(v);
}

HostMsiVector PassthroughDevice::VectorRouter::host_vector(unsigned vector) const {
  HostMsiVector v{.msix = msix,
                  .entry = vector,
                  .host_function = device->host_->host_address(),
                  .trigger_fd = device->host_->vector_fd(msix, vector)};
  if (msix) {
    const MsixPlan& m = *device->plan_.msix;
    v.host_table = device->regions_[m.bar].host_address + m.table;
    uint64_t guest_bar = device->bar(m.bar).address;
    v.guest_table = guest_bar == BarInfo::kUnmapped ? 0 : guest_bar + m.table;
  }
  return v;
}

void PassthroughDevice::VectorRouter::route(unsigned vector) {
  HostPassthrough* transport = device->options_.transport;
  if (!transport) return;
  HostMsiVector host = host_vector(vector);
  if (auto r = transport->route_msi(host, messages[vector], masked[vector]); !r) {
    HVMD_GUEST_LOG("host %s: %s vector %u not routed: %s", device->host_->name().c_str(),
                   msix ? "MSI-X" : "MSI", vector, r.error().message.c_str());
    // A vector the device can deliver itself (an eventfd) is no longer the transport's; without
    // one (Xen) the earlier route stays as it was.
    if (routed[vector] && host.trigger_fd >= 0) {
      (void)transport->unroute_msi(host);
      routed[vector] = false;
    }
    return;
  }
  routed[vector] = true;
}

// The vector after a change of message or mask: routed again, and watched on the loop while the
// device has to deliver it. Unmasking stops the watch before the route attaches KVM's irqfd, so
// no interrupt is read by both; masking routes (detaches) before the watch starts.
void PassthroughDevice::VectorRouter::update(unsigned vector) {
  if (!masked[vector]) unwatch(vector);
  route(vector);
  sync_watch(vector);
}

void PassthroughDevice::VectorRouter::sync_watch(unsigned vector) {
  FdWatcher* watcher = device->options_.watcher;
  if (!watcher || vector >= watched.size()) return;
  int fd = host_enabled ? device->host_->vector_fd(msix, vector) : -1;
  bool want = fd >= 0 && (!routed[vector] || masked[vector]);
  if (want && watched[vector] == fd) return;
  unwatch(vector);
  if (!want) return;
  auto fired = [d = device, fd, is_msix = msix, vector] {
    uint64_t count;
    if (::read(fd, &count, sizeof(count)) < 0) return;  // spurious wake-up
    HVMD_DEBUG("host %s: %s vector %u delivered by hvmd from its eventfd", d->host_->name().c_str(),
               is_msix ? "MSI-X" : "MSI", vector);
    is_msix ? d->notify_msix(vector) : d->notify_msi(vector);
  };
  if (watcher->watch(fd, fired)) watched[vector] = fd;
}

void PassthroughDevice::VectorRouter::unwatch(unsigned vector) {
  if (vector >= watched.size() || watched[vector] < 0) return;
  device->options_.watcher->unwatch(watched[vector]);
  watched[vector] = -1;
}

// The capability on the host with as many vectors as the guest enabled (VFIO arms its eventfds
// here), then every vector no transport took is watched.
void PassthroughDevice::VectorRouter::enable_host() {
  unsigned vectors = msix ? static_cast<unsigned>(routed.size()) : 1;
  if (!msix) {
    uint16_t control = device->config().get16(device->plan_.msi->offset + kMsiControl);
    vectors = 1u << std::min(5, (control & kMsiControlMmeMask) >> kMsiControlMmeShift);
  }
  if (auto r = device->host_->set_msi(msix, vectors); !r)
    HVMD_GUEST_LOG("host %s: %s not enabled: %s", device->host_->name().c_str(),
                   msix ? "MSI-X" : "MSI", r.error().message.c_str());
  host_enabled = true;
  for (unsigned v = 0; v < routed.size(); ++v) sync_watch(v);
}

void PassthroughDevice::VectorRouter::vector_programmed(unsigned vector, const MsiMessage& message,
                                                        bool is_masked) {
  unsigned count = msix ? device->msix()->vectors() : 32;
  if (vector >= count) return;
  if (routed.size() < count) {
    routed.resize(count);
    messages.resize(count);
    masked.resize(count);
    watched.resize(count, -1);
  }
  messages[vector] = message;
  masked[vector] = is_masked;
  // With eventfds (VFIO) the capability is enabled first, so the route gets the vector's eventfd;
  // otherwise once the first vector is bound (Xen maps the pirq before the hardware enables it).
  if (!host_enabled && device->host_->eventfd_vectors()) enable_host();
  update(vector);
  if (!host_enabled) enable_host();
}

void PassthroughDevice::VectorRouter::vector_masked(unsigned vector, bool is_masked) {
  if (vector >= masked.size()) return;
  masked[vector] = is_masked;
  update(vector);
}

// Unrouted while the eventfds still exist (KVM detaches its irqfds from them), then disabled on
// the host.
void PassthroughDevice::VectorRouter::vectors_disabled() {
  HostPassthrough* transport = device->options_.transport;
  for (unsigned v = 0; v < routed.size(); ++v) {
    unwatch(v);
    if (!routed[v]) continue;
    routed[v] = false;
    if (transport) (void)transport->unroute_msi(host_vector(v));
  }
  if (host_enabled) {
    host_enabled = false;
    (void)device->host_->set_msi(msix, 0);
  }
}

}  // namespace hvmd::passthrough
