#include "dm/command_line.h"

#include <gtest/gtest.h>

#include <fstream>

namespace hvmd::test {
namespace {

Result<Config> parse(std::vector<std::string> args) {
  std::vector<const char*> argv{"hvmd"};
  for (const auto& a : args) argv.push_back(a.c_str());
  return parse_command_line(static_cast<int>(argv.size()), argv.data());
}

// What libxl 4.17 passes for an HVM guest with an IDE disk and cirrus VGA (recorded in the lab).
TEST(CommandLineParse, LibxlQemuXenCommandLine) {
  std::ifstream file(HVMD_SOURCE_DIR "/tests/xen/libxl-4.17-hvm-ide-cirrus.argv");
  std::vector<std::string> args;
  for (std::string line; std::getline(file, line);) args.push_back(line);
  auto config = parse(args);
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->accel, Accel::kXen);
  EXPECT_EQ(config->xen_domid, 1u);
  EXPECT_EQ(config->machine.type, "xenfv");
  EXPECT_EQ(config->machine.ram_bytes, 88ull << 20);
  EXPECT_EQ(config->machine.name, "hvm1");
  EXPECT_TRUE(config->no_shutdown);
  ASSERT_EQ(config->monitors.size(), 2u);
  EXPECT_EQ(config->monitors[0].chardev, "libxl-cmd");
  const ChardevSpec* qmp = config->find_chardev("libxl-cmd");
  ASSERT_NE(qmp, nullptr);
  EXPECT_EQ(qmp->path, "/var/run/xen/qmp-libxl-1");
  EXPECT_TRUE(qmp->server);
  EXPECT_FALSE(qmp->wait);
  ASSERT_EQ(config->serials.size(), 1u);
  EXPECT_EQ(config->find_chardev(config->serials[0])->path, "/tmp/guest-serial.log");
  ASSERT_EQ(config->devices.size(), 1u);
  EXPECT_EQ(config->devices[0].get("driver"), "cirrus-vga");
  ASSERT_EQ(config->drives.size(), 1u);
  EXPECT_EQ(config->drives[0].get("file"), "/opt/lab/boot.img");
  EXPECT_EQ(config->machine.boot_order, "c");
}

TEST(CommandLineParse, XenOptionsAndTheirErrors) {
  auto config = parse({"-xen-domid", "7", "-xen-domid-restrict", "-runas", "nobody", "-chroot",
                       "/var/run/xen/qemu-root-7", "-incoming", "fd:9", "-machine",
                       "xenfv,max-ram-below-4g=3G", "-usbdevice", "tablet"});
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_TRUE(config->xen_domid_restrict);
  EXPECT_EQ(config->run_as, "nobody");
  EXPECT_EQ(config->chroot_dir, "/var/run/xen/qemu-root-7");
  EXPECT_EQ(config->incoming_fd, 9);
  EXPECT_EQ(config->machine.max_ram_below_4g, 3ull << 30);
  EXPECT_TRUE(config->usb);
  auto run_with = parse({"-xen-domid", "7", "-run-with", "chroot=/r,user=u"});
  ASSERT_TRUE(run_with.ok());
  EXPECT_EQ(run_with->chroot_dir, "/r");
  EXPECT_EQ(run_with->run_as, "u");

  for (auto bad : std::vector<std::vector<std::string>>{{"-xen-domid", "0"},
                                                        {"-xen-domid", "x"},
                                                        {"-xen-domid", "3", "-accel", "qtest"},
                                                        {"-incoming", "tcp:0:4444"},
                                                        {"-boot", "order=z"},
                                                        {"-net", "user"},
                                                        {"-usbdevice", "host:1234:5678"},
                                                        {"-run-with", "async-teardown=on"},
                                                        {"-machine", "xenfv,max-ram-below-4g=8G"}})
    EXPECT_FALSE(parse(bad).ok()) << bad[0] << " " << bad[1];
}

// Found by the cmdline fuzz target: a value with a newline made the one-line error two lines.
TEST(CommandLine, ErrorsStayOnOneLine) {
  auto config = parse({"-boot", "order=\nz\x1b[2J"});
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.error().message.find('\n'), std::string::npos) << config.error().message;
  EXPECT_NE(config.error().message.find("\\x0az\\x1b[2J"), std::string::npos)
      << config.error().message;
}

}  // namespace
}  // namespace hvmd::test
