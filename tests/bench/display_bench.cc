// Display costs (issue 14, item 10): a console's poll and redraw of a full VBE screen after the
// guest rewrote all of it (dirty scan and conversion to the host format), and an idle poll.
#include <benchmark/benchmark.h>

#include <vector>

#include "devices/vga/cirrus_blt.h"
#include "devices/vga/vga_core.h"
#include "dm/display.h"
#include "dm/guest_memory.h"
#include "tests/bench/bench_table.h"

namespace hvmd {
namespace {

struct Screen {
  Screen(uint16_t width, uint16_t height, uint16_t bpp)
      : pixels(size_t{width} * height), fb{pixels.data(), width, height, width} {
    core.map();
    hub.set_source(&core);
    console = hub.add_console();
    for (auto [index, value] :
         {std::pair<uint16_t, uint16_t>{4, 0}, {1, width}, {2, height}, {3, bpp}, {4, 0x41}}) {
      dispatcher.port_write(0x1ce, 2, index);
      dispatcher.port_write(0x1cf, 2, value);
    }
    hub.poll(console);
  }
  ~Screen() { core.unmap(); }
  // What a console does each frame: take the damage and draw it.
  void frame() {
    DisplayHub::Update update = hub.poll(console);
    for (const Rect& r : update.damage) hub.render(fb, r);
  }
  HostRam ram{RamLayout::pc(16 << 20)};
  Dispatcher dispatcher{&ram};
  Clock clock{Clock::Mode::kVirtual};
  DeviceMemory vram{"vram", 16 << 20, DeviceMemory::Access::kReadWrite};
  devices::vga::VgaCore core{vram, dispatcher, clock};
  DisplayHub hub;
  DisplayHub::ConsoleId console = 0;
  std::vector<uint32_t> pixels;
  Framebuffer fb;
};

void full_update(benchmark::State& state, uint16_t width, uint16_t height, uint16_t bpp) {
  Screen screen(width, height, bpp);
  uint64_t bytes = uint64_t{width} * height * ((bpp + 7) / 8);
  for (auto _ : state) {
    screen.vram.dirty().mark(0, bytes);  // the guest rewrote the whole framebuffer
    screen.frame();
  }
  state.SetItemsProcessed(state.iterations() * width * height);
}

void BM_FullUpdate1920x1080x32(benchmark::State& state) {
  full_update(state, 1920, 1080, 32);
}
void BM_FullUpdate1024x768x16(benchmark::State& state) {
  full_update(state, 1024, 768, 16);
}
void BM_IdleFrame1920x1080x32(benchmark::State& state) {
  Screen screen(1920, 1080, 32);
  for (auto _ : state) screen.frame();
}
BENCHMARK(BM_FullUpdate1920x1080x32)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_FullUpdate1024x768x16)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_IdleFrame1920x1080x32)->Unit(benchmark::kMicrosecond);

// Cirrus: one 1024x768 screen-to-screen blit (the engine alone, bounds checks included), at 8
// and 32 bpp, forward (a scroll up by 16 lines: overlapping lines) and backward (down).
void cirrus_blit(benchmark::State& state, uint32_t bytes_per_pixel, bool backward) {
  DeviceMemory vram{"vram", 4 << 20, DeviceMemory::Access::kReadWrite};
  devices::vga::cirrus::Blitter blitter{vram};
  uint32_t pitch = 1024 * bytes_per_pixel, height = 768 - 16;
  devices::vga::cirrus::BltParams p;
  p.width = pitch;
  p.height = height;
  p.dst_pitch = p.src_pitch = pitch;
  p.rop = devices::vga::cirrus::kRopSrc;
  p.mode = static_cast<uint8_t>((bytes_per_pixel - 1) << devices::vga::cirrus::kBltDepthShift);
  if (backward) {
    p.mode |= devices::vga::cirrus::kBltBackward;
    p.src = (height - 1) * pitch + pitch - 1;
    p.dst = p.src + 16 * pitch;
  } else {
    p.dst = 0;
    p.src = 16 * pitch;
  }
  for (auto _ : state) {
    if (!blitter.start(p)) state.SkipWithError("blit refused");
    benchmark::DoNotOptimize(vram.host_data().data());
  }
  state.SetBytesProcessed(state.iterations() * int64_t{pitch} * height);
}
void BM_CirrusBlit1024x768x8(benchmark::State& state) {
  cirrus_blit(state, 1, false);
}
void BM_CirrusBlit1024x768x32(benchmark::State& state) {
  cirrus_blit(state, 4, false);
}
void BM_CirrusBlitBackward1024x768x32(benchmark::State& state) {
  cirrus_blit(state, 4, true);
}
BENCHMARK(BM_CirrusBlit1024x768x8)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CirrusBlit1024x768x32)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CirrusBlitBackward1024x768x32)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace hvmd

int main(int argc, char** argv) {
  return hvmd::bench::run_with_table(argc, argv, [](const hvmd::bench::TableReporter& r) {
    // An idle picture: a console's poll finds no damage and draws nothing. QEMU redraws what
    // its 30 Hz refresh finds; here the anchor is a full redraw, which idle must stay far below.
    double full = r.ns_per_iteration("BM_FullUpdate1920x1080x32") / 1e3;
    hvmd::bench::table_line_if(r.ns_per_iteration("BM_IdleFrame1920x1080x32") / 1e3,
                               "display, idle 1920x1080 poll, no damage (us)", "full redraw", full,
                               "ratio<=0.01");
    hvmd::bench::table_line_if(full / 1e3, "display, full 1920x1080x32 redraw (ms)", "", 0, "-");
  });
}
