// hvmd under qtest with -device vfio-pci on QEMU's edu, inside the VFIO lab (a Linux guest with an
// emulated IOMMU and edu bound to vfio-pci; run by run-vfio-lab-test.sh). What a driver of the
// device sees through hvmd: its config space, its BAR, DMA into guest RAM through the IOMMU, INTx
// and MSI; and a DMA to an address that is not guest RAM does not land.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

#include "tests/qtest/qtest_client.h"

namespace hvmd::test {
namespace {

constexpr uint8_t kSlot = 5, kDevfn = kSlot << 3;
constexpr uint64_t kBar = 0xe0000000;
// edu's registers (QEMU docs/specs/edu.rst).
constexpr uint64_t kEduId = 0x00, kEduLiveness = 0x04, kEduIrqStatus = 0x24, kEduIrqRaise = 0x60,
                   kEduIrqAck = 0x64, kEduDmaSrc = 0x80, kEduDmaDst = 0x88, kEduDmaCount = 0x90,
                   kEduDmaCmd = 0x98;
constexpr uint32_t kDmaStart = 1, kDmaToRam = 2;
constexpr uint64_t kEduBuffer = 0x40000;
constexpr unsigned kIrq = 11;

std::string edu_address() {
  const char* devices = getenv("PTLAB_VFIO_DEVICES");
  std::string list = devices ? devices : "0000:00:03.0";
  return list.substr(0, list.find(' '));
}

// Polls (through qtest, so IRQ lines are read too) until done() or two seconds pass.
template <class Done>
bool wait_for(QtestClient& qt, Done done) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    qt.command("clock_step 0");
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return done();
}

class VfioEdu : public ::testing::Test {
 protected:
  void SetUp() override {
    qt = std::make_unique<QtestClient>(std::vector<std::string>{
        "-m", "64", "-device", "vfio-pci,host=" + edu_address() + ",addr=05.0,id=edu"});
    qt->pci_config_write(kDevfn, 0x10, 4, static_cast<uint32_t>(kBar));
    qt->pci_config_write(kDevfn, 0x04, 2, 0x0006);  // memory + bus master
  }
  bool dma(uint64_t src, uint64_t dst, uint32_t count, uint32_t command) {
    qt->writel(kBar + kEduDmaSrc, static_cast<uint32_t>(src));
    qt->writel(kBar + kEduDmaDst, static_cast<uint32_t>(dst));
    qt->writel(kBar + kEduDmaCount, count);
    qt->writel(kBar + kEduDmaCmd, command | kDmaStart);
    return wait_for(*qt, [&] { return !(qt->readl(kBar + kEduDmaCmd) & kDmaStart); });
  }
  std::unique_ptr<QtestClient> qt;
};

TEST_F(VfioEdu, ConfigAndBar) {
  EXPECT_EQ(qt->pci_config_read(kDevfn, 0x00, 4), 0x11e81234u);
  EXPECT_EQ(qt->pci_config_read(kDevfn, 0x08, 4) >> 8, 0x00ff00u);
  EXPECT_EQ(qt->pci_config_read(kDevfn, 0x3d, 1), 1u);  // INTA#
  qt->pci_config_write(kDevfn, 0x10, 4, 0xffffffff);
  EXPECT_EQ(qt->pci_config_read(kDevfn, 0x10, 4), 0xfff00000u);  // 1 MiB
  qt->pci_config_write(kDevfn, 0x10, 4, static_cast<uint32_t>(kBar));
  EXPECT_EQ(qt->readl(kBar + kEduId), 0x010000edu);
  qt->writel(kBar + kEduLiveness, 0x12345678);
  EXPECT_EQ(qt->readl(kBar + kEduLiveness), 0xedcba987u);
  Json pci = qt->qmp("query-pci");
  bool found = false;
  for (const Json& d : pci["return"][0]["devices"])
    found |= d.value("qdev_id", "") == "edu" && d["slot"] == kSlot;
  EXPECT_TRUE(found) << pci.dump();
}

TEST_F(VfioEdu, DmaIntoGuestRamThroughTheIommu) {
  std::vector<uint8_t> pattern(2048);
  for (size_t i = 0; i < pattern.size(); ++i) pattern[i] = static_cast<uint8_t>(i * 7 + 3);
  qt->memwrite(0x100800, pattern);
  ASSERT_TRUE(dma(0x100800, kEduBuffer, 2048, 0));
  ASSERT_TRUE(dma(kEduBuffer, 0x200400, 2048, kDmaToRam));
  EXPECT_EQ(qt->memread(0x200400, 2048), pattern);
  // Past guest RAM (64 MiB) nothing is mapped for the device: the transfer faults in the IOMMU
  // and lands nowhere; hvmd carries on and the next DMA still works.
  ASSERT_TRUE(dma(kEduBuffer, 0x8000000, 2048, kDmaToRam));
  std::vector<uint8_t> zero(2048, 0);
  qt->memwrite(0x300000, zero);
  ASSERT_TRUE(dma(kEduBuffer, 0x300000, 2048, kDmaToRam));
  EXPECT_EQ(qt->memread(0x300000, 2048), pattern);
}

TEST_F(VfioEdu, IntxThroughTheResampleEventfd) {
  EXPECT_EQ(qt->command("irq_intercept_in ioapic"), "OK");
  qt->pci_config_write(0x08, 0x60 + ((kSlot + 0) & 3), 1, kIrq);  // PIIX3 PIRQ route, INTA#
  for (int round = 0; round < 2; ++round) {
    qt->writel(kBar + kEduIrqRaise, 0x1);
    ASSERT_TRUE(wait_for(*qt, [&] { return qt->irq_level(kIrq); })) << "round " << round;
    // The handler: read the status, acknowledge; the line drops and is unmasked.
    EXPECT_EQ(qt->readl(kBar + kEduIrqStatus), 0x1u);
    qt->writel(kBar + kEduIrqAck, 0x1);
    EXPECT_TRUE(wait_for(*qt, [&] { return !qt->irq_level(kIrq); }));
  }
  EXPECT_EQ(qt->irq_raises(kIrq), 2u);
}

TEST_F(VfioEdu, MsiIntoGuestMemory) {
  uint8_t msi = 0;
  for (uint32_t at = qt->pci_config_read(kDevfn, 0x34, 1); at && !msi;
       at = qt->pci_config_read(kDevfn, at + 1, 1))
    if (qt->pci_config_read(kDevfn, at, 1) == 0x05) msi = static_cast<uint8_t>(at);
  ASSERT_NE(msi, 0) << "edu lists MSI";
  uint16_t control = static_cast<uint16_t>(qt->pci_config_read(kDevfn, msi + 2, 2));
  uint8_t data = (control & 0x80) ? msi + 12 : msi + 8;
  // Aimed at guest RAM, an MSI under qtest is the memory write it is.
  qt->writel(0x3f0000, 0);
  qt->pci_config_write(kDevfn, msi + 4, 4, 0x3f0000);
  if (control & 0x80) qt->pci_config_write(kDevfn, msi + 8, 4, 0);
  qt->pci_config_write(kDevfn, data, 2, 0x4242);
  qt->pci_config_write(kDevfn, msi + 2, 2, control | 1);
  qt->writel(kBar + kEduIrqRaise, 0x100);
  EXPECT_TRUE(wait_for(*qt, [&] { return qt->readl(0x3f0000) == 0x4242; }));
  qt->writel(kBar + kEduIrqAck, 0x100);
  // DMA completion with an interrupt: bit 2 of the command raises status 0x100.
  qt->writel(0x3f0000, 0);
  ASSERT_TRUE(dma(0x100000, kEduBuffer, 64, 4));
  EXPECT_TRUE(wait_for(*qt, [&] { return qt->readl(0x3f0000) == 0x4242; }));
  EXPECT_EQ(qt->readl(kBar + kEduIrqStatus) & 0x100, 0x100u);
}

}  // namespace
}  // namespace hvmd::test
