#include "passthrough/cli/binder.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>

#include "passthrough/cli/inventory.h"

namespace hvmd::pcicli {
namespace {

constexpr size_t kMaxStateBytes = 64 * 1024;
constexpr size_t kMaxCompanions = 256;

std::string driver_dir(const std::string& driver, const std::string& file) {
  return std::string(kPciDrivers) + "/" + driver + "/" + file;
}

// A driver name from a state file becomes part of a path: only plain names are accepted.
bool plain_name(const std::string& s) {
  if (s.empty() || s.size() > 64 || s == "." || s == "..") return false;
  for (char c : s) {
    if (c == '/' || c == '\0' || c == '\n') return false;
  }
  return true;
}

std::string mkdir_p(const std::string& dir) {
  std::string path;
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = dir.find('/', pos + 1);
    path = dir.substr(0, pos);
    if (path.empty()) continue;
    if (mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
      return "cannot create the state folder " + path + ": " + strerror(errno);
    }
  }
  return "";
}

}  // namespace

const char* target_driver(BindTarget t) {
  return t == BindTarget::kVfio ? kVfioDriver : kPcibackDriver;
}

std::string Binder::state_path(const std::string& bdf) const {
  return state_dir_ + "/" + bdf + ".json";
}

bool Binder::load_state(const std::string& bdf, SavedDriver& out, std::string& error) const {
  error.clear();
  SysfsTree plain("/");
  auto text = plain.read_text(state_path(bdf), kMaxStateBytes);
  if (!text) return false;
  auto j = nlohmann::json::parse(*text, nullptr, false);
  auto str = [&](const char* key) -> std::string {
    return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "";
  };
  if (!j.is_object() || str("bdf") != bdf) {
    error = "the state file " + state_path(bdf) + " is damaged";
    return false;
  }
  out = SavedDriver{bdf, str("driver"), str("driver_override"), str("target"), {}};
  if (j.contains("companions") && j["companions"].is_array()) {
    for (auto& c : j["companions"]) {
      if (out.companions.size() >= kMaxCompanions) break;
      if (c.is_string() && parse_bdf(c.get<std::string>()) &&
          parse_bdf(c.get<std::string>())->text() == c.get<std::string>()) {
        out.companions.push_back(c.get<std::string>());
      }
    }
  }
  if ((!out.driver.empty() && !plain_name(out.driver)) ||
      (!out.driver_override.empty() && !plain_name(out.driver_override))) {
    error = "the state file " + state_path(bdf) + " names an impossible driver";
    return false;
  }
  return true;
}

std::string Binder::save_state(const SavedDriver& s) {
  if (auto e = mkdir_p(state_dir_); !e.empty()) return e;
  nlohmann::json j = {{"bdf", s.bdf},
                      {"driver", s.driver},
                      {"driver_override", s.driver_override},
                      {"target", s.target},
                      {"companions", s.companions}};
  std::string text = j.dump(2) + "\n";
  // Write a temporary file and rename it: a crash leaves the old record or the new, never half.
  std::string path = state_path(s.bdf), tmp = path + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return "cannot write " + tmp + ": " + strerror(errno);
  ssize_t n = write(fd, text.data(), text.size());
  int err = errno;
  bool ok = n == static_cast<ssize_t>(text.size()) && fsync(fd) == 0;
  close(fd);
  if (!ok || rename(tmp.c_str(), path.c_str()) != 0) {
    unlink(tmp.c_str());
    return "cannot write " + path + ": " + strerror(ok ? errno : err);
  }
  return "";
}

std::string Binder::move_to(const std::string& bdf, BindTarget target, DeviceMove& move) {
  const std::string want = target_driver(target);
  move.bdf = bdf;
  move.from = device_driver(tree_, bdf);
  move.to = want;
  if (move.from == want) {
    move.note = "already bound";
    return "";
  }
  // Remember the original first, so an interrupted bind can still be undone. A record left by
  // an earlier bind keeps the driver from before that one.
  SavedDriver saved;
  std::string load_error;
  if (!load_state(bdf, saved, load_error)) {
    if (!load_error.empty()) return load_error;
    std::string override_now = tree_.read_line(device_path(bdf, "driver_override")).value_or("");
    if (override_now == "(null)") override_now.clear();
    saved = SavedDriver{bdf, move.from, override_now, want, {}};
    if (auto e = save_state(saved); !e.empty()) return e;
  }
  if (auto e = tree_.write(device_path(bdf, "driver_override"), want); !e.empty()) return e;
  if (!move.from.empty()) {
    if (auto e = tree_.write(driver_dir(move.from, "unbind"), bdf); !e.empty()) return e;
  }
  if (target == BindTarget::kVfio) {
    if (auto e = tree_.write(kPciDriversProbe, bdf); !e.empty()) return e;
  } else {
    // pciback takes only the devices in its slot list, whatever driver_override says.
    if (auto e = tree_.write(driver_dir(want, "new_slot"), bdf); !e.empty()) return e;
    if (auto e = tree_.write(driver_dir(want, "bind"), bdf); !e.empty()) return e;
  }
  std::string now = device_driver(tree_, bdf);
  if (now != want) {
    return bdf + " did not bind to " + want + " (its driver is now " +
           (now.empty() ? std::string("none") : now) + "; see dmesg)";
  }
  return "";
}

BindResult Binder::bind(const std::string& bdf, BindTarget target, bool with_group) {
  BindResult r;
  const std::string want = target_driver(target);
  if (!tree_.is_dir(std::string(kPciDrivers) + "/" + want)) {
    r.error = want + " is not loaded: run modprobe " +
              (target == BindTarget::kVfio ? "vfio-pci" : "xen-pciback") + " first";
    return r;
  }
  auto cls = tree_.read_line(device_path(bdf, "class")).value_or("0");
  if (is_bridge_class(static_cast<uint32_t>(strtoul(cls.c_str(), nullptr, 0)))) {
    r.error = bdf + " is a bridge: it routes for other devices and is not given to a guest";
    return r;
  }
  std::vector<std::string> devices = {bdf};
  std::vector<std::string> companions;
  auto group = tree_.link_name(device_path(bdf, "iommu_group"));
  if (group) {
    for (auto& m : tree_.list(std::string(kIommuGroups) + "/" + *group + "/devices", kMaxDevices)) {
      if (m == bdf || !parse_bdf(m)) continue;
      auto member_class = tree_.read_line(device_path(m, "class")).value_or("0");
      bool bridge =
          is_bridge_class(static_cast<uint32_t>(strtoul(member_class.c_str(), nullptr, 0)));
      std::string drv = device_driver(tree_, m);
      if (bridge || drv == want || drv == kVfioDriver || drv == kPciStubDriver) continue;
      if (with_group) {
        companions.push_back(m);
      } else if (!drv.empty()) {
        r.warnings.push_back("IOMMU group " + *group + " is not viable while " + m +
                             " is bound to " + drv + ": add --with-group to bind it too");
      }
    }
  }
  for (size_t i = 0; i < devices.size(); ++i) {
    DeviceMove move;
    std::string e = move_to(devices[i], target, move);
    r.moves.push_back(move);
    if (!e.empty()) {
      r.error = e;
      return r;
    }
    if (i == 0 && !companions.empty()) {
      // Before any companion moves, the device's record lists them, so unbind BDF gives them
      // back even after a bind that failed half-way; a device that was on the target driver
      // already gets a record that keeps it there.
      SavedDriver saved;
      std::string err;
      if (!load_state(bdf, saved, err)) {
        std::string now = tree_.read_line(device_path(bdf, "driver_override")).value_or("");
        if (now == "(null)") now.clear();
        saved = SavedDriver{bdf, device_driver(tree_, bdf), now, want, {}};
      }
      for (auto& c : companions) {  // added to those of an earlier --with-group bind
        if (std::find(saved.companions.begin(), saved.companions.end(), c) ==
            saved.companions.end()) {
          saved.companions.push_back(c);
        }
      }
      if (auto save_error = save_state(saved); !save_error.empty()) {
        r.error = save_error;
        return r;
      }
      devices.insert(devices.end(), companions.begin(), companions.end());
    }
  }
  r.ok = true;
  return r;
}

std::string Binder::restore(const std::string& bdf, DeviceMove& move) {
  move.bdf = bdf;
  move.from = device_driver(tree_, bdf);
  SavedDriver saved;
  std::string load_error;
  bool have = load_state(bdf, saved, load_error);
  if (!load_error.empty()) return load_error;
  if (!have && move.from != kVfioDriver && move.from != kPcibackDriver) {
    // Nothing of ours to undo: leave a device the host drives alone.
    move.to = move.from;
    move.note = "left alone: not bound to vfio-pci or pciback, and no record of a bind";
    return "";
  }
  if (!move.from.empty()) {
    if (auto e = tree_.write(driver_dir(move.from, "unbind"), bdf); !e.empty()) return e;
    if (move.from == kPcibackDriver) {
      if (auto e = tree_.write(driver_dir(move.from, "remove_slot"), bdf); !e.empty()) return e;
    }
  }
  std::string override_value =
      have && !saved.driver_override.empty() ? saved.driver_override : std::string("\n");
  if (auto e = tree_.write(device_path(bdf, "driver_override"), override_value); !e.empty()) {
    return e;
  }
  if (have && !saved.driver.empty()) {
    if (auto e = tree_.write(driver_dir(saved.driver, "bind"), bdf); !e.empty()) return e;
  } else if (!have) {
    move.note = "no saved driver: the kernel chose";
    if (auto e = tree_.write(kPciDriversProbe, bdf); !e.empty()) return e;
  } else {
    move.note = "it had no driver before";
  }
  move.to = device_driver(tree_, bdf);
  if (have && move.to != saved.driver) {
    return bdf + " did not go back to " + (saved.driver.empty() ? "no driver" : saved.driver) +
           " (its driver is now " + (move.to.empty() ? std::string("none") : move.to) + ")";
  }
  if (have && unlink(state_path(bdf).c_str()) != 0 && errno != ENOENT) {
    return "cannot remove " + state_path(bdf) + ": " + strerror(errno);
  }
  return "";
}

BindResult Binder::unbind(const std::string& bdf) {
  BindResult r;
  SavedDriver saved;
  std::string err;
  load_state(bdf, saved, err);
  if (!err.empty()) {
    r.error = err;
    return r;
  }
  std::vector<std::string> devices = {bdf};
  devices.insert(devices.end(), saved.companions.begin(), saved.companions.end());
  for (auto& dev : devices) {
    DeviceMove move;
    std::string e = restore(dev, move);
    r.moves.push_back(move);
    if (!e.empty()) {
      r.error = e;
      return r;
    }
  }
  r.ok = true;
  return r;
}

}  // namespace hvmd::pcicli
