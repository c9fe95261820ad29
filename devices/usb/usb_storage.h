// usb-storage: a USB mass-storage device (Bulk-Only Transport 1.0) holding one SCSI direct-access
// LUN on a BlockBackend: `-drive if=none,id=d0,file=IMG,format=raw -device usb-storage,drive=d0`
// (removable=on shows the medium as removable; a read-only drive is write-protected).
//
// BOT: the host sends a 31-byte Command Block Wrapper on bulk OUT (endpoint 2), moves the data
// on bulk IN (endpoint 1) or OUT, and reads a 13-byte Command Status Wrapper on bulk IN. Every
// CBW field is guest-controlled: a wrapper that is not exactly 31 bytes, has the wrong
// signature, names another LUN or a command block of 0 or more than 16 bytes is not meaningful,
// and the device stalls both bulk endpoints until the host's reset recovery (the class's
// Bulk-Only Mass Storage Reset, then CLEAR_FEATURE(ENDPOINT_HALT) on both). The host's
// dCBWDataTransferLength and direction are checked against what the command moves (the thirteen
// cases of BOT 6.7): the device moves at most the smaller, pads a shorter IN with a short packet,
// and reports the residue, or a phase error where the directions or lengths disagree.
//
// SCSI (SPC-3/SBC-3): INQUIRY (standard data, VPD pages 0x00 and 0x80), TEST UNIT READY,
// REQUEST SENSE, READ CAPACITY(10) and (16), READ/WRITE(10/12/16), VERIFY(10), MODE SENSE(6/10)
// (the caching page, write protect), PREVENT ALLOW MEDIUM REMOVAL, SYNCHRONIZE CACHE(10/16) (a
// flush of the image), START STOP UNIT, REPORT LUNS, READ FORMAT CAPACITIES. Reads and writes
// stream through the block layer in chunks of kChunkBytes; the bulk endpoint NAKs while a chunk
// is on its way and tells the controller when it is ready.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "devices/usb/usb_device.h"
#include "dm/backends/block.h"

namespace hvmd::devices::usb {

struct UsbStorageState {
  enum class Phase : uint8_t { kCommand, kDataIn, kDataOut, kStatus, kNeedReset };
  Phase phase_ = Phase::kCommand;
  uint32_t tag_ = 0;
  uint32_t host_length_ = 0;     // dCBWDataTransferLength
  uint32_t data_length_ = 0;     // bytes of the command's data that move (at most host_length_)
  uint32_t moved_ = 0;           // bytes moved in the data phase so far
  uint8_t status_ = 0;           // bCSWStatus: 0 passed, 1 failed, 2 phase error
  bool zero_packet_ = false;     // an IN phase shorter than the host asked ends with a short packet
  bool disk_ = false;            // the data phase streams the medium
  uint64_t next_lba_ = 0;        // disk: the next block to read or write
  uint32_t blocks_left_ = 0;     // disk: blocks not yet read (IN) or written (OUT)
  std::vector<uint8_t> staged_;  // IN: bytes ready to send; OUT: bytes received not yet written
  uint32_t staged_position_ = 0;  // IN: bytes of staged_ already sent
  uint8_t sense_key_ = 0, asc_ = 0, ascq_ = 0;
  bool prevent_removal_ = false;
  template <class V>
  void describe(V& v);
};

class UsbStorage final : public UsbDevice, private UsbStorageState {
 public:
  static constexpr uint32_t kBlockSize = 512;
  static constexpr uint32_t kChunkBytes = 64 * 1024;
  static constexpr uint32_t kCbwBytes = 31;
  static constexpr uint32_t kCswBytes = 13;

  UsbStorage(std::unique_ptr<BlockBackend> medium, bool removable, std::string drive_id);
  ~UsbStorage() override;
  std::string_view type() const override { return "usb-storage"; }
  std::string product() const override { return "HVMD USB MSD"; }
  void unrealize() override;
  void quiesce() override;
  uint64_t blocks() const { return medium_->size() / kBlockSize; }

 protected:
  std::span<const uint8_t> device_descriptor() const override;
  std::span<const uint8_t> configuration_descriptor() const override;
  bool class_request(const SetupPacket& setup, std::span<const uint8_t> data,
                     std::vector<uint8_t>& reply) override;
  void endpoint_in(unsigned endpoint, Packet& packet) override;
  void endpoint_out(unsigned endpoint, Packet& packet) override;
  void usb_reset() override;
  void save_usb(StateWriter& out) const override;
  Result<std::unique_ptr<StagedState>> parse_usb(StateReader& in, uint32_t version) override;

 private:
  enum class Direction : uint8_t { kNone, kIn, kOut };
  // What a command wants to move, decided by execute().
  struct Plan {
    Direction direction = Direction::kNone;
    uint32_t length = 0;  // bytes the command would move
    bool disk = false;
    bool flush = false;
  };
  void command(std::span<const uint8_t> cbw);
  Plan execute(std::span<const uint8_t> cdb);
  void fail(uint8_t key, uint8_t asc, uint8_t ascq = 0);
  bool check_range(uint64_t lba, uint64_t count);
  void stall_both();
  void bot_reset();
  void send_data(Packet& packet);
  void send_status(Packet& packet);
  void receive_data(Packet& packet);
  // Disk streaming: the next chunk read into staged_ (after the bytes still unsent), or staged_'s
  // whole blocks written.
  void start_read();
  void start_write(bool all);
  void io_done(int error, bool write, uint32_t blocks);
  void finish_data_phase();

  std::unique_ptr<BlockBackend> medium_;
  bool removable_;
  std::string drive_id_;
  bool io_pending_ = false;
  uint64_t generation_ = 0;  // completions of I/O started before a reset are dropped
  std::vector<uint8_t> io_buffer_;
  std::vector<uint8_t> config_;
};

}  // namespace hvmd::devices::usb
