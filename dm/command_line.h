// hvmd's command line: the subset of QEMU's options that libxl passes for qemu-xen and that
// QEMU-style test programs use. Everything else, and every bad value, is an error naming it.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "dm/backends/chardev.h"
#include "dm/machine.h"
#include "dm/sub_options.h"
#include "dm/vnc/vnc_options.h"

namespace hvmd {

enum class Accel { kQtest, kKvm, kXen };

// One -accel (or -machine accel=, where "kvm:tcg" names several) in the order given: QEMU takes
// the first that works. "tcg" is accepted as a name hvmd does not have, so that "kvm:tcg"
// fails with a clear message only when kvm cannot be used.
struct AccelChoice {
  std::optional<Accel> accel;  // nullopt: tcg
  std::string name;
};

struct MonitorSpec {
  std::string chardev;
};

struct Config {
  MachineOptions machine;
  std::optional<Accel> accel;  // chosen: resolve_accel() picks from accel_choices
  std::vector<AccelChoice> accel_choices;
  std::vector<ChardevSpec> chardevs;
  std::vector<MonitorSpec> monitors;  // QMP monitors, each on a chardev
  std::vector<std::string> serials;   // chardev ids for COM1.. in order
  std::vector<SubOptions> devices;    // -device, in order
  std::vector<SubOptions> drives;     // -drive
  std::vector<SubOptions> blockdevs;  // -blockdev, in order (a node may name an earlier one)
  std::vector<SubOptions> netdevs;    // -netdev
  std::string vnc = "none";
  vnc::VncOptions vnc_options;  // -vnc, parsed
  bool nodefaults = false;
  bool start_paused = false;  // -S
  bool no_shutdown = false;   // guest power-off pauses rather than exits
  bool no_reboot = false;     // guest reset exits rather than resets
  bool sandbox = true;        // seccomp allowlist and rlimits once set up (-sandbox off: debugging)
  bool daemonize = false;
  std::optional<ChardevSpec> qtest;  // -qtest
  std::string qtest_log;
  std::string log_file;  // -D
  std::string pidfile;
  // Xen (libxl's qemu-xen command line).
  std::optional<uint32_t> xen_domid;
  bool xen_domid_restrict = false;
  std::string bios = "/usr/share/seabios/bios-256k.bin";  // -bios, for the kvm runner
  struct FwCfgFile {
    std::string name;
    std::optional<std::string> path;  // file=
    std::optional<std::string> text;  // string=
  };
  std::vector<FwCfgFile> fw_cfg_files;   // -fw_cfg
  std::vector<std::string> option_roms;  // -option-rom
  std::string keymap = "en-us";          // -k (for the VNC server)
  std::string chroot_dir;                // -chroot / -run-with chroot=
  std::string run_as;                    // -runas / -run-with user=
  std::optional<int> incoming_fd;        // -incoming fd:N: device state to restore
  bool usb = false;                      // -usb / -usbdevice
  std::vector<std::string> usb_devices;
  // Direct kernel boot: a bzImage, initrd files joined end to end, the kernel's command line.
  std::string kernel;                // -kernel
  std::vector<std::string> initrds;  // -initrd A,B (",," is a comma in a name)
  std::string append;                // -append

  // -boot's firmware settings (the order itself is in machine: the CMOS carries it).
  bool boot_menu = false;                // menu=on: fw_cfg BOOT_MENU
  std::optional<uint16_t> splash_time;   // splash-time= ms: fw_cfg etc/boot-menu-wait
  uint32_t boot_fail_wait = UINT32_MAX;  // reboot-timeout= ms (-1: never): etc/boot-fail-wait
  bool boot_strict = false;              // strict=on: "HALT" ends the bootorder list
  bool nographic = false;                // -nographic or -machine graphics=off
  std::string cpu_model;                 // -cpu: the kvm runner's CPUID (ioreq/kvm/cpu_model.h)
  bool preconfig = false;                // --preconfig: wait for QMP x-exit-preconfig

  bool show_help = false;
  bool show_version = false;

  const ChardevSpec* find_chardev(const std::string& id) const;
};

Result<Config> parse_command_line(int argc, const char* const* argv);
// The first of accel_choices that can run here: kvm needs a usable /dev/kvm (kvm_usable says),
// tcg never can. With -qtest, qtest is taken wherever it is listed: only that transport serves
// the qtest protocol. Sets config.accel, or says why nothing can run.
Result<void> resolve_accel(Config& config, const std::function<Result<void>()>& kvm_usable);
std::string command_line_help();
// Every option the parser takes (without the dash), and whether it takes a value.
std::vector<std::pair<std::string, bool>> command_line_options();

}  // namespace hvmd
