// A small EHCI "guest driver" for the black-box tests, programming ich9-usb-ehci1 at 00:1d.7 in
// the order Linux's ehci-hcd does: BAR and bus mastering, the legacy-support handoff (OS-owned
// semaphore), HCRESET, CTRLDSSEGMENT, interrupts, a periodic frame list and an asynchronous ring
// whose head is a queue head with the H bit, Run, then CONFIGFLAG to route the ports here; then
// port reset (PR for 50 ms, then cleared; enabled means high speed, otherwise the port goes to a
// companion with PORT_OWNER). Transfers are qTD chains on a queue head linked into the ring,
// run by stepping the virtual clock one frame (1 ms) at a time. Header-only; every wait bounded.
#pragma once

#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <vector>

#include "tests/qtest/qtest_client.h"

namespace hvmd::test::ehci {

constexpr uint8_t kEhciDevfn = 0xef;  // 00:1d.7
constexpr uint64_t kMmio = 0xfebf0000;
constexpr unsigned kIrq = 11;  // every PIRQ routed here
constexpr uint64_t kOp = 0x20;
constexpr uint64_t kCmd = kOp + 0x00, kSts = kOp + 0x04, kIntr = kOp + 0x08, kFrindex = kOp + 0x0c,
                   kSegment = kOp + 0x10, kPeriodic = kOp + 0x14, kAsync = kOp + 0x18,
                   kConfigFlag = kOp + 0x40, kPortsc1 = kOp + 0x44;
constexpr uint32_t kCmdRun = 1, kCmdReset = 2, kCmdPse = 1 << 4, kCmdAse = 1 << 5,
                   kCmdDoorbell = 1 << 6, kCmdItc1 = 1 << 16;
constexpr uint32_t kStsInt = 1, kStsErr = 2, kStsPcd = 4, kStsHse = 0x10, kStsIaa = 0x20,
                   kStsHalted = 1 << 12, kStsAss = 1 << 15;
constexpr uint32_t kPortCcs = 1, kPortCsc = 2, kPortPe = 4, kPortPec = 8, kPortReset = 1 << 8,
                   kPortOwner = 1 << 13, kPortPower = 1 << 12, kPortLineMask = 3 << 10;
constexpr uint32_t kTerminate = 1, kTypeQh = 2;
constexpr uint32_t kQtdActive = 0x80, kQtdHalted = 0x40, kQtdBufferError = 0x20, kQtdBabble = 0x10,
                   kQtdXact = 0x08;
constexpr uint32_t kPidOut = 0, kPidIn = 1, kPidSetup = 2;
// Guest memory.
constexpr uint64_t kFrameList = 0x200000;
constexpr uint64_t kHeadQh = 0x201000;   // the ring's head: H bit, no transfers
constexpr uint64_t kQh = 0x201100;       // the transfer queue head
constexpr uint64_t kIntQh = 0x201200;    // the periodic (interrupt) queue head
constexpr uint64_t kQtds = 0x202000;     // 64 bytes apart
constexpr uint64_t kBuffers = 0x300000;  // 0x6000 per qTD

inline void put32(std::vector<uint8_t>& v, size_t at, uint32_t value) {
  for (int i = 0; i < 4; ++i) v[at + i] = static_cast<uint8_t>(value >> (8 * i));
}

inline uint32_t qtd_token(uint32_t pid, uint32_t bytes, bool ioc, bool toggle) {
  return (toggle ? 1u << 31 : 0) | bytes << 16 | (ioc ? 1u << 15 : 0) | 3u << 10 | pid << 8 |
         kQtdActive;
}

struct Transfer {
  std::vector<uint8_t> data;  // IN: what arrived
  uint32_t token = 0;         // the token of the qTD the queue stopped at (or the last)
  bool completed = false;     // every qTD done
};

class EhciDriver {
 public:
  explicit EhciDriver(QtestClient& qt, uint8_t devfn = kEhciDevfn) : qt_(qt), devfn_(devfn) {}

  void init() {
    ASSERT_EQ(qt_.command("irq_intercept_in ioapic"), "OK");
    ASSERT_EQ(qt_.pci_config_read(devfn_, 0, 4), 0x293a8086u);
    ASSERT_EQ(qt_.pci_config_read(devfn_, 0x08, 4) >> 8, 0x0c0320u) << "USB EHCI class";
    for (uint8_t link = 0; link < 4; ++link) qt_.pci_config_write(0x08, 0x60 + link, 1, kIrq);
    qt_.pci_config_write(devfn_, 0x10, 4, static_cast<uint32_t>(kMmio));
    qt_.pci_config_write(devfn_, 0x04, 2, 0x0006);  // memory space, bus master
    ASSERT_EQ(read(0) & 0xff, 0x20u) << "CAPLENGTH";
    ASSERT_EQ(read(0) >> 16, 0x0100u) << "HCIVERSION";
    ASSERT_EQ(read(4) & 0xf, 6u) << "six ports";
    uint32_t hcc = read(8);
    ASSERT_TRUE(hcc & 1) << "64-bit addressing";
    // The BIOS handoff: EECP names the legacy-support capability; take the OS semaphore.
    uint8_t eecp = static_cast<uint8_t>(hcc >> 8);
    ASSERT_EQ(eecp, 0x68);
    ASSERT_EQ(qt_.pci_config_read(devfn_, eecp, 4) & 0xff, 1u);
    qt_.pci_config_write(devfn_, eecp, 4, 1u << 24);
    ASSERT_EQ(qt_.pci_config_read(devfn_, eecp, 4) & (1u << 16 | 1u << 24), 1u << 24);
    write(kCmd, kCmdReset);
    ASSERT_EQ(read(kCmd) & kCmdReset, 0u) << "HCRESET clears itself";
    ASSERT_TRUE(read(kSts) & kStsHalted);
    write(kSegment, 0);
    write(kIntr, 0x37);  // everything Linux enables: IAA, HSE, PCD, ERR, INT
    // Periodic list: every frame at the interrupt queue head (idle: no qTD).
    std::vector<uint8_t> list(4096);
    for (size_t i = 0; i < 1024; ++i) put32(list, i * 4, static_cast<uint32_t>(kIntQh) | kTypeQh);
    qt_.memwrite(kFrameList, list);
    write_qh(kIntQh, kTerminate, 0, 0x01, kTerminate, 0);
    write(kPeriodic, static_cast<uint32_t>(kFrameList));
    // The async ring: the head alone, linked to itself, its overlay halted as Linux keeps it.
    write_qh(kHeadQh, static_cast<uint32_t>(kHeadQh) | kTypeQh, 1u << 15, 0, kTerminate, 0x40);
    write(kAsync, static_cast<uint32_t>(kHeadQh));
    write(kCmd, kCmdRun | kCmdItc1);
    write(kConfigFlag, 1);
    ASSERT_FALSE(read(kSts) & kStsHalted);
  }

  uint32_t read(uint64_t reg) { return qt_.readl(kMmio + reg); }
  void write(uint64_t reg, uint32_t value) { qt_.writel(kMmio + reg, value); }
  uint32_t portsc(unsigned port) { return read(kPortsc1 + 4 * (port - 1)); }
  void set_portsc(unsigned port, uint32_t value) { write(kPortsc1 + 4 * (port - 1), value); }

  // Linux's root-port reset: PR (PE cleared) for 50 ms, then PR cleared. Returns PORTSC after.
  uint32_t reset_port(unsigned port) {
    uint32_t v = portsc(port) & ~(kPortPe | kPortCsc | kPortPec);
    set_portsc(port, v | kPortReset);
    qt_.clock_step(50'000'000);
    set_portsc(port, v & ~kPortReset);
    qt_.clock_step(2'000'000);
    uint32_t after = portsc(port);
    set_portsc(port, after | kPortCsc);  // acknowledge the connect change
    return portsc(port);
  }

  // QH: horizontal link, characteristics (address, endpoint, speed, max packet, flags), S-mask,
  // the overlay's next qTD, its token.
  void write_qh(uint64_t at, uint32_t link, uint32_t characteristics, uint32_t smask, uint32_t next,
                uint32_t token) {
    std::vector<uint8_t> qh(68);
    put32(qh, 0, link);
    put32(qh, 4, characteristics);
    put32(qh, 8, 1u << 30 | smask);  // one transaction per microframe
    put32(qh, 12, 0);
    put32(qh, 16, next);
    put32(qh, 20, kTerminate);
    put32(qh, 24, token);
    qt_.memwrite(at, qh);
  }
  static uint32_t characteristics(uint8_t address, uint8_t endpoint, unsigned max_packet,
                                  bool control) {
    return uint32_t{address} | uint32_t{endpoint} << 8 | 2u << 12 /* high speed */ |
           (control ? 1u << 14 : 0) /* toggle from the qTD */ | max_packet << 16;
  }
  void write_qtd(uint64_t at, uint32_t next, uint32_t token, uint64_t buffer) {
    std::vector<uint8_t> td(52);
    put32(td, 0, next);
    put32(td, 4, kTerminate);
    put32(td, 8, token);
    for (int i = 0; i < 5; ++i) {
      uint64_t page = (buffer & ~0xfffull) + 0x1000ull * i;
      put32(td, 12 + 4 * i, static_cast<uint32_t>(i == 0 ? buffer : page));
      put32(td, 32 + 4 * i, static_cast<uint32_t>(page >> 32));
    }
    qt_.memwrite(at, td);
  }

  // Runs the qTDs (already written from kQtds) on the transfer queue head, linked into the ring
  // after the head, until the last is done or one stops; at most max_frames frames.
  struct Planned {
    uint32_t pid, bytes;
    bool ioc, toggle;
    std::vector<uint8_t> out;
  };
  Transfer run(uint32_t characteristics, const std::vector<Planned>& plan,
               unsigned max_frames = 50) {
    for (size_t i = 0; i < plan.size(); ++i) {
      uint64_t buffer = kBuffers + 0x6000 * i;
      if (!plan[i].out.empty()) qt_.memwrite(buffer, plan[i].out);
      uint32_t next =
          i + 1 < plan.size() ? static_cast<uint32_t>(kQtds + 64 * (i + 1)) : kTerminate;
      write_qtd(kQtds + 64 * i, next,
                qtd_token(plan[i].pid, plan[i].bytes, plan[i].ioc, plan[i].toggle), buffer);
    }
    write_qh(kQh, static_cast<uint32_t>(kHeadQh) | kTypeQh, characteristics, 0,
             static_cast<uint32_t>(kQtds), 0);
    write_qh(kHeadQh, static_cast<uint32_t>(kQh) | kTypeQh, 1u << 15, 0, kTerminate, 0x40);
    write(kCmd, read(kCmd) | kCmdAse);
    Transfer result;
    // Disk I/O completes in real time on hvmd's workers: past max_frames the wait goes on in
    // real time (1 ms a frame) for up to 10 s.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    for (unsigned f = 0;; ++f) {
      if (f >= max_frames) {
        if (std::chrono::steady_clock::now() > deadline) break;
        usleep(1000);
      }
      qt_.clock_step(1'000'000);
      bool pending = false;
      for (size_t i = 0; i < plan.size(); ++i) {
        uint32_t token = qt_.readl(kQtds + 64 * i + 8);
        if (token & kQtdHalted) {
          pending = false;
          break;
        }
        if (token & kQtdActive) pending = true;
      }
      if (!pending) break;
    }
    result.completed = true;
    for (size_t i = 0; i < plan.size(); ++i) {
      uint32_t token = qt_.readl(kQtds + 64 * i + 8);
      result.token = token;
      if (token & (kQtdActive | kQtdHalted)) {
        result.completed = false;
        break;
      }
      uint32_t left = token >> 16 & 0x7fff;
      if (plan[i].pid == kPidIn) {
        if (plan[i].bytes > left) {
          auto bytes = qt_.memread(kBuffers + 0x6000 * i, plan[i].bytes - left);
          result.data.insert(result.data.end(), bytes.begin(), bytes.end());
        }
        if (left) {
          // A short packet: Linux completes the URB; the status stage (if any) follows on its
          // own in the queue (here: the last qTD, run next).
          if (i + 2 == plan.size() && plan.back().pid != kPidIn) continue;
          break;
        }
      }
    }
    // Unlink, as ehci-hcd does: the head alone again, then the doorbell.
    write_qh(kHeadQh, static_cast<uint32_t>(kHeadQh) | kTypeQh, 1u << 15, 0, kTerminate, 0x40);
    write(kCmd, read(kCmd) | kCmdDoorbell);
    qt_.clock_step(1'000'000);
    write(kSts, kStsIaa);
    return result;
  }

  // A control transfer: SETUP, one IN/OUT data qTD, STATUS the other way with IOC.
  Transfer control(uint8_t address, uint8_t request_type, uint8_t request, uint16_t value,
                   uint16_t index, uint16_t length, const std::vector<uint8_t>& out = {}) {
    std::vector<uint8_t> setup = {request_type,
                                  request,
                                  static_cast<uint8_t>(value),
                                  static_cast<uint8_t>(value >> 8),
                                  static_cast<uint8_t>(index),
                                  static_cast<uint8_t>(index >> 8),
                                  static_cast<uint8_t>(length),
                                  static_cast<uint8_t>(length >> 8)};
    bool in = request_type & 0x80;
    std::vector<Planned> plan;
    plan.push_back({kPidSetup, 8, false, false, setup});
    if (length) plan.push_back({in ? kPidIn : kPidOut, length, false, true, out});
    plan.push_back({in ? kPidOut : kPidIn, 0, true, true, {}});
    auto t = run(characteristics(address, 0, 64, true), plan);
    return t;
  }

  // One bulk transfer of length bytes (one qTD per 16 KiB), toggles kept by the queue head.
  Transfer bulk(uint8_t address, uint8_t endpoint, bool in, uint32_t length,
                const std::vector<uint8_t>& out = {}, unsigned max_frames = 50) {
    std::vector<Planned> plan;
    uint32_t done = 0;
    do {
      uint32_t n = std::min<uint32_t>(length - done, 0x4000);
      std::vector<uint8_t> piece;
      if (!in) piece.assign(out.begin() + done, out.begin() + done + n);
      plan.push_back({in ? kPidIn : kPidOut, n, done + n == length, false, piece});
      done += n;
    } while (done < length);
    return run(characteristics(address, endpoint, 512, false), plan, max_frames);
  }

  // One interrupt IN qTD on the periodic queue head, for up to frames frames.
  Transfer interrupt_in(uint8_t address, uint8_t endpoint, unsigned length, unsigned frames = 20) {
    uint64_t qtd = kQtds + 0x1000;
    uint64_t buffer = kBuffers + 0x40000;
    write_qtd(qtd, kTerminate, qtd_token(kPidIn, length, true, false), buffer);
    write_qh(kIntQh, kTerminate, characteristics(address, endpoint, 8, false), 0x01,
             static_cast<uint32_t>(qtd), 0);
    write(kCmd, read(kCmd) | kCmdPse);
    Transfer result;
    for (unsigned f = 0; f < frames; ++f) {
      qt_.clock_step(1'000'000);
      if (!(qt_.readl(qtd + 8) & kQtdActive)) break;
    }
    result.token = qt_.readl(qtd + 8);
    result.completed = !(result.token & (kQtdActive | kQtdHalted));
    uint32_t got = length - (result.token >> 16 & 0x7fff);
    if (result.completed && got) result.data = qt_.memread(buffer, got);
    write_qh(kIntQh, kTerminate, 0, 0x01, kTerminate, 0);
    return result;
  }

 private:
  QtestClient& qt_;
  uint8_t devfn_;
};

}  // namespace hvmd::test::ehci
