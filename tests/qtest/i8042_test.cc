// Black-box: the i8042 with its PS/2 keyboard and mouse, as SeaBIOS and Linux's i8042/atkbd/
// psmouse drivers talk to them; input arrives through QMP's input-send-event.
#include <gtest/gtest.h>

#include "tests/qtest/qtest_client.h"

namespace hvmd::test {
namespace {

constexpr uint16_t kData = 0x60, kCommand = 0x64;
constexpr uint8_t kOutputFull = 0x01, kSystem = 0x04, kMouseData = 0x20;
constexpr unsigned kKeyboardIrq = 1, kMouseIrq = 12;

class I8042Test : public ::testing::Test {
 protected:
  I8042Test() { EXPECT_EQ(qt.command("irq_intercept_in ioapic"), "OK"); }
  // Every byte waiting in the output buffer, in order.
  std::vector<uint8_t> drain() {
    std::vector<uint8_t> out;
    for (int i = 0; i < 64 && (qt.inb(kCommand) & kOutputFull); ++i) out.push_back(qt.inb(kData));
    return out;
  }
  void key(const std::string& name, bool down) {
    Json r =
        qt.qmp("input-send-event",
               {{"events",
                 {{{"type", "key"},
                   {"data", {{"down", down}, {"key", {{"type", "qcode"}, {"data", name}}}}}}}}});
    ASSERT_TRUE(r.contains("return")) << r;
  }
  void write_command_byte(uint8_t value) {
    qt.outb(kCommand, 0x60);
    qt.outb(kData, value);
  }
  QtestClient qt;
};

TEST_F(I8042Test, SelfTestAndCommandByte) {
  qt.outb(kCommand, 0xaa);
  EXPECT_EQ(drain(), std::vector<uint8_t>{0x55});
  EXPECT_TRUE(qt.inb(kCommand) & kSystem);
  qt.outb(kCommand, 0xab);  // keyboard interface test
  EXPECT_EQ(drain(), std::vector<uint8_t>{0x00});
  qt.outb(kCommand, 0x20);
  EXPECT_EQ(drain(), std::vector<uint8_t>{0x41});  // keyboard interrupt, translation
  write_command_byte(0x47);
  qt.outb(kCommand, 0x20);
  EXPECT_EQ(drain(), std::vector<uint8_t>{0x47});
}

TEST_F(I8042Test, KeyboardResetIdentifyAndTranslation) {
  qt.outb(kData, 0xff);
  EXPECT_EQ(drain(), (std::vector<uint8_t>{0xfa, 0xaa}));
  qt.outb(kData, 0xf2);  // identify: AB 83, which the controller translates to AB 41
  EXPECT_EQ(drain(), (std::vector<uint8_t>{0xfa, 0xab, 0x41}));
  write_command_byte(0x01);  // translation off
  qt.outb(kData, 0xf2);
  EXPECT_EQ(drain(), (std::vector<uint8_t>{0xfa, 0xab, 0x83}));
}

// Linux reads one byte per keyboard interrupt, and under Xen IRQ 1 is an edge-triggered IOAPIC
// pin: every byte of a multi-byte reply needs an edge of its own, or the driver sees only the
// first (atkbd's GETID then fails and no keyboard is registered).
TEST_F(I8042Test, EveryReplyByteRaisesItsOwnInterrupt) {
  unsigned before = qt.irq_raises(kKeyboardIrq);
  qt.outb(kData, 0xf2);  // identify: FA, then AB 41 through translation
  EXPECT_EQ(drain(), (std::vector<uint8_t>{0xfa, 0xab, 0x41}));
  EXPECT_EQ(qt.irq_raises(kKeyboardIrq) - before, 3u);
  EXPECT_FALSE(qt.irq_level(kKeyboardIrq));
}

TEST_F(I8042Test, KeysInSet1ThroughTranslationAndRawSet2) {
  key("a", true);
  EXPECT_TRUE(qt.inb(kCommand) & kOutputFull);  // (IRQ lines arrive on the qtest socket)
  EXPECT_TRUE(qt.irq_level(kKeyboardIrq));
  key("a", false);
  EXPECT_EQ(drain(), (std::vector<uint8_t>{0x1e, 0x9e}));
  EXPECT_FALSE(qt.irq_level(kKeyboardIrq));
  key("up", true);
  key("up", false);
  EXPECT_EQ(drain(), (std::vector<uint8_t>{0xe0, 0x48, 0xe0, 0xc8}));
  write_command_byte(0x01);  // raw set 2
  key("a", true);
  key("a", false);
  EXPECT_EQ(drain(), (std::vector<uint8_t>{0x1c, 0xf0, 0x1c}));
  // Scan code set 1 on the keyboard itself.
  qt.outb(kData, 0xf0);
  qt.outb(kData, 0x01);
  EXPECT_EQ(drain(), (std::vector<uint8_t>{0xfa, 0xfa}));
  key("ret", true);
  EXPECT_EQ(drain(), std::vector<uint8_t>{0x1c});
  // Interrupts off in the command byte: data without IRQ 1.
  write_command_byte(0x00);
  key("ret", false);
  EXPECT_TRUE(qt.inb(kCommand) & kOutputFull);
  EXPECT_FALSE(qt.irq_level(kKeyboardIrq));
  EXPECT_EQ(drain(), std::vector<uint8_t>{0x9c});
}

TEST_F(I8042Test, MouseStreamPacketsOnIrq12) {
  write_command_byte(0x43);  // keyboard and mouse interrupts, translation
  qt.outb(kCommand, 0xd4);
  qt.outb(kData, 0xf2);  // get id
  EXPECT_TRUE(qt.inb(kCommand) & kMouseData);
  EXPECT_TRUE(qt.irq_level(kMouseIrq));
  EXPECT_EQ(drain(), (std::vector<uint8_t>{0xfa, 0x00}));
  qt.outb(kCommand, 0xd4);
  qt.outb(kData, 0xf4);  // enable reporting
  EXPECT_EQ(drain(), std::vector<uint8_t>{0xfa});
  Json r = qt.qmp("input-send-event",
                  {{"events",
                    {{{"type", "rel"}, {"data", {{"axis", "x"}, {"value", 5}}}},
                     {{"type", "rel"}, {"data", {{"axis", "y"}, {"value", 3}}}},
                     {{"type", "btn"}, {"data", {{"down", true}, {"button", "left"}}}}}}});
  ASSERT_TRUE(r.contains("return")) << r;
  // Left button, y negative (PS/2 counts up, screens down), dx 5, dy -3.
  EXPECT_EQ(drain(), (std::vector<uint8_t>{0x29, 0x05, 0xfd}));
  EXPECT_FALSE(qt.irq_level(kMouseIrq));
}

// With no absolute pointer on the machine, absolute positions reach the PS/2 mouse as motion
// (on a 1024x768 screen while no display says otherwise).
TEST_F(I8042Test, AbsolutePositionsBecomeMouseMotion) {
  write_command_byte(0x43);
  qt.outb(kCommand, 0xd4);
  qt.outb(kData, 0xf4);  // enable reporting
  EXPECT_EQ(drain(), std::vector<uint8_t>{0xfa});
  auto abs = [&](int x, int y) {
    Json r = qt.qmp("input-send-event",
                    {{"events",
                      {{{"type", "abs"}, {"data", {{"axis", "x"}, {"value", x}}}},
                       {{"type", "abs"}, {"data", {{"axis", "y"}, {"value", y}}}}}}});
    ASSERT_TRUE(r.contains("return")) << r;
  };
  abs(0, 0x7fff);  // the starting point: no motion
  EXPECT_EQ(drain(), (std::vector<uint8_t>{0x08, 0x00, 0x00}));
  abs(513, 32468);  // pixel (16, 760): 16 right, 7 up
  EXPECT_EQ(drain(), (std::vector<uint8_t>{0x08, 0x10, 0x07}));
  EXPECT_TRUE(qt.qmp("input-send-event",
                     {{"events", {{{"type", "abs"}, {"data", {{"axis", "z"}, {"value", 1}}}}}}})
                  .contains("error"));
}

TEST_F(I8042Test, BadInputIsRefusedAndQueuesStayBounded) {
  EXPECT_TRUE(qt.qmp("input-send-event", {{"events", {{{"type", "key"}}}}}).contains("error"));
  EXPECT_TRUE(
      qt.qmp("input-send-event",
             {{"events",
               {{{"type", "key"},
                 {"data", {{"down", true}, {"key", {{"type", "qcode"}, {"data", "nope"}}}}}}}}})
          .contains("error"));
  for (int i = 0; i < 100; ++i) key("b", (i & 1) == 0);
  EXPECT_LE(drain().size(), 17u);  // the output buffer plus the keyboard's 16 bytes
}

TEST_F(I8042Test, PulsingTheResetLineResetsTheMachine) {
  qt.pci_config_write(0, 0x59, 1, 0x33);
  qt.outb(kCommand, 0xfe);
  EXPECT_EQ(qt.pci_config_read(0, 0x59, 1), 0x00u);
}

}  // namespace
}  // namespace hvmd::test
