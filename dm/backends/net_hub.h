// -netdev hubport,id=ID,hubid=N: one port of hub N, QEMU's way of joining several NICs on one
// segment. A frame a NIC sends on its port goes to every other port of the same hub (never back
// to its own); hubs exist while they have ports.
#pragma once

#include <memory>
#include <string>

#include "dm/backends/net.h"

namespace hvmd {

Result<std::unique_ptr<NetBackend>> open_hubport_backend(const std::string& id,
                                                         OptionReader& reader, EventLoop& loop);

}  // namespace hvmd
