// The display seam: what a display device (VGA, Cirrus) offers the consoles that show it (a VNC
// server, screendump). A device describes its current picture (mode and size), reports the areas
// that changed, and renders any area on demand into a framebuffer the console owns. Nothing is
// rendered, and no dirty memory is even looked at, unless a console asks: an idle guest with no
// one watching costs nothing. Several consoles may watch one display; the DisplayHub keeps each
// one's damage apart, so one console's poll never hides a change from another.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <vector>

namespace hvmd {

struct Rect {
  uint32_t x = 0;
  uint32_t y = 0;
  uint32_t width = 0;
  uint32_t height = 0;
  bool empty() const { return width == 0 || height == 0; }
  // The part of this rectangle inside (0, 0, width, height).
  Rect clipped(uint32_t width, uint32_t height) const;
  // The smallest rectangle holding both (an empty one adds nothing).
  Rect united(const Rect& other) const;
  bool operator==(const Rect&) const = default;
};

enum class DisplayMode : uint8_t {
  kBlank,     // nothing to show: no display device, the screen off, a mode being set
  kText,      // a character grid (rendered with the guest's font)
  kGraphics,  // pixels
};

// What a display shows now. Consoles always get pixels: width x height is the rendered picture
// in every mode (an 80x25 text screen of 9x16 cells is 720x400).
struct DisplayInfo {
  DisplayMode mode = DisplayMode::kBlank;
  uint32_t width = 0;
  uint32_t height = 0;
  uint32_t columns = 0;  // text modes: the character grid
  uint32_t rows = 0;
  bool operator==(const DisplayInfo&) const = default;
};

// The host pixel format every display renders to: one uint32_t per pixel, 0x00RRGGBB (what VNC's
// 32-bit true colour and a PNG writer convert from). The console owns the memory.
struct Framebuffer {
  uint32_t* pixels = nullptr;  // row y starts at pixels + y * stride
  uint32_t width = 0;
  uint32_t height = 0;
  size_t stride = 0;  // in pixels, at least width
};

// Implemented by a display device; called on the device thread.
class DisplaySource {
 public:
  virtual ~DisplaySource() = default;
  virtual DisplayInfo display_info() = 0;
  // Appends the areas whose pixels may have changed since the previous call (guest writes to video
  // memory, palette, font, cursor blink, start address). After a mode change the hub redraws
  // everything anyway, so what is reported then does not matter.
  virtual void collect_damage(std::vector<Rect>& damage) = 0;
  // Draws area of the current picture into fb, whose (0, 0) is the picture's top-left corner.
  // Both are already clipped to the picture and to fb by the hub.
  virtual void render(const Framebuffer& fb, const Rect& area) = 0;
};

// Where display devices and consoles meet; the machine holds one. One display (the primary VGA)
// is shown: a device registers itself when created and leaves when removed.
class DisplayHub {
 public:
  using ConsoleId = uint32_t;
  // Damage kept per console between its polls; more rectangles than this are merged into their
  // bounding box, so a guest that scribbles everywhere cannot grow a slow console's queue.
  static constexpr size_t kMaxRects = 64;

  void set_source(DisplaySource* source);
  // Leaves the hub with no display if source is the one shown (a device being removed).
  void remove_source(DisplaySource* source);
  DisplaySource* source() const { return source_; }
  DisplayInfo info() const;

  ConsoleId add_console();
  void remove_console(ConsoleId id);

  struct Update {
    DisplayInfo info;
    bool resized = false;      // mode or size differ from this console's previous poll
    std::vector<Rect> damage;  // within info's width x height; the whole picture after a resize
  };
  // What changed for console id since its previous poll (its first poll: everything). Unknown
  // ids get a blank update.
  Update poll(ConsoleId id);
  // Renders area of the current picture (clipped to it and to fb) into fb; a screendump's whole
  // picture, or a console's damaged areas. Returns the part drawn (empty: nothing to show).
  Rect render(const Framebuffer& fb, const Rect& area);

 private:
  struct Console {
    DisplayInfo seen;  // as of its previous poll
    bool fresh = true;
    std::vector<Rect> damage;
  };
  void gather();
  static void add_damage(std::vector<Rect>& queue, const Rect& rect);

  DisplaySource* source_ = nullptr;
  std::map<ConsoleId, Console> consoles_;
  ConsoleId next_id_ = 1;
};

}  // namespace hvmd
