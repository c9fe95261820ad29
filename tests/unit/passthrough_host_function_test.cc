// The host-function side of passthrough: the software function behaves like hardware, the
// fixtures parse, capability chains are walked without trusting them.
#include <gtest/gtest.h>

#include "dm/pci/pci_regs.h"
#include "passthrough/bdf.h"
#include "passthrough/cap_regs.h"
#include "passthrough/capabilities.h"
#include "passthrough/fixtures.h"
#include "passthrough/sysfs_resource.h"

namespace hvmd::passthrough {
namespace {

using namespace pci;

const std::string kRecorded = HVMD_SOURCE_DIR "/tests/passthrough/fixtures";

std::vector<uint8_t> cap_ids(SoftFunction& f, const char** broken = nullptr) {
  auto list = walk_capabilities([&f](uint32_t reg) { return f.get8(reg); });
  if (broken) *broken = list.broken;
  std::vector<uint8_t> ids;
  for (const auto& c : list.caps) ids.push_back(c.id);
  return ids;
}

TEST(PassthroughHostFunction, SoftFunctionHasHardwareWriteSemantics) {
  auto f = make_synthetic_fixture("nic-pcie");
  ASSERT_TRUE(f);
  f->set16(kStatus, 0x8110);              // parity error, master data parity error, capabilities
  f->write(kStatus, 2, 0x8000 | 0x0010);  // clears parity error only; cap bit is read-only
  EXPECT_EQ(f->get16(kStatus), 0x0110);
  f->write(kCommand, 2, 0xffff);  // reserved bits stay 0
  EXPECT_EQ(f->get16(kCommand), kCommandIo | kCommandMemory | kCommandBusMaster | kCommandParity |
                                    kCommandSerr | kCommandIntxDisable);
  f->write(kVendorId, 2, 0);  // read-only
  EXPECT_EQ(f->read(kVendorId, 2), 0x8086u);
  // BAR sizing as hardware does it: all-ones reads back the size mask and the flags.
  f->write(kBar0, 4, ~0u);
  EXPECT_EQ(f->read(kBar0, 4), ~(0x20000u - 1));
  f->write(kBar0 + 8, 4, ~0u);  // BAR2: 32 I/O ports
  EXPECT_EQ(f->read(kBar0 + 8, 4), ~(0x20u - 1) | kBarIoSpace);
  EXPECT_EQ(f->writes.size(), 5u);
  // Out of range is all-ones and never written.
  EXPECT_EQ(f->read(0xffe, 4), ~0u);
  f->write(0xffe, 4, 0);
  EXPECT_EQ(f->writes.size(), 5u);
  // Extended space exists on this one.
  EXPECT_EQ(f->config_size(), 4096u);
  EXPECT_EQ(f->extended_read(kExtCapStart, 2), kExtCapAer);
}

TEST(PassthroughHostFunction, SoftFunctionRegionsRomInterruptsAndReset) {
  auto f = make_synthetic_fixture("gpu-64bit");
  HostRegion bar1 = f->region(1);
  EXPECT_EQ(bar1.kind, RegionKind::kMemory64);
  EXPECT_TRUE(bar1.prefetchable);
  EXPECT_EQ(bar1.size, 256u << 20);
  EXPECT_EQ(f->read(kBar0 + 4, 4), 0x0000000cu);  // 64-bit prefetchable, low address 0
  EXPECT_EQ(f->read(kBar0 + 8, 4), 0x8u);         // high dword of 0x8_0000_0000
  f->region_write(1, 0x0ffffff8, 8, 0x1122334455667788);
  EXPECT_EQ(f->region_read(1, 0x0ffffffc, 4), 0x11223344u);
  EXPECT_EQ(f->region_read(1, 0x0ffffffc, 8), ~0ull);  // past the end
  EXPECT_EQ(f->region(kRomRegion).kind, RegionKind::kNone);
  ASSERT_TRUE(f->set_msi(false, 1));
  ASSERT_TRUE(f->set_msi(false, 0));
  f->write(kCommand, 2, kCommandMemory);
  ASSERT_TRUE(f->reset());
  EXPECT_EQ(f->get16(kCommand), 0);
  EXPECT_EQ(f->interrupt_log, (std::vector<std::string>{"msi 1", "msi 0", "reset"}));
  f->reset_supported = false;
  EXPECT_FALSE(f->reset());
}

TEST(PassthroughHostFunction, SyntheticChainsWalkAndStop) {
  const char* broken = nullptr;
  auto nic = make_synthetic_fixture("nic-pcie");
  EXPECT_EQ(cap_ids(*nic, &broken), (std::vector<uint8_t>{kCapPm, kCapMsi, kCapPcie, kCapMsix}));
  EXPECT_EQ(broken, nullptr);
  auto gpu = make_synthetic_fixture("gpu-64bit");
  EXPECT_EQ(cap_ids(*gpu),
            (std::vector<uint8_t>{kCapPm, kCapAgp, kCapMsi, kCapPcix, kCapVendor, kCapPcie}));
  auto cyclic = make_synthetic_fixture("cyclic-caps");
  EXPECT_EQ(cap_ids(*cyclic, &broken), (std::vector<uint8_t>{kCapPm, kCapMsi}));
  EXPECT_STREQ(broken, "cycle");
  auto bad = make_synthetic_fixture("broken-caps");
  EXPECT_EQ(cap_ids(*bad, &broken), (std::vector<uint8_t>{kCapVendor}));
  EXPECT_STREQ(broken, "pointer outside 0x40-0xfc");
  // A vendor length running past the end is cut at 256.
  EXPECT_EQ(capability_length(kCapVendor, 0xf0, [&](uint32_t r) { return bad->get8(r); }), 16u);
  EXPECT_EQ(make_synthetic_fixture("no-such"), nullptr);
}

TEST(PassthroughHostFunction, AChainThroughEveryOffsetIsWalkedOnceAndCyclesStop) {
  SoftFunction f("0000:00:00.0");
  f.set8(kCapabilitiesPointer, 0x43);  // low bits are ignored
  for (uint32_t at = 0x40; at < 0xfc; at += 4) f.set8(at + 1, static_cast<uint8_t>(at + 4 + 2));
  const char* broken = "unset";
  EXPECT_EQ(cap_ids(f, &broken).size(), kCapChainMaxHops);
  EXPECT_EQ(broken, nullptr);
  f.set8(0xfd, 0x80);  // the last one back into the middle
  EXPECT_EQ(cap_ids(f, &broken).size(), kCapChainMaxHops);
  EXPECT_STREQ(broken, "cycle");
}

TEST(PassthroughHostFunction, RecordedFixturesLoad) {
  auto stems = recorded_fixture_stems(kRecorded);
  ASSERT_EQ(stems.size(), 6u);
  for (const auto& stem : stems) {
    auto f = load_recorded_fixture(kRecorded, stem);
    ASSERT_TRUE(f) << f.error().message;
    EXPECT_NE((*f)->read(kVendorId, 2), 0xffffu) << stem;
  }
  // 00:03.0: a virtio-net with a 64-bit BAR0 of 512 KiB, vendor caps and MSI-X (3 vectors).
  auto net = load_recorded_fixture(kRecorded, "0000_00_03.0");
  ASSERT_TRUE(net);
  SoftFunction& f = **net;
  EXPECT_EQ(f.name(), "0000:00:03.0");
  EXPECT_EQ(f.host_address().device(), 3);
  EXPECT_EQ(f.region(0).kind, RegionKind::kMemory64);
  EXPECT_EQ(f.region(0).size, 0x80000u);
  EXPECT_EQ(f.region(0).host_address, 0x4000100000u);
  EXPECT_EQ(cap_ids(f), (std::vector<uint8_t>{kCapVendor, kCapVendor, kCapVendor, kCapVendor,
                                              kCapVendor, kCapMsix}));
  EXPECT_EQ(f.intx().machine_irq, 0u);  // no interrupt pin: no INTx
  auto host_bridge = load_recorded_fixture(kRecorded, "0000_00_00.0");
  ASSERT_TRUE(host_bridge);
  EXPECT_EQ((*host_bridge)->config_size(), 4096u);
  EXPECT_FALSE(load_recorded_fixture(kRecorded, "0000_09_00.0"));
}

TEST(PassthroughHostFunction, ResourceParsing) {
  auto r = parse_resource(
      "0x00000000fe000000 0x00000000fe01ffff 0x0000000000040200\n"
      "0x000000000000c000 0x000000000000c01f 0x0000000000040101\n"
      "0x0000000000000000 0x0000000000000000 0x0000000000000000\n"
      "0x0000008000000000 0x000000800fffffff 0x000000000014220c\n"
      "0x0000000000000000 0x0000000000000000 0x0000000000000000\n"
      "0x0000000000000000 0x0000000000000000 0x0000000000000000\n"
      "0x00000000fea00000 0x00000000fea0ffff 0x0000000000046200\n");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ((*r)[0].kind, RegionKind::kMemory32);
  EXPECT_EQ((*r)[0].size, 0x20000u);
  EXPECT_EQ((*r)[1].kind, RegionKind::kIo);
  EXPECT_EQ((*r)[1].host_address, 0xc000u);
  EXPECT_EQ((*r)[2].kind, RegionKind::kNone);
  EXPECT_EQ((*r)[3].kind, RegionKind::kMemory64);
  EXPECT_TRUE((*r)[3].prefetchable);
  EXPECT_EQ((*r)[kRomRegion].kind, RegionKind::kMemory32);
  EXPECT_EQ((*r)[kRomRegion].size, 0x10000u);
  auto bad = parse_resource("0x1 nonsense\n");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("nonsense"), std::string::npos);
  EXPECT_FALSE(parse_resource("0x2000 0x1000 0x200\n"));
}

TEST(PassthroughHostFunction, HostAddresses) {
  auto a = parse_host_address("0001:3a:1f.7");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->segment, 1);
  EXPECT_EQ(a->bus, 0x3a);
  EXPECT_EQ(a->device(), 0x1f);
  EXPECT_EQ(a->function(), 7);
  EXPECT_EQ(format_host_address(*a), "0001:3a:1f.7");
  auto b = parse_host_address("00:03.0");
  ASSERT_TRUE(b);
  EXPECT_EQ(format_host_address(*b), "0000:00:03.0");
  for (const char* bad : {"", "0000:00:20.0", "00:03.8", "00:03", "0:0:0:0.0", "00:03.0x",
                          "00000:00:03.0", "zz:00.0"}) {
    auto r = parse_host_address(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().message.find(std::string("'") + bad + "'"), std::string::npos);
  }
}

}  // namespace
}  // namespace hvmd::passthrough
