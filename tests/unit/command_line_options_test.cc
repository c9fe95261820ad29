// query-command-line-options against the parsers it describes. The parsers are run on command
// lines that take every path (each -chardev backend, each -netdev type, ...) while an
// OptionKeyObserver notes every key they ask for; the table the QMP command answers from must
// list exactly those keys, group by group. And every option the command line takes is either
// one of the table's groups or named below as having none, so a new option with sub-options
// fails here until the table describes it.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "dm/backends/block.h"
#include "dm/backends/net.h"
#include "dm/clock.h"
#include "dm/command_line.h"
#include "dm/event_loop.h"
#include "dm/qmp/introspection_commands.h"
#include "dm/sub_options.h"

namespace hvmd::test {
namespace {

using Keys = std::map<std::string, std::set<std::string>>;  // group -> keys

// The group (QEMU's QemuOpts list name) of the option each command-line option fills; "" for
// options that take no sub-options or whose keys another introspection command lists.
const std::map<std::string, std::string>& option_groups() {
  static const std::map<std::string, std::string> groups = {
      {"machine", "machine"},
      {"M", "machine"},
      {"accel", "accel"},
      {"m", "memory"},
      {"smp", "smp-opts"},
      {"name", "name"},
      {"chardev", "chardev"},
      {"mon", "mon"},
      {"boot", "boot-opts"},
      {"drive", "drive"},
      {"netdev", "netdev"},
      {"vnc", "vnc"},
      {"fw_cfg", "fw_cfg"},
      {"rtc", "rtc"},
      {"global", "global"},
      {"run-with", "run-with"},
      // -device's keys are the driver's properties: device-list-properties has them.
      {"device", "device"},
      // One value each, or flags: no sub-options.
      {"cpu", ""},
      {"uuid", ""},
      {"qmp", ""},
      {"serial", ""},
      {"debugcon", ""},
      {"display", ""},
      {"nographic", ""},
      {"vga", ""},
      {"nodefaults", ""},
      {"no-user-config", ""},
      {"S", ""},
      {"no-shutdown", ""},
      {"no-reboot", ""},
      {"cdrom", ""},
      {"qtest", ""},
      {"qtest-log", ""},
      {"D", ""},
      {"pidfile", ""},
      {"daemonize", ""},
      {"xen-domid", ""},
      {"xen-domid-restrict", ""},
      {"no-fd-bootchk", ""},
      {"preconfig", ""},
      {"k", ""},
      {"usb", ""},
      {"usbdevice", ""},
      {"net", ""},
      {"nic", ""},
      {"runas", ""},
      {"chroot", ""},
      {"incoming", ""},
      {"sandbox", ""},
      {"bios", ""},
      {"option-rom", ""},
      {"kernel", ""},
      {"initrd", ""},
      {"append", ""},
      {"help", ""},
      {"version", ""},
      // QEMU's -blockdev is QAPI (BlockdevOptions), not an option group; it has none either.
      {"blockdev", ""}};
  return groups;
}

// Keys a parser asks for only to refuse them by name (a clear error rather than "unknown
// parameter"); they are not offered.
const std::set<std::pair<std::string, std::string>> kRefused = {
    {"chardev", "host"},   {"chardev", "port"}, {"boot-opts", "splash"}, {"netdev", "listen"},
    {"netdev", "connect"}, {"netdev", "mcast"}, {"netdev", "netdev"}};

// The group of an OptionReader's `what`, from the prefix each parser gives it.
std::string group_of(std::string_view what) {
  static const std::pair<const char*, const char*> kPrefixes[] = {
      {"-machine ", "machine"},   {"-accel ", "accel"},   {"-m ", "memory"},
      {"-smp ", "smp-opts"},      {"-name ", "name"},     {"chardev '", "chardev"},
      {"'unix:", "chardev"},      {"-mon ", "mon"},       {"-boot ", "boot-opts"},
      {"-drive ", "drive"},       {"-netdev ", "netdev"}, {"-vnc", "vnc"},
      {"-fw_cfg ", "fw_cfg"},     {"-rtc ", "rtc"},       {"-global ", "global"},
      {"-run-with ", "run-with"}, {"-blockdev ", ""},     {"device '", ""}};
  for (const auto& [prefix, group] : kPrefixes)
    if (what.starts_with(prefix)) return group;
  ADD_FAILURE() << "a parser this test does not know: '" << what << "'";
  return "";
}

class Recorder final : public OptionKeyObserver {
 public:
  Recorder() { set_option_key_observer(this); }
  ~Recorder() override { set_option_key_observer(nullptr); }
  void key_read(std::string_view what, std::string_view key) override {
    std::string group = group_of(what);
    if (!group.empty() && !kRefused.count({group, std::string(key)}))
      seen[group].insert(std::string(key));
  }
  Keys seen;
};

Result<Config> parse(std::vector<std::string> args) {
  std::vector<const char*> argv{"hvmd"};
  for (const auto& a : args) argv.push_back(a.c_str());
  return parse_command_line(static_cast<int>(argv.size()), argv.data());
}

// Every path through the parsers: each command line must parse.
const std::vector<std::vector<std::string>> kCommandLines = {
    {"-machine", "pc,accel=qtest,graphics=on,suppress-vmdesc=on,max-ram-below-4g=2G"},
    {"-accel", "qtest,thread=single"},
    {"-m", "size=64,slots=1,maxmem=128"},
    {"-smp", "cpus=2,maxcpus=2,sockets=1,dies=1,cores=2,threads=1"},
    {"-name", "guest=g,debug-threads=on,process=p"},
    {"-chardev", "socket,id=c0,path=/tmp/s,server=on,wait=off,logfile=/tmp/l", "-mon",
     "chardev=c0,mode=control,pretty=on"},
    {"-chardev", "socket,id=c1,fd=3"},
    {"-chardev", "stdio,id=c2,signal=off"},
    {"-chardev", "file,id=c3,path=/tmp/f"},
    {"-chardev", "pty,id=c4"},
    {"-chardev", "null,id=c5"},
    {"-qmp", "unix:/tmp/q,server=on,wait=off"},
    {"-boot", "order=c,once=d,menu=on,strict=on,splash-time=100,reboot-timeout=5"},
    {"-rtc", "base=utc,clock=host,driftfix=none"},
    {"-global", "driver=ide-hd,property=serial,value=x"},
    {"-vnc", "127.0.0.1:1,to=2,password=on"},
    {"-fw_cfg", "name=opt/x,string=y"},
    {"-fw_cfg", "name=opt/y,file=/tmp/y"},
    {"-run-with", "chroot=/,user=nobody"},
};

// -drive is read when the machine is built; its keys, with the protocol layer's.
const std::vector<std::string> kDrives = {
    "id=d0,file=/tmp/d,if=ide,index=0,media=disk,format=raw,cache=none,aio=native,serial=s,"
    "readonly=on,discard=unmap,detect-zeroes=on,rerror=report,werror=stop,auto-read-only=on",
    "if=none,id=d1,file.driver=null-co,file.size=1048576,file.read-zeroes=on",
    "if=none,id=d2,file.driver=file,file.filename=/tmp/d",
};

// -netdev is read when the backend opens; a type that cannot open here (tap) still reads first.
const std::vector<std::string> kNetdevs = {
    // An interface name too long to create: the keys are read, no tap appears.
    "tap,id=t0,ifname=hvmd-test-name-too-long,script=no,downscript=no,vnet_hdr=on,br=xenbr0",
    "user,id=u0,ipv4=on,ipv6=on,restrict=off,net=10.0.2.0/24,host=10.0.2.2,dhcpstart=10.0.2.15,"
    "dns=10.0.2.3,ipv6-net=fec0::/64,ipv6-host=fec0::2,ipv6-dns=fec0::3,hostname=h,"
    "domainname=d,tftp-server-name=t,bootfile=b,tftp=/tmp,dnssearch=x,hostfwd=tcp::1-:2",
    "hubport,id=h0,hubid=1",
    "socket,id=s0,fd=1000",
    "socket,id=s1,udp=127.0.0.1:1,localaddr=127.0.0.1:0",
};

Keys parser_keys() {
  Recorder recorder;
  for (const auto& args : kCommandLines) {
    auto config = parse(args);
    EXPECT_TRUE(config.ok()) << args[0] << " " << args[1] << ": " << config.error().message;
  }
  for (const std::string& text : kDrives) {
    auto options = SubOptions::parse(text);
    EXPECT_TRUE(options.ok());
    if (!options.ok()) continue;
    auto spec = DriveSpec::from_options(*options);
    EXPECT_TRUE(spec.ok()) << text << ": " << spec.error().message;
  }
  Clock clock(Clock::Mode::kVirtual);
  EventLoop loop(clock);
  EXPECT_TRUE(loop.init().ok());
  for (const std::string& text : kNetdevs) {
    auto options = SubOptions::parse(text, "type");
    EXPECT_TRUE(options.ok());
    if (options.ok()) (void)NetBackend::open(*options, loop);
  }
  return recorder.seen;
}

Keys table_keys() {
  Keys table;
  for (const auto& [group, key] : qmp::command_line_parameters()) table[group].insert(key);
  return table;
}

TEST(CommandLineOptionsTable, ListsExactlyTheKeysTheParsersRead) {
  Keys parsed = parser_keys();
  Keys table = table_keys();
  for (const auto& [group, keys] : parsed)
    for (const std::string& key : keys)
      EXPECT_TRUE(table[group].count(key))
          << "the parser takes " << group << "." << key << ": query-command-line-options lacks it";
  for (const auto& [group, keys] : table)
    for (const std::string& key : keys)
      EXPECT_TRUE(parsed[group].count(key))
          << "query-command-line-options lists " << group << "." << key
          << ", which no parser reads (or kCommandLines misses the path that does)";
}

TEST(CommandLineOptionsTable, EveryOptionIsAGroupOrHasNone) {
  std::set<std::string> groups_in_table;
  for (const auto& [group, key] : qmp::command_line_parameters()) groups_in_table.insert(group);
  // The table's groups with no parameters (device) do not appear in the pairs; ask QMP's list.
  std::vector<std::string> groups = qmp::command_line_groups();
  groups_in_table.insert(groups.begin(), groups.end());
  std::set<std::string> reached;
  for (const auto& [option, takes_value] : command_line_options()) {
    auto it = option_groups().find(option);
    if (it == option_groups().end()) {
      ADD_FAILURE() << "-" << option << " is new: give it its query-command-line-options group"
                    << " in the table (and here), or list it here as having none";
      continue;
    }
    if (it->second.empty()) continue;
    EXPECT_TRUE(takes_value) << "-" << option;
    EXPECT_TRUE(groups_in_table.count(it->second))
        << "-" << option << " fills group " << it->second << ", missing from the table";
    reached.insert(it->second);
  }
  for (const std::string& group : groups_in_table)
    EXPECT_TRUE(reached.count(group)) << "the table's group " << group << " is no option's";
}

}  // namespace
}  // namespace hvmd::test
