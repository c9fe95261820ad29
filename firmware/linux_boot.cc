#include "firmware/linux_boot.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "firmware/fw_cfg_regs.h"
#include "firmware/linux_boot_header.h"
#include "firmware/standalone.h"

namespace hvmd::firmware {

using namespace boot_header;

namespace {

uint32_t load_le(const std::vector<uint8_t>& bytes, size_t at, unsigned size) {
  uint32_t v = 0;
  for (unsigned i = 0; i < size; ++i) v |= uint32_t{bytes[at + i]} << (8 * i);
  return v;
}

void store_le(std::vector<uint8_t>& bytes, size_t at, unsigned size, uint32_t value) {
  for (unsigned i = 0; i < size; ++i) bytes[at + i] = static_cast<uint8_t>(value >> (8 * i));
}

// An open file descriptor, closed when the last source reading it goes.
struct OpenFile {
  int fd = -1;
  uint64_t size = 0;
  ~OpenFile() {
    if (fd >= 0) close(fd);
  }
};

Result<std::shared_ptr<OpenFile>> open_regular(const std::string& path, const char* option) {
  auto file = std::make_shared<OpenFile>();
  file->fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (file->fd < 0) return make_error("-%s %s: %s", option, path.c_str(), strerror(errno));
  struct stat st;
  if (fstat(file->fd, &st) != 0)
    return make_error("-%s %s: %s", option, path.c_str(), strerror(errno));
  if (!S_ISREG(st.st_mode)) return make_error("-%s %s: not a regular file", option, path.c_str());
  file->size = static_cast<uint64_t>(st.st_size);
  return file;
}

bool read_exactly(int fd, uint64_t offset, std::span<uint8_t> out) {
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n = pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;  // an error, or the file shrank under us
    done += static_cast<size_t>(n);
  }
  return true;
}

// Several files end to end, each padded with zeros to a 4-byte boundary (the alignment the
// kernel's initramfs unpacker expects between concatenated cpio archives).
class JoinedFiles final : public FwCfgSource {
 public:
  struct Part {
    std::shared_ptr<OpenFile> file;
    uint64_t offset;  // of the part's first byte in its file
    uint64_t length;  // bytes read from the file
    uint64_t padded;  // bytes the part takes in the item
  };
  explicit JoinedFiles(std::vector<Part> parts) : parts_(std::move(parts)) {
    for (const auto& p : parts_) size_ += p.padded;
  }
  uint64_t size() const override { return size_; }
  bool read(uint64_t offset, std::span<uint8_t> out) override {
    uint64_t start = 0;
    for (const auto& p : parts_) {
      if (out.empty()) break;
      uint64_t end = start + p.padded;
      if (offset < end) {
        uint64_t within = offset - start;
        uint64_t n = std::min<uint64_t>(out.size(), p.padded - within);
        uint64_t from_file = within < p.length ? std::min(n, p.length - within) : 0;
        if (from_file && !read_exactly(p.file->fd, p.offset + within, out.first(from_file)))
          return false;
        std::fill(out.begin() + static_cast<ptrdiff_t>(from_file),
                  out.begin() + static_cast<ptrdiff_t>(n), 0);
        out = out.subspan(n);
        offset += n;
      }
      start = end;
    }
    return out.empty();
  }

 private:
  std::vector<Part> parts_;
  uint64_t size_ = 0;
};

}  // namespace

uint64_t ram_below_4g(const MachineOptions& options) {
  uint64_t below = RamLayout::pc(options.ram_bytes).below_4g;
  if (options.max_ram_below_4g) below = std::min(below, options.max_ram_below_4g);
  return below;
}

LinuxBoot::~LinuxBoot() = default;

uint64_t LinuxBoot::initrd_size() const {
  return initrd_ ? initrd_->size() : 0;
}

Result<std::unique_ptr<LinuxBoot>> LinuxBoot::open(const Config& config, uint64_t ram_below_4g,
                                                   const std::string& rom_path) {
  std::unique_ptr<LinuxBoot> boot(new LinuxBoot);
  const std::string& path = config.kernel;
  auto kernel = open_regular(path, "kernel");
  if (!kernel) return kernel.error();

  // The setup header: "HdrS", a protocol recent enough to be loaded high, the setup's size.
  std::vector<uint8_t> head(kHeaderEnd);
  if ((*kernel)->size < kHeaderEnd || !read_exactly((*kernel)->fd, 0, head))
    return make_error("-kernel %s: too short to be a bzImage", path.c_str());
  if (load_le(head, kMagic, 4) != kMagicValue) {
    if (head[0] == 0x7f && head[1] == 'E' && head[2] == 'L' && head[3] == 'F')
      return make_error("-kernel %s: an ELF image; only bzImage kernels are supported",
                        path.c_str());
    return make_error("-kernel %s: not a bzImage (no HdrS setup header)", path.c_str());
  }
  uint32_t version = load_le(head, kVersion, 2);
  if (version < kMinVersion)
    return make_error("-kernel %s: boot protocol %u.%02u is too old (2.02 or later needed)",
                      path.c_str(), version >> 8, version & 0xff);
  if (!(head[kLoadFlags] & kLoadedHigh))
    return make_error("-kernel %s: a zImage (not loaded high); only bzImage kernels are supported",
                      path.c_str());
  uint32_t sectors = head[kSetupSects] ? head[kSetupSects] : kDefaultSetupSects;
  uint64_t setup_size = (uint64_t{sectors} + 1) * 512;
  if (setup_size > kMaxSetupSize || setup_size >= (*kernel)->size)
    return make_error("-kernel %s: setup of %llu bytes does not fit (file %llu bytes)",
                      path.c_str(), static_cast<unsigned long long>(setup_size),
                      static_cast<unsigned long long>((*kernel)->size));
  boot->setup_.resize(setup_size);
  if (!read_exactly((*kernel)->fd, 0, boot->setup_))
    return make_error("-kernel %s: %s", path.c_str(), strerror(errno ? errno : EIO));
  boot->kernel_size_ = (*kernel)->size - setup_size;
  if (boot->kernel_size_ > UINT32_MAX) return make_error("-kernel %s: too large", path.c_str());
  boot->kernel_ = std::make_shared<JoinedFiles>(std::vector<JoinedFiles::Part>{
      {*kernel, setup_size, boot->kernel_size_, boot->kernel_size_}});

  // The command line, within the kernel's own limit.
  uint32_t cmdline_max = version >= 0x206 ? load_le(head, kCmdlineSize, 4) : kOldCmdlineMax;
  cmdline_max = std::min(cmdline_max, kCmdlineAreaMax);
  if (config.append.size() > cmdline_max)
    return make_error("-append: %zu bytes is longer than the kernel's limit of %u",
                      config.append.size(), cmdline_max);
  if (config.append.find('\0') != std::string::npos)
    return make_error("-append: the command line holds a NUL byte");
  boot->cmdline_.assign(config.append.begin(), config.append.end());
  boot->cmdline_.push_back(0);

  // The initrd: every file given, end to end, as high as the kernel and RAM allow.
  uint64_t kernel_end = kKernelAddress + boot->kernel_size_;
  uint64_t low_top = ram_below_4g > kRamTopReserve ? ram_below_4g - kRamTopReserve : 0;
  if (kernel_end > low_top)
    return make_error("-kernel %s: %llu bytes do not fit in the guest's RAM", path.c_str(),
                      static_cast<unsigned long long>(boot->kernel_size_));
  if (!config.initrds.empty()) {
    std::vector<JoinedFiles::Part> parts;
    uint64_t total = 0;
    for (const auto& name : config.initrds) {
      auto file = open_regular(name, "initrd");
      if (!file) return file.error();
      uint64_t length = (*file)->size;
      uint64_t padded = (length + 3) & ~uint64_t{3};
      parts.push_back({*file, 0, length, padded});
      total += padded;
      if (total > UINT32_MAX)
        return make_error("-initrd %s: the initrd is too large", name.c_str());
    }
    uint64_t addr_max = version >= 0x203 ? load_le(head, kInitrdAddrMax, 4) : kOldInitrdAddrMax;
    uint64_t top = std::min(addr_max + 1, low_top);  // one past the last byte it may use
    uint64_t address = total <= top ? (top - total) & ~uint64_t{0xfff} : 0;
    if (total > top || address < kernel_end)
      return make_error(
          "-initrd %s: %llu bytes do not fit between the kernel and %#llx (guest RAM or the "
          "kernel's initrd_addr_max)",
          config.initrds.front().c_str(), static_cast<unsigned long long>(total),
          static_cast<unsigned long long>(top));
    boot->initrd_address_ = static_cast<uint32_t>(address);
    boot->initrd_ = std::make_shared<JoinedFiles>(std::move(parts));
  }

  // The header fields a boot loader fills in (Linux's Documentation/arch/x86/boot.rst).
  std::vector<uint8_t>& setup = boot->setup_;
  setup[kTypeOfLoader] = kLoaderUndefined;
  setup[kLoadFlags] |= kCanUseHeap;
  store_le(setup, kHeapEndPtr, 2, kCmdlineAddress - kSetupAddress - 0x200);
  store_le(setup, kCmdLinePtr, 4, kCmdlineAddress);
  store_le(setup, kRamdiskImage, 4, boot->initrd_address_);
  store_le(setup, kRamdiskSize, 4, static_cast<uint32_t>(boot->initrd_size()));

  auto rom = read_file(rom_path, Machine::kMaxRomBytes);
  if (!rom)
    return make_error("-kernel: the linuxboot option ROM: %s (Debian's qemu-system-data has it)",
                      rom.error().message.c_str());
  boot->rom_ = std::move(*rom);
  return boot;
}

Result<void> LinuxBoot::install(FwCfg& fw) const {
  fw.set_u32(fw_cfg::kSetupAddr, kSetupAddress);
  fw.set_u32(fw_cfg::kSetupSize, static_cast<uint32_t>(setup_.size()));
  fw.set_item(fw_cfg::kSetupData, setup_);
  fw.set_u32(fw_cfg::kKernelAddr, kKernelAddress);
  fw.set_u32(fw_cfg::kKernelSize, static_cast<uint32_t>(kernel_size_));
  fw.set_item(fw_cfg::kKernelData, kernel_);
  fw.set_u32(fw_cfg::kCmdlineAddr, kCmdlineAddress);
  fw.set_u32(fw_cfg::kCmdlineSize, static_cast<uint32_t>(cmdline_.size()));
  fw.set_item(fw_cfg::kCmdlineData, cmdline_);
  fw.set_u32(fw_cfg::kInitrdAddr, initrd_address_);
  fw.set_u32(fw_cfg::kInitrdSize, static_cast<uint32_t>(initrd_size()));
  if (initrd_) fw.set_item(fw_cfg::kInitrdData, initrd_);
  return fw.add_file(kLinuxbootRomName, rom_);
}

}  // namespace hvmd::firmware
