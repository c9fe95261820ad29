// Device state: field descriptions (versions, masks, refusals) and whole-machine loads that are
// all or nothing, against the board's devices and hostile streams.
#include <gtest/gtest.h>

#include <functional>

#include "devices/board.h"
#include "devices/ide/ide_channel.h"
#include "dm/machine.h"
#include "dm/pci/pci_device.h"
#include "dm/state_fields.h"
#include "tests/unit/test_devices.h"

namespace hvmd::test {
namespace {

enum class Colour : uint8_t { kRed, kGreen, kBlue };

struct Inner {
  uint16_t a = 0;
  std::array<uint32_t, 2> b{};
  template <class V>
  void describe(V& v) {
    v("a", a);
    v("b", b);
  }
};

// Version 1 of a state; Version2 adds a field.
struct Version1 {
  uint8_t masked = 0;
  uint32_t bounded = 0;
  bool flag = false;
  Colour colour = Colour::kRed;
  int64_t signed_value = 0;
  std::deque<uint8_t> queue;
  Inner inner;
  template <class V>
  void describe(V& v) {
    v("masked", masked, Mask<uint8_t>{0x0f});
    v("bounded", bounded, AtMost{100u});
    v("flag", flag);
    v("colour", colour, AtMost{Colour::kBlue});
    v("signed", signed_value, InRange<int64_t>{-5, 5});
    v("queue", queue, MaxSize{4});
    v("inner", inner);
  }
};

struct Version2 : Version1 {
  uint16_t added = 0;
  template <class V>
  void describe(V& v) {
    Version1::describe(v);
    v.since(2, "added", added, uint16_t{77});
  }
};

template <class S>
std::vector<uint8_t> written(const S& state) {
  StateWriter out;
  write_fields(out, state);
  return out.data();
}

template <class S>
Result<void> read_back(const std::vector<uint8_t>& bytes, uint32_t version, S& state) {
  StateReader in(bytes);
  HVMD_TRY(read_fields(in, version, "test", state));
  if (!in.at_end()) return make_error("trailing bytes");
  return ok();
}

Version2 sample() {
  Version2 s;
  s.masked = 0x0a;
  s.bounded = 99;
  s.flag = true;
  s.colour = Colour::kBlue;
  s.signed_value = -5;
  s.queue = {1, 2, 3};
  s.inner = {0xbeef, {7, 8}};
  s.added = 5;
  return s;
}

TEST(StateFields, OneDescriptionWritesAndReads) {
  Version2 back;
  ASSERT_TRUE(read_back(written(sample()), 2, back).ok());
  EXPECT_EQ(back.masked, 0x0a);
  EXPECT_EQ(back.bounded, 99u);
  EXPECT_TRUE(back.flag);
  EXPECT_EQ(back.colour, Colour::kBlue);
  EXPECT_EQ(back.signed_value, -5);
  EXPECT_EQ(back.queue, (std::deque<uint8_t>{1, 2, 3}));
  EXPECT_EQ(back.inner.a, 0xbeef);
  EXPECT_EQ(back.inner.b[1], 8u);
  EXPECT_EQ(back.added, 5);
}

TEST(StateFields, OlderStreamsGetTheDefaultOfNewerFields) {
  Version1 old = sample();
  Version2 back;
  back.added = 1;
  ASSERT_TRUE(read_back(written(old), 1, back).ok());
  EXPECT_EQ(back.added, 77);
  EXPECT_EQ(back.inner.a, 0xbeef);
  // The same bytes read as version 2 miss the new field.
  EXPECT_FALSE(read_back(written(old), 2, back).ok());
}

TEST(StateFields, ValuesAreMaskedOrRefused) {
  Version2 s = sample();
  s.masked = 0xff;
  Version2 back;
  ASSERT_TRUE(read_back(written(s), 2, back).ok());
  EXPECT_EQ(back.masked, 0x0f);

  auto refused = [](const Version2& crafted, const char* field) {
    Version2 out;
    auto loaded = read_back(written(crafted), 2, out);
    ASSERT_FALSE(loaded.ok()) << field;
    EXPECT_NE(loaded.error().message.find(field), std::string::npos) << loaded.error().message;
  };
  s = sample();
  s.bounded = 101;
  refused(s, "bounded");
  s = sample();
  s.colour = static_cast<Colour>(3);
  refused(s, "colour");
  s = sample();
  s.signed_value = 6;
  refused(s, "signed");
  s = sample();
  s.queue.assign(5, 0);
  refused(s, "queue");
}

TEST(StateFields, EveryTruncationIsRefused) {
  std::vector<uint8_t> bytes = written(sample());
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    Version2 back;
    EXPECT_FALSE(read_back({bytes.begin(), bytes.begin() + static_cast<long>(cut)}, 2, back).ok())
        << cut;
  }
}

// A machine stream's header, before its sections (dm/machine.cc).
void copy_header(StateReader& in, StateWriter& out) {
  out.u32(*in.u32());  // magic
  out.u32(*in.u32());  // format version
  out.u16(*in.u16());  // emulated-device unplug mask
  out.u32(*in.u32());  // device count
}

// A machine stream with one device's section edited (found by type); sections keep their order.
std::vector<uint8_t> edit_section(const std::vector<uint8_t>& stream, std::string_view type,
                                  const std::function<void(std::vector<uint8_t>&)>& edit) {
  StateReader in(stream);
  StateWriter out;
  copy_header(in, out);
  while (!in.at_end()) {
    auto section = in.section();
    EXPECT_TRUE(section.ok());
    std::vector<uint8_t> body(section->body.begin(), section->body.end());
    if (section->type == type) edit(body);
    out.begin_section(section->id, section->type, section->version);
    for (uint8_t b : body) out.u8(b);
    out.end_section();
  }
  return out.data();
}

void put32(std::vector<uint8_t>& body, size_t at, uint32_t value) {
  for (int i = 0; i < 4; ++i) body[at + i] = static_cast<uint8_t>(value >> (8 * i));
}

// The PCI layer's fields before a PCI device's own: layout version, config space, INTx level.
constexpr size_t kPciLayerBytes = 4 + pci::kConfigSize + 1;

class MachineStateTest : public ::testing::Test {
 protected:
  MachineStateTest() {
    devices::register_devices(registry);
    EXPECT_TRUE(devices::build_board(machine).ok());
  }
  Result<Device*> add(const std::string& text) {
    auto options = SubOptions::parse(text, "driver");
    EXPECT_TRUE(options.ok());
    return machine.add_device(*options, false);
  }
  void config_write(uint8_t devfn, uint8_t reg, unsigned size, uint32_t value) {
    machine.dispatcher().port_write(0xcf8, 4, 0x80000000u | uint32_t{devfn} << 8 | (reg & ~3u));
    machine.dispatcher().port_write(0xcfc + (reg & 3), size, value);
  }

  Clock clock{Clock::Mode::kVirtual};
  HostRam ram{RamLayout::pc(32 << 20)};
  FakeInterrupts irq;
  DeviceRegistry registry;
  Machine machine{MachineOptions{}, clock, ram, irq, registry};
};

constexpr uint8_t kNicDevfn = 3 << 3;
constexpr uint64_t kNicBar = 0xfebc0000;
constexpr uint32_t kTdlen = 0x3808, kTdt = 0x3818, kRdlen = 0x2808, kRdh = 0x2810;

TEST_F(MachineStateTest, AStreamBadInItsLastSectionChangesNothing) {
  ASSERT_TRUE(add("e1000,addr=3").ok());  // the last section
  config_write(kNicDevfn, pci::kBar0, 4, kNicBar);
  config_write(kNicDevfn, pci::kCommand, 2, pci::kCommandMemory);
  machine.dispatcher().mmio_write(kNicBar + kTdlen, 4, 0x100);
  std::vector<uint8_t> state = machine.save_state();

  // Guest-visible changes after the save, in the first section (the host bridge's
  // CONFIG_ADDRESS) and in the last (the NIC's ring length).
  machine.dispatcher().port_write(0xcf8, 4, 0x80000058);
  machine.dispatcher().mmio_write(kNicBar + kTdlen, 4, 0x200);

  auto intact = [&] {
    EXPECT_EQ(machine.dispatcher().port_read(0xcf8, 4), 0x80000058u);
    EXPECT_EQ(machine.dispatcher().mmio_read(kNicBar + kTdlen, 4), 0x200u);
  };
  // Another device's identity, a PCI layout from a newer hvmd, a value no guest could write,
  // a truncated body: each refused, and nothing loaded from the sections before it.
  std::vector<std::vector<uint8_t>> bad = {
      edit_section(state, "e1000", [](auto& body) { body[4] ^= 0xff; }),
      edit_section(state, "e1000", [](auto& body) { put32(body, 0, 2); }),
      edit_section(state, "e1000",
                   [](auto& body) { body[kPciLayerBytes + 4 * 8192 + 64 + 4 + 1 + 4] = 200; }),
      edit_section(state, "e1000", [](auto& body) { body.pop_back(); }),
  };
  for (const auto& stream : bad) {
    EXPECT_FALSE(machine.load_state(stream).ok());
    intact();
  }
  // The good stream loads whole.
  ASSERT_TRUE(machine.load_state(state).ok());
  EXPECT_EQ(machine.dispatcher().mmio_read(kNicBar + kTdlen, 4), 0x100u);
}

TEST_F(MachineStateTest, RingLengthsAndIndicesLoadAsGuestWritesLeaveThem) {
  ASSERT_TRUE(add("e1000,addr=3").ok());
  config_write(kNicDevfn, pci::kBar0, 4, kNicBar);
  config_write(kNicDevfn, pci::kCommand, 2, pci::kCommandMemory);
  std::vector<uint8_t> state = machine.save_state();
  // 2^28 descriptors of transmit ring with the tail far from the head, and a receive head
  // beyond any ring: masked as the TDLEN/RDLEN/TDT/RDH writes mask them.
  auto crafted = edit_section(state, "e1000", [](auto& body) {
    put32(body, kPciLayerBytes + kTdlen, 0xffffff80);
    put32(body, kPciLayerBytes + kTdt, 0xfffffff0);
    put32(body, kPciLayerBytes + kRdlen, 0xffffffff);
    put32(body, kPciLayerBytes + kRdh, 0x12345678);
  });
  ASSERT_TRUE(machine.load_state(crafted).ok());
  auto& d = machine.dispatcher();
  EXPECT_EQ(d.mmio_read(kNicBar + kTdlen, 4), 0xfff80u);
  EXPECT_EQ(d.mmio_read(kNicBar + kTdt, 4), 0xfff0u);
  EXPECT_EQ(d.mmio_read(kNicBar + kRdlen, 4), 0xfff80u);
  EXPECT_EQ(d.mmio_read(kNicBar + kRdh, 4), 0x5678u);
}

TEST_F(MachineStateTest, SectionVersionsAreHonoured) {
  std::vector<uint8_t> state = machine.save_state();
  // A section newer than the device knows is refused, PCI devices included.
  StateReader in(state);
  StateWriter out;
  copy_header(in, out);
  while (!in.at_end()) {
    auto section = in.section();
    ASSERT_TRUE(section.ok());
    uint32_t version = section->type == "piix3-ide" ? section->version + 1 : section->version;
    out.begin_section(section->id, section->type, version);
    for (uint8_t b : section->body) out.u8(b);
    out.end_section();
  }
  auto loaded = machine.load_state(out.data());
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.error().message.find("newer"), std::string::npos) << loaded.error().message;
}

TEST_F(MachineStateTest, QueuesAndCommandsBeyondTheDevicesAreRefused) {
  std::vector<uint8_t> state = machine.save_state();
  ASSERT_TRUE(machine.load_state(state).ok());
  // The i8042's reply queue: a length beyond the 16 bytes reply() keeps.
  auto long_queue = edit_section(state, "i8042", [](auto& body) {
    put32(body, 0, 17);
    body.insert(body.begin() + 4, 17, 0xaa);
  });
  EXPECT_FALSE(machine.load_state(long_queue).ok());
  // A controller command waiting for data that no command leaves waiting.
  auto bad_command = edit_section(state, "i8042", [](auto& body) {
    // After the queue (length, bytes), output full, source, output, command byte, output port.
    uint32_t queued = body[0] | body[1] << 8 | body[2] << 16 | body[3] << 24;
    body[4 + queued + 5] = 0xab;
  });
  auto loaded = machine.load_state(bad_command);
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.error().message.find("0xab"), std::string::npos) << loaded.error().message;
}

TEST_F(MachineStateTest, IdePositionsAndPhasesBeyondTheControllerAreRefused) {
  std::vector<uint8_t> state = machine.save_state();
  // The primary channel's fields in the piix3-ide section: two drives' settings (14 bytes each),
  // the task file (14), the interrupt flag, the phase, the transfer (36), LBA48, then the PIO
  // position and end.
  constexpr size_t kChannel = kPciLayerBytes;
  constexpr size_t kPhase = kChannel + 2 * 14 + 14 + 1;
  constexpr size_t kPioPos = kPhase + 1 + 36 + 1, kPioEnd = kPioPos + 4;
  auto refused = [&](const char* what, const std::function<void(std::vector<uint8_t>&)>& edit) {
    auto loaded = machine.load_state(edit_section(state, "piix3-ide", edit));
    ASSERT_FALSE(loaded.ok()) << what;
    EXPECT_NE(loaded.error().message.find(what), std::string::npos) << loaded.error().message;
  };
  refused("position past its end", [&](auto& body) {
    put32(body, kPioPos, 10);
    put32(body, kPioEnd, 5);
  });
  refused("PIO end",
          [&](auto& body) { put32(body, kPioEnd, devices::ide::IdeChannel::kBufferBytes + 1); });
  refused("phase", [&](auto& body) { body[kPhase] = 6; });  // medium I/O in flight
  ASSERT_TRUE(machine.load_state(state).ok());
}

}  // namespace
}  // namespace hvmd::test
