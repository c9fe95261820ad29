// Passthrough figures on a real VFIO function, run inside the VFIO lab by passthrough_lab_bench.sh
// (PTLAB_VFIO_DEVICES names the functions; HVMD_BINARY is hvmd):
//  - edu DMA throughput driven through hvmd (qtest client -> hvmd -> vfio-pci edu -> IOMMU ->
//    hvmd's guest RAM) against the same transfers driven from the lab's host side with VFIO
//    directly (this program's own container/group/device code, as the lab's vfio-edu-test.c):
//    hvmd maps guest RAM for the device and never touches the data, so the two must match;
//  - a trapped config read and write through hvmd's register table on the real function against
//    the bare VFIO config-region pread/pwrite under it.
// Prints TABLE lines (bench_table.h).
#include <fcntl.h>
#include <linux/vfio.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "passthrough/bdf.h"
#include "passthrough/passthrough_device.h"
#include "passthrough/vfio_host.h"
#include "tests/bench/bench_table.h"
#include "tests/qtest/qtest_client.h"

namespace {

using Clock = std::chrono::steady_clock;
constexpr uint64_t kEduDmaSrc = 0x80, kEduDmaDst = 0x88, kEduDmaCount = 0x90, kEduDmaCmd = 0x98;
constexpr uint32_t kDmaStart = 1, kDmaToRam = 2;
constexpr uint64_t kEduBuffer = 0x40000;  // edu's internal 4 KiB buffer
constexpr uint32_t kBytes = 4095;         // QEMU 7.2's edu aborts on a transfer ending at 4096
constexpr int kTransfers = 6;             // each 100 ms of edu's own timer

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string edu_address() {
  const char* list = getenv("PTLAB_VFIO_DEVICES");
  std::istringstream in(list ? list : "");
  for (std::string bdf; in >> bdf;) {
    std::ifstream v("/sys/bus/pci/devices/" + bdf + "/device");
    std::string id;
    std::getline(v, id);
    if (id == "0x11e8") return bdf;
  }
  return "";
}

// Host side: the edu through VFIO directly, a buffer mapped at IOVA 0x100000. Bytes per second.
double host_side_dma(const std::string& bdf) {
  char link[PATH_MAX];
  std::string path = "/sys/bus/pci/devices/" + bdf + "/iommu_group";
  ssize_t n = readlink(path.c_str(), link, sizeof(link) - 1);
  if (n < 0) return 0;
  link[n] = 0;
  std::string group_path = std::string("/dev/vfio/") + (strrchr(link, '/') + 1);
  int container = open("/dev/vfio/vfio", O_RDWR), group = open(group_path.c_str(), O_RDWR);
  if (container < 0 || group < 0 || ioctl(group, VFIO_GROUP_SET_CONTAINER, &container) < 0 ||
      ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU) < 0)
    return 0;
  int device = ioctl(group, VFIO_GROUP_GET_DEVICE_FD, bdf.c_str());
  vfio_region_info bar{.argsz = sizeof(bar), .index = VFIO_PCI_BAR0_REGION_INDEX};
  vfio_region_info config{.argsz = sizeof(config), .index = VFIO_PCI_CONFIG_REGION_INDEX};
  if (device < 0 || ioctl(device, VFIO_DEVICE_GET_REGION_INFO, &bar) < 0 ||
      ioctl(device, VFIO_DEVICE_GET_REGION_INFO, &config) < 0)
    return 0;
  auto* regs = static_cast<volatile uint8_t*>(
      mmap(nullptr, bar.size, PROT_READ | PROT_WRITE, MAP_SHARED, device, bar.offset));
  size_t size = 2 << 20;
  auto* ram = static_cast<uint8_t*>(
      mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  vfio_iommu_type1_dma_map map{.argsz = sizeof(map),
                               .flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
                               .vaddr = reinterpret_cast<uint64_t>(ram),
                               .iova = 0x100000,
                               .size = size};
  if (regs == MAP_FAILED || ioctl(container, VFIO_IOMMU_MAP_DMA, &map) < 0) return 0;
  uint16_t command = 0x0006;  // memory + bus master
  (void)!pwrite(device, &command, 2, static_cast<off_t>(config.offset + 4));
  auto reg32 = [&](uint64_t at) -> volatile uint32_t& {
    return *reinterpret_cast<volatile uint32_t*>(regs + at);
  };
  auto reg64 = [&](uint64_t at) -> volatile uint64_t& {
    return *reinterpret_cast<volatile uint64_t*>(regs + at);
  };
  memset(ram, 0x5a, 0x1000);
  auto start = Clock::now();
  for (int i = 0; i < kTransfers; ++i) {
    bool to_ram = i % 2;
    reg64(kEduDmaSrc) = to_ram ? kEduBuffer : 0x100000;
    reg64(kEduDmaDst) = to_ram ? 0x180000 : kEduBuffer;
    reg64(kEduDmaCount) = kBytes;
    reg32(kEduDmaCmd) = kDmaStart | (to_ram ? kDmaToRam : 0);
    while (reg32(kEduDmaCmd) & kDmaStart) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  double elapsed = seconds_since(start);
  bool same = memcmp(ram, ram + 0x80000, kBytes) == 0;
  vfio_iommu_type1_dma_unmap unmap{.argsz = sizeof(unmap), .iova = 0x100000, .size = size};
  ioctl(container, VFIO_IOMMU_UNMAP_DMA, &unmap);
  munmap(const_cast<uint8_t*>(regs), bar.size);
  close(device);
  close(group);
  close(container);
  if (!same) fprintf(stderr, "host-side DMA: data differs\n");
  return same ? kTransfers * double{kBytes} / elapsed : 0;
}

// The same transfers driven through hvmd (qtest), into hvmd's guest RAM.
double hvmd_dma(const std::string& bdf) {
  hvmd::test::QtestClient qt({"-m", "64", "-device", "vfio-pci,host=" + bdf + ",addr=05.0"});
  constexpr uint8_t kDevfn = 5 << 3;
  constexpr uint64_t kBar = 0xe0000000;
  qt.pci_config_write(kDevfn, 0x10, 4, static_cast<uint32_t>(kBar));
  qt.pci_config_write(kDevfn, 0x04, 2, 0x0006);
  qt.memwrite(0x100000, std::vector<uint8_t>(0x1000, 0x5a));
  auto start = Clock::now();
  for (int i = 0; i < kTransfers; ++i) {
    bool to_ram = i % 2;
    qt.writel(kBar + kEduDmaSrc, static_cast<uint32_t>(to_ram ? kEduBuffer : 0x100000));
    qt.writel(kBar + kEduDmaDst, static_cast<uint32_t>(to_ram ? 0x180000 : kEduBuffer));
    qt.writel(kBar + kEduDmaCount, kBytes);
    qt.writel(kBar + kEduDmaCmd, kDmaStart | (to_ram ? kDmaToRam : 0));
    while (qt.readl(kBar + kEduDmaCmd) & kDmaStart)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  double elapsed = seconds_since(start);
  bool same = qt.memread(0x180000, kBytes) == std::vector<uint8_t>(kBytes, 0x5a);
  if (!same) fprintf(stderr, "hvmd DMA: data differs\n");
  return same ? kTransfers * double{kBytes} / elapsed : 0;
}

template <class Fn>
double ns_per_call(Fn fn) {
  constexpr int kCalls = 20000;
  auto start = Clock::now();
  for (int i = 0; i < kCalls; ++i) fn(i);
  return seconds_since(start) * 1e9 / kCalls;
}

void config_costs(const std::string& bdf) {
  auto address = hvmd::passthrough::parse_host_address(bdf);
  auto host = hvmd::passthrough::VfioHost::open("/sys", *address, {});
  if (!host) {
    fprintf(stderr, "%s\n", host.error().message.c_str());
    return;
  }
  hvmd::passthrough::VfioHost* vfio = host->get();
  auto device =
      hvmd::passthrough::PassthroughDevice::create(std::move(*host), {.type = "vfio-pci"});
  if (!device) return;
  hvmd::passthrough::PassthroughDevice& d = **device;
  volatile uint32_t sink = 0;
  // 0x60: past edu's MSI capability, no table entry: the guest's read goes to the host.
  double raw_read = ns_per_call([&](int) { sink = sink + vfio->read(0x60, 4); });
  double table_read = ns_per_call([&](int) { sink = sink + d.config_read(0x60, 4); });
  double emulated = ns_per_call([&](int) { sink = sink + d.config_read(0x00, 4); });
  // The command register: emulated decode bits, bus mastering to the host (read-modify-write).
  double raw_write = ns_per_call([&](int i) { vfio->write(0x04, 2, 0x0006 | (i & 1) << 10); });
  double table_write = ns_per_call([&](int i) { d.config_write(0x04, 2, 0x0006 | (i & 1) << 10); });
  hvmd::bench::table_line("passthrough config read, host register (ns)", table_read, "VFIO pread",
                          raw_read, "ratio<=3");
  hvmd::bench::table_line("passthrough config read, emulated register (ns)", emulated, "VFIO pread",
                          raw_read, "ratio<=1");
  hvmd::bench::table_line("passthrough config write, command (ns)", table_write, "VFIO pwrite",
                          raw_write, "ratio<=4");
}

}  // namespace

int main() {
  std::string edu = edu_address();
  if (edu.empty()) {
    fprintf(stderr, "no edu in PTLAB_VFIO_DEVICES\n");
    return 1;
  }
  double host = host_side_dma(edu);
  double through_hvmd = hvmd_dma(edu);
  hvmd::bench::table_line("edu DMA through hvmd (KiB/s)", through_hvmd / 1024,
                          "same DMA, lab host VFIO", host / 1024, "ratio>=0.9");
  config_costs(edu);
  return host > 0 && through_hvmd > 0 ? 0 : 1;
}
