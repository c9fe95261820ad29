// hvmd-fuzz -target=vnc: client-to-server RFB bytes against hvmd's VNC server over a socket pair
// (fuzz_vnc.cc); seeds from make_vnc_seeds.py in corpus-vnc.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hvmd::fuzz {

void run_vnc_target(const uint8_t* data, size_t size);

}  // namespace hvmd::fuzz
