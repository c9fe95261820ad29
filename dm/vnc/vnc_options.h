// The -vnc option: where the VNC server listens and how it authenticates.
//   -vnc none | -vnc [HOST]:DISPLAY[,to=N][,password=on] | -vnc unix:PATH[,password=on]
// DISPLAY d listens on TCP port 5900 + d; with to=N the displays d..N are tried in turn until one
// is free (libxl passes to=99). HOST may be a name, an IPv4 address or a bracketed IPv6 address;
// empty means every address.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "dm/result.h"

namespace hvmd::vnc {

inline constexpr uint32_t kBasePort = 5900;
inline constexpr uint32_t kMaxDisplay = 65535 - kBasePort;

struct VncOptions {
  bool enabled = false;
  std::string host;           // TCP: as given, brackets removed
  uint32_t display = 0;       // TCP: the first display tried
  uint32_t last_display = 0;  // TCP: the last display tried (to=N, else display)
  std::string unix_path;      // unix:PATH (then no TCP)
  bool password = false;      // VNC authentication (refused until a password is set over QMP)

  // Parses an -vnc value; an error names the value and what is wrong with it.
  static Result<VncOptions> parse(const std::string& text);
};

}  // namespace hvmd::vnc
