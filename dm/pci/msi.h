// MSI and MSI-X for emulated devices. Both keep their guest-visible state where the guest put it
// (the MSI capability in config space, the MSI-X table in a BAR) and deliver through the
// InterruptSink. A masked vector's message is remembered as pending and sent on unmask.
// A device whose interrupts come from elsewhere (a passthrough function: Xen pirqs, KVM irqfds)
// follows the guest's programming through an MsiListener instead.
#pragma once

#include <cstdint>
#include <vector>

#include "dm/interrupts.h"
#include "dm/io_handler.h"
#include "dm/pci/config_space.h"

namespace hvmd::pci {

// Told how the guest programs the vectors of one MSI or MSI-X capability. Calls come after the
// guest's write took effect. A message written in several accesses (address, then data) is
// reported after each; a listener binds what it was told last.
class MsiListener {
 public:
  virtual ~MsiListener() = default;
  // The vector is live with this message: enable turned on (every enabled vector is reported,
  // masked or not), the guest changed the message while enabled, or MSI's vector count changed.
  // masked: the vector's effective mask (its own mask bit, or MSI-X's function mask).
  virtual void vector_programmed(unsigned vector, const MsiMessage& message, bool masked) = 0;
  // The effective mask of a live vector changed.
  virtual void vector_masked(unsigned vector, bool masked) = 0;
  // Enable turned off (or a reset): no vector is live any more.
  virtual void vectors_disabled() = 0;
};

class Msi {
 public:
  // vectors: 1, 2, 4, 8, 16 or 32. Lays the capability out at cap in config.
  Msi(ConfigSpace& config, uint8_t cap, unsigned vectors, bool is_64bit, bool maskable);
  static unsigned capability_length(bool is_64bit, bool maskable);

  bool enabled() const;
  void notify(InterruptSink* sink, unsigned vector);
  // After a guest config write: reports changes to the listener and delivers pending vectors the
  // write unmasked.
  void config_written(InterruptSink* sink);
  void reset();
  void set_listener(MsiListener* listener) { listener_ = listener; }

 private:
  // What the listener was last told about.
  struct Programmed {
    bool enabled = false;
    unsigned vectors = 0;
    uint64_t address = 0;
    uint32_t data = 0;
    uint32_t mask = 0;
  };
  Programmed programmed() const;
  bool vector_masked(unsigned vector) const;
  void report_changes();
  uint32_t data_reg() const { return cap_ + (is_64bit_ ? 0x0c : 0x08); }
  uint32_t mask_reg() const { return data_reg() + 4; }
  uint32_t pending_reg() const { return data_reg() + 8; }
  unsigned enabled_vectors() const;
  MsiMessage message(unsigned vector) const;

  ConfigSpace& config_;
  uint8_t cap_;
  unsigned vectors_;
  bool is_64bit_;
  bool maskable_;
  MsiListener* listener_ = nullptr;
  Programmed reported_;
};

// MSI-X: the capability in config space plus the table and PBA, which live in a BAR. The device
// forwards accesses to that part of its BAR to table_read/table_write (or maps this object as the
// BAR's handler if the BAR holds nothing else).
class Msix final : public IoHandler {
 public:
  Msix(ConfigSpace& config, uint8_t cap, unsigned vectors, uint8_t bar, uint32_t table_offset,
       uint32_t pba_offset);
  static constexpr unsigned capability_length() { return kMsixCapLength; }

  bool enabled() const;
  unsigned vectors() const { return vectors_; }
  void notify(InterruptSink* sink, unsigned vector);
  void config_written(InterruptSink* sink);
  void reset();

  // Saved state: the table and the pending bits (the capability is in config space).
  struct State {
    std::vector<uint32_t> table;
    std::vector<uint64_t> pending;
    template <class V>
    void describe(V& v) {
      v("MSI-X table", table);
      v("MSI-X pending bits", pending);
    }
  };
  // The current state (also the shape a stream is read into).
  State state() const { return {table_, pending_}; }
  // Drops what a guest could not have written: reserved vector-control bits (masked as a table
  // write masks them) and pending bits of vectors the table does not have.
  void sanitize(State& state) const;
  void restore(State state);

  // Accesses at offsets within the BAR. claims() tells whether an offset is the table's or PBA's.
  bool claims(uint64_t offset) const;
  uint64_t read(uint64_t offset, unsigned size) override;
  void write(uint64_t offset, unsigned size, uint64_t value) override;
  void bind_sink(InterruptSink* sink) { sink_ = sink; }
  void set_listener(MsiListener* listener) { listener_ = listener; }
  // The guest's message for a vector (vector < vectors()).
  MsiMessage message(unsigned vector) const;

 private:
  bool function_masked() const;
  bool vector_masked(unsigned vector) const;
  void deliver_pending(InterruptSink* sink);
  void report_control_change();
  void report_entry_change(unsigned vector, const uint32_t (&before)[4]);

  ConfigSpace& config_;
  uint8_t cap_;
  unsigned vectors_;
  uint32_t table_offset_;
  uint32_t pba_offset_;
  InterruptSink* sink_ = nullptr;
  MsiListener* listener_ = nullptr;
  bool reported_enabled_ = false;  // enable and function mask as the listener last saw them
  bool reported_function_mask_ = false;
  std::vector<uint32_t> table_;    // 4 dwords per vector
  std::vector<uint64_t> pending_;  // one bit per vector
};

}  // namespace hvmd::pci
