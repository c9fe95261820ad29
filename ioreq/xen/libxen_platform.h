// XenPlatform on the real hypervisor: libxendevicemodel, libxenforeignmemory and libxenevtchn,
// each handle restricted to the one domain hvmd serves.
#pragma once

#include <memory>

#include "ioreq/xen/xen_platform.h"

namespace hvmd::xen {

// Opens the handles for domid; fails with one clear line where Xen is not running.
Result<std::unique_ptr<XenPlatform>> open_libxen_platform(uint32_t domid);

}  // namespace hvmd::xen
