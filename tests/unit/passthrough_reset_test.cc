// Resetting a passthrough function: the host function is reset on the guest's system reset and
// when the device is removed; a function without its own reset is reset through its bus only
// when hvmd holds every IOMMU group the bus reset reaches.
#include <gtest/gtest.h>

#include "passthrough/vfio_host.h"
#include "tests/unit/passthrough_test_support.h"

namespace hvmd::test {
namespace {

using namespace passthrough;

PassthroughOptions vfio_options(HostPassthrough* transport) {
  return {.type = "vfio-pci", .transport = transport, .extended_config = true, .host_resets = true};
}

TEST(PassthroughReset, SystemResetAndRemovalResetTheHostFunction) {
  auto f = make_synthetic_fixture("nic-pcie");
  SoftFunction* soft = f.get();
  RecordingPassthrough transport;
  auto device = PassthroughDevice::create(std::move(f), vfio_options(&transport));
  ASSERT_TRUE(device) << device.error().message;
  EXPECT_EQ(soft->resets, 0u);
  (*device)->reset();  // the machine's reset
  EXPECT_EQ(soft->resets, 1u);
  EXPECT_EQ((*device)->host_resets(), 1u);
  (*device)->unrealize();  // device_del
  EXPECT_EQ(soft->resets, 2u);
  EXPECT_EQ(soft->interrupt_log.back(), "reset");
}

TEST(PassthroughReset, AFunctionWithoutResetIsLeftAsItIs) {
  auto f = make_synthetic_fixture("nic-pcie");
  f->reset_supported = false;
  SoftFunction* soft = f.get();
  auto device = PassthroughDevice::create(std::move(f), vfio_options(nullptr));
  ASSERT_TRUE(device);
  soft->set32(0x1a0, 0x5a5a5a5a);
  (*device)->reset();
  (*device)->reset();  // logged once; nothing else happens
  (*device)->unrealize();
  EXPECT_EQ(soft->resets, 0u);
  EXPECT_EQ((*device)->host_resets(), 0u);
  EXPECT_EQ(soft->get32(0x1a0), 0x5a5a5a5au);
}

TEST(PassthroughReset, HotResetNeedsEveryAffectedGroup) {
  PciAddress a = PciAddress::make(2, 0, 0), b = PciAddress::make(2, 0, 1),
             c = PciAddress::make(2, 1, 0);
  std::map<int, int> owned{{7, 17}, {8, 18}};
  // Two functions of one group and a second group: one fd per group, in order.
  auto fds = hot_reset_group_fds("0000:02:00.0", {{a, 7}, {b, 7}, {c, 8}}, owned);
  ASSERT_TRUE(fds) << fds.error().message;
  EXPECT_EQ(*fds, (std::vector<int>{17, 18}));
  // A group hvmd does not hold: refused, naming the device and its group.
  auto refused = hot_reset_group_fds("0000:02:00.0", {{a, 7}, {c, 9}}, owned);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("0000:02:01.0 in IOMMU group 9"), std::string::npos)
      << refused.error().message;
  EXPECT_NE(refused.error().message.find("not reset"), std::string::npos);
  EXPECT_FALSE(hot_reset_group_fds("0000:02:00.0", {}, owned));
}

}  // namespace
}  // namespace hvmd::test
