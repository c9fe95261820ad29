// FdWatcher: how a passthrough device hears host interrupts it must deliver itself (VFIO's
// eventfds where no hypervisor takes them: the qtest runner, or a transport that refused the
// route). The runner implements it on its event loop; callbacks run as device code.
#pragma once

#include <functional>

#include "dm/result.h"

namespace hvmd::passthrough {

class FdWatcher {
 public:
  virtual ~FdWatcher() = default;
  virtual Result<void> watch(int fd, std::function<void()> readable) = 0;
  virtual void unwatch(int fd) = 0;
};

}  // namespace hvmd::passthrough
