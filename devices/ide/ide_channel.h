// One IDE channel: the task file shared by its two drives, the command engine, PIO data
// transfers a DRQ block at a time, and the SFF-8038i bus-master DMA engine walking the guest's
// PRD table. Medium I/O is asynchronous: a command that needs the disk sets BSY and continues when
// the backend completes, so a slow image never holds up other devices.
//
// Everything a guest controls is checked: sector ranges against the medium, PIO data-port
// accesses against the current DRQ block (never past it), PRD tables bounded in length and DMA
// only to guest RAM, ATAPI byte counts and allocation lengths against the reply.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>

#include "devices/ide/ide_drive.h"
#include "dm/guest_memory.h"
#include "dm/interrupts.h"
#include "dm/state_fields.h"

namespace hvmd::devices::ide {

// The task file, the current command's progress and the bus master: the channel's registers a
// save carries (with the drives' settings and the live part of the buffer), described in
// ide_channel_state.cc.
struct ChannelRegisters {
  // What the current command does with data.
  enum class Phase : uint8_t {
    kIdle,
    kPioIn,       // DRQ: the host reads buffer_[pio_pos_, pio_end_)
    kPioOut,      // DRQ: the host writes it
    kPacket,      // DRQ: the host writes the 12-byte ATAPI packet
    kDmaWaiting,  // command issued, waiting for the bus master to start
    kDmaRunning,  // chunks in flight
    kBusy,        // medium I/O in flight for PIO or a non-data command
  };
  // Where data comes from or goes to.
  enum class Source : uint8_t { kBuffer, kMedium };
  struct Transfer {
    Source source = Source::kBuffer;
    bool to_host = true;
    bool atapi = false;
    bool dma = false;
    unsigned unit = 0;        // the drive the command went to
    uint64_t offset = 0;      // Source::kMedium: byte offset of the next chunk
    uint64_t remaining = 0;   // bytes not yet handed over
    uint32_t block = 0;       // PIO: bytes per DRQ block
    uint32_t buffer_pos = 0;  // Source::kBuffer: next byte of the reply in buffer_
    uint32_t buffer_end = 0;
    template <class V>
    void describe(V& v);
  };

  // Task file: current and previous ("HOB") values of the LBA48 registers.
  uint8_t feature_ = 0, sector_count_ = 0, lba_low_ = 0, lba_mid_ = 0, lba_high_ = 0;
  uint8_t hob_feature_ = 0, hob_sector_count_ = 0, hob_lba_low_ = 0, hob_lba_mid_ = 0,
          hob_lba_high_ = 0;
  uint8_t device_ = 0;
  uint8_t control_ = 0;
  uint8_t status_ = 0;
  uint8_t error_ = 0;
  bool irq_pending_ = false;

  // Current command.
  Phase phase_ = Phase::kIdle;
  Transfer transfer_;
  bool lba48_ = false;
  uint32_t pio_pos_ = 0;
  uint32_t pio_end_ = 0;
  std::array<uint8_t, 12> packet_{};

  // Bus master.
  uint8_t bm_command_ = 0;
  uint8_t bm_status_ = 0;
  uint32_t bm_prd_table_ = 0;
  // PRD walk: the entry being consumed.
  uint32_t prd_next_ = 0;  // guest address of the next entry
  uint32_t prd_address_ = 0;
  uint32_t prd_left_ = 0;  // bytes left in the current entry
  uint32_t prd_entries_ = 0;
  bool prd_end_ = false;  // the current entry is the last one

  template <class V>
  void describe(V& v);
};

class IdeChannel : private ChannelRegisters {
 public:
  // Bytes of bounce buffer: the largest PIO block (ATAPI byte-count limit 0xfffe rounded up) and
  // the DMA chunk moved per backend request.
  static constexpr size_t kBufferBytes = 256 * 1024;

  IdeChannel(GuestMemory& memory, IrqLine irq);
  ~IdeChannel();
  IdeChannel(const IdeChannel&) = delete;
  IdeChannel& operator=(const IdeChannel&) = delete;

  IdeDrive& drive(unsigned unit) { return drives_[unit & 1]; }
  const IdeDrive& drive(unsigned unit) const { return drives_[unit & 1]; }
  bool has_drives() const { return drives_[0].present() || drives_[1].present(); }

  // Command block (offset 0-7) and control block (alternate status / device control).
  uint64_t read_command_block(unsigned offset, unsigned size);
  void write_command_block(unsigned offset, unsigned size, uint64_t value);
  uint8_t read_alt_status();
  void write_device_control(uint8_t value);

  // Bus-master registers of this channel (offset 0-7 within its half of BAR4).
  uint64_t read_bus_master(unsigned offset, unsigned size);
  void write_bus_master(unsigned offset, unsigned size, uint64_t value);

  // Host-side media operations on a CD-ROM (QMP eject / blockdev-change-medium).
  void eject(unsigned unit);
  void insert(unsigned unit, std::unique_ptr<BlockBackend> medium);
  // Waits for medium I/O in flight (reset, save, removal of the drive).
  void quiesce();
  void reset();  // hardware reset: both drives to power-on state
  // State (ide_channel_state.cc), as Device::save/parse_state/post_load.
  void save(StateWriter& out) const;
  Result<std::unique_ptr<StagedState>> parse_state(StateReader& in, uint32_t version);
  void post_load();

 private:
  struct Saved;
  Result<void> check(Saved& saved) const;

  IdeDrive& current() { return drives_[unit_]; }
  uint8_t register_status() const;
  void set_irq();
  void clear_irq();
  void update_irq_line();

  // Command engine (ata_commands.cc).
  void execute(uint8_t command);
  bool execute_disk_command(uint8_t command);
  void complete(uint8_t extra_status = 0, bool interrupt = true);
  void abort_command();
  void fail(uint8_t error);
  void set_signature(unsigned unit);
  void execute_diagnostic();
  bool start_sector_command(uint8_t command);
  bool read_lba(uint64_t* lba, uint32_t* count, bool lba48);
  void write_lba(uint64_t lba, bool lba48);
  void set_features();
  void flush();
  void soft_reset_drives();

  // PIO (ide_channel.cc).
  void start_pio_in(uint32_t length) { start_pio_in_range(0, length); }
  void start_pio_in_range(uint32_t begin, uint32_t end);
  void start_pio_out(uint32_t length);
  uint32_t data_read(unsigned size);
  void data_write(unsigned size, uint32_t value);
  void pio_block_done();
  void pio_next_medium_block();
  // Enters phase with BSY set and returns the command's medium, or fails the command without one.
  BlockBackend* begin_medium_io(Phase phase);
  void pio_medium_read_done(int error, uint32_t length);
  void pio_medium_write_done(int error, uint32_t length);
  void transfer_finished();

  // DMA (ide_dma.cc).
  void start_dma();
  void dma_next_chunk();
  void dma_bounce_chunk(BlockBackend& medium);
  void dma_bounce_done(int error, uint32_t length);
  enum class PrdResult { kDone, kShort, kFault, kCopy };
  PrdResult prd_transfer(std::span<uint8_t> data);
  struct DmaChunk;
  struct DmaInFlight;
  DmaInFlight& dma_state();
  PrdResult prd_pin(DmaChunk& chunk, uint64_t length);
  void dma_chunk_done(DmaChunk& chunk, int error);
  void dma_finished();
  void dma_short_table();
  void dma_fault();
  void medium_error(int error);

  // DATA SET MANAGEMENT / TRIM (ata_trim.cc).
  bool start_data_set_management();
  bool trim_waiting() const;
  void start_trim();
  void trim_next_chunk();
  void trim_chunk_entries();

  // ATAPI (atapi.cc).
  void start_packet();
  void execute_packet();
  void atapi_reply(uint32_t length, uint32_t allocation);
  void atapi_start_read(uint64_t lba, uint32_t count);
  void atapi_check_condition(uint8_t key, uint8_t asc);
  void atapi_done();
  void atapi_pio_block();
  bool atapi_media_ready();
  uint32_t build_inquiry();
  uint32_t build_read_toc(const uint8_t* packet, bool* ok);
  uint32_t build_mode_sense(const uint8_t* packet, bool* ok);
  uint32_t build_get_configuration(const uint8_t* packet);
  uint32_t build_event_status(const uint8_t* packet, bool* ok);
  uint32_t build_disc_information();
  uint32_t build_mechanism_status();
  uint32_t build_request_sense();

  // IDENTIFY data (identify.cc).
  void build_identify(const IdeDrive& drive);
  void build_identify_packet(const IdeDrive& drive);

  GuestMemory& memory_;
  IrqLine irq_;
  std::array<IdeDrive, 2> drives_;
  unsigned unit_ = 0;                  // selected drive (device_'s DEV bit)
  std::unique_ptr<uint8_t[]> buffer_;  // allocated on first use
  std::unique_ptr<DmaInFlight> dma_;   // chunks in flight (ide_dma.h), allocated on first use
  // A TRIM in progress (never saved: a save waits for medium I/O, and TRIM's DMA runs to its
  // end once started; before that, the task file's count says how much to fetch).
  struct TrimProgress {
    uint64_t bytes_left = 0;  // range entries not yet fetched from the guest
    uint32_t entries = 0;     // entries fetched into the buffer
  } trim_;

  uint8_t* buffer();
};

}  // namespace hvmd::devices::ide
