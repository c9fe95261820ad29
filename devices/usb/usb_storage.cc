#include "devices/usb/usb_storage.h"

#include <algorithm>
#include <cstring>

#include "devices/usb/usb_regs.h"
#include "dm/log.h"

namespace hvmd::devices::usb {

namespace {

// BOT 5.1 and 5.2.
constexpr uint32_t kCbwSignature = 0x43425355;  // "USBC"
constexpr uint32_t kCswSignature = 0x53425355;  // "USBS"
constexpr uint8_t kCbwDirectionIn = 0x80;
constexpr uint8_t kCswPassed = 0, kCswFailed = 1, kCswPhaseError = 2;
// Class requests (BOT 3.1, 3.2).
constexpr uint8_t kRequestBotReset = 0xff;
constexpr uint8_t kRequestGetMaxLun = 0xfe;
// Endpoints: bulk IN 1, bulk OUT 2.
constexpr uint8_t kEndpointIn = 1, kEndpointOut = 2;
constexpr uint8_t kMaxPacketFull = 64;
// QEMU's vendor and product IDs for its usb-storage, so cached guest bindings match.
constexpr uint16_t kVendorQemu = 0x46f4;
constexpr uint16_t kProductStorage = 0x0001;
constexpr uint8_t kClassMassStorage = 0x08, kSubclassScsi = 0x06, kProtocolBulkOnly = 0x50;

// SCSI operation codes (SPC-3, SBC-3).
constexpr uint8_t kTestUnitReady = 0x00, kRequestSense = 0x03, kInquiry = 0x12, kModeSense6 = 0x1a,
                  kStartStopUnit = 0x1b, kPreventAllow = 0x1e, kReadFormatCapacities = 0x23,
                  kReadCapacity10 = 0x25, kRead10 = 0x28, kWrite10 = 0x2a, kVerify10 = 0x2f,
                  kSynchronizeCache10 = 0x35, kModeSense10 = 0x5a, kRead16 = 0x88, kWrite16 = 0x8a,
                  kSynchronizeCache16 = 0x91, kServiceActionIn16 = 0x9e, kReportLuns = 0xa0,
                  kRead12 = 0xa8, kWrite12 = 0xaa;
constexpr uint8_t kSaReadCapacity16 = 0x10;
// Sense keys and additional sense codes.
constexpr uint8_t kSenseNone = 0x00, kSenseMediumError = 0x03, kSenseIllegalRequest = 0x05,
                  kSenseDataProtect = 0x07;
constexpr uint8_t kAscInvalidOpcode = 0x20, kAscLbaOutOfRange = 0x21, kAscInvalidField = 0x24,
                  kAscWriteProtected = 0x27, kAscWriteError = 0x0c, kAscReadError = 0x11;
constexpr uint8_t kModePageCaching = 0x08, kModePageAll = 0x3f;
constexpr uint8_t kModeWriteProtect = 0x80;

uint32_t be32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}
uint64_t be64(const uint8_t* p) {
  return uint64_t{be32(p)} << 32 | be32(p + 4);
}
uint32_t le32(const uint8_t* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}
void put_be32(std::vector<uint8_t>& v, uint32_t x) {
  for (int s = 24; s >= 0; s -= 8) v.push_back(static_cast<uint8_t>(x >> s));
}
void put_be64(std::vector<uint8_t>& v, uint64_t x) {
  put_be32(v, static_cast<uint32_t>(x >> 32));
  put_be32(v, static_cast<uint32_t>(x));
}
void put_le32(uint8_t* p, uint32_t x) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(x >> (8 * i));
}
void pad(std::vector<uint8_t>& v, const std::string& text, size_t width) {
  for (size_t i = 0; i < width; ++i) v.push_back(i < text.size() ? text[i] : ' ');
}

constexpr uint8_t kDeviceDescriptor[18] = {18,
                                           kDescDevice,
                                           0x00,
                                           0x02,  // USB 2.0 (dual speed)
                                           0,
                                           0,
                                           0,  // class in the interface
                                           kMaxPacketFull,
                                           kVendorQemu & 0xff,
                                           kVendorQemu >> 8,
                                           kProductStorage & 0xff,
                                           kProductStorage >> 8,
                                           0x00,
                                           0x01,  // bcdDevice 1.0
                                           1,
                                           2,
                                           3,  // manufacturer, product, serial
                                           1};

}  // namespace

template <class V>
void UsbStorageState::describe(V& v) {
  v("phase", phase_, AtMost{Phase::kNeedReset});
  v("tag", tag_);
  v("host length", host_length_);
  v("data length", data_length_);
  v("moved", moved_);
  v("status", status_, AtMost{uint8_t{kCswPhaseError}});
  v("zero packet", zero_packet_);
  v("disk", disk_);
  v("next LBA", next_lba_);
  v("blocks left", blocks_left_);
  v("data", staged_, MaxSize{size_t{2} * UsbStorage::kChunkBytes});
  v("data position", staged_position_);
  v("sense key", sense_key_, AtMost{uint8_t{0x0f}});
  v("ASC", asc_);
  v("ASCQ", ascq_);
  v("prevent removal", prevent_removal_);
}

UsbStorage::UsbStorage(std::unique_ptr<BlockBackend> medium, bool removable, std::string drive_id)
    : UsbDevice(Speed::kFull),
      medium_(std::move(medium)),
      removable_(removable),
      drive_id_(std::move(drive_id)) {
  set_high_speed_capable();
  config_ = {9, kDescConfiguration, 32, 0, 1 /* interfaces */, 1 /* value */, 0,
             kConfigReserved | kConfigSelfPowered, 50 /* 100 mA */,
             // Interface 0: mass storage, SCSI transparent, Bulk-Only.
             9, kDescInterface, 0, 0, 2, kClassMassStorage, kSubclassScsi, kProtocolBulkOnly, 0,
             // Bulk IN 1 and bulk OUT 2 (512-byte packets at high speed: the framework's).
             7, kDescEndpoint, kDirIn | kEndpointIn, kEndpointBulk, kMaxPacketFull, 0, 0, 7,
             kDescEndpoint, kEndpointOut, kEndpointBulk, kMaxPacketFull, 0, 0};
}

UsbStorage::~UsbStorage() {
  // No completion may run into a device that is gone.
  ++generation_;
  if (io_pending_ && medium_) medium_->drain();
}

void UsbStorage::unrealize() {
  ++generation_;
  if (io_pending_) medium_->drain();
  io_pending_ = false;
}

void UsbStorage::quiesce() {
  // Completions run inside drain(), so the saved state holds no I/O in flight.
  if (io_pending_) medium_->drain();
}

std::span<const uint8_t> UsbStorage::device_descriptor() const {
  return kDeviceDescriptor;
}

std::span<const uint8_t> UsbStorage::configuration_descriptor() const {
  return config_;
}

void UsbStorage::usb_reset() {
  bot_reset();
  prevent_removal_ = false;
  sense_key_ = asc_ = ascq_ = 0;
}

void UsbStorage::bot_reset() {
  // I/O in flight writes into io_buffer_: let it finish (its completion is dropped) first.
  ++generation_;
  if (io_pending_) medium_->drain();
  io_pending_ = false;
  phase_ = Phase::kCommand;
  staged_.clear();
  staged_position_ = 0;
  moved_ = data_length_ = host_length_ = 0;
  blocks_left_ = 0;
  disk_ = zero_packet_ = false;
}

bool UsbStorage::class_request(const SetupPacket& setup, std::span<const uint8_t>,
                               std::vector<uint8_t>& reply) {
  if ((setup.request_type & kTypeMask) != kTypeClass ||
      (setup.request_type & kRecipientMask) != kRecipientInterface || setup.index != 0)
    return false;
  if (setup.request == kRequestBotReset && !setup.in() && setup.value == 0 && setup.length == 0) {
    // Reset recovery, first half: ready for a CBW; the host clears the halts next.
    bot_reset();
    return true;
  }
  if (setup.request == kRequestGetMaxLun && setup.in() && setup.value == 0) {
    reply = {0};  // one LUN
    return true;
  }
  return false;
}

void UsbStorage::stall_both() {
  halted_in_ = static_cast<uint16_t>(halted_in_ | 1u << kEndpointIn);
  halted_out_ = static_cast<uint16_t>(halted_out_ | 1u << kEndpointOut);
}

void UsbStorage::endpoint_out(unsigned endpoint, Packet& packet) {
  if (endpoint != kEndpointOut) {
    packet.status = PacketStatus::kStall;
    return;
  }
  switch (phase_) {
    case Phase::kCommand:
      command(packet.buffer);
      // The CBW itself is acknowledged even when it is not meaningful: the stall comes after.
      packet.actual = packet.buffer.size();
      return;
    case Phase::kDataOut:
      receive_data(packet);
      return;
    default:
      // A packet the phase does not expect (a CBW before the CSW was read, or anything before
      // reset recovery): the endpoint halts.
      halted_out_ = static_cast<uint16_t>(halted_out_ | 1u << kEndpointOut);
      packet.status = PacketStatus::kStall;
      return;
  }
}

void UsbStorage::endpoint_in(unsigned endpoint, Packet& packet) {
  if (endpoint != kEndpointIn) {
    packet.status = PacketStatus::kStall;
    return;
  }
  switch (phase_) {
    case Phase::kDataIn:
      send_data(packet);
      return;
    case Phase::kStatus:
      send_status(packet);
      return;
    default:
      halted_in_ = static_cast<uint16_t>(halted_in_ | 1u << kEndpointIn);
      packet.status = PacketStatus::kStall;
      return;
  }
}

// --- the Bulk-Only Transport ------------------------------------------------------------------

void UsbStorage::command(std::span<const uint8_t> cbw) {
  uint8_t cb_length = cbw.size() == kCbwBytes ? cbw[14] & 0x1f : 0;
  if (cbw.size() != kCbwBytes || le32(cbw.data()) != kCbwSignature || (cbw[13] & 0x0f) != 0 ||
      cb_length < 1 || cb_length > 16) {
    HVMD_GUEST_LOG("usb-storage: CBW of %zu bytes (signature %#x) is not meaningful", cbw.size(),
                   cbw.size() >= 4 ? le32(cbw.data()) : 0);
    phase_ = Phase::kNeedReset;
    stall_both();
    return;
  }
  tag_ = le32(cbw.data() + 4);
  host_length_ = le32(cbw.data() + 8);
  bool host_in = cbw[12] & kCbwDirectionIn;
  status_ = kCswPassed;
  moved_ = data_length_ = 0;
  staged_.clear();
  staged_position_ = 0;
  disk_ = zero_packet_ = false;
  blocks_left_ = 0;
  Plan plan = execute(cbw.subspan(15, cb_length));
  bool has_data = plan.direction != Direction::kNone && plan.length > 0;
  if (!has_data) {
    // Cases 1, 4, 9: nothing to move. An IN the host expects ends with a short packet; OUT data
    // the host sends is taken and dropped. The residue says none of it was used.
    phase_ = host_length_ == 0 ? Phase::kStatus : host_in ? Phase::kDataIn : Phase::kDataOut;
    zero_packet_ = host_length_ != 0 && host_in;
  } else if (host_length_ == 0 || (plan.direction == Direction::kIn) != host_in) {
    // Cases 2, 3, 8, 10: the host expects no data, or the other direction: a phase error.
    status_ = kCswPhaseError;
    phase_ = host_length_ == 0 ? Phase::kStatus : host_in ? Phase::kDataIn : Phase::kDataOut;
    zero_packet_ = host_length_ != 0 && host_in;
    plan.flush = false;
  } else {
    // Cases 6, 12 (equal), 5, 11 (the host expects more), 7, 13 (less: a phase error).
    data_length_ = std::min(host_length_, plan.length);
    if (plan.length > host_length_) status_ = kCswPhaseError;
    zero_packet_ = host_in && data_length_ < host_length_;
    phase_ = host_in ? Phase::kDataIn : Phase::kDataOut;
    disk_ = plan.disk;
    if (disk_) {
      blocks_left_ =
          host_in ? (data_length_ + kBlockSize - 1) / kBlockSize : data_length_ / kBlockSize;
      if (host_in) start_read();
    }
  }
  if (plan.flush) {
    io_pending_ = true;
    uint64_t generation = generation_;
    medium_->flush([this, generation](int error) {
      if (generation != generation_) return;
      io_pending_ = false;
      if (error) {
        fail(kSenseMediumError, kAscWriteError);
        status_ = kCswFailed;
      }
      endpoint_ready();
    });
  }
}

void UsbStorage::send_data(Packet& packet) {
  size_t room = packet.buffer.size();
  if (moved_ >= data_length_) {
    // The command's data is all sent and the host asked for more: a zero-length packet ends the
    // transfer short.
    packet.actual = 0;
    zero_packet_ = false;
    finish_data_phase();
    return;
  }
  size_t want = std::min<size_t>(room, data_length_ - moved_);
  size_t available = staged_.size() - staged_position_;
  if (available < want) {
    if (disk_ && blocks_left_ > 0) {
      if (!io_pending_) start_read();
      packet.status = PacketStatus::kNak;
      return;
    }
    if (io_pending_) {
      packet.status = PacketStatus::kNak;
      return;
    }
    want = available;  // a read failed: what there is, then the short end
    data_length_ = moved_ + static_cast<uint32_t>(available);
    zero_packet_ = data_length_ < host_length_;
  }
  std::memcpy(packet.buffer.data(), staged_.data() + staged_position_, want);
  staged_position_ += static_cast<uint32_t>(want);
  moved_ += static_cast<uint32_t>(want);
  packet.actual = want;
  if (want < room) zero_packet_ = false;  // this packet was the short one
  if (moved_ >= data_length_ && !zero_packet_) finish_data_phase();
}

void UsbStorage::receive_data(Packet& packet) {
  if (io_pending_) {
    packet.status = PacketStatus::kNak;
    return;
  }
  size_t n = packet.buffer.size();
  if (n > host_length_ - moved_) {
    // More than the CBW announced: the host is confused. A phase error after the halt.
    HVMD_GUEST_LOG("usb-storage: %zu bytes of OUT data beyond dCBWDataTransferLength", n);
    halted_out_ = static_cast<uint16_t>(halted_out_ | 1u << kEndpointOut);
    packet.status = PacketStatus::kStall;
    status_ = kCswPhaseError;
    phase_ = Phase::kStatus;
    return;
  }
  if (moved_ < data_length_ && disk_ && blocks_left_ > 0) {
    size_t take = std::min<size_t>(n, data_length_ - moved_);
    staged_.insert(staged_.end(), packet.buffer.begin(), packet.buffer.begin() + take);
  }
  moved_ += static_cast<uint32_t>(n);
  packet.actual = n;
  bool all = moved_ >= data_length_;
  if (disk_ && blocks_left_ > 0 && (staged_.size() >= kChunkBytes || all)) start_write(all);
  // The host has sent everything: it reads the CSW next, which waits (NAK) for the writes.
  if (moved_ >= host_length_) finish_data_phase();
}

void UsbStorage::start_read() {
  // Unsent bytes move to the front; the next chunk follows them.
  staged_.erase(staged_.begin(), staged_.begin() + staged_position_);
  staged_position_ = 0;
  uint32_t blocks = std::min(blocks_left_, kChunkBytes / kBlockSize);
  io_buffer_.resize(size_t{blocks} * kBlockSize);
  io_pending_ = true;
  uint64_t generation = generation_;
  medium_->read(next_lba_ * kBlockSize, io_buffer_, [this, generation, blocks](int error) {
    if (generation == generation_) io_done(error, false, blocks);
  });
}

void UsbStorage::start_write(bool all) {
  uint32_t blocks =
      std::min<uint32_t>(static_cast<uint32_t>(staged_.size() / kBlockSize), blocks_left_);
  if (blocks == 0) {
    // Nothing whole left to write (a partial block the host cut short is dropped).
    if (all) {
      staged_.clear();
      blocks_left_ = 0;
      if (moved_ >= host_length_) finish_data_phase();
    }
    return;
  }
  size_t bytes = size_t{blocks} * kBlockSize;
  io_buffer_.assign(staged_.begin(), staged_.begin() + static_cast<ptrdiff_t>(bytes));
  staged_.erase(staged_.begin(), staged_.begin() + static_cast<ptrdiff_t>(bytes));
  io_pending_ = true;
  uint64_t generation = generation_;
  medium_->write(next_lba_ * kBlockSize, io_buffer_, [this, generation, blocks](int error) {
    if (generation == generation_) io_done(error, true, blocks);
  });
}

void UsbStorage::io_done(int error, bool write, uint32_t blocks) {
  io_pending_ = false;
  if (error) {
    HVMD_GUEST_LOG("usb-storage: %s at block %llu failed: %s", write ? "write" : "read",
                   static_cast<unsigned long long>(next_lba_), strerror(error));
    fail(kSenseMediumError, write ? kAscWriteError : kAscReadError);
    status_ = kCswFailed;
    blocks_left_ = 0;
    if (write) {
      staged_.clear();
      if (moved_ >= host_length_) finish_data_phase();
    }
    endpoint_ready();
    return;
  }
  next_lba_ += blocks;
  blocks_left_ -= blocks;
  if (write) {
    if (blocks_left_ > 0 && staged_.size() >= kBlockSize &&
        (staged_.size() >= kChunkBytes || moved_ >= data_length_)) {
      start_write(moved_ >= data_length_);
      return;
    }
    if (moved_ >= data_length_) {
      staged_.clear();
      blocks_left_ = 0;
      if (moved_ >= host_length_) finish_data_phase();
    }
  } else {
    staged_.insert(staged_.end(), io_buffer_.begin(), io_buffer_.end());
  }
  endpoint_ready();
}

void UsbStorage::finish_data_phase() {
  phase_ = Phase::kStatus;
}

void UsbStorage::send_status(Packet& packet) {
  if (io_pending_) {
    packet.status = PacketStatus::kNak;  // a write or flush still on its way
    return;
  }
  if (packet.buffer.size() < kCswBytes) {
    packet.status = PacketStatus::kBabble;
    return;
  }
  uint8_t* csw = packet.buffer.data();
  put_le32(csw, kCswSignature);
  put_le32(csw + 4, tag_);
  put_le32(csw + 8, host_length_ - std::min(moved_, data_length_));
  csw[12] = status_;
  packet.actual = kCswBytes;
  phase_ = Phase::kCommand;
}

// --- SCSI -------------------------------------------------------------------------------------

void UsbStorage::fail(uint8_t key, uint8_t asc, uint8_t ascq) {
  sense_key_ = key;
  asc_ = asc;
  ascq_ = ascq;
  status_ = kCswFailed;
}

bool UsbStorage::check_range(uint64_t lba, uint64_t count) {
  if (lba > blocks() || count > blocks() - lba) {
    fail(kSenseIllegalRequest, kAscLbaOutOfRange);
    return false;
  }
  return true;
}

UsbStorage::Plan UsbStorage::execute(std::span<const uint8_t> cdb) {
  uint8_t op = cdb[0];
  if (op != kRequestSense) sense_key_ = asc_ = ascq_ = kSenseNone;
  // The command block must hold the command's fields.
  auto needs = [&](size_t n) {
    if (cdb.size() >= n) return true;
    fail(kSenseIllegalRequest, kAscInvalidField);
    return false;
  };
  std::vector<uint8_t> reply;
  uint32_t allocation = 0;
  auto in_reply = [&](std::vector<uint8_t> bytes, uint32_t limit) {
    if (bytes.size() > limit) bytes.resize(limit);
    staged_ = std::move(bytes);
    staged_position_ = 0;
    return Plan{.direction = Direction::kIn, .length = static_cast<uint32_t>(staged_.size())};
  };
  uint64_t last = blocks() ? blocks() - 1 : 0;
  switch (op) {
    case kTestUnitReady:
    case kStartStopUnit:
      return {};
    case kRequestSense: {
      if (!needs(6)) return {};
      reply = std::vector<uint8_t>(18);
      reply[0] = 0x70;  // current error, fixed format
      reply[2] = sense_key_;
      reply[7] = 10;
      reply[12] = asc_;
      reply[13] = ascq_;
      sense_key_ = asc_ = ascq_ = kSenseNone;
      return in_reply(std::move(reply), cdb[4]);
    }
    case kInquiry: {
      if (!needs(6)) return {};
      allocation = uint32_t{cdb[3]} << 8 | cdb[4];
      if (cdb[1] & 1) {  // vital product data
        if (cdb[2] == 0x00) {
          reply = {0, 0x00, 0, 2, 0x00, 0x80};
        } else if (cdb[2] == 0x80) {
          std::string serial = drive_id_.substr(0, 32);
          reply = {0, 0x80, 0, static_cast<uint8_t>(serial.size())};
          reply.insert(reply.end(), serial.begin(), serial.end());
        } else {
          fail(kSenseIllegalRequest, kAscInvalidField);
          return {};
        }
        return in_reply(std::move(reply), allocation);
      }
      if (cdb[2] != 0) {
        fail(kSenseIllegalRequest, kAscInvalidField);
        return {};
      }
      reply = {0x00,  // direct-access block device
               static_cast<uint8_t>(removable_ ? 0x80 : 0),
               0x05 /* SPC-3 */,
               0x02 /* response data format */,
               31,
               0,
               0,
               0};
      pad(reply, "HVMD", 8);
      pad(reply, "USB STORAGE", 16);
      pad(reply, "1.0", 4);
      return in_reply(std::move(reply), allocation);
    }
    case kModeSense6:
    case kModeSense10: {
      bool ten = op == kModeSense10;
      if (!needs(ten ? 10 : 6)) return {};
      uint8_t page = cdb[2] & 0x3f;
      allocation = ten ? uint32_t{cdb[7]} << 8 | cdb[8] : cdb[4];
      std::vector<uint8_t> pages;
      if (page == kModePageCaching || page == kModePageAll) {
        // Caching page: write cache enabled (flushes are real).
        pages = {kModePageCaching, 0x12, 0x04};
        pages.resize(20);
      } else {
        fail(kSenseIllegalRequest, kAscInvalidField);
        return {};
      }
      uint8_t specific = medium_->read_only() ? kModeWriteProtect : 0;
      if (ten) {
        size_t total = 8 + pages.size() - 2;
        reply = {
            static_cast<uint8_t>(total >> 8), static_cast<uint8_t>(total), 0, specific, 0, 0, 0, 0};
      } else {
        reply = {static_cast<uint8_t>(4 + pages.size() - 1), 0, specific, 0};
      }
      reply.insert(reply.end(), pages.begin(), pages.end());
      return in_reply(std::move(reply), allocation);
    }
    case kPreventAllow:
      if (!needs(6)) return {};
      prevent_removal_ = cdb[4] & 1;
      return {};
    case kReadFormatCapacities: {
      if (!needs(10)) return {};
      allocation = uint32_t{cdb[7]} << 8 | cdb[8];
      reply = {0, 0, 0, 8};
      put_be32(reply, static_cast<uint32_t>(std::min<uint64_t>(blocks(), 0xffffffff)));
      put_be32(reply, 0x02000000 | kBlockSize);  // formatted media, block length
      return in_reply(std::move(reply), allocation);
    }
    case kReadCapacity10:
      if (!needs(10)) return {};
      put_be32(reply, static_cast<uint32_t>(std::min<uint64_t>(last, 0xffffffff)));
      put_be32(reply, kBlockSize);
      return in_reply(std::move(reply), 8);
    case kServiceActionIn16:
      if (!needs(16)) return {};
      if ((cdb[1] & 0x1f) != kSaReadCapacity16) {
        fail(kSenseIllegalRequest, kAscInvalidOpcode);
        return {};
      }
      put_be64(reply, last);
      put_be32(reply, kBlockSize);
      reply.resize(32);
      return in_reply(std::move(reply), be32(&cdb[10]));
    case kReportLuns:
      if (!needs(12)) return {};
      reply = {0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};  // LUN 0 alone
      return in_reply(std::move(reply), be32(&cdb[6]));
    case kSynchronizeCache10:
    case kSynchronizeCache16:
      return {.flush = true};
    case kVerify10:
      if (!needs(10)) return {};
      check_range(be32(&cdb[2]), uint32_t{cdb[7]} << 8 | cdb[8]);
      return {};
    case kRead10:
    case kWrite10:
    case kRead12:
    case kWrite12:
    case kRead16:
    case kWrite16: {
      bool write = op == kWrite10 || op == kWrite12 || op == kWrite16;
      uint64_t lba = 0, count = 0;
      if (op == kRead10 || op == kWrite10) {
        if (!needs(10)) return {};
        lba = be32(&cdb[2]);
        count = uint32_t{cdb[7]} << 8 | cdb[8];
      } else if (op == kRead12 || op == kWrite12) {
        if (!needs(12)) return {};
        lba = be32(&cdb[2]);
        count = be32(&cdb[6]);
      } else {
        if (!needs(16)) return {};
        lba = be64(&cdb[2]);
        count = be32(&cdb[10]);
      }
      if (write && medium_->read_only()) {
        fail(kSenseDataProtect, kAscWriteProtected);
        return {};
      }
      if (!check_range(lba, count) || count == 0) return {};
      next_lba_ = lba;
      return {.direction = write ? Direction::kOut : Direction::kIn,
              .length = static_cast<uint32_t>(std::min<uint64_t>(count * kBlockSize, 0xffffffff)),
              .disk = true};
    }
    default:
      HVMD_DEBUG("usb-storage: SCSI command %#x not supported", op);
      fail(kSenseIllegalRequest, kAscInvalidOpcode);
      return {};
  }
}

// --- state ------------------------------------------------------------------------------------

void UsbStorage::save_usb(StateWriter& out) const {
  write_fields(out, static_cast<const UsbStorageState&>(*this));
}

Result<std::unique_ptr<StagedState>> UsbStorage::parse_usb(StateReader& in, uint32_t version) {
  UsbStorageState next = *this;
  HVMD_TRY(read_fields(in, version, "usb-storage", next));
  if (next.staged_position_ > next.staged_.size() || next.moved_ > next.host_length_ ||
      next.data_length_ > next.host_length_ || next.next_lba_ > blocks() ||
      next.blocks_left_ > blocks() - next.next_lba_)
    return make_error("usb-storage: saved transfer is inconsistent");
  return staged([this, next = std::move(next)]() mutable {
    static_cast<UsbStorageState&>(*this) = std::move(next);
  });
}

}  // namespace hvmd::devices::usb
