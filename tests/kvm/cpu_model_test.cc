// -cpu MODEL on the kvm runner: the table a model makes of KVM's supported CPUID (family, model,
// stepping and brand string of the model; only flags both the model and KVM have), and what guest
// code actually reads with CPUID on a vCPU created with that model.
#include <cpuid.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <initializer_list>
#include <string>
#include <thread>

#include "dm/clock.h"
#include "dm/dispatcher.h"
#include "dm/event_loop.h"
#include "ioreq/kvm/cpu_model.h"
#include "ioreq/kvm/kvm_vm.h"

namespace hvmd::test {
namespace {

using kvm::CpuidEntry;

TEST(CpuModel, SignatureEncodesExtendedFamilyAndModel) {
  EXPECT_EQ(kvm::cpuid_signature(6, 44, 1), 0x000206c1u);    // Westmere
  EXPECT_EQ(kvm::cpuid_signature(23, 1, 2), 0x00800f12u);    // EPYC: family 0xf + 8
  EXPECT_EQ(kvm::cpuid_signature(15, 107, 1), 0x00060fb1u);  // qemu64
}

TEST(CpuModel, NamesWithVersionsAndVariantsFindTheirModel) {
  const kvm::CpuModel* westmere = kvm::find_cpu_model("Westmere");
  ASSERT_NE(westmere, nullptr);
  EXPECT_EQ(westmere->family, 6u);
  EXPECT_EQ(westmere->model, 44u);
  EXPECT_NE(kvm::find_cpu_model("Westmere-v1"), nullptr);
  EXPECT_NE(kvm::find_cpu_model("Skylake-Client-noTSX-IBRS"), nullptr);
  EXPECT_NE(kvm::find_cpu_model("qemu64"), nullptr);
  EXPECT_EQ(kvm::find_cpu_model("Pentium9000"), nullptr);
}

// A table as KVM might return it, with every flag set: what is left is the model's.
std::vector<CpuidEntry> everything() {
  std::vector<CpuidEntry> t;
  for (uint32_t leaf :
       {0u, 1u, 7u, 0xdu, 0x80000000u, 0x80000001u, 0x80000002u, 0x80000003u, 0x80000004u})
    t.push_back({leaf, 0, ~0u, ~0u, ~0u, ~0u});
  return t;
}

const CpuidEntry& leaf(const std::vector<CpuidEntry>& t, uint32_t function) {
  for (const CpuidEntry& e : t)
    if (e.function == function) return e;
  static CpuidEntry none;
  ADD_FAILURE() << "no leaf " << function;
  return none;
}

std::string brand(const std::vector<CpuidEntry>& t) {
  char text[49] = {};
  for (unsigned i = 0; i < 3; ++i) {
    const CpuidEntry& e = leaf(t, 0x80000002 + i);
    uint32_t regs[4] = {e.eax, e.ebx, e.ecx, e.edx};
    std::memcpy(text + 16 * i, regs, 16);
  }
  return text;
}

TEST(CpuModel, AModelKeepsItsFlagsAndNamesItself) {
  auto t = everything();
  ASSERT_TRUE(kvm::apply_cpu_model("Westmere", t).ok());
  const kvm::CpuModel& m = *kvm::find_cpu_model("Westmere");
  EXPECT_EQ(leaf(t, 1).eax, 0x000206c1u);
  EXPECT_EQ(leaf(t, 1).ebx, ~0u) << "APIC id, CLFLUSH size: KVM's";
  EXPECT_EQ(leaf(t, 1).edx, m.features[kvm::kLeaf1Edx] & ~(1u << 22)) << "no ACPI under KVM";
  uint32_t ecx = leaf(t, 1).ecx;
  EXPECT_TRUE(ecx & (1u << 20)) << "SSE4.2";
  EXPECT_FALSE(ecx & (1u << 28)) << "no AVX on Westmere";
  EXPECT_TRUE(ecx & (1u << 31)) << "hypervisor";
  EXPECT_TRUE(ecx & (1u << 21)) << "x2APIC, KVM's default";
  EXPECT_FALSE(ecx & (1u << 3)) << "no MONITOR under KVM";
  EXPECT_EQ(leaf(t, 7).ebx, m.features[kvm::kLeaf7Ebx]);
  EXPECT_EQ(leaf(t, 7).eax, ~0u) << "sub-leaf count: KVM's";
  EXPECT_TRUE(leaf(t, 0x80000001).edx & (1u << 29)) << "long mode";
  EXPECT_FALSE(leaf(t, 0x80000001).ecx & (1u << 2)) << "no SVM under KVM";
  EXPECT_FALSE(leaf(t, 0xd).eax & (1u << 2)) << "no AVX state without AVX";
  EXPECT_EQ(brand(t), "Westmere E56xx/L56xx/X56xx (Nehalem-C)");
  EXPECT_EQ(leaf(t, 0).ebx, ~0u) << "the vendor stays the host's, as QEMU under KVM";
}

TEST(CpuModel, FlagsKvmLacksStayOff) {
  auto t = everything();
  for (CpuidEntry& e : t)
    if (e.function == 1) e.ecx &= ~(1u << 20);  // a host without SSE4.2
  ASSERT_TRUE(kvm::apply_cpu_model("Nehalem", t).ok());
  EXPECT_FALSE(leaf(t, 1).ecx & (1u << 20));
}

TEST(CpuModel, HostMaxAndNoModelKeepKvmsTableUnknownIsRefused) {
  for (const char* name : {"", "host", "max"}) {
    auto t = everything();
    ASSERT_TRUE(kvm::apply_cpu_model(name, t).ok());
    EXPECT_EQ(leaf(t, 1).ecx, ~0u) << name;
    EXPECT_EQ(leaf(t, 1).eax, ~0u) << name;
  }
  auto t = everything();
  auto bad = kvm::apply_cpu_model("Pentium9000", t);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("Pentium9000"), std::string::npos);
}

// Guest code at the reset vector reads CPUID leaves 1, 0x80000002-4 and 7 into RAM at 0x100.
struct GuestCpuid {
  uint32_t leaf1[4];  // eax, ebx, ecx, edx
  uint32_t brand[12];
  uint32_t leaf7[3];  // ebx, ecx, edx
};
constexpr uint64_t kResult = 0x100, kDoneFlag = 0x1ff;

std::vector<uint8_t> cpuid_program() {
  std::vector<uint8_t> code;
  auto mov_eax = [&](uint32_t v) {
    code.insert(code.end(),
                {0x66, 0xb8, uint8_t(v), uint8_t(v >> 8), uint8_t(v >> 16), uint8_t(v >> 24)});
  };
  // mov dword [address], reg (reg: 0 eax, 1 ecx, 2 edx, 3 ebx), real mode, DS base 0.
  auto store = [&](unsigned reg, uint16_t address) {
    code.insert(code.end(),
                {0x66, 0x89, uint8_t(0x06 | reg << 3), uint8_t(address), uint8_t(address >> 8)});
  };
  constexpr uint8_t kCpuid[] = {0x0f, 0xa2};
  uint16_t at = kResult;
  mov_eax(1);
  code.insert(code.end(), kCpuid, kCpuid + 2);
  auto store_all = [&](std::initializer_list<unsigned> regs) {
    for (unsigned reg : regs) {
      store(reg, at);
      at += 4;
    }
  };
  store_all({0, 3, 1, 2});
  for (uint32_t l = 0x80000002; l <= 0x80000004; ++l) {
    mov_eax(l);
    code.insert(code.end(), kCpuid, kCpuid + 2);
    store_all({0, 3, 1, 2});
  }
  mov_eax(7);
  code.insert(code.end(), {0x66, 0x31, 0xc9});  // xor ecx, ecx: sub-leaf 0
  code.insert(code.end(), kCpuid, kCpuid + 2);
  store_all({3, 1, 2});
  code.insert(code.end(), {0xc6, 0x06, uint8_t(kDoneFlag), uint8_t(kDoneFlag >> 8), 1});
  code.insert(code.end(), {0xf4, 0xeb, 0xfd});  // hlt; jmp back to hlt
  return code;
}

bool run_guest(const char* model, GuestCpuid* out, std::vector<CpuidEntry>* table = nullptr) {
  auto vm = kvm::KvmVm::create();
  EXPECT_TRUE(vm.ok()) << vm.error().message;
  if (!vm.ok()) return false;
  constexpr uint64_t kSize = 0x10000;
  auto* firmware = static_cast<uint8_t*>(
      mmap(nullptr, kSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  auto* ram = static_cast<uint8_t*>(
      mmap(nullptr, kSize, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  EXPECT_NE(firmware, MAP_FAILED);
  EXPECT_NE(ram, MAP_FAILED);
  auto code = cpuid_program();
  std::memcpy(firmware, code.data(), code.size());
  // At 0xfffffff0: jmp near to offset 0 of the reset segment (base 0xffff0000).
  constexpr uint8_t kJump[] = {0xe9, 0x0d, 0x00};
  std::memcpy(firmware + 0xfff0, kJump, sizeof(kJump));
  EXPECT_TRUE((*vm)->map_memory(0xffff0000, kSize, firmware, /*read_only=*/true).ok());
  EXPECT_TRUE((*vm)->map_memory(0, kSize, ram, /*read_only=*/false).ok());
  Dispatcher dispatcher(nullptr);
  dispatcher.set_listener(vm->get());
  Clock clock(Clock::Mode::kHost);
  EventLoop loop(clock);
  EXPECT_TRUE(loop.init().ok());
  std::mutex device_lock;
  auto vcpus = (*vm)->create_vcpus(1, model);
  EXPECT_TRUE(vcpus.ok()) << vcpus.error().message;
  if (!vcpus.ok()) return false;
  if (table) *table = (*vm)->cpuid();
  (*vm)->start(
      dispatcher, loop, device_lock, [] {}, [](std::string message) { ADD_FAILURE() << message; });
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  volatile uint8_t* done = ram + kDoneFlag;
  while (*done != 1 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  (*vm)->stop();
  bool finished = *done == 1;
  std::memcpy(out, ram + kResult, sizeof(*out));
  munmap(firmware, kSize);
  munmap(ram, kSize);
  return finished;
}

bool have_kvm() {
  int probe = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (probe < 0) return false;
  close(probe);
  return true;
}

// The guest reads the model's signature and brand string. The flags are checked in the table the
// vCPU was given: some KVMs (this project's CI sandbox among them) let CPUID's feature leaves
// through from the host whatever KVM_SET_CPUID2 said, while honouring the signature and brand.
TEST(KvmCpuModel, GuestReadsTheModelsIdentityTheVcpuGetsOnlyItsFlags) {
  if (!have_kvm()) GTEST_SKIP() << "/dev/kvm: " << strerror(errno);
  GuestCpuid id{};
  std::vector<CpuidEntry> table;
  ASSERT_TRUE(run_guest("Westmere", &id, &table)) << "the guest program did not finish";
  EXPECT_EQ(id.leaf1[0], 0x000206c1u) << "family 6, model 44, stepping 1";
  EXPECT_TRUE(id.leaf1[3] & (1u << 0)) << "FPU";
  char text[49] = {};
  std::memcpy(text, id.brand, 48);
  EXPECT_STREQ(text, "Westmere E56xx/L56xx/X56xx (Nehalem-C)");

  const kvm::CpuModel& m = *kvm::find_cpu_model("Westmere");
  const CpuidEntry& l1 = leaf(table, 1);
  EXPECT_EQ(l1.eax, 0x000206c1u);
  uint32_t allowed_ecx = m.features[kvm::kLeaf1Ecx] | (1u << 21) | (1u << 31);
  EXPECT_EQ(l1.ecx & ~allowed_ecx, 0u) << std::hex << l1.ecx;
  EXPECT_TRUE(l1.ecx & (1u << 31)) << "hypervisor";
  EXPECT_EQ(l1.edx & ~m.features[kvm::kLeaf1Edx], 0u) << std::hex << l1.edx;
  EXPECT_EQ(leaf(table, 7).ebx & ~m.features[kvm::kLeaf7Ebx], 0u);
  EXPECT_EQ(leaf(table, 0x80000001).ecx & ~m.features[kvm::kExtEcx], 0u);
}

TEST(KvmCpuModel, HostShowsTheHostsSignatureAndKvmsFlags) {
  if (!have_kvm()) GTEST_SKIP() << "/dev/kvm: " << strerror(errno);
  GuestCpuid id{};
  std::vector<CpuidEntry> table;
  ASSERT_TRUE(run_guest("host", &id, &table));
  unsigned eax, ebx, ecx, edx;
  ASSERT_TRUE(__get_cpuid(1, &eax, &ebx, &ecx, &edx));
  EXPECT_EQ(id.leaf1[0], eax);
  EXPECT_EQ(leaf(table, 1).eax, eax) << "KVM's table, untouched";
}

}  // namespace
}  // namespace hvmd::test
