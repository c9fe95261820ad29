// hvmd-fuzz's management-side targets (-target=NAME): what a toolstack or local client sends.
//   qmp      a whole monitor session (greeting, negotiation, commands) on the fuzz machine
//   qtest    qtest protocol lines on the fuzz machine
//   cmdline  a command line: NUL-separated arguments (seeds: libxl's recorded argv, mutated)
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "tests/fuzz/fuzz_machine.h"

namespace hvmd::fuzz {

// Runs one input against the named target; false for an unknown name.
bool run_management_target(const std::string& target, FuzzMachine& machine, const uint8_t* data,
                           size_t size);

}  // namespace hvmd::fuzz
