// RemovableMedia: a drive whose medium the host can take out and replace (a CD-ROM), as QMP's
// eject and blockdev-change-medium see it. The drive device implements it; QMP finds it by the
// device's id or the drive's.
#pragma once

#include <memory>
#include <string>
#include <utility>

#include "dm/backends/block.h"
#include "dm/result.h"

namespace hvmd {

class RemovableMedia {
 public:
  virtual ~RemovableMedia() = default;
  virtual const std::string& drive_id() const = 0;
  virtual bool removable() const = 0;
  virtual bool locked() const = 0;
  virtual bool tray_open() const = 0;
  virtual const BlockBackend* medium() const = 0;
  // The same medium for host-side I/O (QMP's qemu-io reads and writes through it).
  BlockBackend* io_medium() { return const_cast<BlockBackend*>(std::as_const(*this).medium()); }
  // Without force, a medium the guest has locked stays in (the guest is told the host asked).
  virtual Result<void> eject(bool force) = 0;
  virtual Result<void> change_medium(std::unique_ptr<BlockBackend> medium) = 0;
};

}  // namespace hvmd
