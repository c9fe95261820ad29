// Screendumps: the display's whole current picture as an image file (QMP's screendump), drawn
// through the display hub like any console.
#pragma once

#include <cstdint>
#include <vector>

#include "dm/display.h"
#include "dm/result.h"

namespace hvmd {

enum class ImageFormat { kPpm, kPng };

// The picture encoded as a binary PPM (P6) or an 8-bit RGB PNG. An error when there is nothing
// to show (no display, or the display is blank).
Result<std::vector<uint8_t>> screendump(DisplayHub& hub, ImageFormat format);

}  // namespace hvmd
