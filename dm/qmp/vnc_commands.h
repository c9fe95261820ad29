// QMP commands of the VNC console: query-vnc (libxl publishes its host and service in xenstore),
// change-vnc-password (libxl's way of setting the guest's vncpasswd), and QEMU's newer
// set_password / expire_password for protocol "vnc".
#pragma once

#include "dm/qmp/qmp_server.h"
#include "dm/vnc/vnc_server.h"

namespace hvmd::qmp {

// vnc may be null (-vnc none): query-vnc then says disabled, password commands fail.
void register_vnc_commands(Server& server, vnc::VncServer* vnc);

}  // namespace hvmd::qmp
