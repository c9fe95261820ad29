// Intel 82540EM gigabit Ethernet (8086:100e), the NIC every HVM guest and its firmware drive:
// MMIO registers in BAR0 (and the IOADDR/IODATA window in BAR1), the Microwire EEPROM with the
// MAC, the PHY behind MDIC, interrupt causes with throttling and delay timers on the machine's
// clock, transmit (legacy and extended descriptors, checksum offload, TCP segmentation) and
// receive (address, multicast and VLAN filtering, VLAN stripping, checksum status) rings in guest
// RAM, frames to and from a NetBackend.
//
// Guest input is hostile: ring indices are checked against the ring length, every ring pass is
// bounded by the ring's size, frames are bounded by NetBackend::kMaxFrame, a TSO context without
// a usable MSS or header is refused, and descriptors and buffers are reached only through
// GuestMemory (so DMA into the device's own registers cannot happen).
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "devices/e1000/e1000_regs.h"
#include "dm/backends/net.h"
#include "dm/clock.h"
#include "dm/io_handler.h"
#include "dm/machine.h"
#include "dm/pci/pci_device.h"

namespace hvmd::devices::e1000 {

using MacAddress = std::array<uint8_t, 6>;

// What a save carries: the register file, the PHY, the EEPROM's Microwire shift state and the
// transmit context with the frame being assembled. Described (with the checks a stream's values
// go through) in e1000.cc.
struct E1000State {
  std::vector<uint32_t> regs_ = std::vector<uint32_t>(reg::kRegisterCount);
  std::array<uint16_t, phy::kRegisterCount> phy_{};
  uint32_t io_address_ = 0;
  bool link_up_ = true;
  struct Microwire {
    uint32_t input = 0;    // bits shifted in
    unsigned bits_in = 0;  // how many
    uint16_t output = 0;   // the word being read out
    int bits_out = -1;     // bits left to shift out, -1 before the address is complete
    bool previous_sk = false;
    bool data_out = false;
    template <class V>
    void describe(V& v);
  } microwire_;
  // The context descriptor last loaded.
  struct TxContext {
    uint8_t ipcss = 0, ipcso = 0, tucss = 0, tucso = 0, tucmd = 0, hdrlen = 0;
    uint16_t ipcse = 0, tucse = 0, mss = 0;
    uint32_t paylen = 0;
    template <class V>
    void describe(V& v);
  } context_;
  std::vector<uint8_t> frame_;   // the frame being assembled
  bool frame_overflow_ = false;  // more data than a frame may carry: dropped at EOP
  bool frame_tse_ = false;
  uint8_t frame_popts_ = 0;
  bool frame_popts_set_ = false;
  template <class V>
  void describe(V& v);
};

class E1000 final : public pci::PciDevice, public NetClient, private E1000State {
 public:
  E1000(Clock& clock, GuestMemory& memory, NetBackend* backend, const MacAddress& mac);
  ~E1000() override;
  std::string_view type() const override { return "e1000"; }
  void unrealize() override;
  bool removed_by_unplug(uint16_t mask) const override;

  uint64_t mmio_read(uint64_t offset, unsigned size);
  void mmio_write(uint64_t offset, unsigned size, uint64_t value);
  uint64_t io_read(uint64_t offset, unsigned size);
  void io_write(uint64_t offset, unsigned size, uint64_t value);

  // A frame from the backend; false if the ring had no room (the frame is dropped, as hardware
  // drops it: RXO and the missed-packets counter).
  bool receive(std::span<const uint8_t> frame);
  bool can_receive() const;
  // Link state, as the backend's (QMP set_link) changes it.
  void set_link(bool up);
  NetBackend* backend() const override { return backend_; }

 protected:
  void reset_device() override;
  void save_device(StateWriter& out) const override;
  Result<std::unique_ptr<StagedState>> parse_device(StateReader& in, uint32_t version) override;
  void post_load_device() override;

 private:
  // The register file as guest writes could have left it (write_register's masks).
  void sanitize_registers(std::vector<uint32_t>& regs) const;
  // Registers.
  uint32_t& r(uint32_t offset) { return regs_[offset / 4]; }
  uint32_t r(uint32_t offset) const { return regs_[offset / 4]; }
  uint32_t read_register(uint32_t offset);
  void write_register(uint32_t offset, uint32_t value);
  void reset_registers();
  uint32_t status() const;

  // Interrupts (ICR causes, IMS mask, ITR throttling).
  void raise_cause(uint32_t causes);
  void update_irq();

  // EEPROM (Microwire bit-banging through EECD, and EERD).
  void build_eeprom(const MacAddress& mac);
  void write_eecd(uint32_t value);
  uint32_t read_eecd() const;

  // PHY (MDIC).
  void reset_phy();
  void mdic_access(uint32_t value);
  void update_link();

  // Transmit (e1000_tx.cc).
  void transmit();
  void process_tx_descriptor(const uint8_t* descriptor);
  bool append_tx_data(uint64_t address, uint32_t length);
  void finish_tx_frame();
  void segment_and_send();
  void send_for_host_segmentation();
  void send_frame(std::vector<uint8_t>& frame);
  void tx_done(bool delay);

  // Receive (e1000_rx.cc).
  bool accept_frame(std::span<const uint8_t> frame) const;
  unsigned rx_buffer_size() const;
  unsigned rx_free_descriptors() const;
  void rx_checksum_status(std::span<const uint8_t> frame, uint8_t* status, uint8_t* errors) const;
  void rx_interrupts();

  Clock& clock_;
  GuestMemory& memory_;
  NetBackend* backend_;
  MemberIoHandler<E1000, &E1000::mmio_read, &E1000::mmio_write> mmio_{*this};
  MemberIoHandler<E1000, &E1000::io_read, &E1000::io_write> io_{*this};
  MacAddress mac_;
  std::array<uint16_t, eeprom::kWords> eeprom_{};

  // Interrupt throttling and delays.
  bool irq_level_ = false;
  int64_t next_interrupt_ns_ = 0;
  int64_t rx_delay_start_ns_ = -1;  // when the first frame of an undelivered batch arrived
  int64_t tx_delay_start_ns_ = -1;
  Timer itr_timer_;
  Timer rx_delay_timer_;
  Timer tx_delay_timer_;

  bool insert_vlan_ = false;  // the frame's last descriptor asked for a VLAN tag
  uint16_t vlan_tag_ = 0;
  bool in_transmit_ = false;
  std::vector<uint8_t> rx_frame_;  // the frame being received, as the guest will see it
};

// Registers e1000 with the device catalogue (-device e1000,netdev=ID,mac=..).
void register_e1000(DeviceRegistry& registry);

}  // namespace hvmd::devices::e1000
