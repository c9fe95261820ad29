// hvmd's VFIO backend and register table on the VFIO lab's devices, in-process (run inside the lab
// by run-vfio-lab-host-test.sh): e1000e's PCI Express extended capabilities as the guest's table
// shows them (the i440FX board has no ECAM, so this is the level a guest's extended access would
// reach), e1000e's function reset (VFIO_DEVICE_RESET) on system reset and removal, edu's lack of
// any reset on the root bus said in words, and a bus hot reset of a two-function edu behind a
// PCIe root port.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "passthrough/bdf.h"
#include "passthrough/cap_regs.h"
#include "passthrough/ext_config.h"
#include "passthrough/passthrough_device.h"
#include "passthrough/vfio_host.h"

namespace hvmd::test {
namespace {

using namespace passthrough;

constexpr uint32_t kE1000eIms = 0xd0;  // interrupt mask set/read
constexpr uint32_t kEduLiveness = 0x04;

std::string sysfs(const std::string& bdf, const char* file) {
  std::ifstream in("/sys/bus/pci/devices/" + bdf + "/" + file);
  std::string text;
  std::getline(in, text);
  return text;
}

// The lab's vfio-pci functions with this vendor:device, bus 0 first.
std::vector<std::string> functions(const char* vendor, const char* device) {
  const char* list = getenv("PTLAB_VFIO_DEVICES");
  std::istringstream in(list ? list : "");
  std::vector<std::string> found;
  for (std::string bdf; in >> bdf;)
    if (sysfs(bdf, "vendor") == vendor && sysfs(bdf, "device") == device) found.push_back(bdf);
  return found;
}

std::unique_ptr<VfioHost> open_host(const std::string& bdf) {
  auto address = parse_host_address(bdf);
  EXPECT_TRUE(address);
  auto host = VfioHost::open("/sys", *address, {});
  EXPECT_TRUE(host) << host.error().message;
  return host ? std::move(*host) : nullptr;
}

PassthroughOptions vfio_options() {
  return {.type = "vfio-pci", .extended_config = true, .host_resets = true};
}

void enable_memory(HostFunction& host) {
  host.write(pci::kCommand, 2, host.read(pci::kCommand, 2) | pci::kCommandMemory);
}

TEST(VfioLabHost, E1000eExtendedCapabilitiesThroughTheTable) {
  auto nics = functions("0x8086", "0x10d3");
  if (nics.empty()) GTEST_SKIP() << "no e1000e in the lab";
  auto host = open_host(nics[0]);
  ASSERT_TRUE(host);
  ASSERT_EQ(host->config_size(), 4096u);
  auto raw = walk_ext_capabilities([&](uint32_t r) { return host->extended_read(r, 4); }, 4096);
  for (const ExtCapability& c : raw.caps)
    printf("info host extended capability %#06x v%u at %#x\n", c.id, c.version, c.offset);
  ASSERT_FALSE(raw.caps.empty());
  EXPECT_EQ(raw.broken, nullptr);
  VfioHost* vfio = host.get();
  auto device = PassthroughDevice::create(std::move(host), vfio_options());
  ASSERT_TRUE(device) << device.error().message;
  PassthroughDevice& d = **device;
  // The guest's chain from 0x100: the host's supported capabilities, in order, nothing else.
  std::vector<uint16_t> want, seen;
  for (const ExtCapability& c : raw.caps)
    if (ext_capability_supported(c.id)) want.push_back(c.id);
  for (uint32_t at = 0x100, hops = 0; at && hops < 64; ++hops) {
    uint32_t header = d.config_read(at, 4);
    if (header == 0) break;
    if ((header & 0xffff) || at != 0x100) seen.push_back(static_cast<uint16_t>(header));
    printf("info guest extended capability %#06x at %#x\n", header & 0xffff, at);
    at = (header >> 20) & 0xffc;
  }
  EXPECT_EQ(seen, want);
  EXPECT_NE(std::find(seen.begin(), seen.end(), kExtCapAer), seen.end()) << "e1000e has AER";
  for (const ExtCapability& c : d.extended_plan().hidden) {
    if (c.offset != 0x100) {
      EXPECT_EQ(d.config_read(c.offset, 4), 0u) << c.offset;
    }
  }
  // AER's body is the host's, and read-only to the guest without permissive.
  const ExtCapability* aer = nullptr;
  for (const ExtCapability& c : raw.caps)
    if (c.id == kExtCapAer) aer = &c;
  ASSERT_NE(aer, nullptr);
  uint32_t mask = vfio->extended_read(aer->offset + 8, 4);
  EXPECT_EQ(d.config_read(aer->offset + 8, 4), mask);
  d.config_write(aer->offset + 8, 4, ~mask);
  EXPECT_EQ(vfio->extended_read(aer->offset + 8, 4), mask);
  EXPECT_EQ(d.dropped_writes(), 4u);
  printf("PASS e1000e-extended %s: %zu host extended capabilities, %zu in the guest's chain\n",
         nics[0].c_str(), raw.caps.size(), seen.size());
}

// e1000e's function reset (the kernel's PM reset: QEMU 7.2 does not emulate it, so the device's
// registers survive and only the ioctl's success is checked) on the guest's system reset and on
// device_del, for the root-bus e1000e and the one behind a root port.
TEST(VfioLabHost, E1000eIsResetOnSystemResetAndRemoval) {
  auto nics = functions("0x8086", "0x10d3");
  if (nics.empty()) GTEST_SKIP() << "no e1000e in the lab";
  for (const std::string& bdf : nics) {
    auto host = open_host(bdf);
    ASSERT_TRUE(host);
    EXPECT_EQ(host->reset_method(), "function");
    VfioHost* vfio = host.get();
    auto device = PassthroughDevice::create(std::move(host), vfio_options());
    ASSERT_TRUE(device) << device.error().message;
    enable_memory(*vfio);
    vfio->region_write(0, kE1000eIms, 4, 0x1);
    (*device)->reset();  // the guest's system reset: VFIO_DEVICE_RESET
    EXPECT_EQ((*device)->host_resets(), 1u);
    enable_memory(*vfio);
    uint32_t ims = vfio->region_read(0, kE1000eIms, 4);
    (*device)->unrealize();  // device_del
    EXPECT_EQ((*device)->host_resets(), 2u);
    printf("PASS e1000e-reset %s: VFIO_DEVICE_RESET on reset and removal (IMS after: %#x)\n",
           bdf.c_str(), ims);
  }
}

TEST(VfioLabHost, EduOnTheRootBusHasNoResetAndSaysWhy) {
  auto edus = functions("0x1234", "0x11e8");
  if (edus.empty() || edus[0].compare(5, 2, "00") != 0) GTEST_SKIP() << "no edu on bus 0";
  auto host = open_host(edus[0]);
  ASSERT_TRUE(host);
  std::string method = host->reset_method();
  EXPECT_EQ(method.rfind("none", 0), 0u) << method;
  auto r = host->reset();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("no reset method"), std::string::npos) << r.error().message;
  printf("PASS edu-no-reset %s: %s\n", edus[0].c_str(), r.error().message.c_str());
}

// A two-function edu behind a root port: neither function can be reset alone, the bus reset
// reaches both (one IOMMU group: the functions have no ACS), and hvmd holds that group.
TEST(VfioLabHost, EduWithASiblingIsHotReset) {
  auto edus = functions("0x1234", "0x11e8");
  std::string behind;
  for (const std::string& bdf : edus)
    if (bdf.compare(5, 2, "00") != 0 && bdf.back() == '0') behind = bdf;
  if (behind.empty()) GTEST_SKIP() << "no two-function edu behind a root port";
  auto host = open_host(behind);
  ASSERT_TRUE(host);
  EXPECT_EQ(host->reset_method(), "hot reset");
  enable_memory(*host);
  auto r = host->reset();
  ASSERT_TRUE(r) << r.error().message;
  enable_memory(*host);
  host->region_write(0, kEduLiveness, 4, 0x0f0f0f0f);
  EXPECT_EQ(host->region_read(0, kEduLiveness, 4), 0xf0f0f0f0u) << "edu alive after the reset";
  printf("PASS edu-hot-reset %s: VFIO_DEVICE_PCI_HOT_RESET with its group's fd\n", behind.c_str());
}

}  // namespace
}  // namespace hvmd::test
