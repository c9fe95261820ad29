#include "dm/display_dump.h"

#include <png.h>

#include <cstdio>
#include <string>

namespace hvmd {
namespace {

std::vector<uint8_t> encode_ppm(const std::vector<uint32_t>& pixels, uint32_t width,
                                uint32_t height) {
  std::string header = "P6\n" + std::to_string(width) + " " + std::to_string(height) + "\n255\n";
  std::vector<uint8_t> out(header.begin(), header.end());
  out.reserve(out.size() + pixels.size() * 3);
  for (uint32_t p : pixels) {
    out.push_back(static_cast<uint8_t>(p >> 16));
    out.push_back(static_cast<uint8_t>(p >> 8));
    out.push_back(static_cast<uint8_t>(p));
  }
  return out;
}

void append_png_bytes(png_structp png, png_bytep data, png_size_t length) {
  auto* out = static_cast<std::vector<uint8_t>*>(png_get_io_ptr(png));
  out->insert(out->end(), data, data + length);
}

Result<std::vector<uint8_t>> encode_png(const std::vector<uint32_t>& pixels, uint32_t width,
                                        uint32_t height) {
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  if (!png) return make_error("cannot start a PNG");
  png_infop info = png_create_info_struct(png);
  std::vector<uint8_t> out;
  std::vector<uint8_t> row(size_t{width} * 3);
  // libpng reports its errors by longjmp; nothing here owns resources across it but png/info.
  if (!info || setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, info ? &info : nullptr);
    return make_error("cannot encode the PNG");
  }
  png_set_write_fn(png, &out, append_png_bytes, nullptr);
  png_set_IHDR(png, info, width, height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (uint32_t y = 0; y < height; ++y) {
    const uint32_t* line = &pixels[size_t{y} * width];
    for (uint32_t x = 0; x < width; ++x) {
      row[x * 3] = static_cast<uint8_t>(line[x] >> 16);
      row[x * 3 + 1] = static_cast<uint8_t>(line[x] >> 8);
      row[x * 3 + 2] = static_cast<uint8_t>(line[x]);
    }
    png_write_row(png, row.data());
  }
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return out;
}

}  // namespace

Result<std::vector<uint8_t>> screendump(DisplayHub& hub, ImageFormat format) {
  DisplayInfo info = hub.info();
  if (info.mode == DisplayMode::kBlank || info.width == 0 || info.height == 0)
    return make_error("no picture to dump: the display is blank");
  std::vector<uint32_t> pixels(size_t{info.width} * info.height);
  Framebuffer fb{pixels.data(), info.width, info.height, info.width};
  if (hub.render(fb, {0, 0, info.width, info.height}).empty())
    return make_error("no picture to dump: the display is blank");
  if (format == ImageFormat::kPpm) return encode_ppm(pixels, info.width, info.height);
  return encode_png(pixels, info.width, info.height);
}

}  // namespace hvmd
