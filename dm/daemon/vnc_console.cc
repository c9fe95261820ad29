// The VNC console of the daemon: -vnc's server on the machine's display and input, opened before
// the sandbox, and its QMP commands (registered with -vnc none too, which query-vnc reports).
#include "dm/daemon/daemon.h"
#include "dm/qmp/vnc_commands.h"

namespace hvmd::daemon {

Result<std::unique_ptr<vnc::VncServer>> open_vnc(Machine& machine, EventLoop& loop,
                                                 const Config& config, qmp::Server& qmp) {
  std::unique_ptr<vnc::VncServer> server;
  if (config.vnc_options.enabled) {
    const vnc::Keymap* keymap = vnc::find_keymap(config.keymap);
    if (!keymap) return make_error("-k %s: unknown keyboard layout", config.keymap.c_str());
    std::string name = config.machine.name.empty() ? "hvmd" : config.machine.name;
    server =
        std::make_unique<vnc::VncServer>(loop, machine.display(), machine.input(), *keymap, name);
    HVMD_TRY(server->listen(config.vnc_options));
  }
  qmp::register_vnc_commands(qmp, server.get());
  return server;
}

}  // namespace hvmd::daemon
