#include "dm/display.h"

#include <algorithm>

namespace hvmd {

Rect Rect::clipped(uint32_t w, uint32_t h) const {
  if (x >= w || y >= h) return {};
  return {x, y, std::min(width, w - x), std::min(height, h - y)};
}

Rect Rect::united(const Rect& other) const {
  if (other.empty()) return *this;
  if (empty()) return other;
  uint64_t left = std::min(x, other.x), top = std::min(y, other.y);
  uint64_t right = std::max<uint64_t>(uint64_t{x} + width, uint64_t{other.x} + other.width);
  uint64_t bottom = std::max<uint64_t>(uint64_t{y} + height, uint64_t{other.y} + other.height);
  auto cap = [](uint64_t v) { return static_cast<uint32_t>(std::min<uint64_t>(v, UINT32_MAX)); };
  return {cap(left), cap(top), cap(right - left), cap(bottom - top)};
}

void DisplayHub::set_source(DisplaySource* source) {
  source_ = source;
  for (auto& [id, console] : consoles_) console.fresh = true;
}

void DisplayHub::remove_source(DisplaySource* source) {
  if (source_ == source) set_source(nullptr);
}

DisplayInfo DisplayHub::info() const {
  return source_ ? source_->display_info() : DisplayInfo{};
}

DisplayHub::ConsoleId DisplayHub::add_console() {
  ConsoleId id = next_id_++;
  consoles_[id] = {};
  return id;
}

void DisplayHub::remove_console(ConsoleId id) {
  consoles_.erase(id);
}

void DisplayHub::add_damage(std::vector<Rect>& queue, const Rect& rect) {
  if (rect.empty()) return;
  for (const Rect& r : queue)
    if (r.united(rect) == r) return;  // already covered
  if (queue.size() < kMaxRects) {
    queue.push_back(rect);
    return;
  }
  Rect all = rect;
  for (const Rect& r : queue) all = all.united(r);
  queue.assign(1, all);
}

// Takes what the source has and hands it to every console, so each sees every change once.
void DisplayHub::gather() {
  if (!source_) return;
  std::vector<Rect> fresh;
  source_->collect_damage(fresh);
  for (auto& [id, console] : consoles_)
    for (const Rect& r : fresh) add_damage(console.damage, r);
}

DisplayHub::Update DisplayHub::poll(ConsoleId id) {
  auto it = consoles_.find(id);
  if (it == consoles_.end()) return {};
  gather();
  Console& console = it->second;
  Update update;
  update.info = info();
  const Rect whole{0, 0, update.info.width, update.info.height};
  update.resized = console.fresh || update.info != console.seen;
  if (update.resized) {
    if (!whole.empty()) update.damage.push_back(whole);
  } else {
    for (const Rect& r : console.damage)
      if (Rect c = r.clipped(whole.width, whole.height); !c.empty()) update.damage.push_back(c);
  }
  console.damage.clear();
  console.seen = update.info;
  console.fresh = false;
  return update;
}

Rect DisplayHub::render(const Framebuffer& fb, const Rect& area) {
  if (!source_ || !fb.pixels || fb.stride < fb.width) return {};
  DisplayInfo now = info();
  if (now.mode == DisplayMode::kBlank) return {};
  Rect clip = area.clipped(std::min(now.width, fb.width), std::min(now.height, fb.height));
  if (clip.empty()) return {};
  source_->render(fb, clip);
  return clip;
}

}  // namespace hvmd
