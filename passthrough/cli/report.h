// What list and check print: plain text for people, JSON (--json) for scripts.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "passthrough/cli/assess.h"
#include "passthrough/cli/binder.h"
#include "passthrough/cli/inventory.h"
#include "passthrough/cli/names.h"

namespace hvmd::pcicli {

nlohmann::json host_json(const HostInfo& host);
nlohmann::json device_json(const DeviceInfo& dev, const Assessment& a, const PciNames& names);
nlohmann::json bind_json(const BindResult& r, const std::string& command);

std::string host_text(const HostInfo& host);
// One line (two when the host's path is not ready: the reason below).
std::string list_line(const HostInfo& host, const DeviceInfo& dev, const Assessment& a,
                      const PciNames& names);
std::string list_header();
std::string check_text(const DeviceInfo& dev, const Assessment& a, const PciNames& names);
std::string bind_text(const BindResult& r);

}  // namespace hvmd::pcicli
