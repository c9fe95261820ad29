// -netdev socket,id=ID,fd=N: QEMU's socket netdev over a descriptor hvmd inherited (a test
// harness's socketpair, a management tool's connected socket). The socket's type decides the
// framing, as in QEMU: on a stream socket each frame is preceded by its length as 4 bytes
// big-endian; on a datagram socket each datagram is one frame.
#pragma once

#include <memory>
#include <string>

#include "dm/backends/net.h"

namespace hvmd {

Result<std::unique_ptr<NetBackend>> open_socket_fd_backend(const std::string& id,
                                                           OptionReader& reader, EventLoop& loop);

}  // namespace hvmd
