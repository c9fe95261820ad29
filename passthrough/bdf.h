// Host PCI addresses as users and libxl write them: "SSSS:BB:DD.F" (hostaddr=) or "BB:DD.F"
// (vfio-pci's host=, segment 0), and the guest slot libxl passes as addr= ("SLOT.FN" in hex).
#pragma once

#include <string>
#include <string_view>

#include "dm/io_request.h"
#include "dm/result.h"

namespace hvmd::passthrough {

// Hex fields; the device below 0x20, the function below 8. An error names the text.
Result<PciAddress> parse_host_address(std::string_view text);
// "SSSS:BB:DD.F", as sysfs names the function.
std::string format_host_address(PciAddress address);

}  // namespace hvmd::passthrough
