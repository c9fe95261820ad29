#include "dm/command_line.h"

#include <boost/program_options.hpp>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <ctime>

#include "dm/guest_memory.h"
#include "dm/vnc/keymap.h"

namespace hvmd {
namespace po = boost::program_options;
namespace {

constexpr uint64_t kMinRam = 2ull << 20;
constexpr uint64_t kMaxRam = 1ull << 40;
constexpr uint64_t kMaxCpus = 128;  // HVM guests: one ioreq slot per vCPU in a 4 KiB page

struct OptionInfo {
  const char* name;
  const char* arg;  // nullptr: a flag
  const char* help;
};

constexpr OptionInfo kOptions[] = {
    {"machine", "TYPE[,accel=A][,graphics=off]", "board: pc, xenfv or none (alias -M)"},
    {"M", "TYPE", "same as -machine"},
    {"accel", "qtest|kvm|xen[:...]", "where guest accesses come from (the first usable one)"},
    {"cpu", "MODEL[,FEATURES]", "CPU model (kvm: its identity and flags; default: host)"},
    {"m", "SIZE", "guest RAM (MiB, or with a K/M/G suffix; size=SIZE form too)"},
    {"smp", "N[,maxcpus=M]", "number of vCPUs"},
    {"name", "NAME", "guest name"},
    {"uuid", "UUID", "guest UUID"},
    {"chardev", "BACKEND,id=ID,...", "character device: socket, pty, stdio, file, null"},
    {"mon", "chardev=ID,mode=control", "QMP monitor on a chardev"},
    {"qmp", "DEV", "QMP monitor on unix:PATH[,server=on,wait=off], stdio, ..."},
    {"serial", "DEV", "serial port backend: pty, stdio, null, file:PATH, chardev:ID, none"},
    {"debugcon", "DEV", "debug console on port 0xe9 to DEV (as -serial)"},
    {"display", "none", "display type (only none)"},
    {"nographic", nullptr, "no display (fw_cfg tells the firmware so)"},
    {"vga", "std|cirrus|none", "display card: -device VGA or -device cirrus-vga"},
    {"vnc", "none|[HOST]:DISPLAY[,to=N][,password=on]|unix:PATH", "VNC server for the display"},
    {"nodefaults", nullptr, "no default devices"},
    {"no-user-config", nullptr, "accepted for compatibility (hvmd reads no config files)"},
    {"S", nullptr, "do not start the guest until 'cont' (QMP)"},
    {"no-shutdown", nullptr, "stop, rather than exit, when the guest powers off"},
    {"no-reboot", nullptr, "exit, rather than reset, when the guest reboots"},
    {"device", "DRIVER[,PROP=VALUE...]", "add a device (-device help lists them)"},
    {"drive", "file=PATH,...", "block device backend"},
    {"blockdev", "driver=raw|file|null-co,node-name=NAME,...", "block node (drive=NAME)"},
    {"cdrom", "FILE", "an IDE CD-ROM with FILE (-drive file=FILE,index=2,media=cdrom)"},
    {"global", "DRIVER.PROP=VALUE", "PROP's default for every DRIVER device"},
    {"rtc", "base=utc|localtime|DATE[,clock=host|rt|vm][,driftfix=none|slew]",
     "the RTC's start time"},
    {"netdev", "TYPE,id=ID,...", "network backend"},
    {"qtest", "DEV", "serve the qtest protocol on DEV (unix:PATH, stdio)"},
    {"qtest-log", "FILE", "log the qtest exchange to FILE"},
    {"D", "FILE", "write hvmd's log to FILE"},
    {"pidfile", "FILE", "write the process id to FILE"},
    {"daemonize", nullptr, "detach once ready"},
    {"xen-domid", "DOMID", "serve Xen domain DOMID (implies -accel xen)"},
    {"xen-domid-restrict", nullptr, "restrict Xen handles to the domain (hvmd always does)"},
    {"boot",
     "[order=]DRIVES[,once=DRIVES][,menu=on|off][,splash-time=MS][,reboot-timeout=MS]"
     "[,strict=on|off]",
     "boot order (a, c, d, n; default cad) and firmware boot settings"},
    {"no-fd-bootchk", nullptr, "the BIOS boots a floppy without checking its signature"},
    {"preconfig", nullptr, "wait for QMP x-exit-preconfig before starting"},
    {"k", "LAYOUT", "keyboard layout of the VNC server"},
    {"usb", nullptr, "a USB controller"},
    {"usbdevice", "tablet|mouse|keyboard", "a USB input device"},
    {"net", "nic,model=e1000,macaddr=MAC[,netdev=ID]|none", "a network card (or none)"},
    {"nic", "tap,id=ID,ifname=NAME,model=e1000[,mac=MAC]|none", "a tap backend and its card"},
    {"runas", "USER", "drop to USER's uid and gid once set up"},
    {"chroot", "DIR", "chroot to DIR once set up"},
    {"run-with", "chroot=DIR,user=USER", "the same two, QEMU 9 style"},
    {"incoming", "fd:N", "restore device state read from file descriptor N"},
    {"sandbox", "on|off", "system-call allowlist and resource limits (default on)"},
    {"bios", "FILE", "firmware image (kvm; default Debian's SeaBIOS, bios-256k.bin)"},
    {"option-rom", "FILE", "an option ROM the firmware runs (fw_cfg genroms/; kvm, qtest)"},
    {"fw_cfg", "name=NAME,file=FILE|string=TEXT", "a file for the firmware (kvm, qtest)"},
    {"kernel", "BZIMAGE", "boot this Linux kernel (direct kernel boot through fw_cfg)"},
    {"initrd", "FILE[,FILE...]", "initial ramdisk(s) for -kernel, joined end to end"},
    {"append", "CMDLINE", "the command line for -kernel"},
    {"help", nullptr, "this list (also -h)"},
    {"version", nullptr, "print the version"},
};

Result<uint64_t> parse_ram(const std::string& text) {
  auto options = SubOptions::parse(text, "size");
  if (!options) return make_error("-m %s: %s", text.c_str(), options.error().message.c_str());
  OptionReader r(*options, "-m " + text);
  auto size = r.size("size", 1ull << 20);
  if (!size) return size.error();
  r.ignore("slots");
  r.ignore("maxmem");
  HVMD_TRY(r.finish());
  if (!*size) return make_error("-m %s: missing size", text.c_str());
  uint64_t bytes = (**size + 4095) & ~4095ull;
  if (bytes < kMinRam || bytes > kMaxRam)
    return make_error("-m %s: guest RAM must be between 2 MiB and 1 TiB", text.c_str());
  return bytes;
}

Result<void> parse_smp(const std::string& text, MachineOptions& machine) {
  auto options = SubOptions::parse(text, "cpus");
  if (!options) return make_error("-smp %s: %s", text.c_str(), options.error().message.c_str());
  OptionReader r(*options, "-smp " + text);
  auto cpus = r.number("cpus", kMaxCpus);
  if (!cpus) return cpus.error();
  auto max = r.number("maxcpus", kMaxCpus);
  if (!max) return max.error();
  for (const char* key : {"sockets", "dies", "cores", "threads"}) {
    auto v = r.number(key, kMaxCpus);
    if (!v) return v.error();
  }
  HVMD_TRY(r.finish());
  unsigned n = static_cast<unsigned>(cpus->value_or(max->value_or(1)));
  if (n == 0) return make_error("-smp %s: at least one vCPU is needed", text.c_str());
  if (*max && **max < n) return make_error("-smp %s: maxcpus is below cpus", text.c_str());
  machine.cpus = n;
  return ok();
}

bool valid_uuid(const std::string& s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !isxdigit(static_cast<unsigned char>(s[i]))) return false;
  }
  return true;
}

// -accel NAME[:NAME...] (QEMU's fallback list; several -accel options append to it too).
Result<void> parse_accel(const std::string& text, std::vector<AccelChoice>& choices) {
  auto options = SubOptions::parse(text, "accel");
  if (!options) return make_error("-accel %s: %s", text.c_str(), options.error().message.c_str());
  OptionReader r(*options, "-accel " + text);
  std::string names = r.string("accel").value_or("");
  r.ignore("thread");  // tcg's; harmless for the others
  HVMD_TRY(r.finish());
  size_t start = 0;
  for (unsigned count = 0; count < 8; ++count) {  // bounded: QEMU has no longer lists either
    size_t colon = names.find(':', start);
    std::string name = names.substr(start, colon == std::string::npos ? colon : colon - start);
    if (name == "qtest")
      choices.push_back({Accel::kQtest, name});
    else if (name == "kvm")
      choices.push_back({Accel::kKvm, name});
    else if (name == "xen")
      choices.push_back({Accel::kXen, name});
    else if (name == "tcg")
      choices.push_back({std::nullopt, name});
    else
      return make_error("-accel %s: accelerator '%s' is not supported (qtest, kvm, xen)",
                        text.c_str(), name.c_str());
    if (colon == std::string::npos) return ok();
    start = colon + 1;
  }
  return make_error("-accel %s: too many accelerators", text.c_str());
}

Result<void> parse_machine(const std::string& text, Config& config) {
  auto options = SubOptions::parse(text, "type");
  if (!options) return make_error("-machine %s: %s", text.c_str(), options.error().message.c_str());
  OptionReader r(*options, "-machine " + text);
  if (auto type = r.string("type")) {
    if (*type == "pc" || type->starts_with("pc-i440fx"))
      config.machine.type = "pc";
    else if (*type == "none")
      config.machine.type = "none";
    else if (*type == "xenfv" || type->starts_with("xenfv-"))
      config.machine.type = "xenfv";
    else
      return make_error("-machine %s: machine type '%s' is not supported (pc, xenfv, none)",
                        text.c_str(), type->c_str());
  }
  if (auto accel = r.string("accel")) HVMD_TRY(parse_accel(*accel, config.accel_choices));
  auto graphics = r.boolean("graphics");
  if (!graphics) return graphics.error();
  if (*graphics && !**graphics) config.nographic = true;
  r.ignore("suppress-vmdesc");  // a migration-stream detail of QEMU's; hvmd has no vmdesc
  auto below_4g = r.size("max-ram-below-4g", 1);
  if (!below_4g) return below_4g.error();
  if (*below_4g && (**below_4g > RamLayout::kMaxBelow4g || **below_4g < (1ull << 20)))
    return make_error("-machine %s: max-ram-below-4g must be between 1 MiB and 3.5 GiB",
                      text.c_str());
  if (*below_4g) config.machine.max_ram_below_4g = **below_4g;
  HVMD_TRY(r.finish());
  return ok();
}

// -boot's drive letters as a pc BIOS takes them: a (floppy), c (disk), d (CD-ROM), n (network),
// each at most once, at most three (the CMOS has three slots).
Result<void> check_boot_drives(const std::string& option, const std::string& drives) {
  for (size_t i = 0; i < drives.size(); ++i) {
    if (std::string("acdn").find(drives[i]) == std::string::npos)
      return make_error("-boot %s: invalid boot device for PC: '%c' (a, c, d, n)", option.c_str(),
                        drives[i]);
    if (drives.find(drives[i]) != i)
      return make_error("-boot %s: boot device '%c' was given twice", option.c_str(), drives[i]);
  }
  if (drives.size() > 3)
    return make_error("-boot %s: too many boot devices for PC (at most three)", option.c_str());
  return ok();
}

Result<void> parse_boot(const std::string& text, Config& config) {
  auto options = SubOptions::parse(text, "order");
  if (!options) return make_error("-boot %s: %s", text.c_str(), options.error().message.c_str());
  OptionReader r(*options, "-boot " + text);
  auto order = r.string("order");
  auto once = r.string("once");
  auto menu = r.boolean("menu");
  auto strict = r.boolean("strict");
  if (!menu) return menu.error();
  if (!strict) return strict.error();
  // splash= names a picture for the firmware's boot menu: hvmd does not pass pictures.
  if (r.string("splash"))
    return make_error("-boot %s: splash= (a boot-menu picture) is not supported", text.c_str());
  std::optional<std::string> splash_time = r.string("splash-time");
  std::optional<std::string> reboot_timeout = r.string("reboot-timeout");
  HVMD_TRY(r.finish());
  if (order) {
    HVMD_TRY(check_boot_drives(text, *order));
    config.machine.boot_order = *order;
  }
  if (once) {
    if (once->empty()) return make_error("-boot %s: once= needs boot devices", text.c_str());
    HVMD_TRY(check_boot_drives(text, *once));
    config.machine.boot_once = *once;
  }
  if (*menu) config.boot_menu = **menu;
  if (*strict) config.boot_strict = **strict;
  if (splash_time) {
    auto ms = parse_number(*splash_time, UINT16_MAX);
    if (!ms)
      return make_error("-boot %s: splash-time must be between 0 and 65535 ms", text.c_str());
    config.splash_time = static_cast<uint16_t>(*ms);
  }
  if (reboot_timeout) {
    // -1: the firmware never reboots after a failed boot (QEMU's default, sent as all-ones).
    auto ms = *reboot_timeout == "-1" ? Result<uint64_t>(UINT32_MAX)
                                      : parse_number(*reboot_timeout, UINT16_MAX);
    if (!ms)
      return make_error("-boot %s: reboot-timeout must be between -1 and 65535 ms", text.c_str());
    config.boot_fail_wait = static_cast<uint32_t>(*ms);
  }
  return ok();
}

// -rtc base=utc|localtime|YYYY-MM-DD[THH:MM:SS]: what the RTC shows at start, as Unix seconds
// (the RTC keeps no time zone; localtime is the host's offset added once, as QEMU does).
Result<void> parse_rtc(const std::string& text, Config& config) {
  auto options = SubOptions::parse(text);
  if (!options) return make_error("-rtc %s: %s", text.c_str(), options.error().message.c_str());
  OptionReader r(*options, "-rtc " + text);
  std::string base = r.string("base").value_or("utc");
  std::string clock = r.string("clock").value_or("host");
  std::string driftfix = r.string("driftfix").value_or("none");
  HVMD_TRY(r.finish());
  // The RTC runs on the machine's clock whichever is named: the host's time under kvm, the
  // virtual clock under qtest (which is what a test's clock=vm asks for).
  if (clock != "host" && clock != "rt" && clock != "vm")
    return make_error("-rtc %s: clock=%s: expected host, rt or vm", text.c_str(), clock.c_str());
  // slew re-injects lost periodic ticks in QEMU; hvmd's periodic timer loses none.
  if (driftfix != "none" && driftfix != "slew")
    return make_error("-rtc %s: driftfix=%s: expected none or slew", text.c_str(),
                      driftfix.c_str());
  if (base == "utc") {
    config.machine.rtc_start.reset();
    return ok();
  }
  time_t now = time(nullptr);
  if (base == "localtime") {
    std::tm local{};
    localtime_r(&now, &local);
    config.machine.rtc_start = static_cast<int64_t>(now) + local.tm_gmtoff;
    return ok();
  }
  std::tm date{};
  char tail = 0;
  int fields = sscanf(base.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%c", &date.tm_year, &date.tm_mon,
                      &date.tm_mday, &date.tm_hour, &date.tm_min, &date.tm_sec, &tail);
  bool date_only = fields == 3 && base.size() == 10;
  if ((fields != 6 && !date_only) || date.tm_year < 1900 || date.tm_mon < 1 || date.tm_mon > 12 ||
      date.tm_mday < 1 || date.tm_mday > 31 || date.tm_hour > 23 || date.tm_min > 59 ||
      date.tm_sec > 59 || date.tm_hour < 0 || date.tm_min < 0 || date.tm_sec < 0)
    return make_error(
        "-rtc %s: base=%s: expected utc, localtime or a date as 2006-06-17T16:01:21 or "
        "2006-06-17",
        text.c_str(), base.c_str());
  date.tm_year -= 1900;
  date.tm_mon -= 1;
  config.machine.rtc_start = static_cast<int64_t>(timegm(&date));
  return ok();
}

// -cpu MODEL[,+feature,-feature,feature=on...]: the model must be one QEMU's x86 target knows
// (its versioned and security variants too); the features are not checked.
Result<void> parse_cpu(const std::string& text, Config& config) {
  static constexpr const char* kModels[] = {"486",
                                            "Broadwell",
                                            "Cascadelake-Server",
                                            "Conroe",
                                            "Cooperlake",
                                            "Denverton",
                                            "Dhyana",
                                            "EPYC",
                                            "EPYC-Milan",
                                            "EPYC-Rome",
                                            "Haswell",
                                            "Icelake-Server",
                                            "IvyBridge",
                                            "KnightsMill",
                                            "Nehalem",
                                            "Opteron_G1",
                                            "Opteron_G2",
                                            "Opteron_G3",
                                            "Opteron_G4",
                                            "Opteron_G5",
                                            "Penryn",
                                            "SandyBridge",
                                            "Skylake-Client",
                                            "Skylake-Server",
                                            "Snowridge",
                                            "Westmere",
                                            "athlon",
                                            "core2duo",
                                            "coreduo",
                                            "kvm32",
                                            "kvm64",
                                            "n270",
                                            "pentium",
                                            "pentium2",
                                            "pentium3",
                                            "phenom",
                                            "qemu32",
                                            "qemu64",
                                            "base",
                                            "host",
                                            "max"};
  std::string model = text.substr(0, text.find(','));
  // Strip "-vN", then the variant suffixes QEMU's model list uses.
  std::string base = model;
  if (size_t v = base.rfind("-v"); v != std::string::npos && v + 2 < base.size() &&
                                   base.find_first_not_of("0123456789", v + 2) == std::string::npos)
    base.resize(v);
  for (const char* suffix : {"-noTSX-IBRS", "-IBRS", "-noTSX", "-IBPB"})
    if (base.ends_with(suffix)) {
      base.resize(base.size() - strlen(suffix));
      break;
    }
  for (const char* known : kModels)
    if (base == known) {
      config.cpu_model = model;
      return ok();
    }
  return make_error("-cpu %s: unable to find CPU model '%s'", text.c_str(), model.c_str());
}

// -global DRIVER.PROP=VALUE, or driver=DRIVER,property=PROP,value=VALUE.
Result<void> parse_global(const std::string& text, Config& config) {
  auto options = SubOptions::parse(text);
  if (!options) return make_error("-global %s: %s", text.c_str(), options.error().message.c_str());
  GlobalProperty global;
  if (options->has("driver")) {
    OptionReader r(*options, "-global " + text);
    global.driver = r.string("driver").value_or("");
    global.property = r.string("property").value_or("");
    global.value = r.string("value").value_or("");
    HVMD_TRY(r.finish());
  } else {
    const auto& items = options->items();
    std::string key = items.empty() ? "" : items.front().first;
    size_t dot = key.find('.');
    // A bare word parses as word=on: QEMU calls it an invalid parameter, as any key without a
    // driver and a property.
    if (items.size() != 1 || dot == std::string::npos || dot == 0 || dot + 1 == key.size() ||
        text.find('=') == std::string::npos)
      return make_error("-global %s: Invalid parameter '%s' (expected DRIVER.PROP=VALUE)",
                        text.c_str(), key.c_str());
    global.driver = key.substr(0, dot);
    global.property = key.substr(dot + 1);
    global.value = items.front().second;
  }
  if (global.driver.empty() || global.property.empty())
    return make_error("-global %s: expected DRIVER.PROP=VALUE", text.c_str());
  config.machine.globals.push_back(std::move(global));
  return ok();
}

Result<std::string> add_short_chardev(Config& config, const std::string& text,
                                      const std::string& id) {
  if (text.starts_with("chardev:")) {
    std::string ref = text.substr(8);
    if (!config.find_chardev(ref)) return make_error("chardev '%s' not found", ref.c_str());
    return ref;
  }
  auto spec = ChardevSpec::from_short(text, id);
  if (!spec) return spec.error();
  config.chardevs.push_back(*spec);
  return id;
}

// The last occurrence of a single-valued option wins, as in QEMU.
template <typename Fn>
Result<void> each(const po::variables_map& vm, const char* name, Fn&& fn) {
  if (!vm.count(name)) return ok();
  for (const auto& value : vm[name].as<std::vector<std::string>>()) HVMD_TRY(fn(value));
  return ok();
}

}  // namespace

const ChardevSpec* Config::find_chardev(const std::string& id) const {
  for (const auto& c : chardevs)
    if (c.id == id) return &c;
  return nullptr;
}

std::string command_line_help() {
  std::string out = "usage: hvmd [options]\n\n";
  for (const auto& o : kOptions) {
    std::string left = std::string("  -") + o.name + (o.arg ? std::string(" ") + o.arg : "");
    if (left.size() < 36) left.resize(36, ' ');
    out += left + " " + o.help + "\n";
  }
  return out;
}

std::vector<std::pair<std::string, bool>> command_line_options() {
  std::vector<std::pair<std::string, bool>> out;
  for (const auto& o : kOptions) out.emplace_back(o.name, o.arg != nullptr);
  return out;
}

namespace {

Result<Config> parse_options(int argc, const char* const* argv) {
  po::options_description desc;
  for (const auto& o : kOptions) {
    if (o.arg)
      desc.add_options()(o.name, po::value<std::vector<std::string>>()->composing());
    else
      desc.add_options()(o.name, po::bool_switch());
  }
  desc.add_options()("h", po::bool_switch());
  po::variables_map vm;
  try {
    auto style = po::command_line_style::allow_long | po::command_line_style::allow_long_disguise |
                 po::command_line_style::long_allow_next |
                 po::command_line_style::long_allow_adjacent;
    auto parsed = po::command_line_parser(argc, argv).options(desc).style(style).run();
    // Boost returns words it cannot match as positional tokens (an unknown "-foo" included) and
    // store() drops them silently; hvmd takes no positional arguments, so each is an error.
    for (const auto& option : parsed.options) {
      if (option.position_key < 0 || option.original_tokens.empty()) continue;
      const std::string& word = option.original_tokens.front();
      if (word.starts_with("-")) return make_error("unknown option '%s'", word.c_str());
      return make_error("unexpected argument '%s'", word.c_str());
    }
    po::store(parsed, vm);
  } catch (const po::error_with_option_name& e) {
    std::string name = e.get_option_name();
    while (name.starts_with("--")) name.erase(0, 1);
    if (dynamic_cast<const po::unknown_option*>(&e))
      return make_error("unknown option '%s'", name.c_str());
    if (dynamic_cast<const po::invalid_command_line_syntax*>(&e))
      return make_error("option '%s' needs a value", name.c_str());
    // Boost's own text lists every alternative and builds it in time quadratic in their number
    // (found by the cmdline fuzz target): name the option instead.
    if (dynamic_cast<const po::ambiguous_option*>(&e))
      return make_error("ambiguous option '%s'", name.c_str());
    return make_error("option '%s': %s", name.c_str(), e.what());
  } catch (const po::error& e) {
    return make_error("%s", e.what());
  }

  Config config;
  config.show_help = vm["help"].as<bool>() || vm["h"].as<bool>();
  config.show_version = vm["version"].as<bool>();
  config.nodefaults = vm["nodefaults"].as<bool>();
  config.start_paused = vm["S"].as<bool>();
  config.no_shutdown = vm["no-shutdown"].as<bool>();
  config.no_reboot = vm["no-reboot"].as<bool>();
  config.daemonize = vm["daemonize"].as<bool>();

  HVMD_TRY(each(vm, "M", [&](const std::string& v) { return parse_machine(v, config); }));
  HVMD_TRY(each(vm, "machine", [&](const std::string& v) { return parse_machine(v, config); }));
  HVMD_TRY(each(vm, "accel",
                [&](const std::string& v) { return parse_accel(v, config.accel_choices); }));
  config.nographic = config.nographic || vm["nographic"].as<bool>();
  config.machine.fd_bootchk = !vm["no-fd-bootchk"].as<bool>();
  config.preconfig = vm["preconfig"].as<bool>();
  HVMD_TRY(each(vm, "cpu", [&](const std::string& v) { return parse_cpu(v, config); }));
  HVMD_TRY(each(vm, "rtc", [&](const std::string& v) { return parse_rtc(v, config); }));
  HVMD_TRY(each(vm, "global", [&](const std::string& v) { return parse_global(v, config); }));
  HVMD_TRY(each(vm, "m", [&](const std::string& v) -> Result<void> {
    auto ram = parse_ram(v);
    if (!ram) return ram.error();
    config.machine.ram_bytes = *ram;
    return ok();
  }));
  HVMD_TRY(each(vm, "smp", [&](const std::string& v) { return parse_smp(v, config.machine); }));
  HVMD_TRY(each(vm, "name", [&](const std::string& v) -> Result<void> {
    auto options = SubOptions::parse(v, "guest");
    if (!options) return make_error("-name %s: %s", v.c_str(), options.error().message.c_str());
    OptionReader r(*options, "-name " + v);
    config.machine.name = r.string("guest").value_or("");
    r.ignore("debug-threads");
    r.ignore("process");
    return r.finish();
  }));
  HVMD_TRY(each(vm, "uuid", [&](const std::string& v) -> Result<void> {
    if (!valid_uuid(v))
      return make_error("-uuid %s: not a UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)", v.c_str());
    config.machine.uuid = v;
    return ok();
  }));
  HVMD_TRY(each(vm, "chardev", [&](const std::string& v) -> Result<void> {
    auto options = SubOptions::parse(v, "backend");
    if (!options) return make_error("-chardev %s: %s", v.c_str(), options.error().message.c_str());
    auto spec = ChardevSpec::from_options(*options);
    if (!spec) return spec.error();
    if (config.find_chardev(spec->id))
      return make_error("-chardev %s: duplicate id '%s'", v.c_str(), spec->id.c_str());
    config.chardevs.push_back(*spec);
    return ok();
  }));
  HVMD_TRY(each(vm, "mon", [&](const std::string& v) -> Result<void> {
    auto options = SubOptions::parse(v, "chardev");
    if (!options) return make_error("-mon %s: %s", v.c_str(), options.error().message.c_str());
    OptionReader r(*options, "-mon " + v);
    auto chardev = r.string("chardev");
    auto mode = r.string("mode").value_or("readline");
    r.ignore("pretty");
    HVMD_TRY(r.finish());
    if (mode != "control")
      return make_error("-mon %s: mode '%s' is not supported (only mode=control, QMP)", v.c_str(),
                        mode.c_str());
    if (!chardev || !config.find_chardev(*chardev))
      return make_error("-mon %s: chardev '%s' not found", v.c_str(), chardev.value_or("").c_str());
    config.monitors.push_back({*chardev});
    return ok();
  }));
  HVMD_TRY(each(vm, "qmp", [&](const std::string& v) -> Result<void> {
    auto id =
        add_short_chardev(config, v, "compat_monitor" + std::to_string(config.monitors.size()));
    if (!id) return make_error("-qmp %s: %s", v.c_str(), id.error().message.c_str());
    config.monitors.push_back({*id});
    return ok();
  }));
  HVMD_TRY(each(vm, "debugcon", [&](const std::string& v) -> Result<void> {
    auto id = add_short_chardev(config, v, "debugcon" + std::to_string(config.devices.size()));
    if (!id) return make_error("-debugcon %s: %s", v.c_str(), id.error().message.c_str());
    auto device = SubOptions::parse("isa-debugcon,chardev=" + *id, "driver");
    if (!device) return device.error();
    config.devices.push_back(std::move(*device));
    return ok();
  }));
  HVMD_TRY(each(vm, "serial", [&](const std::string& v) -> Result<void> {
    if (v == "none") return ok();
    auto id = add_short_chardev(config, v, "serial" + std::to_string(config.serials.size()));
    if (!id) return make_error("-serial %s: %s", v.c_str(), id.error().message.c_str());
    config.serials.push_back(*id);
    return ok();
  }));
  HVMD_TRY(each(vm, "display", [&](const std::string& v) -> Result<void> {
    if (v != "none")
      return make_error("-display %s: only '-display none' is supported (use -vnc)", v.c_str());
    return ok();
  }));
  HVMD_TRY(each(vm, "vnc", [&](const std::string& v) -> Result<void> {
    auto options = vnc::VncOptions::parse(v);
    if (!options) return options.error();
    config.vnc = v;
    config.vnc_options = std::move(*options);
    return ok();
  }));
  auto collect = [&](const char* option, const char* implied, std::vector<SubOptions>& out) {
    return each(vm, option, [&, option, implied](const std::string& v) -> Result<void> {
      auto options = SubOptions::parse(v, implied);
      if (!options)
        return make_error("-%s %s: %s", option, v.c_str(), options.error().message.c_str());
      out.push_back(std::move(*options));
      return ok();
    });
  };
  HVMD_TRY(collect("device", "driver", config.devices));
  // QEMU's shorthand for the display card.
  HVMD_TRY(each(vm, "vga", [&](const std::string& v) -> Result<void> {
    if (v == "none") return ok();
    if (v != "std" && v != "cirrus")
      return make_error("-vga %s: unknown card (std, cirrus or none)", v.c_str());
    auto options = SubOptions::parse(v == "std" ? "VGA" : "cirrus-vga", "driver");
    if (!options) return options.error();
    config.devices.push_back(std::move(*options));
    return ok();
  }));
  HVMD_TRY(collect("drive", "", config.drives));
  HVMD_TRY(collect("blockdev", "", config.blockdevs));
  for (const auto& drive : config.drives)
    if (drive.get("if") == "pflash")
      return make_error(
          "-drive %s: if=pflash: hvmd has no flash device; give the firmware with "
          "-bios FILE",
          drive.to_string().c_str());
  // -cdrom FILE: QEMU's shorthand for the secondary master CD-ROM.
  HVMD_TRY(each(vm, "cdrom", [&](const std::string& v) -> Result<void> {
    if (v.empty()) return make_error("-cdrom: a file name is required");
    SubOptions drive;
    drive.set("file", v);
    drive.set("index", "2");
    drive.set("media", "cdrom");
    config.drives.push_back(std::move(drive));
    return ok();
  }));
  HVMD_TRY(collect("netdev", "type", config.netdevs));
  HVMD_TRY(each(vm, "qtest", [&](const std::string& v) -> Result<void> {
    auto spec = ChardevSpec::from_short(v, "qtest");
    if (!spec) return make_error("-qtest %s: %s", v.c_str(), spec.error().message.c_str());
    config.qtest = *spec;
    return ok();
  }));
  HVMD_TRY(each(vm, "qtest-log", [&](const std::string& v) -> Result<void> {
    config.qtest_log = v;
    return ok();
  }));
  HVMD_TRY(each(vm, "D", [&](const std::string& v) -> Result<void> {
    config.log_file = v;
    return ok();
  }));
  HVMD_TRY(each(vm, "pidfile", [&](const std::string& v) -> Result<void> {
    config.pidfile = v;
    return ok();
  }));
  HVMD_TRY(each(vm, "xen-domid", [&](const std::string& v) -> Result<void> {
    auto domid = parse_number(v, 0x7fef);  // DOMID_FIRST_RESERVED - 1
    if (!domid || *domid == 0) return make_error("-xen-domid %s: not a guest domain id", v.c_str());
    config.xen_domid = static_cast<uint32_t>(*domid);
    return ok();
  }));
  config.xen_domid_restrict = vm["xen-domid-restrict"].as<bool>();
  HVMD_TRY(each(vm, "boot", [&](const std::string& v) { return parse_boot(v, config); }));
  HVMD_TRY(each(vm, "k", [&](const std::string& v) -> Result<void> {
    if (!vnc::find_keymap(v))
      return make_error("-k %s: unknown keyboard layout (known: %s)", v.c_str(),
                        vnc::keymap_names().c_str());
    config.keymap = v;
    return ok();
  }));
  config.usb = vm["usb"].as<bool>();
  HVMD_TRY(each(vm, "usbdevice", [&](const std::string& v) -> Result<void> {
    if (v != "tablet" && v != "mouse" && v != "keyboard")
      return make_error("-usbdevice %s: not supported (tablet, mouse, keyboard)", v.c_str());
    config.usb = true;
    config.usb_devices.push_back(v);
    return ok();
  }));
  // The older NIC forms libxl and scripts use, as the -netdev/-device pairs they stand for.
  auto nic_device = [](const SubOptions& options, const char* mac_key,
                       const std::string& what) -> Result<SubOptions> {
    std::string model = options.get("model").value_or("e1000");
    if (model != "e1000")
      return make_error("%s: model=%s is not emulated (e1000)", what.c_str(), model.c_str());
    SubOptions device;
    device.set("driver", "e1000");
    if (auto mac = options.get(mac_key)) device.set("mac", *mac);
    return device;
  };
  HVMD_TRY(each(vm, "net", [&](const std::string& v) -> Result<void> {
    if (v == "none") return ok();
    auto options = SubOptions::parse(v, "type");
    if (!options || options->get("type") != "nic")
      return make_error("-net %s: only 'nic,model=e1000,...' and 'none' are supported", v.c_str());
    for (const auto& [key, value] : options->items())
      if (key != "type" && key != "model" && key != "macaddr" && key != "netdev" && key != "id")
        return make_error("-net %s: unknown key '%s'", v.c_str(), key.c_str());
    auto device = nic_device(*options, "macaddr", "-net " + v);
    if (!device) return device.error();
    if (auto netdev = options->get("netdev")) device->set("netdev", *netdev);
    if (auto id = options->get("id")) device->set("id", *id);
    config.devices.push_back(std::move(*device));
    return ok();
  }));
  HVMD_TRY(each(vm, "nic", [&](const std::string& v) -> Result<void> {
    if (v == "none") return ok();
    auto options = SubOptions::parse(v, "type");
    if (!options) return make_error("-nic %s: %s", v.c_str(), options.error().message.c_str());
    auto device = nic_device(*options, "mac", "-nic " + v);
    if (!device) return device.error();
    std::string id = options->get("id").value_or("nic" + std::to_string(config.netdevs.size()));
    SubOptions netdev;
    for (const auto& [key, value] : options->items())
      if (key != "model" && key != "mac") netdev.set(key, value);
    netdev.set("id", id);
    device->set("netdev", id);
    config.netdevs.push_back(std::move(netdev));
    config.devices.push_back(std::move(*device));
    return ok();
  }));
  HVMD_TRY(each(vm, "runas", [&](const std::string& v) -> Result<void> {
    config.run_as = v;
    return ok();
  }));
  HVMD_TRY(each(vm, "chroot", [&](const std::string& v) -> Result<void> {
    config.chroot_dir = v;
    return ok();
  }));
  HVMD_TRY(each(vm, "run-with", [&](const std::string& v) -> Result<void> {
    auto options = SubOptions::parse(v);
    if (!options) return make_error("-run-with %s: %s", v.c_str(), options.error().message.c_str());
    OptionReader r(*options, "-run-with " + v);
    if (auto dir = r.string("chroot")) config.chroot_dir = *dir;
    if (auto user = r.string("user")) config.run_as = *user;
    return r.finish();
  }));
  HVMD_TRY(each(vm, "incoming", [&](const std::string& v) -> Result<void> {
    if (!v.starts_with("fd:")) return make_error("-incoming %s: only fd:N is supported", v.c_str());
    auto fd = parse_number(v.substr(3), INT32_MAX);
    if (!fd) return make_error("-incoming %s: %s", v.c_str(), fd.error().message.c_str());
    config.incoming_fd = static_cast<int>(*fd);
    return ok();
  }));
  HVMD_TRY(each(vm, "bios", [&](const std::string& v) -> Result<void> {
    config.bios = v;
    return ok();
  }));
  HVMD_TRY(each(vm, "option-rom", [&](const std::string& v) -> Result<void> {
    if (v.empty()) return make_error("-option-rom: a file name is required");
    config.option_roms.push_back(v);
    return ok();
  }));
  HVMD_TRY(each(vm, "fw_cfg", [&](const std::string& v) -> Result<void> {
    auto options = SubOptions::parse(v, "name");
    if (!options) return make_error("-fw_cfg %s: %s", v.c_str(), options.error().message.c_str());
    OptionReader r(*options, "-fw_cfg " + v);
    Config::FwCfgFile file;
    auto name = r.string("name");
    auto path = r.string("file");
    auto text = r.string("string");
    HVMD_TRY(r.finish());
    if (!name || name->empty()) return make_error("-fw_cfg %s: name= is required", v.c_str());
    if (path.has_value() == text.has_value())
      return make_error("-fw_cfg %s: give one of file= and string=", v.c_str());
    file.name = *name;
    if (path) file.path = *path;
    if (text) file.text = *text;
    config.fw_cfg_files.push_back(std::move(file));
    return ok();
  }));
  HVMD_TRY(each(vm, "kernel", [&](const std::string& v) -> Result<void> {
    if (v.empty()) return make_error("-kernel: a file name is required");
    config.kernel = v;
    return ok();
  }));
  HVMD_TRY(each(vm, "initrd", [&](const std::string& v) -> Result<void> {
    // Files separated by ',' (a name's own comma doubled, as in QEMU's option values).
    config.initrds.clear();
    std::string name;
    for (size_t i = 0; i <= v.size(); ++i) {
      if (i < v.size() && v[i] == ',' && i + 1 < v.size() && v[i + 1] == ',') {
        name += ',';
        ++i;
      } else if (i == v.size() || v[i] == ',') {
        if (name.empty()) return make_error("-initrd %s: an empty file name", v.c_str());
        config.initrds.push_back(std::move(name));
        name.clear();
      } else {
        name += v[i];
      }
    }
    return ok();
  }));
  HVMD_TRY(each(vm, "append", [&](const std::string& v) -> Result<void> {
    config.append = v;
    return ok();
  }));
  if (config.kernel.empty() && !config.initrds.empty())
    return make_error("-initrd %s: only allowed with -kernel", config.initrds.front().c_str());
  if (config.kernel.empty() && vm.count("append"))
    return make_error("-append: only allowed with -kernel");
  HVMD_TRY(each(vm, "sandbox", [&](const std::string& v) -> Result<void> {
    auto on = parse_bool(v);
    if (!on) return make_error("-sandbox %s: expected on or off", v.c_str());
    config.sandbox = *on;
    return ok();
  }));
  auto& choices = config.accel_choices;
  auto listed = [&choices](Accel accel) {
    return std::any_of(choices.begin(), choices.end(),
                       [accel](const AccelChoice& c) { return c.accel == accel; });
  };
  if (config.xen_domid && !choices.empty() && !listed(Accel::kXen))
    return make_error("-xen-domid needs -accel xen");
  if (config.xen_domid) choices = {{Accel::kXen, "xen"}};
  // What a machine type or option implies when no accelerator is named.
  if (choices.empty() && config.machine.type == "xenfv") choices.push_back({Accel::kXen, "xen"});
  if (choices.empty() && config.qtest) choices.push_back({Accel::kQtest, "qtest"});
  // Provisionally the first hvmd has; resolve_accel decides once it can look at the host.
  for (const auto& choice : choices)
    if (choice.accel) {
      config.accel = choice.accel;
      break;
    }
  if (config.machine.type == "none") {
    // The empty machine is for asking a QMP monitor what exists, over qtest as QEMU-style tests
    // start it; nothing would run under kvm or Xen.
    if (config.accel && *config.accel != Accel::kQtest)
      return make_error("-machine none: only with -accel qtest (no firmware, no devices)");
    if (config.machine.cpus > 1)
      return make_error("-smp %u: the max CPUs supported by machine 'none' is 1",
                        config.machine.cpus);
    if (!config.kernel.empty()) return make_error("-kernel: not supported by machine 'none'");
  }
  return config;
}

// Control characters in an offending value (a newline, an escape sequence) would make the
// one-line error several lines or reprogram the terminal: they are shown as \xNN.
std::string printable(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (c >= 0x20 && c != 0x7f) {
      out += static_cast<char>(c);
    } else {
      char escaped[8];
      snprintf(escaped, sizeof(escaped), "\\x%02x", c);
      out += escaped;
    }
  }
  return out;
}

}  // namespace

Result<void> resolve_accel(Config& config, const std::function<Result<void>()>& kvm_usable) {
  const auto& choices = config.accel_choices;
  if (choices.empty()) return ok();  // nothing named: main says what to pass
  // libqtest appends -accel qtest to the test's own -accel options; QEMU then serves qtest on
  // whichever accelerator it takes, hvmd only on its qtest transport.
  if (config.qtest)
    for (const auto& choice : choices)
      if (choice.accel == Accel::kQtest) {
        config.accel = Accel::kQtest;
        return ok();
      }
  std::string why;
  for (const auto& choice : choices) {
    if (!why.empty()) why += "; ";
    if (!choice.accel) {
      why += "'tcg': hvmd has no software CPU emulation (TCG)";
      continue;
    }
    if (*choice.accel == Accel::kKvm) {
      if (auto usable = kvm_usable(); !usable) {
        why += "'kvm': " + usable.error().message;
        continue;
      }
    }
    config.accel = *choice.accel;
    return ok();
  }
  return make_error("no accelerator can run here: %s", printable(why).c_str());
}

Result<Config> parse_command_line(int argc, const char* const* argv) {
  auto config = parse_options(argc, argv);
  if (!config) return make_error("%s", printable(config.error().message).c_str());
  return config;
}

}  // namespace hvmd
