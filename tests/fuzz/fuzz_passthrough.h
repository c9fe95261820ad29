// hvmd-fuzz -target=passthrough: guest config-space reads and writes, and MSI-X table accesses,
// against a passthrough function built on each fixture (synthetic and recorded), with the
// invariants checked after every input: guest BAR and ROM addresses never reach the host
// function, identity registers never change, the guest's capability chain stays acyclic, MSI-X
// vectors routed are within the table, hidden capabilities read 0.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hvmd::fuzz {

void run_passthrough_target(const uint8_t* data, size_t size);

}  // namespace hvmd::fuzz
