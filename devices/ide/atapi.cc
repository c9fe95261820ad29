// ATAPI: the PACKET protocol and the MMC commands a CD-ROM answers for Linux (sr/libata), Windows
// and SeaBIOS. A reply is built in the channel's buffer and cut to the command's allocation
// length; it goes to the host by PIO, in blocks no larger than the byte-count limit the host set,
// or by DMA when the PACKET command asked for it. Reads of the medium are checked against its size
// before anything moves (the CVE-2020-29443 class).
#include <algorithm>
#include <cstring>

#include "devices/ide/ide_channel.h"
#include "devices/ide/ide_regs.h"
#include "dm/log.h"

namespace hvmd::devices::ide {

namespace {

constexpr uint8_t kFeatureDma = 0x01;  // PACKET feature register: data by DMA
// Above this many 2048-byte sectors a disc is a DVD (an 80-minute CD holds 360000).
constexpr uint64_t kCdMaxSectors = 360000;
constexpr uint16_t kProfileCdRom = 0x0008;
constexpr uint16_t kProfileDvdRom = 0x0010;
constexpr uint8_t kNotificationClassMedia = 0x10;  // bit 4 of the class request and support mask
constexpr uint16_t kMaxSpeedKbps = 706;            // 4x
constexpr uint8_t kModePageErrorRecovery = 0x01;
constexpr uint8_t kModePagePowerCondition = 0x1a;
constexpr uint8_t kModePageCapabilities = 0x2a;
constexpr uint8_t kModePageAll = 0x3f;
constexpr uint8_t kPageControlSaved = 3;

uint16_t be16(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] << 8 | p[1]);
}
uint32_t be32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}
void put16(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
void put32(uint8_t* p, uint32_t v) {
  put16(p, v >> 16);
  put16(p + 2, v);
}
// A logical block address as minute/second/frame (75 frames a second, 2 s of pre-gap).
void put_msf(uint8_t* p, uint64_t lba) {
  uint64_t frames = lba + 150;
  p[0] = static_cast<uint8_t>(frames / (75 * 60));
  p[1] = static_cast<uint8_t>((frames / 75) % 60);
  p[2] = static_cast<uint8_t>(frames % 75);
}
void put_address(uint8_t* p, uint64_t lba, bool msf) {
  if (msf) {
    p[0] = 0;
    put_msf(p + 1, lba);
  } else {
    put32(p, static_cast<uint32_t>(lba));
  }
}

// Commands a drive answers even while it has a unit attention to report.
bool ignores_unit_attention(uint8_t op) {
  return op == scsi::kInquiry || op == scsi::kRequestSense || op == scsi::kGetEventStatus;
}

}  // namespace

void IdeChannel::start_packet() {
  transfer_.atapi = true;
  transfer_.dma = feature_ & kFeatureDma;
  // The byte-count limit for PIO blocks comes with the command; odd, zero or huge values are
  // taken as the largest even count a block may have.
  uint32_t limit = uint32_t{lba_high_} << 8 | lba_mid_;
  limit &= ~1u;
  transfer_.block = limit == 0 ? 0xfffe : limit;
  sector_count_ = kReasonCommand;
  pio_pos_ = 0;
  pio_end_ = sizeof(packet_);
  phase_ = Phase::kPacket;
  status_ = kStatusDrdy | kStatusDrq;
}

void IdeChannel::atapi_check_condition(uint8_t key, uint8_t asc) {
  IdeDrive& drive = drives_[transfer_.unit];
  drive.sense = {key, asc};
  phase_ = Phase::kIdle;
  error_ = static_cast<uint8_t>(key << 4);
  status_ = kStatusDrdy | kStatusErr;
  sector_count_ = kReasonIo | kReasonCommand;
  set_irq();
}

void IdeChannel::atapi_done() {
  phase_ = Phase::kIdle;
  error_ = 0;
  status_ = kStatusDrdy | kStatusDsc;
  sector_count_ = kReasonIo | kReasonCommand;
  set_irq();
}

bool IdeChannel::atapi_media_ready() {
  if (drives_[transfer_.unit].has_medium()) return true;
  atapi_check_condition(sense::kNotReady, sense::kAscMediumNotPresent);
  return false;
}

// Hands a reply of length bytes (already in the buffer) to the host, at most allocation bytes.
void IdeChannel::atapi_reply(uint32_t length, uint32_t allocation) {
  uint32_t n = std::min(length, allocation);
  transfer_.source = Source::kBuffer;
  transfer_.to_host = true;
  transfer_.buffer_pos = 0;
  transfer_.buffer_end = n;
  transfer_.remaining = n;
  if (n == 0) {
    atapi_done();
  } else if (transfer_.dma) {
    phase_ = Phase::kDmaWaiting;
    status_ = kStatusDrdy | kStatusDrq;
    if (bm_command_ & kBmCommandStart) start_dma();
  } else {
    atapi_pio_block();
  }
}

void IdeChannel::atapi_start_read(uint64_t lba, uint32_t count) {
  IdeDrive& drive = drives_[transfer_.unit];
  if (lba >= drive.sectors() || count > drive.sectors() - lba) {
    HVMD_GUEST_LOG("ide: ATAPI read of blocks %llu+%u beyond the medium",
                   static_cast<unsigned long long>(lba), count);
    atapi_check_condition(sense::kIllegalRequest, sense::kAscLbaOutOfRange);
    return;
  }
  if (count == 0) {
    atapi_done();
    return;
  }
  transfer_.source = Source::kMedium;
  transfer_.to_host = true;
  transfer_.offset = lba * kCdSectorSize;
  transfer_.remaining = uint64_t{count} * kCdSectorSize;
  if (transfer_.dma) {
    phase_ = Phase::kDmaWaiting;
    status_ = kStatusDrdy | kStatusDrq;
    if (bm_command_ & kBmCommandStart) start_dma();
  } else {
    pio_next_medium_block();
  }
}

// The next PIO block of a packet command's data, or the command's end.
void IdeChannel::atapi_pio_block() {
  if (transfer_.remaining == 0) {
    atapi_done();
    return;
  }
  if (transfer_.source == Source::kMedium) {
    pio_next_medium_block();
    return;
  }
  auto n = static_cast<uint32_t>(std::min<uint64_t>(transfer_.remaining, transfer_.block));
  lba_mid_ = static_cast<uint8_t>(n);
  lba_high_ = static_cast<uint8_t>(n >> 8);
  sector_count_ = kReasonIo;
  uint32_t begin = transfer_.buffer_pos;
  transfer_.buffer_pos += n;
  transfer_.remaining -= n;
  start_pio_in_range(begin, begin + n);
}

void IdeChannel::execute_packet() {
  const uint8_t* p = packet_.data();
  uint8_t op = p[0];
  IdeDrive& drive = drives_[transfer_.unit];
  uint8_t* out = buffer();
  if (drive.unit_attention && !ignores_unit_attention(op)) {
    drive.unit_attention = false;
    atapi_check_condition(sense::kUnitAttention, sense::kAscMediumMayHaveChanged);
    return;
  }
  if (op != scsi::kRequestSense) drive.sense = {};
  bool ok = true;
  switch (op) {
    case scsi::kTestUnitReady:
      if (atapi_media_ready()) atapi_done();
      return;
    case scsi::kRequestSense: {
      uint32_t length = build_request_sense();
      drive.sense = {};
      atapi_reply(length, p[4]);
      return;
    }
    case scsi::kInquiry:
      atapi_reply(build_inquiry(), be16(p + 3));
      return;
    case scsi::kModeSense10: {
      uint32_t length = build_mode_sense(p, &ok);
      if (ok) atapi_reply(length, be16(p + 7));
      return;
    }
    case scsi::kStartStopUnit: {
      bool load_eject = p[4] & 0x02;
      bool start = p[4] & 0x01;
      if (load_eject && !start) {
        if (drive.locked) {
          atapi_check_condition(sense::kNotReady, sense::kAscRemovalPrevented);
          return;
        }
        drive.tray_open = true;
      } else if (load_eject && start) {
        drive.tray_open = false;
      }
      atapi_done();
      return;
    }
    case scsi::kPreventAllowRemoval:
      drive.locked = p[4] & 0x01;
      atapi_done();
      return;
    case scsi::kReadCapacity:
      if (!atapi_media_ready()) return;
      put32(out, static_cast<uint32_t>(std::min<uint64_t>(drive.sectors() - 1, 0xffffffff)));
      put32(out + 4, kCdSectorSize);
      atapi_reply(8, 8);
      return;
    case scsi::kRead10:
      if (atapi_media_ready()) atapi_start_read(be32(p + 2), be16(p + 7));
      return;
    case scsi::kRead12:
      if (atapi_media_ready()) atapi_start_read(be32(p + 2), be32(p + 6));
      return;
    case scsi::kSeek10:
      if (!atapi_media_ready()) return;
      if (be32(p + 2) >= drive.sectors()) {
        atapi_check_condition(sense::kIllegalRequest, sense::kAscLbaOutOfRange);
        return;
      }
      atapi_done();
      return;
    case scsi::kReadToc: {
      if (!atapi_media_ready()) return;
      uint32_t length = build_read_toc(p, &ok);
      if (ok) atapi_reply(length, be16(p + 7));
      return;
    }
    case scsi::kGetConfiguration:
      atapi_reply(build_get_configuration(p), be16(p + 7));
      return;
    case scsi::kGetEventStatus: {
      uint32_t length = build_event_status(p, &ok);
      if (ok) atapi_reply(length, be16(p + 7));
      return;
    }
    case scsi::kReadDiscInformation:
      if (!atapi_media_ready()) return;
      if ((p[1] & 0x07) != 0) {  // only the standard disc information block
        atapi_check_condition(sense::kIllegalRequest, sense::kAscInvalidField);
        return;
      }
      atapi_reply(build_disc_information(), be16(p + 7));
      return;
    case scsi::kMechanismStatus:
      atapi_reply(build_mechanism_status(), be16(p + 8));
      return;
    case scsi::kSetCdSpeed:
      atapi_done();
      return;
  }
  HVMD_GUEST_LOG("ide: ATAPI command %#x not supported", op);
  atapi_check_condition(sense::kIllegalRequest, sense::kAscInvalidOpcode);
}

uint32_t IdeChannel::build_request_sense() {
  const IdeDrive& drive = drives_[transfer_.unit];
  uint8_t* out = buffer();
  std::memset(out, 0, 18);
  out[0] = 0x70;  // current error, fixed format
  out[2] = drive.sense.key;
  out[7] = 10;  // additional sense length
  out[12] = drive.sense.asc;
  return 18;
}

uint32_t IdeChannel::build_inquiry() {
  uint8_t* out = buffer();
  std::memset(out, 0, 36);
  out[0] = 0x05;  // CD/DVD device
  out[1] = 0x80;  // removable medium
  out[3] = 0x21;  // ATAPI, response data format 1
  out[4] = 36 - 5;
  std::memcpy(out + 8, "HVMD    ", 8);
  std::memcpy(out + 16, "HVMD DVD-ROM    ", 16);
  std::memcpy(out + 32, "1.0 ", 4);
  return 36;
}

uint32_t IdeChannel::build_read_toc(const uint8_t* p, bool* ok) {
  const IdeDrive& drive = drives_[transfer_.unit];
  uint8_t* out = buffer();
  bool msf = p[1] & 0x02;
  unsigned format = p[2] & 0x0f;
  if (format == 0) format = p[9] >> 6;  // the format's older home in the control byte
  uint8_t start_track = p[6];
  uint64_t leadout = drive.sectors();
  switch (format) {
    case 0: {  // TOC: track 1 (data) and the lead-out
      if (start_track > 1 && start_track != 0xaa) {
        atapi_check_condition(sense::kIllegalRequest, sense::kAscInvalidField);
        *ok = false;
        return 0;
      }
      uint32_t length = 4;
      out[2] = 1;  // first track
      out[3] = 1;  // last track
      if (start_track <= 1) {
        uint8_t* d = out + length;
        std::memset(d, 0, 8);
        d[1] = 0x14;  // ADR 1, data track
        d[2] = 1;
        put_address(d + 4, 0, msf);
        length += 8;
      }
      uint8_t* d = out + length;
      std::memset(d, 0, 8);
      d[1] = 0x14;
      d[2] = 0xaa;
      put_address(d + 4, leadout, msf);
      length += 8;
      put16(out, length - 2);
      return length;
    }
    case 1: {  // session information: one session starting at track 1
      std::memset(out, 0, 12);
      put16(out, 10);
      out[2] = 1;
      out[3] = 1;
      out[5] = 0x14;
      out[6] = 1;
      put_address(out + 8, 0, msf);
      return 12;
    }
    case 2: {  // full TOC: A0 (first track), A1 (last track), A2 (lead-out), track 1
      uint32_t length = 4;
      out[2] = 1;  // first session
      out[3] = 1;  // last session
      struct Entry {
        uint8_t point;
        uint8_t pmin, psec, pframe;
      };
      uint8_t leadout_msf[3];
      put_msf(leadout_msf, leadout);
      uint8_t track1_msf[3];
      put_msf(track1_msf, 0);
      const Entry entries[] = {{0xa0, 1, 0, 0},
                               {0xa1, 1, 0, 0},
                               {0xa2, leadout_msf[0], leadout_msf[1], leadout_msf[2]},
                               {1, track1_msf[0], track1_msf[1], track1_msf[2]}};
      for (const Entry& e : entries) {
        uint8_t* d = out + length;
        std::memset(d, 0, 11);
        d[0] = 1;     // session
        d[1] = 0x14;  // ADR 1, data
        d[3] = e.point;
        d[8] = e.pmin;
        d[9] = e.psec;
        d[10] = e.pframe;
        length += 11;
      }
      put16(out, length - 2);
      return length;
    }
  }
  atapi_check_condition(sense::kIllegalRequest, sense::kAscInvalidField);
  *ok = false;
  return 0;
}

uint32_t IdeChannel::build_mode_sense(const uint8_t* p, bool* ok) {
  const IdeDrive& drive = drives_[transfer_.unit];
  uint8_t* out = buffer();
  uint8_t page = p[2] & 0x3f;
  uint8_t control = p[2] >> 6;
  if (control == kPageControlSaved) {
    atapi_check_condition(sense::kIllegalRequest, sense::kAscSavingParametersNotSupported);
    *ok = false;
    return 0;
  }
  bool changeable = control == 1;  // report which fields can change: none
  std::memset(out, 0, 8);
  // Medium type: door closed without a disc (0x70), door open (0x71), or a data disc (0x01).
  out[2] = drive.tray_open ? 0x71 : drive.medium ? 0x01 : 0x70;
  uint32_t length = 8;
  auto add_page = [&](uint8_t code) {
    uint8_t* d = out + length;
    if (code == kModePageErrorRecovery) {
      std::memset(d, 0, 12);
      d[0] = code;
      d[1] = 10;
      if (!changeable) d[3] = 5;  // read retry count
      length += 12;
    } else if (code == kModePagePowerCondition) {
      std::memset(d, 0, 12);
      d[0] = code;
      d[1] = 10;
      length += 12;
    } else {  // capabilities and mechanical status
      std::memset(d, 0, 22);
      d[0] = code;
      d[1] = 20;
      if (!changeable) {
        d[2] = 0x3b;  // reads CD-R, CD-RW, method 2, DVD-ROM
        d[4] = 0x71;  // audio play, composite, digital ports, multi-session
        d[5] = 0xff;  // CD-DA commands, accurate streams, subchannel data
        // Lock supported (and its state), eject supported, tray loading mechanism.
        d[6] = static_cast<uint8_t>(0x29 | (drive.locked ? 0x02 : 0));
        put16(d + 8, kMaxSpeedKbps);
        put16(d + 10, 256);   // volume levels
        put16(d + 12, 2048);  // buffer size, KiB
        put16(d + 14, kMaxSpeedKbps);
      }
      length += 22;
    }
  };
  switch (page) {
    case kModePageErrorRecovery:
    case kModePagePowerCondition:
    case kModePageCapabilities:
      add_page(page);
      break;
    case kModePageAll:
      add_page(kModePageErrorRecovery);
      add_page(kModePagePowerCondition);
      add_page(kModePageCapabilities);
      break;
    default:
      atapi_check_condition(sense::kIllegalRequest, sense::kAscInvalidField);
      *ok = false;
      return 0;
  }
  put16(out, length - 2);
  return length;
}

uint32_t IdeChannel::build_get_configuration(const uint8_t* p) {
  const IdeDrive& drive = drives_[transfer_.unit];
  uint8_t* out = buffer();
  unsigned request_type = p[1] & 0x03;  // 0 all, 1 current, 2 the one named
  uint16_t starting = be16(p + 2);
  uint16_t current = 0;
  if (drive.has_medium())
    current = drive.sectors() > kCdMaxSectors ? kProfileDvdRom : kProfileCdRom;
  std::memset(out, 0, 8);
  put16(out + 6, current);
  uint32_t length = 8;
  auto wanted = [&](uint16_t feature) {
    return request_type == 2 ? feature == starting : feature >= starting;
  };
  if (wanted(0x0000)) {  // profile list: DVD-ROM and CD-ROM
    uint8_t* d = out + length;
    std::memset(d, 0, 12);
    d[2] = 0x03;  // persistent, current
    d[3] = 8;
    put16(d + 4, kProfileDvdRom);
    d[6] = current == kProfileDvdRom;
    put16(d + 8, kProfileCdRom);
    d[10] = current == kProfileCdRom;
    length += 12;
  }
  if (wanted(0x0001)) {  // core: ATAPI interface
    uint8_t* d = out + length;
    std::memset(d, 0, 12);
    put16(d, 0x0001);
    d[2] = 0x0b;  // version 2, persistent, current
    d[3] = 8;
    put32(d + 4, 2);  // physical interface: ATAPI
    length += 12;
  }
  if (wanted(0x0003)) {  // removable medium: tray, eject, lock
    uint8_t* d = out + length;
    std::memset(d, 0, 8);
    put16(d, 0x0003);
    d[2] = 0x03;
    d[3] = 4;
    d[4] = static_cast<uint8_t>(0x29 | (drive.locked ? 0x04 : 0));
    length += 8;
  }
  put32(out, length - 4);
  return length;
}

uint32_t IdeChannel::build_event_status(const uint8_t* p, bool* ok) {
  IdeDrive& drive = drives_[transfer_.unit];
  uint8_t* out = buffer();
  if (!(p[1] & 0x01)) {  // only polled operation: there are no asynchronous notifications
    atapi_check_condition(sense::kIllegalRequest, sense::kAscInvalidField);
    *ok = false;
    return 0;
  }
  std::memset(out, 0, 8);
  out[3] = kNotificationClassMedia;  // supported classes
  if (!(p[4] & kNotificationClassMedia)) {
    put16(out, 2);
    out[2] = 0x80;  // no event available
    return 4;
  }
  put16(out, 6);
  out[2] = 0x04;  // media class
  uint8_t event = drive.media_event;
  // A host-side eject of a locked tray shows as an eject request until the guest unlocks it.
  if (event == kMediaEventNone && drive.eject_requested) event = kMediaEventEjectRequest;
  out[4] = event;
  out[5] = static_cast<uint8_t>((drive.has_medium() ? 0x02 : 0) | (drive.tray_open ? 0x01 : 0));
  drive.media_event = kMediaEventNone;
  return 8;
}

uint32_t IdeChannel::build_disc_information() {
  uint8_t* out = buffer();
  std::memset(out, 0, 34);
  put16(out, 32);
  out[2] = 0x0e;  // last session complete, disc complete
  out[3] = 1;     // first track
  out[4] = 1;     // sessions
  out[5] = 1;     // first track of the last session
  out[6] = 1;     // last track of the last session
  return 34;
}

uint32_t IdeChannel::build_mechanism_status() {
  const IdeDrive& drive = drives_[transfer_.unit];
  uint8_t* out = buffer();
  std::memset(out, 0, 8);
  out[1] = drive.tray_open ? 0x10 : 0;
  return 8;
}

}  // namespace hvmd::devices::ide
