// hvmd-fuzz -target=passthrough: guest config-space reads and writes, extended config space
// (0x100-0xfff, as an ECAM access reaches it) and MSI-X table accesses, against a passthrough
// function built on each fixture (synthetic, recorded, and pcie-sriov with malformed extended
// chains: cycles, pointers below 0x100 or into a body, all-ones, every dword a capability), in the
// Xen view (256 bytes) or the VFIO one (extended space shown), permissive or not; inputs may also
// patch dwords of the host's extended space first. Invariants checked after every input: guest BAR
// and ROM addresses never reach the host function, identity registers never change, the guest's
// capability chains (both) stay acyclic and in range, hidden capabilities are unlinked and read
// 0, extended writes reach the host only when permissive and never its emulated headers and
// hidden bodies, the guest's extended space does not change unless permissive, MSI-X vectors
// routed are within the table.
//
// Input: byte 0 the fixture (index modulo the list), byte 1 flags (bit 0 permissive, bit 1 the
// VFIO view, bits 3:2 how many host patches follow), then 8-byte operations (tests/fuzz/
// make_passthrough_seeds.py says how they are laid out).
#pragma once

#include <cstddef>
#include <cstdint>

namespace hvmd::fuzz {

void run_passthrough_target(const uint8_t* data, size_t size);

}  // namespace hvmd::fuzz
