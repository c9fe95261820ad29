// Registers, interrupts, EEPROM, PHY and state of the 82540EM. Transmit is in e1000_tx.cc,
// receive in e1000_rx.cc.
#include "devices/e1000/e1000.h"

#include <cstdio>
#include <cstring>

#include "dm/log.h"

namespace hvmd::devices::e1000 {

namespace {

constexpr int64_t kItrUnitNs = 256;               // ITR counts 256 ns intervals
constexpr uint32_t kRingLengthMask = 0x000fff80;  // RDLEN/TDLEN: 128-byte multiples, 20 bits
constexpr uint32_t k16BitMask = 0xffff;           // ring heads and tails, ITR and the delay timers
constexpr uint32_t kPaylenMask = 0xfffff;         // a context descriptor's 20-bit PAYLEN
// Microwire: the start bit, the opcode and the address are shifted in before data comes out.
constexpr unsigned kMicrowireCommandBits = 1 + 2 + eeprom::kAddressBits;
constexpr int kMicrowireDataBits = 16;
constexpr uint32_t kPbaDefault = 0x00100030;  // 48 KiB receive, 16 KiB transmit packet buffer

bool is_statistic(uint32_t offset) {
  return offset >= reg::kStatsFirst && offset <= reg::kStatsLast;
}

}  // namespace

E1000::E1000(Clock& clock, GuestMemory& memory, NetBackend* backend, const MacAddress& mac)
    : PciDevice({.vendor = kVendorIntel,
                 .device = kDevice82540EM,
                 .class_code = kClassEthernet,
                 .revision = 0x03,
                 .subsystem_vendor = 0x1af4,  // as QEMU's e1000 (Red Hat, 0x1100)
                 .subsystem = 0x1100,
                 .interrupt_pin = 1}),
      clock_(clock),
      memory_(memory),
      backend_(backend),
      mac_(mac),
      itr_timer_(clock, [this] { update_irq(); }),
      rx_delay_timer_(clock,
                      [this] {
                        rx_delay_start_ns_ = -1;
                        raise_cause(kIcrRxt0);
                      }),
      tx_delay_timer_(clock, [this] {
        tx_delay_start_ns_ = -1;
        raise_cause(kIcrTxdw);
      }) {
  add_bar(0, pci::BarType::kMemory32, kMmioSize, &mmio_);
  add_bar(1, pci::BarType::kIo, kIoSize, &io_);
  build_eeprom(mac);
  reset_registers();
  if (backend_) {
    link_up_ = backend_->link_up();
    update_link();
    backend_->attach([this](std::span<const uint8_t> frame) { receive(frame); },
                     [this] { return can_receive(); }, [this](bool up) { set_link(up); });
  }
}

E1000::~E1000() = default;

void E1000::unrealize() {
  if (backend_) {
    backend_->set_receiving(false);
    backend_->detach();
  }
  PciDevice::unrealize();
}

bool E1000::removed_by_unplug(uint16_t mask) const {
  return mask & kUnplugNics;
}

void E1000::reset_device() {
  reset_registers();
}

void E1000::reset_registers() {
  std::fill(regs_.begin(), regs_.end(), 0);
  r(reg::kCtrl) = kCtrlSlu;
  r(reg::kPba) = kPbaDefault;
  r(reg::kVet) = 0x8100;
  r(reg::kMdic) = kMdicReady;
  r(reg::kRxcsum) = kRxcsumIpofl;
  // The hardware loads receive address 0 from the EEPROM at reset.
  r(reg::kRa) = uint32_t{mac_[0]} | uint32_t{mac_[1]} << 8 | uint32_t{mac_[2]} << 16 |
                uint32_t{mac_[3]} << 24;
  r(reg::kRa + 4) = uint32_t{mac_[4]} | uint32_t{mac_[5]} << 8 | kRahAv;
  io_address_ = 0;
  microwire_ = {};
  irq_level_ = false;
  next_interrupt_ns_ = 0;
  rx_delay_start_ns_ = tx_delay_start_ns_ = -1;
  itr_timer_.cancel();
  rx_delay_timer_.cancel();
  tx_delay_timer_.cancel();
  context_ = {};
  frame_.clear();
  frame_overflow_ = frame_tse_ = frame_popts_set_ = false;
  frame_popts_ = 0;
  reset_phy();
  set_intx(false);
  if (backend_) backend_->set_receiving(false);
}

// --- register access ----------------------------------------------------------------------------

uint64_t E1000::mmio_read(uint64_t offset, unsigned size) {
  uint32_t aligned = static_cast<uint32_t>(offset & ~3ull);
  uint64_t value = read_register(aligned) >> (8 * (offset & 3));
  if (size == 8) value |= uint64_t{read_register(aligned + 4)} << 32;
  return size >= 8 ? value : value & all_ones(size);
}

void E1000::mmio_write(uint64_t offset, unsigned size, uint64_t value) {
  uint32_t aligned = static_cast<uint32_t>(offset & ~3ull);
  if (size == 4 && (offset & 3) == 0) {
    write_register(aligned, static_cast<uint32_t>(value));
  } else if (size == 8 && (offset & 3) == 0) {
    write_register(aligned, static_cast<uint32_t>(value));
    write_register(aligned + 4, static_cast<uint32_t>(value >> 32));
  } else if (aligned < reg::kRegisterCount * 4) {
    // Narrow writes merge into the register (drivers only write dwords; this keeps it defined).
    unsigned shift = 8 * (offset & 3);
    uint32_t mask = static_cast<uint32_t>(all_ones(size) << shift);
    write_register(aligned, (r(aligned) & ~mask) | (static_cast<uint32_t>(value << shift) & mask));
  }
}

uint64_t E1000::io_read(uint64_t offset, unsigned size) {
  if (offset == kIoAddr) return io_address_ & all_ones(size);
  if (offset == kIoData) return read_register(io_address_ & 0x1fffc) & all_ones(size);
  return 0;
}

void E1000::io_write(uint64_t offset, unsigned size, uint64_t value) {
  if (offset == kIoAddr && size == 4) io_address_ = static_cast<uint32_t>(value);
  if (offset == kIoData && size == 4)
    write_register(io_address_ & 0x1fffc, static_cast<uint32_t>(value));
}

uint32_t E1000::status() const {
  uint32_t value = kStatusFd | kStatusSpeed1000 | kStatusAsdv1000;
  if (link_up_) value |= kStatusLu;
  return value;
}

uint32_t E1000::read_register(uint32_t offset) {
  if (offset >= reg::kRegisterCount * 4) return 0;
  switch (offset) {
    case reg::kStatus:
      return status();
    case reg::kEecd:
      return read_eecd();
    case reg::kIcr: {
      // Reading ICR acknowledges every cause.
      uint32_t value = r(reg::kIcr);
      r(reg::kIcr) = 0;
      update_irq();
      return value;
    }
    case reg::kIms:
      return r(reg::kIms);
    case reg::kIcs:
    case reg::kImc:
      return 0;  // write-only
  }
  if (is_statistic(offset)) {
    uint32_t value = r(offset);
    // Octet counters clear when their high half is read; the rest when read.
    bool low_half = offset == stat::kGorcl || offset == stat::kGotcl || offset == stat::kTorl ||
                    offset == stat::kTotl;
    if (!low_half) r(offset) = 0;
    if (offset == stat::kGorcl + 4 || offset == stat::kGotcl + 4 || offset == stat::kTorl + 4 ||
        offset == stat::kTotl + 4)
      r(offset - 4) = 0;
    return value;
  }
  return r(offset);
}

void E1000::write_register(uint32_t offset, uint32_t value) {
  if (offset >= reg::kRegisterCount * 4 || is_statistic(offset)) return;
  switch (offset) {
    case reg::kCtrl:
      if (value & kCtrlRst) {
        reset_registers();
        return;
      }
      if (value & kCtrlPhyRst) reset_phy();
      r(offset) = value & ~(kCtrlRst | kCtrlPhyRst);
      return;
    case reg::kStatus:
      return;
    case reg::kEecd:
      write_eecd(value);
      return;
    case reg::kEerd: {
      uint32_t address = (value >> kEerdAddrShift) & 0xff;
      uint32_t data = address < eeprom::kWords ? eeprom_[address] : 0;
      r(offset) = (value & kEerdStart)
                      ? (address << kEerdAddrShift) | kEerdDone | (data << kEerdDataShift)
                      : value & ~kEerdDone;
      return;
    }
    case reg::kMdic:
      mdic_access(value);
      return;
    case reg::kIcr:  // writing 1s acknowledges those causes
      r(reg::kIcr) &= ~value;
      update_irq();
      return;
    case reg::kIcs:
      raise_cause(value & kIcrAll);
      return;
    case reg::kIms:
      r(reg::kIms) |= value & kIcrAll;
      update_irq();
      return;
    case reg::kImc:
      r(reg::kIms) &= ~value;
      update_irq();
      return;
    case reg::kItr:
      r(offset) = value & k16BitMask;
      return;
    case reg::kRctl:
      r(offset) = value;
      if (backend_) backend_->set_receiving(can_receive());
      return;
    case reg::kTctl:
      r(offset) = value;
      transmit();
      return;
    case reg::kRdlen:
    case reg::kTdlen:
      r(offset) = value & kRingLengthMask;
      return;
    case reg::kRdh:
    case reg::kRdt:
    case reg::kTdh:
      r(offset) = value & k16BitMask;
      if (offset == reg::kRdt && backend_) backend_->set_receiving(can_receive());
      return;
    case reg::kTdt:
      r(offset) = value & k16BitMask;
      transmit();
      return;
    case reg::kRdtr:
    case reg::kRadv:
    case reg::kTidv:
    case reg::kTadv:
      r(offset) = value & k16BitMask;
      return;
  }
  r(offset) = value;
}

// --- interrupts ---------------------------------------------------------------------------------

void E1000::raise_cause(uint32_t causes) {
  r(reg::kIcr) |= causes;
  update_irq();
}

// The line follows ICR & IMS, except that ITR keeps at least ITR x 256 ns between assertions.
void E1000::update_irq() {
  bool want = (r(reg::kIcr) & r(reg::kIms)) != 0;
  if (!want) {
    irq_level_ = false;
    itr_timer_.cancel();
    set_intx(false);
    return;
  }
  if (irq_level_) return;
  int64_t now = clock_.now_ns();
  if (now < next_interrupt_ns_) {
    if (!itr_timer_.armed()) itr_timer_.arm_at(next_interrupt_ns_);
    return;
  }
  irq_level_ = true;
  next_interrupt_ns_ = now + int64_t{r(reg::kItr)} * kItrUnitNs;
  set_intx(true);
}

// --- EEPROM -------------------------------------------------------------------------------------

void E1000::build_eeprom(const MacAddress& mac) {
  eeprom_.fill(0);
  for (unsigned i = 0; i < 3; ++i)
    eeprom_[eeprom::kMac + i] = static_cast<uint16_t>(mac[2 * i] | mac[2 * i + 1] << 8);
  eeprom_[eeprom::kSubsystem] = kDevice82540EM;
  eeprom_[eeprom::kSubsystemVendor] = kVendorIntel;
  eeprom_[eeprom::kDeviceId] = kDevice82540EM;
  eeprom_[eeprom::kVendorId] = kVendorIntel;
  uint16_t sum = 0;
  for (unsigned i = 0; i < eeprom::kChecksum; ++i) sum = static_cast<uint16_t>(sum + eeprom_[i]);
  eeprom_[eeprom::kChecksum] = static_cast<uint16_t>(eeprom::kChecksumSum - sum);
}

uint32_t E1000::read_eecd() const {
  uint32_t value = (r(reg::kEecd) & kEecdHostBits) | kEecdPres;
  if (r(reg::kEecd) & kEecdReq) value |= kEecdGnt;
  if (microwire_.data_out) value |= kEecdDo;
  return value;
}

// Microwire: with CS high, each rising SK edge shifts DI in; after the start bit, the READ
// opcode and the address, each further rising edge presents the next data bit (MSB first) on DO.
void E1000::write_eecd(uint32_t value) {
  r(reg::kEecd) = value & kEecdHostBits;
  Microwire& m = microwire_;
  bool sk = value & kEecdSk;
  if (!(value & kEecdCs)) {
    m = {};
    return;
  }
  bool rising = sk && !m.previous_sk;
  m.previous_sk = sk;
  if (!rising) return;
  if (m.bits_out >= 0) {
    m.data_out = m.bits_out > 0 && (m.output >> (m.bits_out - 1)) & 1;
    if (m.bits_out > 0) --m.bits_out;
    return;
  }
  m.input = (m.input << 1) | ((value & kEecdDi) ? 1 : 0);
  ++m.bits_in;
  m.data_out = false;
  if (m.bits_in == 1 && m.input != 1) {  // waiting for the start bit
    m.bits_in = 0;
    m.input = 0;
    return;
  }
  if (m.bits_in < kMicrowireCommandBits) return;
  unsigned opcode = (m.input >> eeprom::kAddressBits) & 3;
  unsigned address = m.input & ((1u << eeprom::kAddressBits) - 1);
  if (opcode == eeprom::kOpcodeRead) {
    m.output = eeprom_[address];
    m.bits_out = kMicrowireDataBits;
  } else {
    m = {};  // writes and erases are not supported: the EEPROM is read-only
    m.previous_sk = sk;
  }
}

// --- PHY ----------------------------------------------------------------------------------------

void E1000::reset_phy() {
  phy_.fill(0);
  phy_[phy::kControl] = 0x1140;           // auto-negotiation on, full duplex, 1000 Mb/s
  phy_[phy::kId1] = 0x0141;               // Marvell
  phy_[phy::kId2] = 0x0c20;               // 88E1011, the 82540EM's PHY
  phy_[phy::kAutonegAdvertise] = 0x0de1;  // pause, 100/10 full and half duplex
  phy_[phy::kLinkPartnerAbility] = 0x45e1;
  phy_[phy::kAutonegExpansion] = 0x000d;
  phy_[phy::k1000tControl] = 0x0e00;
  phy_[phy::k1000tStatus] = 0x3c00;
  phy_[phy::kExtendedStatus] = 0x3000;  // 1000BASE-T full and half duplex
  phy_[phy::kSpecificControl] = 0x0068;
  update_link();
}

void E1000::update_link() {
  // Status register: 100/10 full and half duplex, extended status, preamble suppression,
  // auto-negotiation capable; link and negotiation complete while the link is up.
  uint16_t status = 0x7949;
  uint16_t specific = 0xa800;  // 1000 Mb/s, full duplex, resolved
  if (link_up_) {
    status |= phy::kStatusLinkUp | phy::kStatusAutonegComplete;
    specific |= phy::kSpecificStatusLink;
  }
  phy_[phy::kStatus] = status;
  phy_[phy::kSpecificStatus] = specific;
}

void E1000::mdic_access(uint32_t value) {
  unsigned phy_address = (value >> kMdicPhyShift) & 0x1f;
  unsigned reg = (value >> kMdicRegShift) & 0x1f;
  uint32_t result = value & ~(kMdicReady | kMdicError);
  if (phy_address != kPhyAddress) {
    result |= kMdicError;  // no PHY answers there
  } else if ((value & (3u << 26)) == kMdicOpRead) {
    result = (result & ~kMdicDataMask) | phy_[reg];
  } else if ((value & (3u << 26)) == kMdicOpWrite) {
    uint16_t data = static_cast<uint16_t>(value & kMdicDataMask);
    if (reg == phy::kControl) {
      if (data & phy::kControlReset) {
        reset_phy();
      } else {
        // Restarting auto-negotiation completes at once; both bits clear themselves.
        phy_[phy::kControl] = data & ~(phy::kControlReset | phy::kControlAutonegRestart);
      }
    } else if (reg != phy::kStatus && reg != phy::kId1 && reg != phy::kId2 &&
               reg != phy::kSpecificStatus) {
      phy_[reg] = data;
    }
  }
  r(reg::kMdic) = result | kMdicReady;
  if (value & kMdicInterrupt) raise_cause(kIcrMdac);
}

void E1000::set_link(bool up) {
  if (up == link_up_) return;
  link_up_ = up;
  update_link();
  raise_cause(kIcrLsc);
  if (backend_) backend_->set_receiving(can_receive());
}

// --- state --------------------------------------------------------------------------------------

template <class V>
void E1000State::Microwire::describe(V& v) {
  // Refused beyond what write_eecd() steps through.
  v("Microwire input", input, AtMost{(1u << kMicrowireCommandBits) - 1});
  v("Microwire bits in", bits_in, AtMost{kMicrowireCommandBits});
  v("Microwire output", output);
  v("Microwire bits out", bits_out, InRange{-1, kMicrowireDataBits});
  v("Microwire SK", previous_sk);
  v("Microwire DO", data_out);
}

template <class V>
void E1000State::TxContext::describe(V& v) {
  // Any value a context descriptor carries; PAYLEN masked as its descriptor field is.
  for (auto [name, field] : {std::pair{"IPCSS", &ipcss},
                             {"IPCSO", &ipcso},
                             {"TUCSS", &tucss},
                             {"TUCSO", &tucso},
                             {"TUCMD", &tucmd},
                             {"HDRLEN", &hdrlen}})
    v(name, *field);
  for (auto [name, field] : {std::pair{"IPCSE", &ipcse}, {"TUCSE", &tucse}, {"MSS", &mss}})
    v(name, *field);
  v("PAYLEN", paylen, Mask{kPaylenMask});
}

template <class V>
void E1000State::describe(V& v) {
  v("registers", regs_);  // through sanitize_registers()
  v("PHY registers", phy_);
  v("IOADDR", io_address_);
  v("link", link_up_);
  v("EEPROM", microwire_);
  v("transmit context", context_);
  // Refused beyond what append_tx_data() lets a frame hold.
  v("transmit frame", frame_, MaxSize{NetBackend::kMaxFrame});
  v("frame overflow", frame_overflow_);
  v("frame TSE", frame_tse_);
  v("frame POPTS", frame_popts_);
  v("frame POPTS set", frame_popts_set_);
}

void E1000::sanitize_registers(std::vector<uint32_t>& regs) const {
  auto reg = [&](uint32_t offset) -> uint32_t& { return regs[offset / 4]; };
  reg(reg::kCtrl) &= ~(kCtrlRst | kCtrlPhyRst);  // self-clearing: a write acts and drops them
  reg(reg::kStatus) = 0;                         // computed on every read
  reg(reg::kEecd) &= kEecdHostBits;
  if (reg(reg::kEerd) & kEerdDone) {
    // A finished read: the data is the EEPROM's, as the read left it.
    uint32_t address = (reg(reg::kEerd) >> kEerdAddrShift) & 0xff;
    uint32_t data = address < eeprom::kWords ? eeprom_[address] : 0;
    reg(reg::kEerd) = address << kEerdAddrShift | kEerdDone | data << kEerdDataShift;
  }
  reg(reg::kMdic) |= kMdicReady;  // every MDIC access completes at once
  reg(reg::kIcr) &= kIcrAll;
  reg(reg::kIms) &= kIcrAll;
  reg(reg::kIcs) = reg(reg::kImc) = 0;  // write-only: never stored
  // Ring lengths and indices as their writes mask them: a ring of at most 2^16 descriptors and
  // indices a pass checks against it, however hostile the stream.
  reg(reg::kRdlen) &= kRingLengthMask;
  reg(reg::kTdlen) &= kRingLengthMask;
  for (uint32_t offset : {reg::kRdh, reg::kRdt, reg::kTdh, reg::kTdt, reg::kItr, reg::kRdtr,
                          reg::kRadv, reg::kTidv, reg::kTadv})
    reg(offset) &= k16BitMask;
}

void E1000::save_device(StateWriter& out) const {
  write_fields(out, static_cast<const E1000State&>(*this));
}

Result<std::unique_ptr<StagedState>> E1000::parse_device(StateReader& in, uint32_t version) {
  return stage_fields<E1000State>(in, version, "e1000", *this, [this](E1000State& s) {
    sanitize_registers(s.regs_);
    return ok();
  });
}

void E1000::post_load_device() {
  irq_level_ = false;
  update_irq();
  if (backend_) backend_->set_receiving(can_receive());
}

// --- the device catalogue -------------------------------------------------------------------

namespace {

Result<MacAddress> parse_mac(const std::string& text) {
  MacAddress mac{};
  unsigned values[6];
  char tail;
  if (sscanf(text.c_str(), "%2x:%2x:%2x:%2x:%2x:%2x%c", &values[0], &values[1], &values[2],
             &values[3], &values[4], &values[5], &tail) != 6)
    return make_error("mac=%s: expected six hex bytes like 52:54:00:12:34:56", text.c_str());
  for (unsigned i = 0; i < 6; ++i) mac[i] = static_cast<uint8_t>(values[i]);
  if (mac[0] & 1) return make_error("mac=%s: a multicast address", text.c_str());
  return mac;
}

}  // namespace

void register_e1000(DeviceRegistry& registry) {
  registry.add(
      {.name = "e1000",
       .description = "Intel 82540EM gigabit Ethernet (netdev=, mac=; iPXE in its ROM BAR)",
       .pci = true,
       .hotpluggable = true,
       .default_romfile = "/usr/lib/ipxe/qemu/pxe-e1000.rom",
       .properties = {{"mac", "str", "MAC address"}, {"netdev", "str", "a -netdev id"}},
       .create = [](Machine& machine, OptionReader& props) -> Result<std::unique_ptr<Device>> {
         static unsigned count = 0;
         // QEMU's default addresses: 52:54:00:12:34:56, then counting up.
         MacAddress mac = {0x52, 0x54, 0x00, 0x12, 0x34, static_cast<uint8_t>(0x56 + count++)};
         if (auto text = props.string("mac")) {
           auto parsed = parse_mac(*text);
           if (!parsed) return parsed.error();
           mac = *parsed;
         }
         NetBackend* backend = nullptr;
         if (auto id = props.string("netdev")) {
           auto found = machine.netdev(*id);
           if (!found) return found.error();
           if ((*found)->attached())
             return make_error("netdev '%s' is already in use", id->c_str());
           backend = *found;
         }
         return std::unique_ptr<Device>(
             std::make_unique<E1000>(machine.clock(), machine.memory(), backend, mac));
       }});
  // libxl's default NIC model: say what to use instead.
  registry.add({.name = "rtl8139",
                .description = "not emulated: use model=e1000",
                .pci = true,
                .create = [](Machine&, OptionReader&) -> Result<std::unique_ptr<Device>> {
                  return make_error(
                      "rtl8139 is not emulated by hvmd: use model=e1000 in the vif line");
                }});
}

}  // namespace hvmd::devices::e1000
