// Extended config space (0x100-0xfff) of a passthrough function through VFIO: the extended
// capability chain filtered as the first 256 bytes are (AER and the serial number kept, SR-IOV and
// ACS unlinked and reading 0), read-only unless permissive, and absent under Xen.
#include <gtest/gtest.h>

#include "passthrough/cap_regs.h"
#include "passthrough/ext_config.h"
#include "tests/unit/passthrough_test_support.h"

namespace hvmd::test {
namespace {

using namespace passthrough;

struct ExtRig : PassthroughRig {
  explicit ExtRig(std::unique_ptr<SoftFunction> f, bool permissive = false, bool extended = true)
      : PassthroughRig(std::move(f), true, permissive, nullptr, extended) {}
  uint32_t ext(uint32_t reg, unsigned size = 4) { return device->config_read(reg, size); }
  void ext_write(uint32_t reg, uint32_t value, unsigned size = 4) {
    device->config_write(reg, size, value);
  }
  // The extended chain as a driver walks it from 0x100 (ID, offset), bounded.
  std::vector<std::pair<uint16_t, uint32_t>> chain() {
    std::vector<std::pair<uint16_t, uint32_t>> caps;
    uint32_t at = 0x100;
    for (int hops = 0; at && hops < 64; ++hops) {
      uint32_t header = ext(at);
      if (header == 0) break;
      caps.emplace_back(static_cast<uint16_t>(header), at);
      at = (header >> 20) & 0xffc;
    }
    return caps;
  }
};

TEST(PassthroughExtConfig, SupportedCapabilitiesStayHiddenOnesAreUnlinkedAndReadZero) {
  ExtRig rig(make_synthetic_fixture("pcie-sriov"));
  ASSERT_EQ(rig.error, "");
  // SR-IOV was first: 0x100 is a null capability leading to AER, AER leads past ACS to the
  // serial number, which ends the chain.
  EXPECT_EQ(rig.ext(0x100), 0x14000000u);
  auto chain = rig.chain();
  ASSERT_EQ(chain.size(), 3u);
  EXPECT_EQ(chain[0], std::make_pair(uint16_t{0}, 0x100u));
  EXPECT_EQ(chain[1], std::make_pair(kExtCapAer, 0x140u));
  EXPECT_EQ(chain[2], std::make_pair(kExtCapDsn, 0x1a0u));
  EXPECT_EQ(rig.ext(0x140), 0x1a020001u);  // AER, version 2 kept, next skips ACS
  EXPECT_EQ(rig.ext(0x1a0), 0x00010003u);
  // Kept bodies are the host's.
  EXPECT_EQ(rig.ext(0x148), 0x00400000u);
  EXPECT_EQ(rig.ext(0x1a4), 0x9abcdef0u);
  EXPECT_EQ(rig.ext(0x1a8, 2), 0x5678u);
  EXPECT_EQ(rig.ext(0x14a, 1), 0x40u);
  // SR-IOV's counts and VF BAR, ACS's header and capabilities read 0.
  EXPECT_EQ(rig.ext(0x10e, 2), 0u);
  EXPECT_EQ(rig.ext(0x124), 0u);
  EXPECT_EQ(rig.ext(0x188), 0u);
  EXPECT_EQ(rig.ext(0x18c, 2), 0u);
  const ExtendedPlan& plan = rig.device->extended_plan();
  EXPECT_EQ(plan.kept.size(), 2u);
  EXPECT_EQ(plan.hidden.size(), 2u);
  EXPECT_EQ(plan.broken_chain, nullptr);
}

TEST(PassthroughExtConfig, ReadOnlyUnlessPermissive) {
  ExtRig rig(make_synthetic_fixture("pcie-sriov"));
  rig.read(0);  // binds INTx
  rig.soft->writes.clear();
  rig.ext_write(0x148, 0x00000010);  // AER uncorrectable mask
  rig.ext_write(0x140, 0);           // a header
  rig.ext_write(0x124, 0xffffffff);  // the hidden VF BAR
  EXPECT_TRUE(rig.soft->writes.empty());
  EXPECT_EQ(rig.soft->get32(0x148), 0x00400000u);
  EXPECT_EQ(rig.soft->get32(0x124), 0xfd00000cu);
  EXPECT_EQ(rig.device->dropped_writes(), 4u);  // the mask's four bytes; emulated ones ignored

  ExtRig permissive(make_synthetic_fixture("pcie-sriov"), /*permissive=*/true);
  permissive.read(0);
  permissive.soft->writes.clear();
  permissive.ext_write(0x148, 0x00000010);
  EXPECT_EQ(permissive.soft->get32(0x148), 0x00000010u);
  EXPECT_EQ(permissive.ext(0x148), 0x00000010u);
  // The AER status clears by writing 1 on the host.
  permissive.soft->set32(0x144, 0x00000010);
  permissive.ext_write(0x144, 0x00000010);
  EXPECT_EQ(permissive.ext(0x144), 0u);
  // Headers and hidden bodies stay the table's even so.
  permissive.ext_write(0x140, 0);
  permissive.ext_write(0x124, 0xffffffff);
  EXPECT_EQ(permissive.ext(0x140), 0x1a020001u);
  EXPECT_EQ(permissive.soft->get32(0x124), 0xfd00000cu);
  EXPECT_EQ(permissive.device->dropped_writes(), 0u);
}

TEST(PassthroughExtConfig, OutOfRangeAndOddAccessesAreHarmless) {
  ExtRig rig(make_synthetic_fixture("pcie-sriov"));
  EXPECT_EQ(rig.ext(0xffc), rig.soft->get32(0xffc));
  EXPECT_EQ(rig.ext(0xffe, 4), 0u);
  EXPECT_EQ(rig.ext(0x1000), 0u);
  EXPECT_EQ(rig.ext(0xffffffff, 4), 0u);
  EXPECT_EQ(rig.ext(0x140, 0), 0u);
  EXPECT_EQ(rig.ext(0x140, 8), 0u);
  rig.soft->writes.clear();
  rig.ext_write(0xfff, 0xff, 4);
  rig.ext_write(0x1000, 0xff);
  rig.ext_write(0xfffffffe, 0xff, 2);
  EXPECT_TRUE(rig.soft->writes.empty());
}

TEST(PassthroughExtConfig, XenSeesNoExtendedSpaceNorDoes256ByteHost) {
  ExtRig xen(make_synthetic_fixture("pcie-sriov"), false, /*extended=*/false);
  EXPECT_EQ(xen.ext(0x100), 0u);
  EXPECT_EQ(xen.ext(0x148), 0u);
  ExtRig small(make_synthetic_fixture("gpu-64bit"));
  EXPECT_EQ(small.ext(0x100), 0u);
  EXPECT_EQ(small.device->extended_plan().size, 0u);
}

TEST(PassthroughExtConfig, BrokenChainsEndCleanly) {
  // AER at 0x100 pointing back at itself through DSN: a cycle.
  auto cyclic = make_synthetic_fixture("pcie-sriov");
  cyclic->set32(0x100, 0x14010001);  // AER v1, next 0x140
  cyclic->set32(0x140, 0x10010003);  // DSN, next 0x100
  ExtRig rig(std::move(cyclic));
  EXPECT_STREQ(rig.device->extended_plan().broken_chain, "cycle");
  auto chain = rig.chain();
  ASSERT_EQ(chain.size(), 2u);
  EXPECT_EQ(rig.ext(0x140), 0x00010003u);  // the guest's chain ends here
  // A pointer below 0x100 or past 0xffc stops the walk, as does an all-ones header.
  auto low = [](uint32_t reg) { return reg == 0x100 ? 0x0f010001u : 0u; };
  EXPECT_STREQ(walk_ext_capabilities(low, 4096).broken, "pointer outside 0x100-0xffc");
  EXPECT_EQ(walk_ext_capabilities(low, 4096).caps.size(), 1u);
  auto ones = [](uint32_t) { return ~0u; };
  EXPECT_TRUE(walk_ext_capabilities(ones, 4096).caps.empty());
  // Every dword a capability pointing at the next: as many as fit, then the end.
  auto all = [](uint32_t reg) { return 0x0001u | (reg + 4) << 20; };
  auto list = walk_ext_capabilities(all, 4096);
  EXPECT_EQ(list.caps.size(), kExtCapMaxHops);
  EXPECT_EQ(list.broken, nullptr);
}

}  // namespace
}  // namespace hvmd::test
