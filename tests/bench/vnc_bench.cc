// The VNC server's cost per frame and bytes on the wire, per encoding (raw, Hextile, ZRLE),
// served to a client on a socket pair in the same process (the client reads every message to its
// end without decoding pixels, so the figures include the kernel copy but not a viewer's work):
//   - a changing 1024x768 picture (every pixel new each frame: a video, a desktop redrawn whole);
//   - a scrolling 80x25 text screen (720x400: a scroll redraws every cell);
//   - an idle frame (a client waiting, nothing changed): what the 30 Hz timer costs.
// Frames per second are items_per_second (by CPU time: the server and the reading client share
// this thread, so it is the whole cost on a loaded machine too); bytes per frame a counter. After
// the benchmarks, one line per figure:
//   TABLE<TAB>figure<TAB>hvmd value<TAB>anchor name<TAB>anchor value<TAB>ratio<TAB>target
// The anchor is raw encoding measured in the same run (the last stop's figure was 27 frames/s at
// 3.15 MB/frame for the picture).
#include <benchmark/benchmark.h>

#include <cstdio>
#include <map>
#include <string>

#include "tests/unit/vnc_decode.h"
#include "tests/unit/vnc_test_support.h"

namespace hvmd::test {
namespace {

constexpr int32_t kRaw = 0, kHextile = 5, kZrle = 16;

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

std::string set_encodings(int32_t encoding) {
  return std::string{2, 0} + VncHarness::u16(1) + VncHarness::u32(static_cast<uint32_t>(encoding));
}

void serve(benchmark::State& state, uint32_t width, uint32_t height,
           void (*draw)(PictureDisplay&, uint32_t)) {
  auto encoding = static_cast<int32_t>(state.range(0));
  VncHarness h;
  h.display.resize(width, height);
  int fd = h.connect();
  h.handshake(fd);
  h.send(fd, set_encodings(encoding));
  RfbDecoder reader(width, height, 4, 3);
  reader.decode_pixels = false;
  auto read = [&](size_t n) { return h.receive(fd, n); };
  h.send(fd, VncHarness::update_request(false, 0, 0, width, height));
  h.server.frame();
  if (!reader.update(read)) return state.SkipWithError(reader.why().c_str());
  uint32_t frame = 0;
  size_t before = reader.bytes;
  for (auto _ : state) {
    draw(h.display, ++frame);
    h.send(fd, VncHarness::update_request(true, 0, 0, width, height));
    h.server.frame();
    if (!reader.update(read)) return state.SkipWithError(reader.why().c_str());
  }
  if (reader.encodings.back() != encoding) state.SkipWithError("another encoding was sent");
  size_t bytes = reader.bytes - before;
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.counters["bytes_per_frame"] =
      static_cast<double>(bytes) / static_cast<double>(std::max<int64_t>(1, state.iterations()));
}

void BM_VncChangingPicture1024x768(benchmark::State& state) {
  serve(state, 1024, 768, draw_picture);
}
BENCHMARK(BM_VncChangingPicture1024x768)
    ->Arg(kRaw)
    ->Arg(kHextile)
    ->Arg(kZrle)
    ->Unit(benchmark::kMillisecond);

void BM_VncScrollingText80x25(benchmark::State& state) {
  serve(state, 720, 400, draw_text);
}
BENCHMARK(BM_VncScrollingText80x25)
    ->Arg(kRaw)
    ->Arg(kHextile)
    ->Arg(kZrle)
    ->Unit(benchmark::kMillisecond);

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

// The console report, with each run's frames/s and bytes/frame kept for the TABLE lines.
class TableReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      if (run.error_occurred) continue;
      Figures& f = figures[run.benchmark_name()];
      if (auto it = run.counters.find("items_per_second"); it != run.counters.end())
        f.fps = it->second.value;
      if (auto it = run.counters.find("bytes_per_frame"); it != run.counters.end())
        f.bytes = it->second.value;
    }
  }
  struct Figures {
    double fps = 0, bytes = 0;
  };
  std::map<std::string, Figures> figures;
};

void print_table(const TableReporter& r) {
  auto get = [&](const std::string& name) {
    auto it = r.figures.find(name);
    return it == r.figures.end() ? TableReporter::Figures{} : it->second;
  };
  struct Scene {
    const char* bench;
    const char* label;
    const char* fps_target;
    const char* bytes_target;
  };
  for (const Scene& s :
       {Scene{"BM_VncChangingPicture1024x768", "changing 1024x768 picture", "-", "ratio<=1"},
        Scene{"BM_VncScrollingText80x25", "scrolling 80x25 text", ">=30", "ratio<=0.1"}}) {
    TableReporter::Figures raw = get(std::string(s.bench) + "/0");
    for (auto [arg, name] : {std::pair{kHextile, "Hextile"}, {kZrle, "ZRLE"}}) {
      TableReporter::Figures f = get(std::string(s.bench) + "/" + std::to_string(arg));
      printf("TABLE\tVNC %s, %s, frames/s (CPU)\t%.1f\thvmd raw encoding\t%.1f\t%.2f\t%s\n",
             s.label, name, f.fps, raw.fps, raw.fps ? f.fps / raw.fps : 0.0, s.fps_target);
      printf("TABLE\tVNC %s, %s, bytes/frame\t%.0f\thvmd raw encoding\t%.0f\t%.3f\t%s\n", s.label,
             name, f.bytes, raw.bytes, raw.bytes ? f.bytes / raw.bytes : 0.0, s.bytes_target);
    }
  }
}

}  // namespace
}  // namespace hvmd::test

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  hvmd::test::TableReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  hvmd::test::print_table(reporter);
  benchmark::Shutdown();
  return 0;
}
