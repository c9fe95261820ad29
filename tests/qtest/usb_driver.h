// A small UHCI "guest driver" for the black-box tests, programming the PIIX3's USB function the
// way Linux's uhci-hcd does: host reset, a frame list whose every entry points at one queue
// head, run, root-port reset and enable; then transfers built as TD chains in guest memory
// through qtest writes, run by stepping the virtual clock one frame (1 ms) at a time.
// Header-only; every wait is bounded.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "tests/qtest/qtest_client.h"

namespace hvmd::test::usb {

constexpr uint8_t kUhciDevfn = 0x0a;  // 00:01.2
constexpr uint16_t kIoBase = 0xc080;
constexpr unsigned kIrq = 11;              // every PIRQ routed here (00:01.2's INTD# is PIRQA)
constexpr uint8_t kFirstFreeDevfn = 0x10;  // 00:2.0: where -device puts a controller without addr=
// Registers and bits (UHCI 1.1).
constexpr uint16_t kCmd = 0x00, kSts = 0x02, kIntr = 0x04, kFrnum = 0x06, kFlbase = 0x08,
                   kPortsc1 = 0x10;
constexpr uint16_t kCmdRun = 1, kCmdHcReset = 2, kCmdConfigure = 0x40, kCmdMaxPacket64 = 0x80;
constexpr uint16_t kStsInt = 1, kStsErrInt = 2, kStsHse = 8, kStsHcpe = 0x10, kStsHalted = 0x20;
constexpr uint16_t kPortCcs = 1, kPortCsc = 2, kPortPe = 4, kPortPec = 8, kPortReset = 0x200;
constexpr uint32_t kTerminate = 1, kQhLink = 2, kDepth = 4;
constexpr uint32_t kTdActive = 1u << 23, kTdStalled = 1u << 22, kTdBabble = 1u << 20,
                   kTdNak = 1u << 19, kTdTimeout = 1u << 18, kTdIoc = 1u << 24, kTdSpd = 1u << 29,
                   kTdErrors3 = 3u << 27;
constexpr uint8_t kPidSetup = 0x2d, kPidIn = 0x69, kPidOut = 0xe1;
// Guest memory layout.
constexpr uint64_t kFrameList = 0x100000;
constexpr uint64_t kQh = 0x101000;  // the control queue, every frame's first
constexpr uint64_t kQhInterrupt = 0x101020;
constexpr uint64_t kTds = 0x102000;      // TD pool, 32 bytes apart
constexpr uint64_t kBuffers = 0x110000;  // data, 0x100 per TD

inline uint32_t token(uint8_t pid, uint8_t address, uint8_t endpoint, bool toggle,
                      unsigned length) {
  uint32_t max_length = length ? length - 1 : 0x7ff;
  return max_length << 21 | (toggle ? 1u << 19 : 0) | uint32_t{endpoint} << 15 |
         uint32_t{address} << 8 | pid;
}

struct TdResult {
  uint32_t control;
  std::vector<uint8_t> data;  // IN: what arrived
  unsigned actual() const {
    unsigned field = control & 0x7ff;
    return field == 0x7ff ? 0 : field + 1;
  }
};

class UhciDriver {
 public:
  explicit UhciDriver(QtestClient& qt, uint8_t devfn = kUhciDevfn) : qt_(qt), devfn_(devfn) {}

  void init() {
    ASSERT_EQ(qt_.command("irq_intercept_in ioapic"), "OK");
    ASSERT_EQ(qt_.pci_config_read(devfn_, 0, 4), 0x70208086u);
    ASSERT_EQ(qt_.pci_config_read(devfn_, 0x08, 4) >> 8, 0x0c0300u) << "USB UHCI class";
    ASSERT_EQ(qt_.pci_config_read(devfn_, 0x3d, 1), 4u) << "INTD#";
    qt_.pci_config_write(devfn_, 0x20, 4, kIoBase);
    qt_.pci_config_write(devfn_, 0x04, 2, 0x0005);  // I/O space, bus master
    for (uint8_t link = 0; link < 4; ++link)
      qt_.pci_config_write(0x08, 0x60 + link, 1, kIrq);  // PIIX3: PIRQA-D -> IRQ 11
    outw(kCmd, kCmdHcReset);
    ASSERT_EQ(inw(kCmd), 0) << "HCRESET clears itself";
    ASSERT_TRUE(inw(kSts) & kStsHalted);
    // Every frame: the control queue, then the interrupt queue.
    std::vector<uint8_t> list(4096);
    for (size_t i = 0; i < 1024; ++i) put32(list, i * 4, static_cast<uint32_t>(kQh) | kQhLink);
    qt_.memwrite(kFrameList, list);
    write_qh(kQh, static_cast<uint32_t>(kQhInterrupt) | kQhLink, kTerminate);
    write_qh(kQhInterrupt, kTerminate, kTerminate);
    qt_.outl(kIoBase + kFlbase, static_cast<uint32_t>(kFrameList));
    outw(kFrnum, 0);
    outw(kIntr, 0x0f);
    outw(kCmd, kCmdRun | kCmdConfigure | kCmdMaxPacket64);
    ASSERT_FALSE(inw(kSts) & kStsHalted);
  }

  // Linux's root-hub port reset: PR for 50 ms, clear it, enable, acknowledge the changes.
  void reset_port(unsigned port) {
    uint16_t reg = static_cast<uint16_t>(kPortsc1 + 2 * (port - 1));
    outw(reg, kPortReset);
    qt_.clock_step(50'000'000);
    outw(reg, 0);
    outw(reg, kPortPe);
    outw(reg, kPortPe | kPortCsc | kPortPec);
  }

  uint16_t inw(uint16_t reg) { return qt_.inw(kIoBase + reg); }
  void outw(uint16_t reg, uint16_t value) { qt_.outw(kIoBase + reg, value); }

  void write_qh(uint64_t at, uint32_t link, uint32_t element) {
    std::vector<uint8_t> qh(8);
    put32(qh, 0, link);
    put32(qh, 4, element);
    qt_.memwrite(at, qh);
  }
  void write_td(uint64_t at, uint32_t link, uint32_t control, uint32_t tok, uint32_t buffer) {
    std::vector<uint8_t> td(16);
    put32(td, 0, link);
    put32(td, 4, control);
    put32(td, 8, tok);
    put32(td, 12, buffer);
    qt_.memwrite(at, td);
  }
  uint32_t read32(uint64_t at) { return qt_.readl(at); }

  // Runs frames until the queue at qh is empty (element terminated) or stands at an inactive
  // TD; at most max_frames.
  void run_queue(uint64_t qh, unsigned max_frames = 50) {
    for (unsigned i = 0; i < max_frames; ++i) {
      qt_.clock_step(1'000'000);
      uint32_t element = read32(qh + 4);
      if (element & kTerminate) return;
      if (!(read32((element & ~0xfu) + 4) & kTdActive)) return;
    }
  }

  // A control transfer as uhci-hcd queues it: SETUP, DATA packets of max_packet bytes (toggle
  // alternating), STATUS the other way with IOC; all depth first on the control queue. Returns
  // the IN data (or empty) and the status of the TD the queue stopped at (or the last one).
  struct Control {
    std::vector<uint8_t> data;
    uint32_t stopped_status = 0;  // control/status word of the first TD not completed
    bool completed = false;
  };
  Control control(uint8_t address, uint8_t request_type, uint8_t request, uint16_t value,
                  uint16_t index, uint16_t length, const std::vector<uint8_t>& out = {},
                  unsigned max_packet = 8) {
    std::vector<uint8_t> setup = {request_type,
                                  request,
                                  static_cast<uint8_t>(value),
                                  static_cast<uint8_t>(value >> 8),
                                  static_cast<uint8_t>(index),
                                  static_cast<uint8_t>(index >> 8),
                                  static_cast<uint8_t>(length),
                                  static_cast<uint8_t>(length >> 8)};
    bool in = request_type & 0x80;
    struct Planned {
      uint32_t control, token;
      uint64_t buffer;
    };
    std::vector<Planned> tds;
    qt_.memwrite(kBuffers, setup);
    tds.push_back({kTdActive | kTdErrors3, token(kPidSetup, address, 0, false, 8), kBuffers});
    bool toggle = true;
    for (unsigned done = 0; done < length; done += max_packet) {
      unsigned n = std::min<unsigned>(max_packet, length - done);
      uint64_t buffer = kBuffers + 0x100 * tds.size();
      if (!in)
        qt_.memwrite(buffer, std::vector<uint8_t>(out.begin() + done, out.begin() + done + n));
      tds.push_back({kTdActive | kTdErrors3 | (in ? kTdSpd : 0),
                     token(in ? kPidIn : kPidOut, address, 0, toggle, n), buffer});
      toggle = !toggle;
    }
    tds.push_back({kTdActive | kTdErrors3 | kTdIoc,
                   token(in ? kPidOut : kPidIn, address, 0, true, 0),
                   kBuffers + 0x100 * tds.size()});
    for (size_t i = 0; i < tds.size(); ++i) {
      uint32_t link =
          i + 1 < tds.size() ? static_cast<uint32_t>(kTds + 32 * (i + 1)) | kDepth : kTerminate;
      write_td(kTds + 32 * i, link, tds[i].control, tds[i].token,
               static_cast<uint32_t>(tds[i].buffer));
    }
    write_qh(kQh, static_cast<uint32_t>(kQhInterrupt) | kQhLink, static_cast<uint32_t>(kTds));
    run_queue(kQh);
    Control result;
    uint32_t element = read32(kQh + 4);
    result.completed = element & kTerminate;
    for (size_t i = 0; i < tds.size(); ++i) {
      uint32_t status = read32(kTds + 32 * i + 4);
      TdResult td{status, {}};
      if (status & kTdActive || status & (kTdStalled | kTdBabble)) {
        result.stopped_status = status;
        break;
      }
      bool data_td = i > 0 && i + 1 < tds.size();
      if (in && data_td && td.actual()) {
        auto bytes = qt_.memread(tds[i].buffer, td.actual());
        result.data.insert(result.data.end(), bytes.begin(), bytes.end());
      }
      // A short packet stops the queue at the short TD (SPD); uhci-hcd then runs the status
      // stage on its own.
      if (in && data_td && td.actual() < ((tds[i].token >> 21) + 1)) {
        write_qh(kQh, static_cast<uint32_t>(kQhInterrupt) | kQhLink,
                 static_cast<uint32_t>(kTds + 32 * (tds.size() - 1)));
        run_queue(kQh);
        result.completed = read32(kQh + 4) & kTerminate;
        break;
      }
    }
    write_qh(kQh, static_cast<uint32_t>(kQhInterrupt) | kQhLink, kTerminate);
    return result;
  }

  // One interrupt IN transaction on the interrupt queue, run for up to frames frames.
  TdResult interrupt_in(uint8_t address, uint8_t endpoint, unsigned length, bool toggle,
                        unsigned frames = 20) {
    uint64_t td = kTds + 0x800;
    uint64_t buffer = kBuffers + 0x1000;
    write_td(td, kTerminate, kTdActive | kTdErrors3 | kTdIoc | kTdSpd,
             token(kPidIn, address, endpoint, toggle, length), static_cast<uint32_t>(buffer));
    write_qh(kQhInterrupt, kTerminate, static_cast<uint32_t>(td));
    for (unsigned i = 0; i < frames; ++i) {
      qt_.clock_step(1'000'000);
      if (!(read32(td + 4) & kTdActive)) break;
    }
    TdResult result{read32(td + 4), {}};
    if (!(result.control & kTdActive)) result.data = qt_.memread(buffer, result.actual());
    write_qh(kQhInterrupt, kTerminate, kTerminate);
    return result;
  }

  static void put32(std::vector<uint8_t>& v, size_t at, uint32_t value) {
    for (int i = 0; i < 4; ++i) v[at + i] = static_cast<uint8_t>(value >> (8 * i));
  }

 private:
  QtestClient& qt_;
  uint8_t devfn_;
};

}  // namespace hvmd::test::usb
