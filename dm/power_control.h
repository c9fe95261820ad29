// PowerControl: how a device's reset or power-control register (0xcf9, port 0x92, the i8042's
// output port, ACPI SLP_EN) asks for the machine to reset or power off. The machine implements
// it; what a request means is the transport's call (Xen shuts the domain down; the local runners
// reset or exit once the access completes).
#pragma once

namespace hvmd {

enum class ShutdownCause { kGuestPoweroff, kGuestReset };
const char* shutdown_reason_name(ShutdownCause cause);  // QMP's SHUTDOWN/RESET "reason"

class PowerControl {
 public:
  virtual void request_shutdown(ShutdownCause cause) = 0;

 protected:
  ~PowerControl() = default;
};

}  // namespace hvmd
