#include <algorithm>
#include <cstring>

#include "dm/vnc/encodings.h"

namespace hvmd::vnc {

void read_tile(const Framebuffer& fb, const Rect& tile, uint32_t* out) {
  for (uint32_t row = 0; row < tile.height; ++row) {
    uint32_t y = tile.y + row;
    uint32_t inside =
        y < fb.height && tile.x < fb.width ? std::min(tile.width, fb.width - tile.x) : 0;
    if (inside) {
      const uint32_t* src = fb.pixels + size_t{y} * fb.stride + tile.x;
      // The top byte is not part of the colour: masked so equal colours compare equal.
      for (uint32_t x = 0; x < inside; ++x) out[x] = src[x] & 0xffffff;
    }
    std::fill(out + inside, out + tile.width, 0u);
    out += tile.width;
  }
}

}  // namespace hvmd::vnc
