// xHCI rings without a controller: TRB fetch with cycle bits, link TRBs (toggle, loops, outside
// RAM), and the event ring across segments (producer cycle toggling at the wrap, Event Ring Full
// in the last free slot, recovery once software dequeues, tables refused at set-up).
#include <gtest/gtest.h>

#include "devices/usb/xhci_regs.h"
#include "devices/usb/xhci_rings.h"
#include "dm/guest_memory.h"

namespace hvmd::test {
namespace {

using namespace devices::usb::xhci;

class XhciRingsTest : public ::testing::Test {
 protected:
  void put(uint64_t at, uint64_t parameter, uint32_t status, uint32_t control) {
    uint32_t words[4] = {static_cast<uint32_t>(parameter), static_cast<uint32_t>(parameter >> 32),
                         status, control};
    ASSERT_TRUE(ram.write(at, words, sizeof(words)));
  }
  uint32_t control_at(uint64_t at) {
    uint32_t control = 0;
    EXPECT_TRUE(ram.read(at + 12, &control, 4));
    return control;
  }
  static uint32_t type(uint32_t t) { return t << kTrbTypeShift; }
  HostRam ram{RamLayout::pc(16 << 20)};
};

TEST_F(XhciRingsTest, FetchFollowsLinksAndTheirToggle) {
  // A two-TRB ring: a no-op, then a link back to the start that toggles the cycle state.
  put(0x1000, 0, 0, type(kTrbNoOp) | kTrbCycle);
  put(0x1010, 0x1000, 0, type(kTrbLink) | kTrbToggle | kTrbCycle);
  RingState ring{.dequeue = 0x1000, .cycle = true};
  Trb trb;
  uint64_t at = 0;
  ASSERT_EQ(fetch_trb(ram, ring, trb, at), FetchResult::kTrb);
  EXPECT_EQ(at, 0x1000u);
  EXPECT_EQ(trb.type(), kTrbNoOp);
  advance(ring, at);
  // The link is followed, the cycle state flips, and the old no-op (cycle 1) is now not ours.
  EXPECT_EQ(fetch_trb(ram, ring, trb, at), FetchResult::kEmpty);
  EXPECT_FALSE(ring.cycle);
  EXPECT_EQ(ring.dequeue, 0x1000u);
  put(0x1000, 0, 0, type(kTrbNoOp));  // software's next lap, cycle 0
  EXPECT_EQ(fetch_trb(ram, ring, trb, at), FetchResult::kTrb);
}

TEST_F(XhciRingsTest, LinkLoopsAndRingsOutsideRamEndTheFetch) {
  put(0x2000, 0x2010, 0, type(kTrbLink) | kTrbCycle);
  put(0x2010, 0x2000, 0, type(kTrbLink) | kTrbCycle);
  RingState ring{.dequeue = 0x2000, .cycle = true};
  Trb trb;
  uint64_t at = 0;
  EXPECT_EQ(fetch_trb(ram, ring, trb, at), FetchResult::kLinkLoop);
  put(0x2000, 0xfebf0000, 0, type(kTrbLink) | kTrbCycle);
  ring = {.dequeue = 0x2000, .cycle = true};
  EXPECT_EQ(fetch_trb(ram, ring, trb, at), FetchResult::kNotRam);
  EXPECT_EQ(at, 0xfebf0000u);
}

TEST_F(XhciRingsTest, EventRingWrapsAcrossSegmentsAndTogglesItsCycle) {
  // Two segments of 16 TRBs.
  put(0x3000, 0x4000, 16, 0);
  put(0x3010, 0x5000, 16, 0);
  EventRing ring;
  ring.erstba = 0x3000;
  ring.erstsz = 2;
  ring.erdp = 0x4000;
  ASSERT_TRUE(ring.setup(ram));
  Trb event{.parameter = 0, .status = 0, .control = uint32_t{kEventCommandCompletion} << 10};
  for (int i = 0; i < 20; ++i) ASSERT_EQ(ring.post(ram, event), EventRing::Post::kWritten);
  EXPECT_EQ(control_at(0x4000 + 16 * 15) & kTrbCycle, kTrbCycle);
  EXPECT_EQ(control_at(0x5000 + 16 * 3) & kTrbCycle, kTrbCycle) << "second segment";
  EXPECT_EQ(ring.enqueue_address(), 0x5000u + 16 * 4);
  // Software consumed everything: the rest of segment 2, then segment 1 again with cycle 0.
  ring.dequeue_written(0x5000 + 16 * 4);
  for (int i = 0; i < 14; ++i) ASSERT_EQ(ring.post(ram, event), EventRing::Post::kWritten);
  EXPECT_EQ(ring.enqueue_address(), 0x4000u + 16 * 2);
  EXPECT_EQ(control_at(0x4000) & kTrbCycle, 0u) << "the producer cycle toggled at the wrap";
}

TEST_F(XhciRingsTest, FullRingReportsOnceAndRecovers) {
  put(0x3000, 0x4000, 16, 0);
  EventRing ring;
  ring.erstba = 0x3000;
  ring.erstsz = 1;
  ring.erdp = 0x4000;
  ASSERT_TRUE(ring.setup(ram));
  Trb event{.parameter = 7, .status = 0, .control = uint32_t{kEventTransfer} << 10};
  for (int i = 0; i < 15; ++i) ASSERT_EQ(ring.post(ram, event), EventRing::Post::kWritten);
  EXPECT_EQ(ring.post(ram, event), EventRing::Post::kDropped);
  EXPECT_TRUE(ring.full);
  EXPECT_EQ((control_at(0x4000 + 16 * 15) >> 10) & 0x3f, kEventHostController);
  EXPECT_EQ(ring.post(ram, event), EventRing::Post::kDropped) << "nothing while full";
  EXPECT_TRUE(ring.pending());
  ring.dequeue_written(0x4000 + 16 * 8);
  EXPECT_FALSE(ring.full);
  EXPECT_EQ(ring.post(ram, event), EventRing::Post::kWritten);
  EXPECT_EQ(control_at(0x4000) & kTrbCycle, 0u);
}

TEST_F(XhciRingsTest, SegmentTablesOutOfBoundsAreRefused) {
  EventRing ring;
  ring.erstba = 0x3000;
  for (uint32_t size : {0u, 17u, 0xffffu}) {
    ring.erstsz = size;
    EXPECT_FALSE(ring.setup(ram)) << size;
  }
  ring.erstsz = 1;
  for (uint32_t trbs : {0u, 15u, 4097u}) {
    put(0x3000, 0x4000, trbs, 0);
    EXPECT_FALSE(ring.setup(ram)) << trbs;
    Trb event{};
    EXPECT_EQ(ring.post(ram, event), EventRing::Post::kDropped);
  }
  ring.erstba = 0xfebf0000;
  EXPECT_FALSE(ring.setup(ram));
  EXPECT_TRUE(ring.consistent());
}

}  // namespace
}  // namespace hvmd::test
