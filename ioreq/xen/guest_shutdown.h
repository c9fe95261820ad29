// Guest power-off and reset under Xen: the domain is shut down with the matching reason and the
// toolstack destroys or rebuilds it. The call happens inside the guest's access, before its
// response is posted, so libxl sees the shutdown before the vCPU can run on (as the ABI notes).
#pragma once

#include <functional>

#include "dm/machine.h"
#include "ioreq/xen/xen_platform.h"

namespace hvmd::xen {

inline void forward_guest_shutdowns(Machine& machine, XenPlatform& platform,
                                    std::function<void(ShutdownCause)> also = {}) {
  machine.set_shutdown_handler([&platform, also = std::move(also)](ShutdownCause cause) {
    platform.shutdown(cause == ShutdownCause::kGuestReset ? ShutdownReason::kReboot
                                                          : ShutdownReason::kPoweroff);
    if (also) also(cause);
  });
}

}  // namespace hvmd::xen
