// Black-box: the xHCI controllers (nec-usb-xhci as libxl asks for it with usbversion=3, and
// qemu-xhci) with a usb-tablet and a usb-kbd, driven in the order Linux's xhci-hcd and usbcore
// program them: host controller reset, MaxSlotsEn, the device context base address array, the
// command ring, interrupter 0's event ring segment table, run; root port reset; Enable Slot,
// Address Device with BSR=1, GET_DESCRIPTOR(DEVICE, 64) on endpoint 0, Address Device, the
// configuration descriptor, SET_CONFIGURATION, Configure Endpoint for the interrupt IN endpoint,
// and a Normal TRB that completes with the HID report after a QMP input-send-event. Then hot-plug
// (a Port Status Change event), MSI-X delivery, and hostile rings and contexts: bounded time, no
// crash, the controller reports what hardware would.
#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <optional>

#include "tests/qtest/qtest_client.h"

namespace hvmd::test {
namespace {

// Registers and bits (xHCI 1.2).
constexpr uint32_t kOper = 0x40, kUsbCmd = 0x00, kUsbSts = 0x04, kCrcr = 0x18, kDcbaap = 0x30,
                   kConfig = 0x38, kPortSc = 0x400;
constexpr uint32_t kCmdRun = 1, kCmdHcrst = 2, kCmdInte = 4;
constexpr uint32_t kStsHalted = 1, kStsHse = 4, kStsEint = 8, kStsPcd = 0x10, kStsCnr = 0x800;
constexpr uint32_t kPortCcs = 1, kPortPed = 2, kPortPr = 0x10, kPortPp = 0x200, kPortCsc = 1u << 17,
                   kPortPrc = 1u << 21;
constexpr uint32_t kIman = 0x00, kImod = 0x04, kErstSz = 0x08, kErstBa = 0x10, kErdp = 0x18;
constexpr uint32_t kImanIp = 1, kImanIe = 2;
constexpr uint64_t kEhb = 8;
// TRB types, flags and completion codes.
constexpr uint32_t kNormal = 1, kSetup = 2, kData = 3, kStatus = 4, kLink = 6, kEventData = 7,
                   kNoOp = 8, kEnableSlot = 9, kDisableSlot = 10, kAddressDevice = 11,
                   kConfigureEndpoint = 12, kEvaluateContext = 13, kResetEndpoint = 14,
                   kStopEndpoint = 15, kSetDequeue = 16, kNoOpCommand = 23;
constexpr uint32_t kTransferEvent = 32, kCommandEvent = 33, kPortEvent = 34;
constexpr uint32_t kCycle = 1, kToggle = 2, kIsp = 4, kChain = 0x10, kIoc = 0x20, kIdt = 0x40,
                   kBsr = 0x200, kDirIn = 0x10000;
constexpr uint8_t kSuccess = 1, kBabble = 3, kTransactionError = 4, kTrbError = 5, kStall = 6,
                  kSlotNotEnabled = 11, kShortPacket = 13, kParameterError = 17,
                  kContextStateError = 19, kStoppedLengthInvalid = 27;

// Guest memory.
constexpr uint64_t kBar = 0xe0000000;
constexpr uint64_t kDcbaa = 0x100000, kCommandRing = 0x101000, kErst = 0x102000,
                   kEventRing = 0x103000, kInput = 0x105000, kOutput = 0x106000, kRings = 0x120000,
                   kBuffers = 0x140000, kMsiTarget = 0x160000;
constexpr unsigned kCommandTrbs = 64, kEventTrbs = 64;
constexpr unsigned kIrq = 11;

struct Trb {
  uint64_t parameter = 0;
  uint32_t status = 0;
  uint32_t control = 0;
  uint32_t type() const { return (control >> 10) & 0x3f; }
  uint8_t code() const { return static_cast<uint8_t>(status >> 24); }
  uint8_t slot() const { return static_cast<uint8_t>(control >> 24); }
  unsigned endpoint() const { return (control >> 16) & 0x1f; }
};

uint32_t type_bits(uint32_t type) {
  return type << 10;
}

class XhciDriver {
 public:
  XhciDriver(QtestClient& qt, uint16_t vendor) : qt_(qt) {
    for (unsigned devfn = 0; devfn < 256; devfn += 8)
      if ((qt_.pci_config_read(static_cast<uint8_t>(devfn), 0, 2)) == vendor) {
        devfn_ = static_cast<uint8_t>(devfn);
        break;
      }
  }
  uint8_t devfn() const { return devfn_; }

  uint32_t read(uint32_t offset) { return qt_.readl(kBar + offset); }
  void write(uint32_t offset, uint32_t value) { qt_.writel(kBar + offset, value); }
  void write64(uint32_t offset, uint64_t value) {
    write(offset, static_cast<uint32_t>(value));
    write(offset + 4, static_cast<uint32_t>(value >> 32));
  }
  uint32_t op(uint32_t reg) { return read(kOper + reg); }
  void set_op(uint32_t reg, uint32_t value) { write(kOper + reg, value); }
  uint32_t runtime() { return read(0x18); }
  uint32_t interrupter(unsigned i, uint32_t reg) { return read(runtime() + 0x20 + 32 * i + reg); }
  void set_interrupter(unsigned i, uint32_t reg, uint32_t value) {
    write(runtime() + 0x20 + 32 * i + reg, value);
  }
  uint32_t portsc(unsigned port) { return op(kPortSc + 0x10 * (port - 1)); }
  void set_portsc(unsigned port, uint32_t value) { set_op(kPortSc + 0x10 * (port - 1), value); }
  void doorbell(unsigned index, uint32_t target) { write(read(0x14) + 4 * index, target); }

  // xhci_pci_probe / xhci_init / xhci_run's order.
  void init(bool start = true) {
    ASSERT_NE(devfn_, 0xff) << "controller not found";
    ASSERT_EQ(qt_.command("irq_intercept_in ioapic"), "OK");
    qt_.pci_config_write(devfn_, 0x10, 4, static_cast<uint32_t>(kBar));
    qt_.pci_config_write(devfn_, 0x14, 4, 0);
    qt_.pci_config_write(devfn_, 0x04, 2, 0x0006);  // memory space, bus master
    for (uint8_t link = 0; link < 4; ++link) qt_.pci_config_write(0x08, 0x60 + link, 1, kIrq);
    ASSERT_EQ(read(0) & 0xff, 0x40u) << "CAPLENGTH";
    ASSERT_EQ(read(0) >> 16, 0x0100u) << "HCIVERSION";
    set_op(kUsbCmd, kCmdHcrst);
    for (int i = 0; i < 10 && (op(kUsbCmd) & kCmdHcrst || op(kUsbSts) & kStsCnr); ++i)
      qt_.clock_step(1'000'000);
    ASSERT_EQ(op(kUsbCmd) & kCmdHcrst, 0u);
    ASSERT_TRUE(op(kUsbSts) & kStsHalted);
    set_op(kConfig, read(0x04) & 0xff);  // MaxSlotsEn = MaxSlots
    qt_.memwrite(kDcbaa, std::vector<uint8_t>(0x800));
    write64(kOper + kDcbaap, kDcbaa);
    qt_.memwrite(kCommandRing, std::vector<uint8_t>(16 * kCommandTrbs));
    // The last command slot links back to the start and toggles the cycle state.
    put_trb(kCommandRing + 16 * (kCommandTrbs - 1),
            {kCommandRing, 0, type_bits(kLink) | kToggle | 0});
    command_cycle_ = true;
    command_index_ = 0;
    write64(kOper + kCrcr, kCommandRing | 1);
    setup_event_ring();
    set_interrupter(0, kImod, 160);  // Linux's 40 us
    set_interrupter(0, kIman, kImanIe);
    if (start) run();
  }
  void setup_event_ring(uint32_t erst_size = 1, uint32_t segment_trbs = kEventTrbs) {
    qt_.memwrite(kEventRing, std::vector<uint8_t>(16 * kEventTrbs));
    std::vector<uint8_t> erst(16);
    put64(erst, 0, kEventRing);
    put32(erst, 8, segment_trbs);
    qt_.memwrite(kErst, erst);
    set_interrupter(0, kErstSz, erst_size);
    write64(runtime() + 0x20 + kErdp, kEventRing);
    write64(runtime() + 0x20 + kErstBa, kErst);
    event_cycle_ = true;
    event_index_ = 0;
    event_trbs_ = segment_trbs;
  }
  void run() {
    set_op(kUsbCmd, kCmdRun | kCmdInte);
    ASSERT_FALSE(op(kUsbSts) & kStsHalted);
  }

  // The next event, if the controller wrote one; ERDP moves past it with EHB cleared.
  std::optional<Trb> next_event() {
    uint64_t at = kEventRing + 16 * event_index_;
    Trb trb = get_trb(at);
    if (bool(trb.control & kCycle) != event_cycle_) return std::nullopt;
    if (++event_index_ >= event_trbs_) {
      event_index_ = 0;
      event_cycle_ = !event_cycle_;
    }
    write64(runtime() + 0x20 + kErdp, (kEventRing + 16 * event_index_) | kEhb);
    return trb;
  }
  // Events of the given type until one arrives (others are kept for later).
  std::optional<Trb> wait_event(uint32_t type) {
    for (size_t i = 0; i < pending_.size(); ++i)
      if (pending_[i].type() == type) {
        Trb t = pending_[i];
        pending_.erase(pending_.begin() + static_cast<long>(i));
        return t;
      }
    for (int i = 0; i < 64; ++i) {
      auto e = next_event();
      if (!e) {
        qt_.clock_step(100'000);
        if (!(e = next_event())) return std::nullopt;
      }
      if (e->type() == type) return e;
      pending_.push_back(*e);
    }
    return std::nullopt;
  }
  std::vector<Trb>& pending() { return pending_; }

  Trb command(Trb trb) {
    uint64_t at = kCommandRing + 16 * command_index_;
    trb.control = (trb.control & ~kCycle) | (command_cycle_ ? kCycle : 0);
    put_trb(at, trb);
    if (++command_index_ == kCommandTrbs - 1) {
      // Hand the link TRB to the controller with the current cycle, then wrap.
      put_trb(kCommandRing + 16 * (kCommandTrbs - 1),
              {kCommandRing, 0, type_bits(kLink) | kToggle | (command_cycle_ ? kCycle : 0)});
      command_index_ = 0;
      command_cycle_ = !command_cycle_;
    }
    doorbell(0, 0);
    auto e = wait_event(kCommandEvent);
    EXPECT_TRUE(e) << "no command completion";
    if (!e) return {};
    EXPECT_EQ(e->parameter, at);
    return *e;
  }

  // Per slot: endpoint rings at kRings + 0x2000 * slot + 0x400 * dci, 63 TRBs and a link.
  static uint64_t ring_base(uint8_t slot, unsigned dci) {
    return kRings + 0x2000ull * slot + 0x400ull * dci;
  }
  static uint64_t output(uint8_t slot) { return kOutput + 0x800ull * slot; }
  void queue(uint8_t slot, unsigned dci, Trb trb) {
    auto& r = rings_[slot * 32 + dci];
    trb.control = (trb.control & ~kCycle) | (r.cycle ? kCycle : 0);
    put_trb(ring_base(slot, dci) + 16 * r.index, trb);
    if (++r.index == 63) {
      put_trb(ring_base(slot, dci) + 16 * 63,
              {ring_base(slot, dci), 0, type_bits(kLink) | kToggle | (r.cycle ? kCycle : 0)});
      r.index = 0;
      r.cycle = !r.cycle;
    }
  }
  uint64_t enqueue_address(uint8_t slot, unsigned dci) {
    return ring_base(slot, dci) + 16 * rings_[slot * 32 + dci].index;
  }
  void reset_ring(uint8_t slot, unsigned dci) {
    qt_.memwrite(ring_base(slot, dci), std::vector<uint8_t>(0x400));
    rings_[slot * 32 + dci] = {};
  }

  // Input context: control, slot, then endpoint contexts (32 bytes each).
  void write_input(uint32_t drop, uint32_t add,
                   const std::vector<std::pair<unsigned, std::array<uint32_t, 8>>>& contexts) {
    std::vector<uint8_t> input(33 * 32);
    put32(input, 0, drop);
    put32(input, 4, add);
    for (auto& [index, words] : contexts)
      for (unsigned i = 0; i < 8; ++i) put32(input, 32 * (index + 1) + 4 * i, words[i]);
    qt_.memwrite(kInput, input);
  }
  static std::array<uint32_t, 8> slot_context(unsigned port, unsigned entries, uint32_t route = 0) {
    return {entries << 27 | route, port << 16, 0, 0, 0, 0, 0, 0};
  }
  std::array<uint32_t, 8> endpoint_context(uint8_t slot, unsigned dci, unsigned type,
                                           unsigned max_packet, unsigned interval = 0) {
    reset_ring(slot, dci);
    uint64_t ring = ring_base(slot, dci);
    return {interval << 16,
            3u << 1 | type << 3 | max_packet << 16,
            static_cast<uint32_t>(ring) | 1,
            static_cast<uint32_t>(ring >> 32),
            8,
            0,
            0,
            0};
  }

  // Enable Slot, then Address Device (BSR first, as Linux's new scheme does).
  uint8_t enable_and_address(unsigned port, bool block_set_address, uint32_t route = 0) {
    Trb done = command({0, 0, type_bits(kEnableSlot)});
    EXPECT_EQ(done.code(), kSuccess);
    uint8_t slot = done.slot();
    qt_.memwrite(output(slot), std::vector<uint8_t>(0x800));
    std::vector<uint8_t> entry(8);
    put64(entry, 0, output(slot));
    qt_.memwrite(kDcbaa + 8 * slot, entry);
    // EP0's max packet follows the speed the port reset settled, as xhci-hcd sets it: 64 at
    // high speed (the dual-speed tablet), 8 at full speed until the descriptor says otherwise.
    uint16_t ep0_packet = !route && ((portsc(port) >> 10) & 0xf) == 3 ? 64 : 8;
    write_input(0, 3,
                {{0, slot_context(port, 1, route)}, {1, endpoint_context(slot, 1, 4, ep0_packet)}});
    Trb addressed = command(
        {kInput, 0,
         type_bits(kAddressDevice) | (block_set_address ? kBsr : 0) | uint32_t{slot} << 24});
    EXPECT_EQ(addressed.code(), kSuccess);
    return slot;
  }

  struct ControlResult {
    uint8_t code = 0;
    uint32_t residual = 0;
    std::vector<uint8_t> data;
  };
  // Setup (IDT), Data (ISP, DIR), Status (IOC), as xhci_queue_ctrl_tx does.
  ControlResult control(uint8_t slot, uint8_t request_type, uint8_t request, uint16_t value,
                        uint16_t index, uint16_t length, uint32_t buffer_room = 0) {
    bool in = request_type & 0x80;
    uint64_t setup = uint64_t{request_type} | uint64_t{request} << 8 | uint64_t{value} << 16 |
                     uint64_t{index} << 32 | uint64_t{length} << 48;
    uint32_t trt = length == 0 ? 0 : in ? 3 : 2;
    uint32_t room = buffer_room ? buffer_room : length;
    qt_.memwrite(kBuffers, std::vector<uint8_t>(room + 64, 0xee));
    queue(slot, 1, {setup, 8, type_bits(kSetup) | kIdt | trt << 16});
    if (length) queue(slot, 1, {kBuffers, room, type_bits(kData) | kIsp | (in ? kDirIn : 0)});
    queue(slot, 1, {0, 0, type_bits(kStatus) | kIoc | ((length && in) ? 0 : kDirIn)});
    doorbell(slot, 1);
    ControlResult result;
    for (int i = 0; i < 3; ++i) {
      auto e = wait_event(kTransferEvent);
      if (!e) break;
      result.code = e->code();
      if (e->code() == kShortPacket) {
        result.residual = e->status & 0xffffff;
        continue;  // the data stage's short packet; the status stage follows
      }
      break;
    }
    if (in && length) {
      uint32_t got = room - result.residual;
      result.data = qt_.memread(kBuffers, got);
    }
    return result;
  }

  Trb get_trb(uint64_t at) {
    auto b = qt_.memread(at, 16);
    Trb t;
    for (int i = 7; i >= 0; --i) t.parameter = t.parameter << 8 | b[i];
    t.status = b[8] | b[9] << 8 | b[10] << 16 | uint32_t{b[11]} << 24;
    t.control = b[12] | b[13] << 8 | b[14] << 16 | uint32_t{b[15]} << 24;
    return t;
  }
  void put_trb(uint64_t at, Trb t) {
    std::vector<uint8_t> b(16);
    put64(b, 0, t.parameter);
    put32(b, 8, t.status);
    put32(b, 12, t.control);
    qt_.memwrite(at, b);
  }
  static void put32(std::vector<uint8_t>& v, size_t at, uint32_t value) {
    for (int i = 0; i < 4; ++i) v[at + i] = static_cast<uint8_t>(value >> (8 * i));
  }
  static void put64(std::vector<uint8_t>& v, size_t at, uint64_t value) {
    put32(v, at, static_cast<uint32_t>(value));
    put32(v, at + 4, static_cast<uint32_t>(value >> 32));
  }

 private:
  struct RingPos {
    unsigned index = 0;
    bool cycle = true;
  };
  QtestClient& qt_;
  uint8_t devfn_ = 0xff;
  bool command_cycle_ = true;
  unsigned command_index_ = 0;
  bool event_cycle_ = true;
  unsigned event_index_ = 0;
  unsigned event_trbs_ = kEventTrbs;
  std::vector<Trb> pending_;
  std::array<RingPos, 65 * 32> rings_{};
};

void abs_move(QtestClient& qt, int x, int y) {
  Json r =
      qt.qmp("input-send-event", {{"events",
                                   {{{"type", "abs"}, {"data", {{"axis", "x"}, {"value", x}}}},
                                    {{"type", "abs"}, {"data", {{"axis", "y"}, {"value", y}}}}}}});
  ASSERT_TRUE(r.contains("return")) << r;
}

constexpr uint8_t kGetDescriptor = 6, kSetConfiguration = 9;
// nec-usb-xhci lists its USB3 ports first: the USB2 ports are 5..8.
constexpr unsigned kNecUsb2Port1 = 5;

// libxl's usbversion=3 form with a tablet and a keyboard on connectors 1 and 2.
struct NecFixture : ::testing::Test {
  QtestClient qt{{"-device", "nec-usb-xhci,id=usb", "-device", "usb-tablet,bus=usb.0,port=1",
                  "-device", "usb-kbd,bus=usb.0,port=2"}};
  XhciDriver xhci{qt, 0x1033};
  void SetUp() override { xhci.init(); }

  // Root port reset as xhci_hub_control does it (PR with PP kept), then the changes cleared.
  void reset_port(unsigned port) {
    xhci.set_portsc(port, kPortPp | kPortPr);
    auto e = xhci.wait_event(kPortEvent);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->parameter >> 24, port);
    uint32_t sc = xhci.portsc(port);
    EXPECT_EQ(sc & (kPortCcs | kPortPed | kPortPrc), kPortCcs | kPortPed | kPortPrc);
    EXPECT_EQ((sc >> 5) & 0xf, 0u) << "U0";
    xhci.set_portsc(port, kPortPp | kPortPrc | kPortCsc);
    EXPECT_EQ(xhci.portsc(port) & (kPortPrc | kPortCsc), 0u);
  }

  // Through Configure Endpoint for endpoint 1 IN (DCI 3): usbcore and xhci-hcd's sequence.
  uint8_t enumerate(unsigned port, std::vector<uint8_t>* device_descriptor = nullptr) {
    reset_port(port);
    uint8_t slot = xhci.enable_and_address(port, /*block_set_address=*/true);
    EXPECT_EQ(qt.readl(XhciDriver::output(slot) + 12) >> 27, 1u) << "slot Default";
    auto first = xhci.control(slot, 0x80, kGetDescriptor, 0x0100, 0, 64);
    EXPECT_EQ(first.code, kSuccess);
    EXPECT_EQ(first.data.size(), 18u) << "a short data stage: 18 of 64 bytes";
    if (device_descriptor) *device_descriptor = first.data;
    uint16_t ep0_packet = ((xhci.portsc(port) >> 10) & 0xf) == 3 ? 64 : 8;
    xhci.write_input(0, 3,
                     {{0, XhciDriver::slot_context(port, 1)},
                      {1, xhci.endpoint_context(slot, 1, 4, ep0_packet)}});
    Trb addressed = xhci.command({kInput, 0, type_bits(kAddressDevice) | uint32_t{slot} << 24});
    EXPECT_EQ(addressed.code(), kSuccess);
    uint32_t slot_word3 = qt.readl(XhciDriver::output(slot) + 12);
    EXPECT_EQ(slot_word3 >> 27, 2u) << "slot Addressed";
    EXPECT_EQ(slot_word3 & 0xff, slot) << "USB address";
    auto config = xhci.control(slot, 0x80, kGetDescriptor, 0x0200, 0, 9);
    EXPECT_EQ(config.data.size(), 9u);
    unsigned total = config.data.size() == 9 ? (config.data[2] | config.data[3] << 8) : 0;
    auto all = xhci.control(slot, 0x80, kGetDescriptor, 0x0200, 0, static_cast<uint16_t>(total));
    EXPECT_EQ(all.data.size(), total);
    // Configure Endpoint: add the interrupt IN endpoint 0x81 (DCI 3) with the slot context.
    xhci.write_input(
        0, 1u | 1u << 3,
        {{0, XhciDriver::slot_context(port, 3)}, {3, xhci.endpoint_context(slot, 3, 7, 8, 3)}});
    Trb configured =
        xhci.command({kInput, 0, type_bits(kConfigureEndpoint) | uint32_t{slot} << 24});
    EXPECT_EQ(configured.code(), kSuccess);
    EXPECT_EQ(qt.readl(XhciDriver::output(slot) + 12) >> 27, 3u) << "slot Configured";
    EXPECT_EQ(qt.readl(XhciDriver::output(slot) + 3 * 32) & 7, 1u) << "endpoint Running";
    EXPECT_EQ(xhci.control(slot, 0x00, kSetConfiguration, 1, 0, 0).code, kSuccess);
    return slot;
  }
  // A Normal TRB of room bytes on endpoint 1 IN, as usbhid's interrupt URB.
  uint64_t queue_interrupt_in(uint8_t slot, uint32_t room, uint64_t buffer) {
    uint64_t at = xhci.enqueue_address(slot, 3);
    xhci.queue(slot, 3, {buffer, room, type_bits(kNormal) | kIsp | kIoc});
    xhci.doorbell(slot, 3);
    return at;
  }
};

TEST_F(NecFixture, ControllerAndPortsAsLinuxReadsThem) {
  EXPECT_EQ(qt.pci_config_read(xhci.devfn(), 0, 4), 0x01941033u);
  EXPECT_EQ(qt.pci_config_read(xhci.devfn(), 0x08, 4) >> 8, 0x0c0330u) << "xHCI class";
  EXPECT_EQ(qt.pci_config_read(xhci.devfn(), 0x60, 1), 0x30u) << "SBRN: USB 3.0";
  uint32_t hcs1 = xhci.read(0x04);
  EXPECT_EQ(hcs1 & 0xff, 64u) << "MaxSlots";
  EXPECT_EQ((hcs1 >> 8) & 0x7ff, 16u) << "MaxIntrs";
  EXPECT_EQ(hcs1 >> 24, 8u) << "MaxPorts";
  // The extended capabilities: Supported Protocol USB 3.0 on ports 1-4 and USB 2.0 on 5-8.
  uint32_t xecp = (xhci.read(0x10) >> 16) * 4;
  ASSERT_NE(xecp, 0u);
  unsigned seen = 0;
  for (int i = 0; i < 8 && xecp; ++i) {
    uint32_t head = xhci.read(xecp);
    if ((head & 0xff) == 2) {
      EXPECT_EQ(xhci.read(xecp + 4), 0x20425355u) << "\"USB \"";
      uint32_t ports = xhci.read(xecp + 8);
      unsigned major = head >> 24;
      EXPECT_EQ(ports & 0xff, major == 3 ? 1u : 5u);
      EXPECT_EQ((ports >> 8) & 0xff, 4u);
      ++seen;
    }
    xecp = ((head >> 8) & 0xff) ? xecp + ((head >> 8) & 0xff) * 4 : 0;
  }
  EXPECT_EQ(seen, 2u);
  // The tablet and keyboard are full-speed: on USB2 ports 5 and 6, connected, not enabled.
  for (unsigned port : {5u, 6u}) {
    uint32_t sc = xhci.portsc(port);
    EXPECT_EQ(sc & (kPortCcs | kPortPed | kPortPp), kPortCcs | kPortPp) << port;
    EXPECT_EQ((sc >> 10) & 0xf, 1u) << "full speed";
    EXPECT_EQ((sc >> 5) & 0xf, 7u) << "Polling until reset";
  }
  for (unsigned port : {1u, 2u, 7u}) EXPECT_EQ(xhci.portsc(port) & kPortCcs, 0u) << port;
  // CRCR's pointer reads as zero, the running bit shows after a doorbell.
  EXPECT_EQ(xhci.op(kCrcr), 0u);
  EXPECT_EQ(xhci.command({0, 0, type_bits(kNoOpCommand)}).code(), kSuccess);
  EXPECT_EQ(xhci.op(kCrcr) & 8, 8u) << "CRR";
  // Run/stop: HCH follows.
  xhci.set_op(kUsbCmd, 0);
  EXPECT_TRUE(xhci.op(kUsbSts) & kStsHalted);
  EXPECT_EQ(xhci.op(kCrcr) & 8, 0u);
}

TEST_F(NecFixture, EnumeratesTabletAndReportsAbsolutePositions) {
  std::vector<uint8_t> device;
  uint8_t slot = enumerate(kNecUsb2Port1, &device);
  ASSERT_EQ(device.size(), 18u);
  EXPECT_EQ(device[1], 1);  // DEVICE
  EXPECT_EQ(device[8] | device[9] << 8, 0x0627);
  // HID report descriptor through the interface (usbhid).
  EXPECT_EQ(xhci.control(slot, 0x21, 0x0a, 0, 0, 0).code, kSuccess);  // SET_IDLE
  auto report_desc = xhci.control(slot, 0x81, kGetDescriptor, 0x2200, 0, 74);
  ASSERT_FALSE(report_desc.data.empty());
  EXPECT_EQ(report_desc.data[0], 0x05);

  // The interrupt URB waits (NAK) without a completion...
  uint64_t buffer = kBuffers + 0x1000;
  qt.memwrite(buffer, std::vector<uint8_t>(8, 0xee));
  uint64_t trb = queue_interrupt_in(slot, 8, buffer);
  qt.clock_step(10'000'000);
  EXPECT_FALSE(xhci.next_event());
  // ...and with nothing queued no timer runs: an idle controller does not wake hvmd.
  // (The board's own 1 Hz RTC update is the next deadline, not anything of the controller's.)
  int64_t now = qt.clock_step(1);
  EXPECT_GE(qt.clock_step() - now, 500'000'000) << "a timer is armed while idle";

  xhci.set_interrupter(0, kIman, kImanIe | kImanIp);
  qt.clock_step(1'000'000);  // the moderation interval of the last interrupt has passed
  unsigned raises = qt.irq_raises(kIrq);
  abs_move(qt, 0x4000, 0x2000);
  auto e = xhci.wait_event(32);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->parameter, trb);
  EXPECT_EQ(e->code(), kShortPacket);
  EXPECT_EQ(e->status & 0xffffff, 2u) << "6 of 8 bytes";
  EXPECT_EQ(e->slot(), slot);
  EXPECT_EQ(e->endpoint(), 3u);
  EXPECT_EQ(qt.memread(buffer, 8),
            (std::vector<uint8_t>{0, 0x00, 0x40, 0x00, 0x20, 0, 0xee, 0xee}));
  EXPECT_GT(qt.irq_raises(kIrq), raises) << "INTA# for the event";
  EXPECT_TRUE(xhci.interrupter(0, kIman) & kImanIp);
  EXPECT_TRUE(xhci.op(kUsbSts) & kStsEint);
  xhci.set_interrupter(0, kIman, kImanIe | kImanIp);
  EXPECT_FALSE(qt.irq_level(kIrq));

  // A report waiting already completes the next TRB at its doorbell.
  abs_move(qt, 0x7fff, 0);
  uint64_t second = queue_interrupt_in(slot, 8, buffer);
  auto e2 = xhci.wait_event(32);
  ASSERT_TRUE(e2);
  EXPECT_EQ(e2->parameter, second);
  // The move queued one report per axis event; the last holds both.
  std::vector<uint8_t> last = qt.memread(buffer, 6);
  while (true) {
    queue_interrupt_in(slot, 8, buffer);
    auto more = xhci.wait_event(32);
    if (!more) break;
    last = qt.memread(buffer, 6);
  }
  EXPECT_EQ(last, (std::vector<uint8_t>{0, 0xff, 0x7f, 0x00, 0x00, 0}));
}

TEST_F(NecFixture, KeyboardReportsThroughItsOwnSlot) {
  uint8_t tablet = enumerate(kNecUsb2Port1);
  uint8_t keyboard = enumerate(kNecUsb2Port1 + 1);
  EXPECT_NE(tablet, keyboard);
  uint64_t buffer = kBuffers + 0x1000;
  queue_interrupt_in(keyboard, 8, buffer);
  Json r = qt.qmp("input-send-event",
                  {{"events",
                    {{{"type", "key"},
                      {"data", {{"down", true}, {"key", {{"type", "qcode"}, {"data", "a"}}}}}}}}});
  ASSERT_TRUE(r.contains("return")) << r;
  auto e = xhci.wait_event(32);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->slot(), keyboard);
  EXPECT_EQ(e->code(), kSuccess) << "8 of 8 bytes";
  EXPECT_EQ(qt.memread(buffer, 8), (std::vector<uint8_t>{0, 0, 4, 0, 0, 0, 0, 0})) << "usage 'a'";
}

TEST_F(NecFixture, StallHaltsTheEndpointUntilResetAndNewDequeue) {
  uint8_t slot = enumerate(kNecUsb2Port1);
  // A request the tablet refuses: STALL in the setup stage's reply, endpoint 0 halted.
  auto refused = xhci.control(slot, 0x80, kGetDescriptor, 0x0700, 0, 8);
  EXPECT_EQ(refused.code, kStall);
  EXPECT_EQ(qt.readl(XhciDriver::output(slot) + 32) & 7, 2u) << "endpoint 0 Halted";
  // A doorbell on a halted endpoint does nothing.
  xhci.doorbell(slot, 1);
  EXPECT_FALSE(xhci.next_event());
  EXPECT_EQ(
      xhci.command({0, 0, type_bits(kResetEndpoint) | 1u << 16 | uint32_t{slot} << 24}).code(),
      kSuccess);
  EXPECT_EQ(qt.readl(XhciDriver::output(slot) + 32) & 7, 3u) << "Stopped";
  xhci.reset_ring(slot, 1);
  EXPECT_EQ(xhci.command({XhciDriver::ring_base(slot, 1) | 1, 0,
                          type_bits(kSetDequeue) | 1u << 16 | uint32_t{slot} << 24})
                .code(),
            kSuccess);
  EXPECT_EQ(xhci.control(slot, 0x80, kGetDescriptor, 0x0100, 0, 18).data.size(), 18u);
  // Stop Endpoint on the waiting interrupt endpoint: its TRB completes "stopped".
  uint64_t trb = queue_interrupt_in(slot, 8, kBuffers + 0x1000);
  Trb stopped = xhci.command({0, 0, type_bits(kStopEndpoint) | 3u << 16 | uint32_t{slot} << 24});
  EXPECT_EQ(stopped.code(), kSuccess);
  ASSERT_FALSE(xhci.pending().empty());
  EXPECT_EQ(xhci.pending().front().code(), kStoppedLengthInvalid);
  EXPECT_EQ(xhci.pending().front().parameter, trb);
  // Reset Endpoint on an endpoint that is not halted: a context state error.
  EXPECT_EQ(
      xhci.command({0, 0, type_bits(kResetEndpoint) | 3u << 16 | uint32_t{slot} << 24}).code(),
      kContextStateError);
  // An interrupt TRB smaller than the report: babble, the endpoint halts.
  xhci.pending().clear();
  abs_move(qt, 10, 10);
  xhci.doorbell(slot, 3);  // restarts the stopped endpoint at the waiting TRB, which completes
  xhci.wait_event(32);
  queue_interrupt_in(slot, 4, kBuffers + 0x1000);
  abs_move(qt, 20, 20);
  auto babble = xhci.wait_event(32);
  ASSERT_TRUE(babble);
  EXPECT_EQ(babble->code(), kBabble);
  EXPECT_EQ(qt.readl(XhciDriver::output(slot) + 3 * 32) & 7, 2u) << "Halted";
}

TEST_F(NecFixture, EventDataAndNoOpTransferTrbs) {
  uint8_t slot = enumerate(kNecUsb2Port1);
  uint64_t first = xhci.enqueue_address(slot, 1);
  // GET_DESCRIPTOR with a chained Data + Event Data TD: the event carries the bytes moved.
  uint64_t setup =
      uint64_t{0x80} | uint64_t{kGetDescriptor} << 8 | uint64_t{0x0100} << 16 | uint64_t{18} << 48;
  xhci.queue(slot, 1, {setup, 8, type_bits(kSetup) | kIdt | 3u << 16});
  xhci.queue(slot, 1, {kBuffers, 18, type_bits(kData) | kDirIn | kChain});
  xhci.queue(slot, 1, {0x1122334455667788ull, 0, type_bits(kEventData) | kIoc});
  xhci.queue(slot, 1, {0, 0, type_bits(kStatus)});
  xhci.queue(slot, 1, {0, 0, type_bits(kNoOp) | kIoc});
  xhci.doorbell(slot, 1);
  auto data = xhci.wait_event(32);
  ASSERT_TRUE(data);
  EXPECT_EQ(data->parameter, 0x1122334455667788ull);
  EXPECT_TRUE(data->control & 4) << "ED";
  EXPECT_EQ(data->status & 0xffffff, 18u) << "EDTLA";
  EXPECT_EQ(data->code(), kSuccess);
  auto noop = xhci.wait_event(32);
  ASSERT_TRUE(noop);
  EXPECT_EQ(noop->code(), kSuccess);
  EXPECT_EQ(noop->parameter, first + 4 * 16);
}

TEST_F(NecFixture, HotPlugRaisesPortStatusChange) {
  xhci.set_op(kUsbSts, kStsPcd);
  Json added = qt.qmp("device_add",
                      {{"driver", "usb-tablet"}, {"id", "t2"}, {"bus", "usb.0"}, {"port", "3"}});
  ASSERT_TRUE(added.contains("return")) << added;
  auto e = xhci.wait_event(kPortEvent);
  ASSERT_TRUE(e) << "Port Status Change event";
  EXPECT_EQ(e->parameter >> 24, kNecUsb2Port1 + 2);
  EXPECT_EQ(e->code(), kSuccess);
  EXPECT_TRUE(xhci.op(kUsbSts) & kStsPcd);
  uint32_t sc = xhci.portsc(kNecUsb2Port1 + 2);
  EXPECT_EQ(sc & (kPortCcs | kPortCsc), kPortCcs | kPortCsc);
  xhci.set_portsc(kNecUsb2Port1 + 2, kPortPp | kPortCsc);
  // Enumerate it, then take it away: the slot's transfers see no device.
  uint8_t slot = enumerate(kNecUsb2Port1 + 2);
  Json removed = qt.qmp("device_del", {{"id", "t2"}});
  ASSERT_TRUE(removed.contains("return")) << removed;
  auto gone = xhci.wait_event(kPortEvent);
  ASSERT_TRUE(gone);
  EXPECT_EQ(xhci.portsc(kNecUsb2Port1 + 2) & (kPortCcs | kPortPed | kPortCsc), kPortCsc);
  EXPECT_EQ(xhci.control(slot, 0x80, kGetDescriptor, 0x0100, 0, 18).code, kTransactionError);
}

TEST_F(NecFixture, SavedStateRestoresSlotsRingsAndAWaitingTransfer) {
  uint8_t slot = enumerate(kNecUsb2Port1);
  uint64_t trb = queue_interrupt_in(slot, 8, kBuffers + 0x1000);
  char name[] = "/tmp/hvmd-xhci-state-XXXXXX";
  int fd = mkstemp(name);
  ASSERT_GE(fd, 0);
  close(fd);
  ASSERT_TRUE(qt.qmp("stop").contains("return"));
  Json saved = qt.qmp("xen-save-devices-state", {{"filename", name}, {"live", false}});
  ASSERT_TRUE(saved.contains("return")) << saved;
  ASSERT_TRUE(qt.qmp("system_reset").contains("return"));
  Json loaded = qt.qmp("xen-load-devices-state", {{"filename", name}});
  unlink(name);
  ASSERT_TRUE(loaded.contains("return")) << loaded;
  ASSERT_TRUE(qt.qmp("cont").contains("return"));
  EXPECT_FALSE(xhci.op(kUsbSts) & kStsHalted);
  EXPECT_EQ(xhci.portsc(kNecUsb2Port1) & (kPortCcs | kPortPed), kPortCcs | kPortPed);
  // The transfer that was waiting completes with the next report, on the same event ring.
  abs_move(qt, 0x100, 0x200);
  auto e = xhci.wait_event(32);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->parameter, trb);
  EXPECT_EQ(e->slot(), slot);
  EXPECT_EQ(xhci.command({0, 0, type_bits(kNoOpCommand)}).code(), kSuccess);
  EXPECT_EQ(xhci.control(slot, 0x80, kGetDescriptor, 0x0100, 0, 18).data.size(), 18u);
}

TEST(XhciHub, KeyboardBehindAHubByRouteString) {
  QtestClient qt{{"-device", "qemu-xhci,id=usb", "-device", "usb-hub,bus=usb.0,port=1", "-device",
                  "usb-kbd,bus=usb.0.1,port=3"}};
  XhciDriver xhci{qt, 0x1b36};
  xhci.init();
  // qemu-xhci: USB2 ports first; the hub on port 1.
  xhci.set_portsc(1, kPortPp | kPortPr);
  ASSERT_TRUE(xhci.wait_event(kPortEvent));
  uint8_t hub = xhci.enable_and_address(1, /*block_set_address=*/false);
  auto device = xhci.control(hub, 0x80, kGetDescriptor, 0x0100, 0, 18);
  ASSERT_EQ(device.data.size(), 18u);
  EXPECT_EQ(device.data[4], 9) << "hub class";
  ASSERT_EQ(xhci.control(hub, 0x00, kSetConfiguration, 1, 0, 0).code, kSuccess);
  // The hub's port 3: power, reset (SET_FEATURE to the port), then its status says enabled.
  EXPECT_EQ(xhci.control(hub, 0x23, 3, 8, 3, 0).code, kSuccess);
  EXPECT_EQ(xhci.control(hub, 0x23, 3, 4, 3, 0).code, kSuccess);
  auto status = xhci.control(hub, 0xa3, 0, 0, 3, 4);
  ASSERT_EQ(status.data.size(), 4u);
  EXPECT_EQ(status.data[0] & 3, 3) << "connected and enabled";
  // The keyboard: root port 1, route string 3.
  uint8_t keyboard = xhci.enable_and_address(1, /*block_set_address=*/false, /*route=*/3);
  EXPECT_NE(keyboard, hub);
  auto config = xhci.control(keyboard, 0x80, kGetDescriptor, 0x0200, 0, 34);
  ASSERT_EQ(config.data.size(), 34u);
  EXPECT_EQ(config.data[9 + 7], 1) << "boot keyboard protocol: the device behind the hub";
  // A route through a port with nothing behind it: no answer.
  uint8_t nobody = xhci.command({0, 0, type_bits(kEnableSlot)}).slot();
  xhci.write_input(
      0, 3, {{0, XhciDriver::slot_context(1, 1, 5)}, {1, xhci.endpoint_context(nobody, 1, 4, 8)}});
  EXPECT_EQ(
      xhci.command({kInput, 0, type_bits(kAddressDevice) | kBsr | uint32_t{nobody} << 24}).code(),
      kTransactionError);
}

TEST(XhciMsi, EventsArriveAsMsiMessagesWhenMsixIsOff) {
  QtestClient qt{{"-device", "qemu-xhci,id=usb"}};
  XhciDriver xhci{qt, 0x1b36};
  xhci.init(/*start=*/false);
  uint8_t cap = static_cast<uint8_t>(qt.pci_config_read(xhci.devfn(), 0x34, 1));
  while (cap && qt.pci_config_read(xhci.devfn(), cap, 1) != 0x05)
    cap = static_cast<uint8_t>(qt.pci_config_read(xhci.devfn(), cap + 1, 1));
  ASSERT_NE(cap, 0) << "MSI capability";
  ASSERT_TRUE(qt.pci_config_read(xhci.devfn(), cap + 2, 2) & 0x80) << "64-bit";
  qt.pci_config_write(xhci.devfn(), cap + 4, 4, static_cast<uint32_t>(kMsiTarget));
  qt.pci_config_write(xhci.devfn(), cap + 8, 4, 0);
  qt.pci_config_write(xhci.devfn(), cap + 12, 2, 0x0051);
  qt.pci_config_write(xhci.devfn(), cap + 2, 2, 1);  // enable, one vector
  qt.writel(kMsiTarget, 0);
  xhci.run();
  EXPECT_EQ(xhci.command({0, 0, type_bits(kNoOpCommand)}).code(), kSuccess);
  EXPECT_EQ(qt.readl(kMsiTarget), 0x51u);
  EXPECT_FALSE(qt.irq_level(kIrq));
}

TEST(XhciPorts, SuspendResumeAndWarmReset) {
  QtestClient qt{{"-device", "qemu-xhci,id=usb", "-device", "usb-tablet,bus=usb.0,port=2"}};
  XhciDriver xhci{qt, 0x1b36};
  xhci.init();
  // qemu-xhci: USB2 ports 1-4 first; the tablet is on 2, its USB3 twin (6) shows nothing.
  EXPECT_EQ(xhci.portsc(6) & kPortCcs, 0u);
  EXPECT_EQ((xhci.portsc(6) >> 5) & 0xf, 5u) << "RxDetect";
  xhci.set_portsc(2, kPortPp | kPortPr);
  ASSERT_TRUE(xhci.wait_event(kPortEvent));
  xhci.set_portsc(2, kPortPp | kPortPrc | kPortCsc);
  // Link state write with LWS: U3 (suspend) sets no change; U0 (resume) sets PLC and an event.
  constexpr uint32_t kLws = 1u << 16, kPlc = 1u << 22;
  xhci.set_portsc(2, kPortPp | kLws | 3u << 5);
  EXPECT_EQ((xhci.portsc(2) >> 5) & 0xf, 3u) << "U3";
  EXPECT_FALSE(xhci.next_event());
  // PLS without LWS is ignored.
  xhci.set_portsc(2, kPortPp | 0u << 5);
  EXPECT_EQ((xhci.portsc(2) >> 5) & 0xf, 3u);
  xhci.set_portsc(2, kPortPp | kLws | 0u << 5);
  EXPECT_EQ((xhci.portsc(2) >> 5) & 0xf, 0u) << "U0";
  EXPECT_TRUE(xhci.portsc(2) & kPlc);
  auto e = xhci.wait_event(kPortEvent);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->parameter >> 24, 2u);
  // Writing PED disables the port; the device is still connected.
  xhci.set_portsc(2, kPortPp | kPlc | kPortPed);
  EXPECT_EQ(xhci.portsc(2) & (kPortCcs | kPortPed), kPortCcs);
  // Warm reset on an empty USB3 port: PRC and WRC.
  constexpr uint32_t kWpr = 1u << 31, kWrc = 1u << 19;
  xhci.set_portsc(7, kPortPp | kWpr);
  EXPECT_EQ(xhci.portsc(7) & (kPortPrc | kWrc), kPortPrc | kWrc);
  xhci.set_portsc(7, kPortPp | kPortPrc | kWrc);
  EXPECT_EQ(xhci.portsc(7) & (kPortPrc | kWrc), 0u);
}

TEST(XhciMsix, EventsArriveAsMsixMessages) {
  QtestClient qt{{"-device", "qemu-xhci,id=usb", "-device", "usb-tablet,bus=usb.0"}};
  XhciDriver xhci{qt, 0x1b36};
  xhci.init(/*start=*/false);
  EXPECT_EQ(qt.pci_config_read(xhci.devfn(), 2, 2), 0x000du);
  // Find the MSI-X capability and program vector 0 at a RAM address.
  uint8_t cap = static_cast<uint8_t>(qt.pci_config_read(xhci.devfn(), 0x34, 1));
  while (cap && qt.pci_config_read(xhci.devfn(), cap, 1) != 0x11)
    cap = static_cast<uint8_t>(qt.pci_config_read(xhci.devfn(), cap + 1, 1));
  ASSERT_NE(cap, 0) << "MSI-X capability";
  uint32_t table = qt.pci_config_read(xhci.devfn(), cap + 4, 4);
  ASSERT_EQ(table & 7, 0u) << "table in BAR0";
  uint64_t entry = kBar + (table & ~7u);
  qt.writel(entry, static_cast<uint32_t>(kMsiTarget));
  qt.writel(entry + 4, 0);
  qt.writel(entry + 8, 0x4321);
  qt.writel(entry + 12, 0);
  qt.pci_config_write(xhci.devfn(), cap + 2, 2, 0x8000);  // MSI-X enable
  qt.writel(kMsiTarget, 0);
  xhci.run();
  // usb-tablet on qemu-xhci's first USB2 port (USB2 first there).
  EXPECT_EQ(xhci.portsc(1) & kPortCcs, kPortCcs);
  EXPECT_EQ(xhci.command({0, 0, type_bits(kNoOpCommand)}).code(), kSuccess);
  EXPECT_EQ(qt.readl(kMsiTarget), 0x4321u) << "the vector's message";
  EXPECT_FALSE(xhci.interrupter(0, kIman) & kImanIp) << "cleared once the message is sent";
  EXPECT_FALSE(qt.irq_level(kIrq)) << "no INTx with MSI-X";
  // Moderation: a second event within the interval waits for it.
  qt.writel(kMsiTarget, 0);
  xhci.command({0, 0, type_bits(kNoOpCommand)});
  EXPECT_EQ(qt.readl(kMsiTarget), 0u) << "inside IMOD's 40 us";
  qt.clock_step(50'000);
  EXPECT_EQ(qt.readl(kMsiTarget), 0x4321u);
}

// --- hostile guests ----------------------------------------------------------------------------

struct HostileFixture : NecFixture {
  // Every hostile case ends with the controller answering registers promptly.
  void TearDown() override {
    auto start = std::chrono::steady_clock::now();
    (void)xhci.op(kUsbSts);
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  }
};

TEST_F(HostileFixture, CommandRingOfLinksOnlyIsBounded) {
  // Two link TRBs pointing at each other, both with the current cycle bit.
  xhci.put_trb(kCommandRing, {kCommandRing + 16, 0, type_bits(kLink) | kCycle});
  xhci.put_trb(kCommandRing + 16, {kCommandRing, 0, type_bits(kLink) | kCycle});
  auto start = std::chrono::steady_clock::now();
  xhci.doorbell(0, 0);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  EXPECT_FALSE(xhci.next_event());
  EXPECT_FALSE(xhci.op(kUsbSts) & kStsHalted);
  // A link that toggles the cycle on itself is a loop too.
  xhci.put_trb(kCommandRing, {kCommandRing, 0, type_bits(kLink) | kToggle | kCycle});
  xhci.doorbell(0, 0);
  EXPECT_FALSE(xhci.next_event());
}

TEST_F(HostileFixture, TransferRingLinkLoopHaltsWithTrbError) {
  uint8_t slot = enumerate(kNecUsb2Port1);
  uint64_t ring = XhciDriver::ring_base(slot, 3);
  xhci.put_trb(ring, {ring, 0, type_bits(kLink) | kCycle});
  xhci.doorbell(slot, 3);
  auto e = xhci.wait_event(32);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), kTrbError);
  EXPECT_EQ(qt.readl(XhciDriver::output(slot) + 3 * 32) & 7, 2u) << "Halted";
}

TEST_F(HostileFixture, EndlessNoOpRingRunsInBoundedSlices) {
  uint8_t slot = enumerate(kNecUsb2Port1);
  uint64_t ring = XhciDriver::ring_base(slot, 3);
  // A ring of no-ops without IOC closed by a link: legal, and endless.
  for (unsigned i = 0; i < 4; ++i) xhci.put_trb(ring + 16 * i, {0, 0, type_bits(kNoOp) | kCycle});
  xhci.put_trb(ring + 64, {ring, 0, type_bits(kLink) | kCycle});
  auto start = std::chrono::steady_clock::now();
  xhci.doorbell(slot, 3);
  for (int i = 0; i < 5; ++i) qt.clock_step(100'000);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  // Stopping the endpoint ends it.
  EXPECT_EQ(xhci.command({0, 0, type_bits(kStopEndpoint) | 3u << 16 | uint32_t{slot} << 24}).code(),
            kSuccess);
}

TEST_F(HostileFixture, BufferOutsideRamIsAHostSystemError) {
  uint8_t slot = enumerate(kNecUsb2Port1);
  abs_move(qt, 1, 1);
  queue_interrupt_in(slot, 8, 0xfff00000000ull);
  EXPECT_TRUE(xhci.op(kUsbSts) & kStsHse);
  EXPECT_TRUE(xhci.op(kUsbSts) & kStsHalted);
  // Doorbells of a halted controller are ignored; a reset brings it back.
  xhci.doorbell(0, 0);
  xhci.init();
  EXPECT_EQ(xhci.command({0, 0, type_bits(kNoOpCommand)}).code(), kSuccess);
}

TEST_F(HostileFixture, CommandRingAndContextsOutsideRam) {
  // An input context outside RAM: host system error, no completion.
  Trb enabled = xhci.command({0, 0, type_bits(kEnableSlot)});
  ASSERT_EQ(enabled.code(), kSuccess);
  xhci.doorbell(0, 0);
  xhci.set_op(kUsbCmd, 0);
  xhci.write64(kOper + kCrcr, 0xfff00000000ull | 1);
  xhci.run();
  xhci.doorbell(0, 0);
  EXPECT_TRUE(xhci.op(kUsbSts) & kStsHse);
}

TEST_F(HostileFixture, SlotIdsOutOfRange) {
  for (uint32_t slot : {0u, 65u, 255u}) {
    EXPECT_EQ(xhci.command({kInput, 0, type_bits(kAddressDevice) | slot << 24}).code(),
              kSlotNotEnabled)
        << slot;
    EXPECT_EQ(xhci.command({kInput, 0, type_bits(kConfigureEndpoint) | slot << 24}).code(),
              kSlotNotEnabled);
    EXPECT_EQ(xhci.command({0, 0, type_bits(kDisableSlot) | slot << 24}).code(), kSlotNotEnabled);
  }
  // Doorbells for slots that do not exist, and past the doorbell array: nothing happens.
  xhci.doorbell(0, 5);
  xhci.doorbell(7, 3);
  xhci.doorbell(200, 1);
  EXPECT_FALSE(xhci.next_event());
  // Address Device without A0/A1, or with a root port that does not exist.
  Trb enabled = xhci.command({0, 0, type_bits(kEnableSlot)});
  uint8_t slot = enabled.slot();
  xhci.write_input(0, 1, {{0, XhciDriver::slot_context(5, 1)}});
  EXPECT_EQ(xhci.command({kInput, 0, type_bits(kAddressDevice) | uint32_t{slot} << 24}).code(),
            kParameterError);
  xhci.write_input(
      0, 3, {{0, XhciDriver::slot_context(99, 1)}, {1, xhci.endpoint_context(slot, 1, 4, 8)}});
  EXPECT_EQ(xhci.command({kInput, 0, type_bits(kAddressDevice) | uint32_t{slot} << 24}).code(),
            kParameterError);
  // A port with nothing enabled on it: the SET_ADDRESS goes unanswered.
  xhci.write_input(
      0, 3, {{0, XhciDriver::slot_context(2, 1)}, {1, xhci.endpoint_context(slot, 1, 4, 8)}});
  EXPECT_EQ(xhci.command({kInput, 0, type_bits(kAddressDevice) | uint32_t{slot} << 24}).code(),
            kTransactionError);
  // Evaluate Context of a slot never addressed.
  EXPECT_EQ(xhci.command({kInput, 0, type_bits(kEvaluateContext) | uint32_t{slot} << 24}).code(),
            kContextStateError);
  // All 64 slots taken, then one more: No Slots Available.
  for (int i = 1; i < 64; ++i) xhci.command({0, 0, type_bits(kEnableSlot)});
  EXPECT_EQ(xhci.command({0, 0, type_bits(kEnableSlot)}).code(), 9);
}

TEST_F(HostileFixture, WLengthLargerThanTheBufferMovesOnlyTheBuffer) {
  uint8_t slot = enumerate(kNecUsb2Port1);
  // An OUT data stage longer than the device takes (more than 4 KiB): STALL at setup.
  auto big = xhci.control(slot, 0x21, 0x09, 0x0200, 0, 0x2000);
  EXPECT_EQ(big.code, kStall);
  // GET_DESCRIPTOR(CONFIGURATION) asking 0xffff bytes into an 8-byte data TRB: at high speed
  // the device's packet is larger than the buffer (babble, the endpoint halts), and nothing
  // lands beyond the TRB's buffer.
  auto r = xhci.control(slot, 0x80, kGetDescriptor, 0x0200, 0, 0xffff, 8);
  EXPECT_LE(r.data.size(), 8u);
  EXPECT_EQ(qt.memread(kBuffers + 8, 8), std::vector<uint8_t>(8, 0xee));
}

TEST_F(HostileFixture, EventRingSizesZeroAndHuge) {
  // ERSTSZ 0: no event ring; commands run, events are lost, nothing breaks.
  xhci.set_op(kUsbCmd, 0);
  xhci.setup_event_ring(0);
  xhci.run();
  xhci.doorbell(0, 0);
  EXPECT_FALSE(xhci.next_event());
  // ERSTSZ beyond ERST Max, and a segment of 0 or 65535 TRBs.
  for (auto [size, trbs] : {std::pair{0xffffu, 64u}, {1u, 0u}, {1u, 0xffffu}}) {
    xhci.set_op(kUsbCmd, 0);
    xhci.setup_event_ring(size, trbs);
    xhci.run();
    xhci.put_trb(kCommandRing, {0, 0, type_bits(kNoOpCommand) | kCycle});
    xhci.doorbell(0, 0);
    EXPECT_FALSE(xhci.next_event());
  }
  // A sane ring again works.
  xhci.init();
  EXPECT_EQ(xhci.command({0, 0, type_bits(kNoOpCommand)}).code(), kSuccess);
}

TEST_F(HostileFixture, FullEventRingReportsAndRecovers) {
  // A 16-TRB segment and software that does not dequeue: the last slot takes Event Ring Full.
  xhci.set_op(kUsbCmd, 0);
  xhci.setup_event_ring(1, 16);
  xhci.run();
  for (unsigned i = 0; i < 20; ++i)
    xhci.put_trb(kCommandRing + 16 * i, {0, 0, type_bits(kNoOpCommand) | kCycle});
  xhci.doorbell(0, 0);
  EXPECT_EQ(xhci.get_trb(kEventRing + 16 * 14).type(), kCommandEvent);
  Trb last = xhci.get_trb(kEventRing + 16 * 15);
  EXPECT_EQ(last.type(), 37u) << "host controller event";
  EXPECT_EQ(last.code(), 21) << "event ring full";
  // Software catches up: events flow again.
  int read = 0;
  for (int i = 0; i < 16; ++i) read += xhci.next_event().has_value();
  EXPECT_EQ(read, 16);
  xhci.put_trb(kCommandRing + 16 * 20, {0, 0, type_bits(kNoOpCommand) | kCycle});
  xhci.doorbell(0, 0);
  auto again = xhci.next_event();
  ASSERT_TRUE(again);
  EXPECT_EQ(again->type(), kCommandEvent);
}

}  // namespace
}  // namespace hvmd::test
