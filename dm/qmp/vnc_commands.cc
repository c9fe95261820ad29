#include "dm/qmp/vnc_commands.h"

#include <ctime>

#include "dm/sub_options.h"

namespace hvmd::qmp {
namespace {

Json describe(const vnc::SocketAddress& address) {
  return {{"host", address.host}, {"service", address.service}, {"family", address.family}};
}

// QEMU's VncInfo.
Json query_vnc(const vnc::VncServer* vnc) {
  if (!vnc || !vnc->enabled()) return {{"enabled", false}};
  Json info = describe(vnc->address());
  info["enabled"] = true;
  info["auth"] = vnc->password_auth() ? "vnc" : "none";
  Json clients = Json::array();
  for (const auto& client : vnc->clients()) {
    Json entry = describe(client);
    entry["websocket"] = false;
    clients.push_back(std::move(entry));
  }
  info["clients"] = std::move(clients);
  return info;
}

// As QEMU: a password only means something for a display started with password=on.
Reply set_password(vnc::VncServer* vnc, const std::string& password) {
  if (!vnc || !vnc->enabled()) return Reply::error("There is no VNC display to set a password for");
  if (!vnc->password_auth())
    return Reply::error("Could not set password: the VNC display was not started with password=on");
  vnc->set_password(password);
  return Reply::success();
}

Reply check_protocol(const Json& args) {
  std::string protocol = args["protocol"];
  if (protocol != "vnc") return Reply::error("protocol '" + protocol + "' is not available");
  return Reply::success();
}

}  // namespace

void register_vnc_commands(Server& server, vnc::VncServer* vnc) {
  server.add_command("query-vnc", no_arguments(),
                     [vnc](const Json&) { return Reply::success(query_vnc(vnc)); });
  server.add_command("change-vnc-password",
                     Schema::object({required("password", Schema::string())}),
                     [vnc](const Json& args) { return set_password(vnc, args["password"]); });
  server.add_command(
      "set_password",
      Schema::object({required("protocol", Schema::enumeration({"vnc", "spice"})),
                      required("password", Schema::string()),
                      optional("connected", Schema::enumeration({"keep", "disconnect", "fail"})),
                      optional("display", Schema::string())}),
      [vnc](const Json& args) {
        if (Reply r = check_protocol(args); !r.ok) return r;
        if (args.value("connected", "keep") != "keep")
          return Reply::error("connected='" + args["connected"].get<std::string>() +
                              "' is only allowed for spice");
        return set_password(vnc, args["password"]);
      });
  server.add_command(
      "expire_password",
      Schema::object({required("protocol", Schema::enumeration({"vnc", "spice"})),
                      required("time", Schema::string()), optional("display", Schema::string())}),
      [vnc](const Json& args) {
        if (Reply r = check_protocol(args); !r.ok) return r;
        if (!vnc || !vnc->enabled()) return Reply::error("There is no VNC display");
        // "now", "never", "+SECONDS" from now, or SECONDS since the epoch.
        std::string when = args["time"];
        int64_t now = time(nullptr);
        if (when == "now") {
          vnc->set_password_expiry(now);
        } else if (when == "never") {
          vnc->set_password_expiry(std::nullopt);
        } else {
          bool relative = when.starts_with("+");
          auto seconds = parse_number(relative ? when.substr(1) : when, INT32_MAX);
          if (!seconds) return Reply::error("time '" + when + "': " + seconds.error().message);
          vnc->set_password_expiry(static_cast<int64_t>(*seconds) + (relative ? now : 0));
        }
        return Reply::success();
      });
}

}  // namespace hvmd::qmp
