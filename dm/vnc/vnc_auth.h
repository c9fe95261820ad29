// VNC authentication (RFC 6143 §7.2.2): the server sends 16 random bytes, the client returns them
// encrypted with DES in ECB mode under a key made of the password's first 8 bytes (zero-padded),
// each byte's bits reversed (a quirk of the original implementation every client follows).
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "dm/vnc/rfb.h"

namespace hvmd::vnc {

using Challenge = std::array<uint8_t, rfb::kChallengeLength>;

// What a client knowing password answers to challenge.
Challenge vnc_auth_response(const Challenge& challenge, std::string_view password);
// Constant-time comparison of a client's answer with the expected one.
bool vnc_auth_matches(const Challenge& expected, const uint8_t* answer);

}  // namespace hvmd::vnc
