// Direct kernel boot on the kvm runner: Debian's SeaBIOS runs the linuxboot ROM hvmd offers
// through fw_cfg, the ROM loads the tiny test bzImage (tests/support/tiny_kernel.h) and its
// initrd by fw_cfg DMA and jumps to its setup, which prints the command line it was given and
// enters the body, which prints byte sums of itself and of the initrd. Skips where /dev/kvm,
// SeaBIOS or the ROM is missing.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "tests/kvm/kvm_machine.h"
#include "tests/support/tiny_kernel.h"

namespace hvmd::test {
namespace {

constexpr const char* kRom = "/usr/share/qemu/linuxboot_dma.bin";

void write_file(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}

bool can_run() {
  return access("/dev/kvm", R_OK | W_OK) == 0 && access(kSeabios, R_OK) == 0 &&
         access(kRom, R_OK) == 0;
}

TEST(KvmKernelBoot, SeabiosBootsTheTinyKernelWithItsInitrdAndCommandLine) {
  if (!can_run()) GTEST_SKIP() << "needs /dev/kvm, " << kSeabios << " and " << kRom;
  // Files are written before hvmd starts: it checks them at start-up.
  char dir[] = "/tmp/hvmd-kvm-files-XXXXXX";
  std::string files = mkdtemp(dir);
  auto kernel = tiny_bzimage(300 * 1024 + 1);  // several DMA chunks
  std::vector<uint8_t> initrd(3 * 1024 * 1024 + 2);
  for (size_t i = 0; i < initrd.size(); ++i) initrd[i] = static_cast<uint8_t>(i * 31 + (i >> 12));
  std::string kernel_path = files + "/bzImage", initrd_path = files + "/initrd";
  write_file(kernel_path, kernel);
  write_file(initrd_path, initrd);
  const std::string cmdline = "console=ttyS0 hvmd.kernel-test=yes";
  {
    // -boot order=c as libxl passes it: the kernel still boots first.
    KvmMachine m({"-m", "128", "-kernel", kernel_path, "-initrd", initrd_path, "-append", cmdline,
                  "-boot", "order=c"});
    ASSERT_TRUE(m.wait_for("TINY KERNEL DONE")) << m.serial_log();
    std::string out = m.serial_log();
    EXPECT_NE(out.find("SETUP cmdline=" + cmdline + "\n"), std::string::npos) << out;
    std::string sums =
        "KERNEL " + tiny_kernel_sum(kernel, kTinySetupBytes) + " INITRD " + tiny_kernel_sum(initrd);
    EXPECT_NE(out.find(sums), std::string::npos) << out;
  }
  unlink(kernel_path.c_str());
  unlink(initrd_path.c_str());
  rmdir(files.c_str());
}

}  // namespace
}  // namespace hvmd::test
