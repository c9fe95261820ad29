#include "passthrough/cli/cli.h"

#include <ostream>

#include "passthrough/cli/assess.h"
#include "passthrough/cli/binder.h"
#include "passthrough/cli/inventory.h"
#include "passthrough/cli/names.h"
#include "passthrough/cli/report.h"

namespace hvmd::pcicli {
namespace {

struct Options {
  std::string command;
  std::string bdf;
  bool json = false;
  bool with_group = false;
  bool help = false;
  std::string to;
  std::string root = "/";
  std::string state_dir = kDefaultStateDir;
  std::string pci_ids;
};

// A printable form of a bad argument for the one-line error (no control characters).
std::string shown(const std::string& s) {
  std::string out;
  for (char c : s.substr(0, 200)) out += (static_cast<unsigned char>(c) < 0x20) ? '?' : c;
  return out;
}

// Returns "" or the one-line error.
std::string parse(const std::vector<std::string>& args, Options& o) {
  std::vector<std::string> positional;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](const std::string& name, std::string& into) -> std::string {
      if (a.size() > name.size() && a.compare(0, name.size() + 1, name + "=") == 0) {
        into = a.substr(name.size() + 1);
      } else if (i + 1 < args.size()) {
        into = args[++i];
      } else {
        return name + " needs a value";
      }
      if (into.empty()) return name + " needs a value";
      return "";
    };
    auto is = [&](const std::string& name) {
      return a == name || a.compare(0, name.size() + 1, name + "=") == 0;
    };
    std::string e;
    if (a == "-h" || a == "--help" || a == "help") {
      o.help = true;
    } else if (a == "--json") {
      o.json = true;
    } else if (a == "--with-group") {
      o.with_group = true;
    } else if (is("--to")) {
      e = value("--to", o.to);
    } else if (is("--sysfs-root")) {
      e = value("--sysfs-root", o.root);
    } else if (is("--state-dir")) {
      e = value("--state-dir", o.state_dir);
    } else if (is("--pci-ids")) {
      e = value("--pci-ids", o.pci_ids);
    } else if (a.size() > 1 && a[0] == '-') {
      return "unknown option '" + shown(a) + "' (see hvmd-pci --help)";
    } else {
      positional.push_back(a);
    }
    if (!e.empty()) return e;
  }
  if (o.help) return "";
  if (positional.empty()) return "no command given (list, check, bind, unbind; see --help)";
  o.command = positional[0];
  bool wants_bdf = o.command == "check" || o.command == "bind" || o.command == "unbind";
  if (o.command != "list" && !wants_bdf) {
    return "unknown command '" + shown(o.command) + "' (list, check, bind, unbind)";
  }
  if (wants_bdf) {
    if (positional.size() < 2) return o.command + " needs a device address (DDDD:BB:DD.F)";
    auto bdf = parse_bdf(positional[1]);
    if (!bdf) {
      return "bad device address '" + shown(positional[1]) + "' (expected DDDD:BB:DD.F or BB:DD.F)";
    }
    o.bdf = bdf->text();
  }
  size_t expected = wants_bdf ? 2 : 1;
  if (positional.size() > expected) {
    return "unexpected argument '" + shown(positional[expected]) + "' after " + o.command;
  }
  if (o.command == "bind") {
    if (o.to.empty()) return "bind needs --to vfio or --to pciback";
    if (o.to == "vfio-pci") o.to = "vfio";
    if (o.to == "xen-pciback" || o.to == "xen") o.to = "pciback";
    if (o.to != "vfio" && o.to != "pciback") {
      return "bad --to value '" + shown(o.to) + "' (vfio or pciback)";
    }
  } else {
    if (!o.to.empty()) return "--to belongs to bind, not " + o.command;
    if (o.with_group) return "--with-group belongs to bind, not " + o.command;
  }
  return "";
}

int cmd_list(const Options& o, SysfsTree& tree, std::ostream& out) {
  PciNames names(o.pci_ids);
  HostInfo host = read_host(tree);
  auto all = list_devices(tree);
  nlohmann::json devices = nlohmann::json::array();
  std::string text = host_text(host) + list_header();
  auto resources = read_all_resources(tree, all);
  for (auto& bdf : all) {
    DeviceInfo d = read_device(tree, bdf, resources);
    d.rmrrs = rmrrs_for(host, bdf);
    Assessment a = assess(host, d);
    if (o.json) {
      devices.push_back(device_json(d, a, names));
    } else {
      text += list_line(host, d, a, names);
    }
  }
  if (o.json) {
    out << nlohmann::json{{"host", host_json(host)}, {"devices", devices}}.dump(2) << "\n";
  } else {
    if (all.empty()) text += "(no PCI devices under " + tree.full(kPciDevices) + ")\n";
    out << text;
  }
  return kExitOk;
}

int cmd_check(const Options& o, SysfsTree& tree, std::ostream& out) {
  PciNames names(o.pci_ids);
  HostInfo host = read_host(tree);
  DeviceInfo d = read_device(tree, o.bdf, read_all_resources(tree, list_devices(tree)));
  d.rmrrs = rmrrs_for(host, o.bdf);
  Assessment a = assess(host, d);
  if (o.json) {
    out << nlohmann::json{{"host", host_json(host)}, {"device", device_json(d, a, names)}}.dump(2)
        << "\n";
  } else {
    out << host_text(host) << check_text(d, a, names);
  }
  return a.ready() ? kExitOk : kExitNotAssignable;
}

int cmd_bind(const Options& o, SysfsTree& tree, std::ostream& out, std::ostream& err) {
  Binder binder(tree, o.state_dir);
  BindResult r = o.command == "bind"
                     ? binder.bind(o.bdf, o.to == "vfio" ? BindTarget::kVfio : BindTarget::kPciback,
                                   o.with_group)
                     : binder.unbind(o.bdf);
  if (o.json) {
    out << bind_json(r, o.command).dump(2) << "\n";
  } else {
    out << bind_text(r);
  }
  if (!r.ok) {
    err << "hvmd-pci: " << o.command << " " << o.bdf << ": " << r.error << "\n";
    return kExitFailed;
  }
  return kExitOk;
}

}  // namespace

std::string help_text() {
  return R"(usage: hvmd-pci [options] COMMAND
Says whether PCI devices can be passed through to a guest (VFIO for hvmd's kvm runner, pciback
for Xen), why not, and what to do next; binds them to vfio-pci or pciback and back.

commands:
  list                     every device: IDs and names, driver, IOMMU group, VFIO/Xen state
  check BDF                one device in detail: group members and their drivers, reset
                           methods, BARs with sizes, interrupts (INTx, MSI, MSI-X), ROM,
                           capabilities, what blocks each path and the next steps
  bind BDF --to vfio|pciback [--with-group]
                           move the device to vfio-pci or xen-pciback (driver_override), with
                           its IOMMU-group companions when --with-group is given; the driver it
                           had is saved under --state-dir
  unbind BDF               give the device (and the companions bound with it) back to the
                           driver saved by bind
BDF is DDDD:BB:DD.F or BB:DD.F (hex).

options:
  --json                   machine-readable output
  --sysfs-root DIR         read DIR/sys and DIR/proc instead of /sys and /proc, and write there
                           (fake trees for tests; default /)
  --state-dir DIR          where bind saves original drivers (default /run/hvmd-pci)
  --pci-ids FILE           the PCI ID database to name devices with (default: libpci's)
  -h, --help               this text

exit status: 0 ok (check: assignable now), 1 usage error, 2 check: not assignable now,
             3 bind/unbind failed
)";
}

int run_cli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
            SysfsTree::WriteHook hook) {
  Options o;
  if (std::string e = parse(args, o); !e.empty()) {
    err << "hvmd-pci: " << e << "\n";
    return kExitUsage;
  }
  if (o.help) {
    out << help_text();
    return kExitOk;
  }
  SysfsTree tree(o.root);
  if (!tree.is_dir("")) {
    err << "hvmd-pci: --sysfs-root '" << shown(o.root) << "' is not a folder\n";
    return kExitUsage;
  }
  if (hook) tree.set_write_hook(std::move(hook));
  if (!o.bdf.empty() && !device_exists(tree, o.bdf)) {
    err << "hvmd-pci: no PCI device " << o.bdf << " (nothing at " << tree.full(device_path(o.bdf))
        << ")\n";
    return kExitUsage;
  }
  if (o.command == "list") return cmd_list(o, tree, out);
  if (o.command == "check") return cmd_check(o, tree, out);
  return cmd_bind(o, tree, out, err);
}

}  // namespace hvmd::pcicli
