// Input routing: classes kept apart, newest consumer wins and removal falls back, absolute
// positions reach an absolute consumer or become relative motion.
#include "dm/input.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace hvmd::test {
namespace {

class Recorder final : public KeyboardInput,
                       public RelativePointerInput,
                       public AbsolutePointerInput {
 public:
  explicit Recorder(std::string name) : name_(std::move(name)) {}
  void key_event(uint16_t qnum, bool pressed) override {
    log.push_back(name_ + " key " + std::to_string(qnum) + (pressed ? " down" : " up"));
  }
  void relative_event(int dx, int dy, int dz, uint8_t buttons) override {
    log.push_back(name_ + " rel " + std::to_string(dx) + "," + std::to_string(dy) + "," +
                  std::to_string(dz) + " b" + std::to_string(buttons));
  }
  void absolute_event(uint32_t x, uint32_t y, int dz, uint8_t buttons) override {
    log.push_back(name_ + " abs " + std::to_string(x) + "," + std::to_string(y) + "," +
                  std::to_string(dz) + " b" + std::to_string(buttons));
  }
  std::vector<std::string> log;

 private:
  std::string name_;
};

TEST(InputRouter, ClassesAreKeptApart) {
  InputRouter router;
  Recorder keyboard("kbd"), mouse("mouse"), tablet("tablet");
  router.add_keyboard(&keyboard);
  router.add_relative(&mouse);
  router.add_absolute(&tablet);
  EXPECT_TRUE(router.key_event(0x1e, true));
  EXPECT_TRUE(router.relative_event(3, -4, 1, kButtonLeft));
  EXPECT_TRUE(router.absolute_event(100, 200, 0, kButtonRight));
  EXPECT_EQ(keyboard.log, (std::vector<std::string>{"kbd key 30 down"}));
  EXPECT_EQ(mouse.log, (std::vector<std::string>{"mouse rel 3,-4,1 b1"}));
  EXPECT_EQ(tablet.log, (std::vector<std::string>{"tablet abs 100,200,0 b2"}));
  EXPECT_TRUE(router.absolute());
}

TEST(InputRouter, NewestConsumerWinsAndRemovalFallsBack) {
  InputRouter router;
  Recorder ps2("ps2"), usb("usb");
  router.add_keyboard(&ps2);
  router.add_keyboard(&usb);
  router.key_event(1, true);
  router.remove_keyboard(&usb);
  router.key_event(2, true);
  EXPECT_EQ(usb.log, (std::vector<std::string>{"usb key 1 down"}));
  EXPECT_EQ(ps2.log, (std::vector<std::string>{"ps2 key 2 down"}));
  // Removing one that is not in use changes nothing; re-adding moves it to the front.
  router.add_keyboard(&usb);
  router.remove_keyboard(&ps2);
  router.add_keyboard(&ps2);
  router.add_keyboard(&usb);
  router.key_event(3, false);
  EXPECT_EQ(usb.log.back(), "usb key 3 up");
  router.remove_keyboard(&usb);
  router.remove_keyboard(&ps2);
  EXPECT_FALSE(router.key_event(4, true));
  EXPECT_FALSE(router.has_keyboard());
}

TEST(InputRouter, AbsoluteBecomesRelativeWithoutAnAbsoluteConsumer) {
  InputRouter router;
  Recorder mouse("mouse");
  router.add_relative(&mouse);
  router.set_screen_size(640, 480);
  EXPECT_FALSE(router.absolute());
  router.absolute_event(0, 0, 0, 0);  // where the pointer is: no motion yet
  router.absolute_event(InputRouter::kAbsoluteMax, InputRouter::kAbsoluteMax / 2, 0, 0);
  router.absolute_event(InputRouter::kAbsoluteMax + 1000, 0, -1, kButtonMiddle);  // clamped
  EXPECT_EQ(mouse.log, (std::vector<std::string>{"mouse rel 0,0,0 b0", "mouse rel 639,239,0 b0",
                                                 "mouse rel 0,-239,-1 b4"}));
  // A tablet arriving takes absolute positions; when it goes, conversion starts afresh.
  Recorder tablet("tablet");
  router.add_absolute(&tablet);
  router.absolute_event(5, 6, 0, 0);
  router.remove_absolute(&tablet);
  router.absolute_event(InputRouter::kAbsoluteMax, 0, 0, 0);
  EXPECT_EQ(tablet.log, (std::vector<std::string>{"tablet abs 5,6,0 b0"}));
  EXPECT_EQ(mouse.log.back(), "mouse rel 0,0,0 b0");
  // Relative motion never reaches an absolute consumer.
  Recorder lone("lone");
  InputRouter only_absolute;
  only_absolute.add_absolute(&lone);
  EXPECT_FALSE(only_absolute.relative_event(1, 1, 0, 0));
  EXPECT_TRUE(lone.log.empty());
}

}  // namespace
}  // namespace hvmd::test
