// hvmd-pci's command line: parses the arguments, runs list/check/bind/unbind and returns the
// exit status. In a library so tests run it in-process with their own streams.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "passthrough/cli/sysfs_tree.h"

namespace hvmd::pcicli {

// Exit statuses.
inline constexpr int kExitOk = 0;
inline constexpr int kExitUsage = 1;          // bad argument; one line names it
inline constexpr int kExitNotAssignable = 2;  // check: no path is ready
inline constexpr int kExitFailed = 3;         // bind/unbind failed, or the host could not be read

inline constexpr const char* kDefaultStateDir = "/run/hvmd-pci";

// hook (may be empty) sees every sysfs write: tests play the kernel with it.
int run_cli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
            SysfsTree::WriteHook hook = {});

std::string help_text();

}  // namespace hvmd::pcicli
