// Host functions for tests, the fuzzer and benchmarks: config spaces recorded from a real machine
// (tests/passthrough/fixtures, as sysfs gave them) and synthetic ones built from the specs for
// what that machine lacks (PCI Express with FLR, maskable 64-bit MSI, an MSI-X table sharing its
// page with the PBA, 64-bit and I/O BARs, a ROM, broken capability chains).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "dm/result.h"
#include "passthrough/soft_function.h"

namespace hvmd::passthrough {

// The writable and write-1-to-clear bits a real function has in the header and in the
// capabilities it lists (command, status, PM, MSI, MSI-X, PCI Express, vendor-specific, VPD).
void apply_spec_masks(SoftFunction& function);

// Synthetic fixtures by name; nullptr for an unknown name.
std::vector<std::string> synthetic_fixture_names();
std::unique_ptr<SoftFunction> make_synthetic_fixture(std::string_view name);

// A recorded function: DIR/SSSS_BB_DD.F.{config,resource,ids}.
Result<std::unique_ptr<SoftFunction>> load_recorded_fixture(const std::string& dir,
                                                            const std::string& file_stem);
// The recorded fixtures' file stems in dir ("0000_00_03.0", ...), sorted.
std::vector<std::string> recorded_fixture_stems(const std::string& dir);

}  // namespace hvmd::passthrough
