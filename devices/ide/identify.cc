// IDENTIFY DEVICE and IDENTIFY PACKET DEVICE data (ATA/ATAPI-6 tables 27 and 29): the words
// firmware and drivers read to learn a drive's size, addressing, transfer modes and features.
#include <algorithm>
#include <cstring>

#include "devices/ide/ide_channel.h"
#include "devices/ide/ide_regs.h"

namespace hvmd::devices::ide {

namespace {

constexpr uint32_t kLba28Max = 0x0fffffff;

class IdentifyWords {
 public:
  explicit IdentifyWords(uint8_t* out) : out_(out) { std::memset(out_, 0, kSectorSize); }
  void set(unsigned word, uint16_t value) {
    out_[word * 2] = static_cast<uint8_t>(value);
    out_[word * 2 + 1] = static_cast<uint8_t>(value >> 8);
  }
  // ATA strings: space padded, two characters a word with the first in the high byte.
  void string(unsigned word, unsigned words, const std::string& text) {
    for (unsigned i = 0; i < words * 2; ++i) {
      char c = i < text.size() ? text[i] : ' ';
      out_[word * 2 + (i ^ 1)] = static_cast<uint8_t>(c);
    }
  }
  // Word 255: signature 0xa5 and a checksum making all 512 bytes sum to zero.
  void seal() {
    out_[510] = 0xa5;
    uint8_t sum = 0;
    for (unsigned i = 0; i < 511; ++i) sum = static_cast<uint8_t>(sum + out_[i]);
    out_[511] = static_cast<uint8_t>(-sum);
  }

 private:
  uint8_t* out_;
};

// The selected transfer mode as IDENTIFY reports it: bit n+8 of the mode's word.
uint16_t selected(uint8_t transfer_mode, uint8_t mode_class) {
  if ((transfer_mode & 0xf8) != mode_class) return 0;
  return static_cast<uint16_t>(1u << (8 + (transfer_mode & 7)));
}

void common_words(IdentifyWords& w, const IdeDrive& drive) {
  w.string(10, 10, drive.serial);
  w.string(23, 4, drive.firmware_revision);
  w.string(27, 20, drive.model);
  w.set(49, 0x0b00);  // IORDY supported, LBA, DMA
  w.set(53, 0x0007);  // words 54-58, 64-70 and 88 valid
  // Single-word DMA 0-2 (word 62, retired since ATA-3 but still read by old hosts; SET FEATURES
  // accepts these modes) and multiword DMA 0-2, each with the selected mode in the high byte.
  w.set(62, static_cast<uint16_t>(0x0007 | selected(drive.transfer_mode, kModeClassSinglewordDma)));
  w.set(63, static_cast<uint16_t>(0x0007 | selected(drive.transfer_mode, kModeClassMultiwordDma)));
  w.set(64, 0x0003);                                              // PIO modes 3 and 4
  for (unsigned word = 65; word <= 68; ++word) w.set(word, 120);  // cycle times, ns
  w.set(88, static_cast<uint16_t>(0x003f | selected(drive.transfer_mode, kModeClassUltraDma)));
  // Hardware reset result: device 0 passed diagnostics, 80-conductor cable detected.
  w.set(93, 0x6001);
  // World wide name (NAA first): words 108-111, most significant word first; words 84 and 87
  // bit 8 say they are valid.
  if (drive.wwn) {
    for (unsigned i = 0; i < 4; ++i)
      w.set(108 + i, static_cast<uint16_t>(*drive.wwn >> (48 - 16 * i)));
  }
}

constexpr uint16_t kWwnSupported = 0x0100;  // words 84 and 87

}  // namespace

void IdeChannel::build_identify(const IdeDrive& drive) {
  IdentifyWords w(buffer());
  uint64_t sectors = drive.sectors();
  w.set(0, 0x0040);  // fixed device
  w.set(1, drive.physical.cylinders);
  w.set(3, drive.physical.heads);
  w.set(6, drive.physical.sectors);
  w.set(47, 0x8000 | kMaxMultipleSectors);
  common_words(w, drive);
  w.set(50, 0x4000);
  const Geometry& chs = drive.translation;
  w.set(54, chs.cylinders);
  w.set(55, chs.heads);
  w.set(56, chs.sectors);
  uint32_t chs_capacity = static_cast<uint32_t>(
      std::min<uint64_t>(uint64_t{chs.cylinders} * chs.heads * chs.sectors, sectors));
  w.set(57, static_cast<uint16_t>(chs_capacity));
  w.set(58, static_cast<uint16_t>(chs_capacity >> 16));
  w.set(59, drive.multiple_sectors ? 0x0100 | drive.multiple_sectors : 0);
  uint32_t lba28 = static_cast<uint32_t>(std::min<uint64_t>(sectors, kLba28Max));
  w.set(60, static_cast<uint16_t>(lba28));
  w.set(61, static_cast<uint16_t>(lba28 >> 16));
  w.set(80, 0x00f0);  // ATA/ATAPI-4 to -7
  // Minor version 0x0016: ATA/ATAPI-5 as published (ANSI INCITS 340-2000), one of the majors
  // word 80 claims; QEMU reports the same.
  w.set(81, 0x0016);
  // Supported: NOP, write cache, power management; LBA48, FLUSH CACHE (EXT).
  w.set(82, 0x4028);
  w.set(83, 0x7400);
  uint16_t wwn = drive.wwn ? kWwnSupported : uint16_t{0};
  w.set(84, static_cast<uint16_t>(0x4000 | wwn));
  w.set(85, static_cast<uint16_t>(0x4008 | (drive.write_cache ? 0x0020 : 0)));
  w.set(86, 0x3400);
  w.set(87, static_cast<uint16_t>(0x4000 | wwn));
  for (unsigned i = 0; i < 4; ++i) w.set(100 + i, static_cast<uint16_t>(sectors >> (16 * i)));
  // Word 106 valid (bit 14), one 512-byte logical sector per physical sector (bits 13 and 12
  // clear). QEMU also sets bit 13 ("more than one logical sector per physical sector") with an
  // exponent of 0, which contradicts itself; Linux reads both as 512/512.
  w.set(106, 0x4000);
  if (drive.trim) {
    // DATA SET MANAGEMENT with TRIM (word 169 bit 0; Linux also wants ATA-7 or later in word
    // 80), and a trimmed range reads back the same every time (word 69 bit 14).
    w.set(69, 0x4000);
    w.set(169, 0x0001);
  }
  w.seal();
  transfer_.source = Source::kBuffer;
}

void IdeChannel::build_identify_packet(const IdeDrive& drive) {
  IdentifyWords w(buffer());
  // ATAPI, CD-ROM, removable, DRQ within 50 us of PACKET, 12-byte packets.
  w.set(0, 0x85c0);
  common_words(w, drive);
  // Typical times from PACKET to bus release and from SERVICE to BSY clear (ns): the emulated
  // drive answers at once. They matter only with overlap, which word 49 does not offer.
  w.set(71, 30);
  w.set(72, 30);
  w.set(80, 0x001e);  // ATAPI-1 to -4
  w.set(82, 0x4010);  // NOP, PACKET feature set
  w.set(83, 0x4000);
  w.set(84, static_cast<uint16_t>(0x4000 | (drive.wwn ? kWwnSupported : 0)));
  w.set(85, 0x4010);
  w.set(87, static_cast<uint16_t>(0x4000 | (drive.wwn ? kWwnSupported : 0)));
  w.seal();
  transfer_.source = Source::kBuffer;
}

}  // namespace hvmd::devices::ide
