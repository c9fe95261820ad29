// Screendumps: the picture the display hub draws, as PPM and as PNG (read back with libpng).
#include "dm/display_dump.h"

#include <gtest/gtest.h>
#include <png.h>

#include <string>

namespace hvmd::test {
namespace {

class Gradient final : public DisplaySource {
 public:
  DisplayInfo display_info() override { return info; }
  void collect_damage(std::vector<Rect>&) override {}
  void render(const Framebuffer& fb, const Rect& area) override {
    for (uint32_t y = area.y; y < area.y + area.height; ++y)
      for (uint32_t x = area.x; x < area.x + area.width; ++x)
        fb.pixels[y * fb.stride + x] = (x * 40) << 16 | (y * 60) << 8 | 0x07;
  }
  DisplayInfo info{DisplayMode::kGraphics, 5, 3, 0, 0};
};

TEST(Screendump, PpmHoldsThePicture) {
  DisplayHub hub;
  Gradient display;
  hub.set_source(&display);
  auto image = screendump(hub, ImageFormat::kPpm);
  ASSERT_TRUE(image.ok());
  std::string header = "P6\n5 3\n255\n";
  ASSERT_EQ(image->size(), header.size() + 5 * 3 * 3);
  EXPECT_EQ(std::string(image->begin(), image->begin() + header.size()), header);
  size_t pixel = header.size() + (2 * 5 + 4) * 3;  // (4, 2)
  EXPECT_EQ((*image)[pixel], 160);
  EXPECT_EQ((*image)[pixel + 1], 120);
  EXPECT_EQ((*image)[pixel + 2], 7);
}

TEST(Screendump, PngDecodesToThePicture) {
  DisplayHub hub;
  Gradient display;
  hub.set_source(&display);
  auto image = screendump(hub, ImageFormat::kPng);
  ASSERT_TRUE(image.ok());
  png_image decoded{};
  decoded.version = PNG_IMAGE_VERSION;
  ASSERT_TRUE(png_image_begin_read_from_memory(&decoded, image->data(), image->size()));
  ASSERT_EQ(decoded.width, 5u);
  ASSERT_EQ(decoded.height, 3u);
  decoded.format = PNG_FORMAT_RGB;
  std::vector<uint8_t> rgb(PNG_IMAGE_SIZE(decoded));
  ASSERT_TRUE(png_image_finish_read(&decoded, nullptr, rgb.data(), 0, nullptr));
  size_t pixel = (2 * 5 + 4) * 3;
  EXPECT_EQ(rgb[pixel], 160);
  EXPECT_EQ(rgb[pixel + 1], 120);
  EXPECT_EQ(rgb[pixel + 2], 7);
}

TEST(Screendump, NothingToShowIsAnError) {
  DisplayHub hub;
  EXPECT_FALSE(screendump(hub, ImageFormat::kPpm).ok());
  Gradient display;
  display.info = {};
  hub.set_source(&display);
  EXPECT_FALSE(screendump(hub, ImageFormat::kPng).ok());
}

}  // namespace
}  // namespace hvmd::test
