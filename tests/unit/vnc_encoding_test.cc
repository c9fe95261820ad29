// The VNC server's Hextile and ZRLE encodings against an independent decoder (vnc_decode.h): the
// decoded picture equals the display's pixel for pixel in every pixel format, over several
// incremental updates (one zlib stream for the connection); the client's SetEncodings order picks
// the encoding; compression pays on text; a ZRLE client that never reads stays bounded.
#include <gtest/gtest.h>

#include <random>

#include "dm/vnc/encodings.h"
#include "dm/vnc/vnc_client.h"
#include "tests/unit/vnc_decode.h"
#include "tests/unit/vnc_test_support.h"

namespace hvmd::test {
namespace {

using H = VncHarness;
constexpr int32_t kRaw = 0, kHextile = 5, kZrle = 16;

std::string set_encodings(const std::vector<int32_t>& list) {
  std::string m = std::string{2, 0} + H::u16(static_cast<uint32_t>(list.size()));
  for (int32_t e : list) m += H::u32(static_cast<uint32_t>(e));
  return m;
}

std::string set_pixel_format(const vnc::rfb::PixelFormat& f) {
  return std::string{0, 0, 0, 0} +
         std::string{static_cast<char>(f.bits_per_pixel), static_cast<char>(f.depth),
                     static_cast<char>(f.big_endian), static_cast<char>(f.true_colour)} +
         H::u16(f.red_max) + H::u16(f.green_max) + H::u16(f.blue_max) +
         std::string{static_cast<char>(f.red_shift),
                     static_cast<char>(f.green_shift),
                     static_cast<char>(f.blue_shift),
                     0,
                     0,
                     0};
}

// Every kind of tile: a solid area, two-colour text, a few-colour gradient, noise.
void draw(PictureDisplay& d, uint32_t seed) {
  std::mt19937 random(seed);
  uint32_t w = d.info.width, h = d.info.height;
  for (uint32_t y = 0; y < h; ++y) {
    for (uint32_t x = 0; x < w; ++x) {
      uint32_t v;
      if (y < h / 2 && x < w / 2)
        v = 0x336699 + seed;
      else if (y < h / 2)
        v = ((x / 9 + y / 16 + seed) % 3 == 0 && (y % 16) < 12 && (x % 9) < 7) ? 0xaaaaaa
                                                                               : 0x0000aa;
      else if (x < w / 2)
        v = ((x / 8) % 40) * 0x050403;
      else
        v = random() & 0xffffff;
      d.pixels[size_t{y} * w + x] = v;
    }
  }
  d.pending.push_back({0, 0, w, h});
}

struct Session {
  explicit Session(uint32_t width, uint32_t height, const std::vector<int32_t>& encodings,
                   const vnc::rfb::PixelFormat& format = {}) {
    h.display.resize(width, height);
    fd = h.connect();
    h.handshake(fd);
    if (!(format == vnc::rfb::PixelFormat{})) h.send(fd, set_pixel_format(format));
    if (!format.true_colour) h.receive(fd, 6 + 256 * 6);  // the colour map
    h.send(fd, set_encodings(encodings));
    size_t offset = 0;
    size_t cpixel = vnc::ZrleEncoder::cpixel_bytes(format, &offset);
    decoder =
        std::make_unique<RfbDecoder>(width, height, format.bits_per_pixel / 8, cpixel, offset);
  }
  // Asks for an update, lets the server send it and decodes it.
  void update(bool incremental) {
    const DisplayInfo& info = h.display.info;
    h.send(fd, H::update_request(incremental, 0, 0, info.width, info.height));
    h.server.frame();
    ASSERT_TRUE(decoder->update([&](size_t n) { return h.receive(fd, n); })) << decoder->why();
  }
  VncHarness h;
  int fd = -1;
  std::unique_ptr<RfbDecoder> decoder;
};

// The client's value of each display pixel, through the server's own raw path.
std::vector<uint32_t> raw_picture(PictureDisplay& picture, const vnc::rfb::PixelFormat& format) {
  Session raw(picture.info.width, picture.info.height, {kRaw}, format);
  raw.h.display.pixels = picture.pixels;
  raw.update(false);
  return raw.decoder->pixels;
}

TEST(VncEncodingTest, HextileAndZrleDecodeToThePictureOverIncrementalUpdates) {
  for (int32_t encoding : {kHextile, kZrle}) {
    for (auto [width, height] : {std::pair{100u, 70u}, {200u, 130u}, {64u, 64u}, {1u, 1u}}) {
      SCOPED_TRACE(testing::Message() << "encoding " << encoding << " " << width << "x" << height);
      Session s(width, height, {encoding, kRaw});
      draw(s.h.display, 1);
      s.update(false);
      EXPECT_EQ(s.decoder->pixels, s.h.display.pixels);
      EXPECT_EQ(s.decoder->encodings.back(), encoding);
      for (uint32_t frame = 2; frame < 6; ++frame) {
        // A whole new picture, then a small change alone.
        draw(s.h.display, frame);
        s.update(true);
        EXPECT_EQ(s.decoder->pixels, s.h.display.pixels) << "frame " << frame;
        s.h.display.set(width - 1, height - 1, 0x123456 * frame);
        s.update(true);
        EXPECT_EQ(s.decoder->pixels, s.h.display.pixels) << "frame " << frame;
      }
    }
  }
}

TEST(VncEncodingTest, EveryPixelFormatMatchesRaw) {
  const vnc::rfb::PixelFormat formats[] = {
      {32, 24, false, true, 255, 255, 255, 16, 8, 0},   // ZRLE: 3-byte compressed pixels
      {32, 24, true, true, 255, 255, 255, 16, 8, 0},    // big endian: the last three bytes
      {32, 24, false, true, 255, 255, 255, 24, 16, 8},  // the top three bytes
      {32, 32, false, true, 255, 255, 255, 16, 8, 0},   // depth 32: full 4-byte pixels
      {16, 16, false, true, 31, 63, 31, 11, 5, 0},     {16, 15, true, true, 31, 31, 31, 10, 5, 0},
      {8, 8, false, false, 0, 0, 0, 0, 0, 0},  // the 3-3-2 colour map
      {8, 6, false, true, 3, 3, 3, 4, 2, 0},
  };
  for (const auto& format : formats) {
    for (int32_t encoding : {kHextile, kZrle}) {
      SCOPED_TRACE(testing::Message()
                   << "bpp " << int{format.bits_per_pixel} << " depth " << int{format.depth}
                   << " big endian " << format.big_endian << " encoding " << encoding);
      Session s(150, 90, {encoding}, format);
      draw(s.h.display, 7);
      std::vector<uint32_t> expected = raw_picture(s.h.display, format);
      s.update(false);
      EXPECT_EQ(s.decoder->encodings.back(), encoding);
      EXPECT_EQ(s.decoder->pixels, expected);
    }
  }
}

TEST(VncEncodingTest, TheClientsOrderOfPreferencePicksTheEncoding) {
  struct Case {
    std::vector<int32_t> list;
    int32_t sent;
  };
  for (const Case& c : std::vector<Case>{{{kZrle, kHextile, kRaw}, kZrle},
                                         {{kHextile, kZrle, kRaw}, kHextile},
                                         {{-223, 7 /* Tight */, kHextile, kZrle}, kHextile},
                                         {{7, 6, kRaw, kZrle}, kRaw},
                                         {{7}, kRaw},
                                         {{}, kRaw}}) {
    Session s(40, 20, c.list);
    draw(s.h.display, 3);
    s.update(false);
    EXPECT_EQ(s.decoder->encodings.back(), c.sent) << testing::PrintToString(c.list);
    EXPECT_EQ(s.decoder->pixels, s.h.display.pixels);
  }
  // Switching in the middle of a connection, back and forth (one zlib stream throughout).
  Session s(80, 50, {kZrle});
  for (int32_t e : {kZrle, kHextile, kRaw, kZrle, kHextile, kZrle}) {
    s.h.send(s.fd, set_encodings({e}));
    draw(s.h.display, static_cast<uint32_t>(e) + 10);
    s.update(true);
    EXPECT_EQ(s.decoder->encodings.back(), e);
    EXPECT_EQ(s.decoder->pixels, s.h.display.pixels);
  }
}

TEST(VncEncodingTest, TextCompresses) {
  // A text screen: two colours, long runs.
  size_t raw_bytes = 16 + 720 * 400 * 4;
  for (auto [encoding, at_most] : {std::pair{kHextile, raw_bytes / 4}, {kZrle, raw_bytes / 20}}) {
    Session s(720, 400, {encoding});
    for (uint32_t y = 0; y < 400; ++y)
      for (uint32_t x = 0; x < 720; ++x)
        s.h.display.pixels[y * 720 + x] =
            ((x / 9 + y / 16) % 3 == 0 && (y % 16) < 12 && (x % 9) < 7) ? 0xaaaaaa : 0;
    s.update(false);
    EXPECT_EQ(s.decoder->pixels, s.h.display.pixels);
    EXPECT_LT(s.decoder->bytes, at_most) << "encoding " << encoding;
  }
}

TEST(VncEncodingTest, AZrleClientThatNeverReadsHoldsBoundedMemory) {
  VncHarness h;
  h.display.resize(1024, 768);
  int fd = h.connect();
  h.handshake(fd);
  h.send(fd, set_encodings({kZrle}));
  std::string requests;
  for (int i = 0; i < 1000; ++i) requests += H::update_request(false, 0, 0, 1024, 768);
  for (uint32_t round = 0; round < 8; ++round) {
    ::send(fd, requests.data(), requests.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    draw(h.display, round);  // noise: ZRLE's worst case, near raw size
    h.pump();
    h.server.frame();
  }
  // A frame's ZRLE is at most a little more than raw (a sub-encoding byte per tile, zlib's
  // stored-block framing).
  size_t frame = 16 + 1024 * 768 * 4 + 1024 * 768 * 4 / 64;
  EXPECT_LE(h.server.queued_bytes(), vnc::VncClient::kSoftQueueBytes + frame);
  EXPECT_EQ(h.server.client_count(), 1u);
}

}  // namespace
}  // namespace hvmd::test
