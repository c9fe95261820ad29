// The display seam: consoles each see every change once, resizes redraw everything, damage stays
// bounded, and rendering happens only into what a console asks for.
#include "dm/display.h"

#include <gtest/gtest.h>

#include <vector>

namespace hvmd::test {
namespace {

// A display whose picture is a colour per pixel computed from its coordinates.
class FakeDisplay final : public DisplaySource {
 public:
  DisplayInfo display_info() override { return info; }
  void collect_damage(std::vector<Rect>& damage) override {
    ++collects;
    damage.insert(damage.end(), pending.begin(), pending.end());
    pending.clear();
  }
  void render(const Framebuffer& fb, const Rect& area) override {
    rendered.push_back(area);
    for (uint32_t y = area.y; y < area.y + area.height; ++y)
      for (uint32_t x = area.x; x < area.x + area.width; ++x)
        fb.pixels[y * fb.stride + x] = y << 16 | x;
  }
  DisplayInfo info{DisplayMode::kGraphics, 640, 480, 0, 0};
  std::vector<Rect> pending;
  std::vector<Rect> rendered;
  int collects = 0;
};

class DisplayHubTest : public ::testing::Test {
 protected:
  DisplayHubTest() { hub.set_source(&display); }
  DisplayHub hub;
  FakeDisplay display;
};

TEST_F(DisplayHubTest, FirstPollIsTheWholePictureThenOnlyDamage) {
  auto console = hub.add_console();
  DisplayHub::Update first = hub.poll(console);
  EXPECT_TRUE(first.resized);
  EXPECT_EQ(first.info, display.info);
  EXPECT_EQ(first.damage, (std::vector<Rect>{{0, 0, 640, 480}}));
  display.pending = {{10, 20, 30, 40}};
  DisplayHub::Update second = hub.poll(console);
  EXPECT_FALSE(second.resized);
  EXPECT_EQ(second.damage, (std::vector<Rect>{{10, 20, 30, 40}}));
  EXPECT_TRUE(hub.poll(console).damage.empty());
}

TEST_F(DisplayHubTest, EveryConsoleSeesEveryChange) {
  auto a = hub.add_console();
  auto b = hub.add_console();
  hub.poll(a);
  hub.poll(b);
  display.pending = {{0, 0, 8, 16}};
  EXPECT_EQ(hub.poll(a).damage, (std::vector<Rect>{{0, 0, 8, 16}}));
  display.pending = {{8, 0, 8, 16}};
  // b polls later and gets both changes, though a's poll already took the first from the device.
  EXPECT_EQ(hub.poll(b).damage, (std::vector<Rect>{{0, 0, 8, 16}, {8, 0, 8, 16}}));
  EXPECT_EQ(hub.poll(a).damage, (std::vector<Rect>{{8, 0, 8, 16}}));
  hub.remove_console(a);
  EXPECT_TRUE(hub.poll(a).damage.empty()) << "a removed console gets nothing";
}

TEST_F(DisplayHubTest, ModeChangeRedrawsAndDamageIsClippedToThePicture) {
  auto console = hub.add_console();
  hub.poll(console);
  display.info = {DisplayMode::kText, 720, 400, 80, 25};
  display.pending = {{700, 390, 100, 100}};
  DisplayHub::Update update = hub.poll(console);
  EXPECT_TRUE(update.resized);
  EXPECT_EQ(update.damage, (std::vector<Rect>{{0, 0, 720, 400}}));
  display.pending = {{700, 390, 100, 100}, {800, 0, 10, 10}};
  EXPECT_EQ(hub.poll(console).damage, (std::vector<Rect>{{700, 390, 20, 10}}));
}

TEST_F(DisplayHubTest, ManyRectanglesCollapseIntoTheirBoundingBox) {
  auto console = hub.add_console();
  hub.poll(console);
  for (uint32_t i = 0; i < 1000; ++i) display.pending.push_back({i % 600, i / 3, 1, 1});
  std::vector<Rect> damage = hub.poll(console).damage;
  ASSERT_LE(damage.size(), DisplayHub::kMaxRects);
  Rect all;
  for (const Rect& r : damage) all = all.united(r);
  EXPECT_EQ(all, (Rect{0, 0, 600, 334}));
}

TEST_F(DisplayHubTest, NothingIsCollectedOrRenderedUnlessAsked) {
  display.pending = {{0, 0, 1, 1}};
  EXPECT_EQ(display.collects, 0);
  EXPECT_TRUE(display.rendered.empty());
  std::vector<uint32_t> pixels(100 * 50, 0xdeadbeef);
  Framebuffer fb{pixels.data(), 100, 50, 100};
  // Clipped to the framebuffer the caller owns.
  EXPECT_EQ(hub.render(fb, {90, 40, 640, 480}), (Rect{90, 40, 10, 10}));
  EXPECT_EQ(display.rendered, (std::vector<Rect>{{90, 40, 10, 10}}));
  EXPECT_EQ(pixels[49 * 100 + 99], (49u << 16 | 99));
  EXPECT_EQ(pixels[39 * 100 + 99], 0xdeadbeefu);
  EXPECT_EQ(display.collects, 0);
}

TEST_F(DisplayHubTest, WithoutADisplayTheConsoleSeesABlankScreen) {
  auto console = hub.add_console();
  hub.poll(console);
  hub.remove_source(&display);
  DisplayHub::Update update = hub.poll(console);
  EXPECT_TRUE(update.resized);
  EXPECT_EQ(update.info.mode, DisplayMode::kBlank);
  EXPECT_TRUE(update.damage.empty());
  std::vector<uint32_t> pixels(16);
  EXPECT_TRUE(hub.render({pixels.data(), 4, 4, 4}, {0, 0, 4, 4}).empty());
}

TEST(Rect, ClipAndUnion) {
  EXPECT_EQ((Rect{5, 5, 10, 10}.clipped(8, 100)), (Rect{5, 5, 3, 10}));
  EXPECT_TRUE((Rect{9, 0, 1, 1}.clipped(8, 8)).empty());
  EXPECT_EQ((Rect{0, 0, 2, 2}.united({4, 4, 2, 2})), (Rect{0, 0, 6, 6}));
  EXPECT_EQ((Rect{}.united({4, 4, 2, 2})), (Rect{4, 4, 2, 2}));
  EXPECT_EQ((Rect{UINT32_MAX - 1, 0, 1, 1}.united({0, 0, UINT32_MAX, 1})).width, UINT32_MAX);
}

}  // namespace
}  // namespace hvmd::test
