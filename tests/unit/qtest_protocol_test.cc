// The qtest engine in-process, with a device that has a timer and an interrupt.
#include "ioreq/qtest/qtest_protocol.h"

#include <gtest/gtest.h>

#include "devices/board.h"
#include "ioreq/qtest/base64.h"

namespace hvmd::test {
namespace {

// Writing N to its port arms a timer N ns ahead that raises ISA IRQ 5; reading lowers it.
class AlarmDevice final : public Device, public IoHandler {
 public:
  AlarmDevice(Machine& m) : machine_(m), irq_(IrqLine::isa(&m.interrupt_sink(), 5)) {
    mapping_ = m.dispatcher().map_ports(0x500, 4, this, "alarm");
  }
  ~AlarmDevice() override { machine_.dispatcher().unmap(mapping_); }
  std::string_view type() const override { return "alarm"; }
  void save(StateWriter&) const override {}
  Result<std::unique_ptr<StagedState>> parse_state(StateReader&, uint32_t) override {
    return nothing_staged();
  }
  uint64_t read(uint64_t, unsigned) override {
    irq_.lower();
    return fired_at_;
  }
  void write(uint64_t, unsigned, uint64_t v) override { timer_.arm_after(static_cast<int64_t>(v)); }

 private:
  Machine& machine_;
  IrqLine irq_;
  Dispatcher::MappingId mapping_;
  uint64_t fired_at_ = 0;
  Timer timer_{machine_.clock(), [this] {
                 fired_at_ = static_cast<uint64_t>(machine_.clock().now_ns());
                 irq_.raise();
               }};
};

class QtestEngineTest : public ::testing::Test {
 protected:
  QtestEngineTest() {
    devices::register_devices(registry);
    EXPECT_TRUE(devices::build_board(machine).ok());
    alarm = std::make_unique<AlarmDevice>(machine);
  }
  std::vector<std::string> run(const std::string& line) {
    sent.clear();
    protocol.handle_line(line);
    return sent;
  }

  Clock clock{Clock::Mode::kVirtual};
  HostRam ram{RamLayout::pc(32 << 20)};
  qtest::QtestInterrupts interrupts{ram};
  DeviceRegistry registry;
  Machine machine{MachineOptions{}, clock, ram, interrupts, registry};
  std::unique_ptr<AlarmDevice> alarm;
  std::vector<std::string> sent;
  qtest::QtestProtocol protocol{machine, interrupts,
                                [this](std::string_view s) { sent.emplace_back(s); }, nullptr};
};

TEST_F(QtestEngineTest, ClockStepRunsToTheNextDeadlineAndReportsTheIrq) {
  EXPECT_EQ(run("irq_intercept_in ioapic"), std::vector<std::string>{"OK\n"});
  EXPECT_EQ(run("outl 0x500 2500"), std::vector<std::string>{"OK\n"});
  // Stepping less than the deadline fires nothing.
  EXPECT_EQ(run("clock_step 1000"), std::vector<std::string>{"OK 1000\n"});
  // No argument: exactly to the deadline; the IRQ arrives before the OK.
  EXPECT_EQ(run("clock_step"), (std::vector<std::string>{"IRQ raise 5\n", "OK 2500\n"}));
  EXPECT_EQ(run("inl 0x500"), (std::vector<std::string>{"IRQ lower 5\n", "OK 0x09c4\n"}));
}

TEST_F(QtestEngineTest, MsiIsAMemoryWrite) {
  interrupts.send_msi({0x8000, 0xfeedf00d});
  EXPECT_EQ(run("readl 0x8000"), std::vector<std::string>{"OK 0x00000000feedf00d\n"});
  interrupts.send_msi({0xfee00000, 1});  // the LAPIC is not RAM: dropped, nothing breaks
}

TEST_F(QtestEngineTest, LinesAcrossFeedsAndCrLf) {
  sent.clear();
  protocol.feed("inw 0xcf");
  protocol.feed("c\r\noutl 0xcf8 0x80000000\ninw 0xcfc\n");
  EXPECT_EQ(sent, (std::vector<std::string>{"OK 0xffff\n", "OK\n", "OK 0x8086\n"}));
  EXPECT_EQ(run("   "), std::vector<std::string>{});
}

TEST(Base64, RoundTripAndRejects) {
  for (std::string text : {"", "a", "ab", "abc", "abcd", "hvmd rocks"}) {
    auto encoded = qtest::base64_encode(reinterpret_cast<const uint8_t*>(text.data()), text.size());
    auto decoded = qtest::base64_decode(encoded);
    ASSERT_TRUE(decoded.has_value());
    EXPECT_EQ(std::string(decoded->begin(), decoded->end()), text);
  }
  EXPECT_EQ(qtest::base64_encode(reinterpret_cast<const uint8_t*>("ZZZZ"), 4), "WlpaWg==");
  EXPECT_FALSE(qtest::base64_decode("a").has_value());
  EXPECT_FALSE(qtest::base64_decode("ab=c").has_value());
  EXPECT_FALSE(qtest::base64_decode("a*cd").has_value());
}

}  // namespace
}  // namespace hvmd::test
