// fw_cfg: how hvmd hands the firmware what it needs to know in standalone mode (kvm, qtest):
// signature, RAM size, CPU count, UUID, the e820 map, the boot order, the serial console port,
// option ROMs (genroms/) and any -fw_cfg file. Items are read through the data port or copied
// into guest RAM by DMA; guest-supplied descriptors, lengths and addresses are all checked.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "dm/device.h"
#include "dm/dispatcher.h"
#include "dm/guest_memory.h"
#include "dm/io_handler.h"

namespace hvmd::firmware {

// An item whose bytes are not held in memory: a kernel or initrd read from its file when the
// firmware asks, so a large file costs hvmd no resident memory for the guest's life.
class FwCfgSource {
 public:
  virtual ~FwCfgSource() = default;
  virtual uint64_t size() const = 0;
  // Fills out with the bytes at [offset, offset + out.size()), which lie inside size(); false if
  // they cannot be read (the file went away or shrank).
  virtual bool read(uint64_t offset, std::span<uint8_t> out) = 0;
};

// The selector, the read position and the DMA address's high half: what a save carries (the
// items are rebuilt from the command line). Described in fw_cfg.cc.
struct FwCfgState {
  uint16_t selected_ = 0;
  uint32_t offset_ = 0;
  uint32_t dma_high_ = 0;
  template <class V>
  void describe(V& v);
};

class FwCfg final : public Device, private FwCfgState {
 public:
  FwCfg(Dispatcher& dispatcher, GuestMemory& memory);
  std::string_view type() const override { return "fw_cfg"; }
  void reset() override;
  void save(StateWriter& out) const override;
  Result<std::unique_ptr<StagedState>> parse_state(StateReader& in, uint32_t version) override;
  void unrealize() override;

  void set_item(uint16_t key, std::vector<uint8_t> data);
  void set_item(uint16_t key, std::shared_ptr<FwCfgSource> source);  // at most 4 GiB - 1
  void set_u16(uint16_t key, uint16_t value);
  void set_u32(uint16_t key, uint32_t value);
  void set_u64(uint16_t key, uint64_t value);
  // A named file (the firmware finds it in the directory). Names are unique, under 56 bytes.
  Result<void> add_file(const std::string& name, std::vector<uint8_t> data);
  bool has_file(const std::string& name) const;

  uint64_t control_read(uint64_t offset, unsigned size);
  void control_write(uint64_t offset, unsigned size, uint64_t value);
  uint64_t dma_read(uint64_t offset, unsigned size);
  void dma_write(uint64_t offset, unsigned size, uint64_t value);

 private:
  struct Item {
    std::vector<uint8_t> bytes;
    std::shared_ptr<FwCfgSource> source;  // when set, the bytes come from here
    uint64_t size() const { return source ? source->size() : bytes.size(); }
  };
  const Item* current() const;
  void select(uint16_t key);
  void run_dma(uint64_t descriptor_address);
  // Copies [offset, offset + length) of the item (inside it) to guest RAM at address.
  bool copy_to_guest(const Item& item, uint64_t offset, uint64_t address, uint64_t length);
  uint8_t byte_at(const Item& item, uint64_t offset);

  Dispatcher& dispatcher_;
  GuestMemory& memory_;
  MemberIoHandler<FwCfg, &FwCfg::control_read, &FwCfg::control_write> control_io_{*this};
  MemberIoHandler<FwCfg, &FwCfg::dma_read, &FwCfg::dma_write> dma_io_{*this};
  Dispatcher::MappingId control_mapping_ = Dispatcher::kNoMapping;
  Dispatcher::MappingId dma_mapping_ = Dispatcher::kNoMapping;

  std::map<uint16_t, Item> items_;       // by selector (write bit clear)
  std::vector<std::string> file_names_;  // file i is item kFirstFile + i
  // The data port reads a byte at a time (rep insb): source items are read a window at a time.
  static constexpr uint64_t kPortWindow = 4096;
  std::vector<uint8_t> port_window_;
  const Item* port_window_item_ = nullptr;
  uint64_t port_window_offset_ = 0;
};

}  // namespace hvmd::firmware
