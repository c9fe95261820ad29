// Black-box: direct kernel boot (-kernel, -initrd, -append) as the linuxboot option ROM sees it
// through fw_cfg: every item read through the data port and by DMA against the files' bytes and
// the setup header fields a boot loader must fill in; bad arguments; resident memory.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <iterator>

#include "tests/qtest/qtest_client.h"
#include "tests/support/tiny_kernel.h"

namespace hvmd::test {
namespace {

constexpr uint16_t kSelector = 0x510, kData = 0x511, kDmaHigh = 0x514, kDmaLow = 0x518;
constexpr uint32_t kDmaError = 1, kDmaRead = 2, kDmaSkip = 4, kDmaSelect = 8;
constexpr uint64_t kDescriptor = 0x1000;
// Items (QEMU's docs/specs/fw_cfg.rst).
constexpr uint16_t kKernelAddr = 0x07, kKernelSize = 0x08, kInitrdAddr = 0x0a, kInitrdSize = 0x0b,
                   kKernelData = 0x11, kInitrdData = 0x12, kCmdlineAddr = 0x13, kCmdlineSize = 0x14,
                   kCmdlineData = 0x15, kSetupAddr = 0x16, kSetupSize = 0x17, kSetupData = 0x18,
                   kFileDir = 0x19;
// Setup header fields (Linux's Documentation/arch/x86/boot.rst).
constexpr size_t kTypeOfLoader = 0x210, kLoadFlags = 0x211, kRamdiskImage = 0x218,
                 kRamdiskSize = 0x21c, kHeapEndPtr = 0x224, kCmdLinePtr = 0x228;
constexpr const char* kRom = "/usr/share/qemu/linuxboot_dma.bin";

std::vector<uint8_t> read_item(QtestClient& qt, uint16_t key, size_t length) {
  qt.outw(kSelector, key);
  std::vector<uint8_t> out;
  for (size_t i = 0; i < length; ++i) out.push_back(qt.inb(kData));
  return out;
}

uint32_t le(const std::vector<uint8_t>& b, size_t at, unsigned size) {
  uint32_t v = 0;
  for (unsigned i = 0; i < size; ++i) v |= uint32_t(b.at(at + i)) << (8 * i);
  return v;
}
uint32_t read_u32(QtestClient& qt, uint16_t key) {
  return le(read_item(qt, key, 4), 0, 4);
}
uint32_t be32(const uint8_t* p) {
  return uint32_t(p[0]) << 24 | p[1] << 16 | p[2] << 8 | p[3];
}

uint32_t dma(QtestClient& qt, uint32_t control, uint32_t length, uint64_t address) {
  std::vector<uint8_t> d(16);
  for (int i = 0; i < 4; ++i) d[i] = uint8_t(control >> (24 - 8 * i));
  for (int i = 0; i < 4; ++i) d[4 + i] = uint8_t(length >> (24 - 8 * i));
  for (int i = 0; i < 8; ++i) d[8 + i] = uint8_t(address >> (56 - 8 * i));
  qt.memwrite(kDescriptor, d);
  qt.outl(kDmaHigh, 0);
  qt.outl(kDmaLow, __builtin_bswap32(static_cast<uint32_t>(kDescriptor)));
  return be32(qt.memread(kDescriptor, 4).data());
}

// A named file's selector and size, from the directory.
int find_file(QtestClient& qt, const std::string& name, uint32_t* size) {
  auto count_bytes = read_item(qt, kFileDir, 4);
  uint32_t count = be32(count_bytes.data());
  for (uint32_t i = 0; i < count; ++i) {
    std::vector<uint8_t> entry;
    for (int b = 0; b < 64; ++b) entry.push_back(qt.inb(kData));
    if (std::string(reinterpret_cast<const char*>(entry.data() + 8)) == name) {
      *size = be32(entry.data());
      return entry[4] << 8 | entry[5];
    }
  }
  return -1;
}

std::vector<uint8_t> slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

// Files in a private directory, removed with it.
class TempDir {
 public:
  TempDir() {
    char name[] = "/tmp/hvmd-kernel-XXXXXX";
    path_ = mkdtemp(name);
  }
  ~TempDir() {
    for (const auto& f : files_) unlink(f.c_str());
    rmdir(path_.c_str());
  }
  std::string write(const std::string& name, const std::vector<uint8_t>& bytes) {
    std::string path = path_ + "/" + name;
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
    files_.push_back(path);
    return path;
  }
  // A file of size bytes that takes no disk space (reads as zeros).
  std::string sparse(const std::string& name, uint64_t size) {
    std::string path = path_ + "/" + name;
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    EXPECT_EQ(ftruncate(fd, static_cast<off_t>(size)), 0);
    close(fd);
    files_.push_back(path);
    return path;
  }

 private:
  std::string path_;
  std::vector<std::string> files_;
};

std::vector<uint8_t> pattern(size_t size, uint8_t seed) {
  std::vector<uint8_t> out(size);
  for (size_t i = 0; i < size; ++i) out[i] = static_cast<uint8_t>(i * 13 + seed + (i >> 9));
  return out;
}

bool have_rom() {
  return access(kRom, R_OK) == 0;
}

TEST(KernelBoot, EveryItemMatchesTheFilesAndThePatchedHeader) {
  if (!have_rom()) GTEST_SKIP() << kRom << " missing (qemu-system-data)";
  TempDir dir;
  // A body over 64 KiB and 4 KiB boundaries, and initrds whose sizes need padding.
  auto kernel = tiny_bzimage(200 * 1024 + 3);
  auto first = pattern(70001, 1), second = pattern(5, 2);
  std::string kernel_path = dir.write("bzImage", kernel);
  std::string initrd = dir.write("a.cpio", first) + "," + dir.write("b,,c.cpio", second);
  // "b,,c.cpio" on the command line names the file "b,c.cpio".
  dir.write("b,c.cpio", second);
  const std::string cmdline = "console=ttyS0 root=/dev/ram0 hvmd-test=1";
  QtestClient qt({"-m", "128", "-kernel", kernel_path, "-initrd", initrd, "-append", cmdline});

  // The setup: where, how big, and its bytes with the loader's fields filled in.
  EXPECT_EQ(read_u32(qt, kSetupAddr), 0x10000u);
  ASSERT_EQ(read_u32(qt, kSetupSize), kTinySetupBytes);
  auto setup = read_item(qt, kSetupData, kTinySetupBytes);
  uint32_t initrd_addr = read_u32(qt, kInitrdAddr);
  uint32_t initrd_size = read_u32(qt, kInitrdSize);
  EXPECT_EQ(initrd_size, 70004u + 8u);  // each file padded to 4 bytes
  EXPECT_EQ(setup[kTypeOfLoader], 0xff);
  EXPECT_EQ(setup[kLoadFlags], 0x81);  // LOADED_HIGH kept, CAN_USE_HEAP set
  EXPECT_EQ(le(setup, kHeapEndPtr, 2), 0xfe00u);
  EXPECT_EQ(le(setup, kCmdLinePtr, 4), 0x20000u);
  EXPECT_EQ(le(setup, kRamdiskImage, 4), initrd_addr);
  EXPECT_EQ(le(setup, kRamdiskSize, 4), initrd_size);
  for (size_t i = 0; i < kTinySetupBytes; ++i) {
    bool patched = i == kTypeOfLoader || i == kLoadFlags || (i >= kRamdiskImage && i < 0x220) ||
                   (i >= kHeapEndPtr && i < 0x226) || (i >= kCmdLinePtr && i < 0x22c);
    if (!patched) {
      ASSERT_EQ(setup[i], kernel[i]) << "setup byte " << i;
    }
  }

  // The initrd: page-aligned, above the kernel, below RAM's top with room for the firmware.
  EXPECT_EQ(initrd_addr % 4096, 0u);
  EXPECT_GE(initrd_addr, 0x100000u + kernel.size());
  EXPECT_LE(uint64_t(initrd_addr) + initrd_size, (128ull << 20) - (1ull << 20));

  // The command line, NUL-terminated.
  EXPECT_EQ(read_u32(qt, kCmdlineAddr), 0x20000u);
  ASSERT_EQ(read_u32(qt, kCmdlineSize), cmdline.size() + 1);
  auto line = read_item(qt, kCmdlineData, cmdline.size() + 1);
  EXPECT_EQ(std::string(line.begin(), line.end() - 1), cmdline);
  EXPECT_EQ(line.back(), 0);

  // The kernel body by DMA to where the ROM puts it, and through the data port across a 4 KiB
  // read-ahead boundary after a DMA skip.
  EXPECT_EQ(read_u32(qt, kKernelAddr), 0x100000u);
  uint32_t kernel_size = read_u32(qt, kKernelSize);
  ASSERT_EQ(kernel_size, kernel.size() - kTinySetupBytes);
  std::vector<uint8_t> body(kernel.begin() + kTinySetupBytes, kernel.end());
  EXPECT_EQ(dma(qt, uint32_t(kKernelData) << 16 | kDmaSelect | kDmaRead, kernel_size, 0x100000),
            0u);
  EXPECT_TRUE(qt.memread(0x100000, kernel_size) == body);
  EXPECT_EQ(dma(qt, uint32_t(kKernelData) << 16 | kDmaSelect | kDmaSkip, 4090, 0), 0u);
  for (size_t i = 4090; i < 4110; ++i) ASSERT_EQ(qt.inb(kData), body[i]) << "body byte " << i;
  // Past its end an item reads zeros.
  EXPECT_EQ(dma(qt, kDmaSkip, kernel_size, 0), 0u);
  EXPECT_EQ(qt.inb(kData), 0);

  // The initrd: both files, each padded with zeros, in two DMA reads that split mid-file.
  std::vector<uint8_t> joined = first;
  joined.resize(70004, 0);
  joined.insert(joined.end(), second.begin(), second.end());
  joined.resize(70012, 0);
  qt.memwrite(initrd_addr + 70000, std::vector<uint8_t>(12, 0xee));
  EXPECT_EQ(dma(qt, uint32_t(kInitrdData) << 16 | kDmaSelect | kDmaRead, 33333, initrd_addr), 0u);
  EXPECT_EQ(dma(qt, kDmaRead, initrd_size - 33333, initrd_addr + 33333), 0u);
  EXPECT_TRUE(qt.memread(initrd_addr, initrd_size) == joined);
  EXPECT_EQ(read_item(qt, kInitrdData, 3), (std::vector<uint8_t>{joined[0], joined[1], joined[2]}));
  // A read aimed outside RAM fails and the item is still there.
  EXPECT_EQ(
      dma(qt, uint32_t(kInitrdData) << 16 | kDmaSelect | kDmaRead, 64, 0xfe000000) & kDmaError,
      kDmaError);

  // The option ROM SeaBIOS runs, and the boot order that puts it first.
  uint32_t size = 0;
  int rom = find_file(qt, "genroms/linuxboot_dma.bin", &size);
  ASSERT_GE(rom, 0x20);
  auto rom_bytes = slurp(kRom);
  ASSERT_EQ(size, rom_bytes.size());
  EXPECT_EQ(dma(qt, uint32_t(rom) << 16 | kDmaSelect | kDmaRead, size, 0x200000), 0u);
  EXPECT_TRUE(qt.memread(0x200000, size) == rom_bytes);
  int order = find_file(qt, "bootorder", &size);
  ASSERT_GE(order, 0x20);
  auto order_bytes = read_item(qt, uint16_t(order), size);
  EXPECT_EQ(std::string(order_bytes.begin(), order_bytes.end()),
            "/rom@genroms/linuxboot_dma.bin\n");
}

TEST(KernelBoot, WithoutInitrdTheKernelWinsOverDisksAndBootindex) {
  if (!have_rom()) GTEST_SKIP() << kRom << " missing (qemu-system-data)";
  TempDir dir;
  std::string kernel_path = dir.write("bzImage", tiny_bzimage());
  // libxl always passes -boot order=: as in QEMU, the kernel still boots first.
  QtestClient qt(
      {"-kernel", kernel_path, "-boot", "order=c", "-device", "pci-testdev,addr=5,bootindex=1"});
  EXPECT_EQ(read_u32(qt, kInitrdAddr), 0u);
  EXPECT_EQ(read_u32(qt, kInitrdSize), 0u);
  auto setup = read_item(qt, kSetupData, kTinySetupBytes);
  EXPECT_EQ(le(setup, kRamdiskImage, 4), 0u);
  EXPECT_EQ(le(setup, kRamdiskSize, 4), 0u);
  // No -append: an empty command line.
  EXPECT_EQ(read_u32(qt, kCmdlineSize), 1u);
  EXPECT_EQ(read_item(qt, kCmdlineData, 1), std::vector<uint8_t>{0});
  uint32_t size = 0;
  int order = find_file(qt, "bootorder", &size);
  ASSERT_GE(order, 0x20);
  auto bytes = read_item(qt, uint16_t(order), size);
  EXPECT_EQ(std::string(bytes.begin(), bytes.end()),
            "/rom@genroms/linuxboot_dma.bin\n/pci@i0cf8/pci1b36,5@5\n");
}

TEST(KernelBoot, TheInitrdStaysBelowTheKernelsInitrdAddrMax) {
  if (!have_rom()) GTEST_SKIP() << kRom << " missing (qemu-system-data)";
  TempDir dir;
  auto kernel = tiny_bzimage();
  kernel[0x22c] = 0xff, kernel[0x22d] = 0xff, kernel[0x22e] = 0xff, kernel[0x22f] = 0x00;
  std::string kernel_path = dir.write("bzImage", kernel);
  std::string initrd = dir.write("initrd", pattern(1 << 20, 7));
  QtestClient qt({"-m", "128", "-kernel", kernel_path, "-initrd", initrd});
  uint32_t addr = read_u32(qt, kInitrdAddr);
  // As high as it may go: its last byte at or below 16 MiB - 1, within one page of it.
  EXPECT_LE(uint64_t(addr) + (1 << 20), 16u << 20);
  EXPECT_GT(uint64_t(addr) + (1 << 20), (16u << 20) - 4096);
  EXPECT_EQ(le(read_item(qt, kSetupData, kTinySetupBytes), kRamdiskImage, 4), addr);
}

TEST(KernelBoot, WithoutKernelThereAreNoKernelItems) {
  QtestClient qt;
  EXPECT_EQ(read_u32(qt, kSetupSize), 0u);
  EXPECT_EQ(read_u32(qt, kKernelSize), 0u);
  uint32_t size = 0;
  EXPECT_LT(find_file(qt, "genroms/linuxboot_dma.bin", &size), 0);
}

TEST(KernelBoot, BadArgumentsAreOneLineErrorsNamingThem) {
  if (!have_rom()) GTEST_SKIP() << kRom << " missing (qemu-system-data)";
  TempDir dir;
  auto kernel = tiny_bzimage();
  std::string good = dir.write("good", kernel);
  std::string garbage = dir.write("garbage", pattern(8192, 3));
  std::vector<uint8_t> elf = pattern(8192, 4);
  std::memcpy(elf.data(),
              "\x7f"
              "ELF",
              4);
  std::string elf_path = dir.write("vmlinux", elf);
  auto old = kernel;
  old[0x206] = 0x01;  // protocol 2.01
  std::string old_path = dir.write("old", old);
  auto zimage = kernel;
  zimage[0x211] = 0;  // not loaded high
  std::string zimage_path = dir.write("zimage", zimage);
  std::string shortfile = dir.write("short", pattern(100, 5));
  std::string huge_initrd = dir.sparse("huge.img", 40ull << 20);
  std::string long_line(3000, 'x');
  struct Case {
    std::vector<std::string> args;
    std::string named;
  };
  std::vector<Case> cases = {
      {{"-kernel", "/nonexistent/bzImage"}, "/nonexistent/bzImage"},
      {{"-kernel", "/tmp"}, "/tmp"},
      {{"-kernel", garbage}, garbage},
      {{"-kernel", elf_path}, "ELF"},
      {{"-kernel", old_path}, "2.01"},
      {{"-kernel", zimage_path}, "zImage"},
      {{"-kernel", shortfile}, shortfile},
      {{"-kernel", good, "-initrd", "/nonexistent/initrd"}, "/nonexistent/initrd"},
      {{"-kernel", good, "-initrd", good + ",,"}, good + ","},
      {{"-kernel", good, "-initrd", good + ","}, "empty"},
      {{"-kernel", good, "-append", long_line}, "2047"},
      {{"-m", "32", "-kernel", good, "-initrd", huge_initrd}, huge_initrd},
      {{"-initrd", good}, "-kernel"},
      {{"-append", "quiet"}, "-kernel"},
      {{"-kernel", ""}, "-kernel"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> args = {"-accel", "qtest", "-qtest", "stdio"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    RunResult r = run_hvmd(args);
    std::string what = c.args.back().substr(0, 60);
    EXPECT_EQ(r.status, 1) << what;
    EXPECT_NE(r.stderr_text.find(c.named), std::string::npos) << what << ": " << r.stderr_text;
    EXPECT_EQ(std::count(r.stderr_text.begin(), r.stderr_text.end(), '\n'), 1)
        << what << ": " << r.stderr_text;
  }
}

long rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);)
    if (line.starts_with("VmRSS:")) return std::stol(line.substr(6));
  return -1;
}

// A 50 MiB initramfs is read from its file when the firmware asks for it: hvmd holds no copy.
TEST(KernelBoot, A50MiBInitrdCostsNoResidentMemory) {
#ifdef HVMD_SANITIZER_BUILD
  GTEST_SKIP() << "ASan's shadow memory and quarantine make RSS meaningless";
#endif
  if (!have_rom()) GTEST_SKIP() << kRom << " missing (qemu-system-data)";
  TempDir dir;
  std::string kernel_path = dir.write("bzImage", tiny_bzimage());
  constexpr size_t kInitrd = 50u << 20;
  const auto bytes = pattern(kInitrd, 9);
  std::string initrd = dir.write("initramfs", bytes);
  long without, with_initrd, after_dma;
  {
    QtestClient qt({"-m", "256", "-kernel", kernel_path});
    without = rss_kib(qt.pid());
  }
  QtestClient qt({"-m", "256", "-kernel", kernel_path, "-initrd", initrd});
  with_initrd = rss_kib(qt.pid());
  uint32_t addr = read_u32(qt, kInitrdAddr);
  ASSERT_EQ(read_u32(qt, kInitrdSize), kInitrd);
  // As the ROM does it: one DMA read of the whole initrd into guest RAM.
  EXPECT_EQ(dma(qt, uint32_t(kInitrdData) << 16 | kDmaSelect | kDmaRead, kInitrd, addr), 0u);
  after_dma = rss_kib(qt.pid());
  EXPECT_TRUE(qt.memread(addr + kInitrd - 4096, 4096) ==
              std::vector<uint8_t>(bytes.end() - 4096, bytes.end()));
  printf(
      "RSS without initrd %ld KiB, with a 50 MiB initrd %ld KiB, after it is in guest RAM %ld "
      "KiB\n",
      without, with_initrd, after_dma);
  EXPECT_LT(with_initrd - without, 4 * 1024);
  // The guest's own RAM pages now hold it (hvmd's memory under qtest); nothing more.
  EXPECT_LT(after_dma - with_initrd, 50 * 1024 + 4 * 1024);
}

}  // namespace
}  // namespace hvmd::test
