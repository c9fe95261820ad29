// The VNC server's cost per frame and bytes on the wire, served to a client on a socket pair in
// the same process (the client reads everything, so the figures include the kernel copy):
//   - a changing 1024x768 picture (every pixel new each frame: a video, a desktop redrawn whole);
//   - a scrolling 80x25 text screen (720x400: a scroll redraws every cell);
//   - an idle frame (a client waiting, nothing changed): what the 30 Hz timer costs.
// Frames per second are items_per_second (by CPU time: the server and the reading client share
// this thread, so it is the whole cost on a loaded machine too); bytes per frame a counter. hvmd
// sends raw pixels, so bytes per frame are width x height x 4 plus 16 bytes of headers.
#include <benchmark/benchmark.h>

#include "tests/unit/vnc_test_support.h"

namespace hvmd::test {
namespace {

// Character-cell stripes standing in for text: glyph rows of 16 lines, shifted by one text row
// per frame.
void draw_text(PictureDisplay& d, uint32_t scroll) {
  for (uint32_t y = 0; y < d.info.height; ++y) {
    uint32_t row = (y / 16 + scroll) % 25;
    for (uint32_t x = 0; x < d.info.width; ++x)
      d.pixels[size_t{y} * d.info.width + x] =
          ((x / 9 + row) % 3 == 0 && (y % 16) < 12 && (x % 9) < 7) ? 0xaaaaaa : 0;
  }
  d.pending.push_back({0, 0, d.info.width, d.info.height});
}

void draw_picture(PictureDisplay& d, uint32_t frame) {
  for (size_t i = 0; i < d.pixels.size(); ++i)
    d.pixels[i] = static_cast<uint32_t>(i * 2654435761u + frame * 40503u) & 0xffffff;
  d.pending.push_back({0, 0, d.info.width, d.info.height});
}

void serve(benchmark::State& state, uint32_t width, uint32_t height,
           void (*draw)(PictureDisplay&, uint32_t)) {
  VncHarness h;
  h.display.resize(width, height);
  int fd = h.connect();
  h.handshake(fd);
  h.send(fd, VncHarness::update_request(false, 0, 0, width, height));
  size_t frame_bytes = 16 + size_t{width} * height * 4;
  h.server.frame();
  h.receive(fd, frame_bytes);
  uint32_t frame = 0;
  size_t bytes = 0;
  for (auto _ : state) {
    draw(h.display, ++frame);
    h.send(fd, VncHarness::update_request(true, 0, 0, width, height));
    h.server.frame();
    bytes += h.receive(fd, frame_bytes).size();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.counters["bytes_per_frame"] =
      static_cast<double>(bytes) / static_cast<double>(std::max<int64_t>(1, state.iterations()));
}

void BM_VncChangingPicture1024x768(benchmark::State& state) {
  serve(state, 1024, 768, draw_picture);
}
BENCHMARK(BM_VncChangingPicture1024x768)->Unit(benchmark::kMillisecond);

void BM_VncScrollingText80x25(benchmark::State& state) {
  serve(state, 720, 400, draw_text);
}
BENCHMARK(BM_VncScrollingText80x25)->Unit(benchmark::kMillisecond);

// A connected client with an update request pending and nothing changed: the timer's tick.
void BM_VncIdleFrame(benchmark::State& state) {
  VncHarness h;
  h.display.resize(1024, 768);
  int fd = h.connect();
  h.handshake(fd);
  h.send(fd, VncHarness::update_request(false, 0, 0, 1024, 768));
  h.server.frame();
  h.receive(fd, 16 + 1024 * 768 * 4);
  h.send(fd, VncHarness::update_request(true, 0, 0, 1024, 768));
  for (auto _ : state) h.server.frame();
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  if (h.server.queued_bytes() != 0) state.SkipWithError("an idle frame sent something");
}
BENCHMARK(BM_VncIdleFrame);

}  // namespace
}  // namespace hvmd::test

BENCHMARK_MAIN();
