// A minimal IDE "guest driver" for the black-box tests: what ata_piix and SeaBIOS do with the
// PIIX3 IDE function's registers (task file, bus master, PRD tables), over qtest. Header-only;
// every wait is bounded.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "tests/qtest/qtest_client.h"

namespace hvmd::test::ide {

constexpr uint8_t kIdeDevfn = 0x09;  // 00:01.1
constexpr uint16_t kPrimary = 0x1f0, kPrimaryControl = 0x3f6;
constexpr uint16_t kSecondary = 0x170, kSecondaryControl = 0x376;
constexpr uint16_t kBusMaster = 0xc000;  // where the tests put BAR4
constexpr unsigned kPrimaryIrq = 14, kSecondaryIrq = 15;
// Register offsets.
constexpr uint16_t kData = 0, kError = 1, kFeature = 1, kCount = 2, kLbaLow = 3, kLbaMid = 4,
                   kLbaHigh = 5, kDevice = 6, kStatus = 7, kCommand = 7;
constexpr uint8_t kErr = 0x01, kDrq = 0x08, kDf = 0x20, kDrdy = 0x40, kBsy = 0x80;
constexpr uint8_t kLba = 0x40, kSlave = 0x10;
constexpr uint8_t kBmStart = 0x01, kBmToMemory = 0x08;
constexpr uint8_t kBmActive = 0x01, kBmError = 0x02, kBmIntr = 0x04;
constexpr uint32_t kEot = 0x80000000u;
constexpr uint64_t kPrdTable = 0x10000, kDmaBuffer = 0x100000;

// Contents the tests give their images: every byte a function of its offset.
// Word w of an IDENTIFY block, and an ATA string of `words` words (bytes swapped in each word).
inline uint16_t word(const std::vector<uint8_t>& id, unsigned w) {
  return static_cast<uint16_t>(id[2 * w] | id[2 * w + 1] << 8);
}
inline std::string ata_string(const std::vector<uint8_t>& id, unsigned w, unsigned words) {
  std::string s;
  for (unsigned i = 0; i < words; ++i) {
    s.push_back(static_cast<char>(id[2 * (w + i) + 1]));
    s.push_back(static_cast<char>(id[2 * (w + i)]));
  }
  return s;
}

inline uint8_t pattern(uint64_t offset) {
  return static_cast<uint8_t>((offset * 7) ^ (offset >> 9) ^ (offset >> 17));
}

// A temporary image of size bytes (sparse), the first fill bytes holding pattern().
struct Image {
  std::string path;
  explicit Image(uint64_t size, uint64_t fill = 0) {
    char name[] = "/tmp/hvmd-ide-XXXXXX";
    int fd = mkstemp(name);
    path = name;
    EXPECT_EQ(ftruncate(fd, static_cast<off_t>(size)), 0);
    std::vector<uint8_t> data(fill);
    for (uint64_t i = 0; i < fill; ++i) data[i] = pattern(i);
    if (fill) {
      EXPECT_EQ(pwrite(fd, data.data(), fill, 0), static_cast<ssize_t>(fill));
    }
    close(fd);
  }
  ~Image() { unlink(path.c_str()); }
  std::vector<uint8_t> read(uint64_t offset, size_t length) const {
    std::vector<uint8_t> data(length);
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    EXPECT_EQ(pread(fd, data.data(), length, static_cast<off_t>(offset)),
              static_cast<ssize_t>(length));
    close(fd);
    return data;
  }
  void write(uint64_t offset, const std::vector<uint8_t>& data) const {
    int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    EXPECT_EQ(pwrite(fd, data.data(), data.size(), static_cast<off_t>(offset)),
              static_cast<ssize_t>(data.size()));
    close(fd);
  }
};

inline std::vector<uint8_t> expected(uint64_t offset, size_t length) {
  std::vector<uint8_t> data(length);
  for (size_t i = 0; i < length; ++i) data[i] = pattern(offset + i);
  return data;
}

class Channel {
 public:
  Channel(QtestClient& qt, uint16_t base, uint16_t control, unsigned bm_offset)
      : qt_(qt), base_(base), control_(control), bm_(kBusMaster + bm_offset) {}

  // Bus master on, BAR4 at kBusMaster: what firmware leaves behind.
  static void enable_controller(QtestClient& qt) {
    qt.pci_config_write(kIdeDevfn, 0x20, 4, kBusMaster);
    qt.pci_config_write(kIdeDevfn, 0x04, 2, 0x0005);  // I/O space, bus master
  }

  void reg(uint16_t offset, uint8_t value) {
    qt_.outb(static_cast<uint16_t>(base_ + offset), value);
  }
  uint8_t reg(uint16_t offset) { return qt_.inb(static_cast<uint16_t>(base_ + offset)); }
  uint8_t alt_status() { return qt_.inb(control_); }
  void control(uint8_t value) { qt_.outb(control_, value); }
  uint16_t data16() { return qt_.inw(base_); }
  void data16(uint16_t v) { qt_.outw(base_, v); }

  // Polls (alternate status, which leaves the interrupt alone) until BSY clears.
  uint8_t wait_not_busy() {
    for (int i = 0; i < 200000; ++i) {
      uint8_t status = alt_status();
      if (!(status & kBsy)) return status;
    }
    ADD_FAILURE() << "drive stayed busy";
    return 0xff;
  }

  void select(unsigned unit) { reg(kDevice, static_cast<uint8_t>(kLba | (unit ? kSlave : 0))); }
  void lba28(uint32_t lba, uint8_t count, unsigned unit = 0) {
    reg(kCount, count);
    reg(kLbaLow, static_cast<uint8_t>(lba));
    reg(kLbaMid, static_cast<uint8_t>(lba >> 8));
    reg(kLbaHigh, static_cast<uint8_t>(lba >> 16));
    reg(kDevice, static_cast<uint8_t>(kLba | (unit ? kSlave : 0) | ((lba >> 24) & 0x0f)));
  }
  void lba48(uint64_t lba, uint16_t count, unsigned unit = 0) {
    reg(kCount, static_cast<uint8_t>(count >> 8));
    reg(kLbaLow, static_cast<uint8_t>(lba >> 24));
    reg(kLbaMid, static_cast<uint8_t>(lba >> 32));
    reg(kLbaHigh, static_cast<uint8_t>(lba >> 40));
    reg(kCount, static_cast<uint8_t>(count));
    reg(kLbaLow, static_cast<uint8_t>(lba));
    reg(kLbaMid, static_cast<uint8_t>(lba >> 8));
    reg(kLbaHigh, static_cast<uint8_t>(lba >> 16));
    reg(kDevice, static_cast<uint8_t>(kLba | (unit ? kSlave : 0)));
  }

  // Reads bytes of PIO data (16-bit port accesses), checking DRQ before each DRQ block.
  std::vector<uint8_t> pio_read(size_t bytes) {
    std::vector<uint8_t> out;
    while (out.size() < bytes) {
      uint8_t status = wait_not_busy();
      if (!(status & kDrq)) {
        ADD_FAILURE() << "DRQ not set after " << out.size() << " bytes, status " << int(status);
        break;
      }
      uint16_t word = data16();
      out.push_back(static_cast<uint8_t>(word));
      out.push_back(static_cast<uint8_t>(word >> 8));
    }
    return out;
  }
  void pio_write(const std::vector<uint8_t>& data) {
    for (size_t i = 0; i < data.size(); i += 2) {
      if (i % 512 == 0) {
        uint8_t status = wait_not_busy();
        if (!(status & kDrq)) {
          ADD_FAILURE() << "DRQ not set at byte " << i;
          return;
        }
      }
      data16(static_cast<uint16_t>(data[i] | data[i + 1] << 8));
    }
  }

  // Bus master of this channel.
  void bm_command(uint8_t value) { qt_.outb(bm_, value); }
  uint8_t bm_status() { return qt_.inb(static_cast<uint16_t>(bm_ + 2)); }
  void bm_clear() { qt_.outb(static_cast<uint16_t>(bm_ + 2), kBmIntr | kBmError); }
  void bm_table(uint32_t address) { qt_.outl(static_cast<uint16_t>(bm_ + 4), address); }

  // Writes a PRD table of (address, count|flags) pairs at kPrdTable.
  void prd(const std::vector<std::pair<uint32_t, uint32_t>>& entries) {
    std::vector<uint8_t> table;
    for (auto [address, count] : entries)
      for (uint32_t v : {address, count})
        for (int i = 0; i < 4; ++i) table.push_back(static_cast<uint8_t>(v >> (8 * i)));
    qt_.memwrite(kPrdTable, table);
    bm_table(kPrdTable);
  }

  // A DMA command as ata_piix issues it: stop the engine, clear status, table, command, start;
  // then wait for the engine to report. Returns the bus-master status.
  uint8_t dma(uint8_t command, bool to_memory, bool abort = false) {
    bm_command(0);
    bm_clear();
    bm_table(kPrdTable);
    reg(kCommand, command);
    bm_command(static_cast<uint8_t>(kBmStart | (to_memory ? kBmToMemory : 0)));
    if (abort) bm_command(0);
    uint8_t status = 0;
    for (int i = 0; i < 200000; ++i) {
      status = bm_status();
      if ((status & (kBmActive | kBmIntr)) != kBmActive) break;
    }
    return status;
  }

 private:
  QtestClient& qt_;
  uint16_t base_, control_, bm_;
};

}  // namespace hvmd::test::ide
