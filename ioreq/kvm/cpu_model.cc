#include "ioreq/kvm/cpu_model.h"

#include <algorithm>
#include <cstring>
#include <string>

namespace hvmd::kvm {

namespace {

constexpr CpuModel kModels[] = {
#include "ioreq/kvm/cpu_models.inc"
};

// What QEMU changes in every model under KVM (its KVM defaults): x2APIC on (KVM emulates it in
// the kernel), the hypervisor bit set; MONITOR/MWAIT, ACPI thermal control and SVM off.
constexpr uint32_t kLeaf1EcxMonitor = 1u << 3;
constexpr uint32_t kLeaf1EcxX2apic = 1u << 21;
constexpr uint32_t kLeaf1EcxHypervisor = 1u << 31;
constexpr uint32_t kLeaf1EdxAcpi = 1u << 22;
constexpr uint32_t kExtEcxSvm = 1u << 2;
// On AMD, leaf 0x80000001 EDX repeats these leaf 1 EDX flags (fpu..pse36 but for bits 10 and 11,
// mmx, fxsr); they follow the model's leaf 1 flags.
constexpr uint32_t kAmdAliasedEdx = 0x0183f3ff;
// XSAVE state components (leaf 0xd sub-leaf 0 EAX) that exist only with a feature flag.
constexpr uint32_t kLeaf1EcxAvx = 1u << 28;
constexpr uint32_t kLeaf7EbxMpx = 1u << 14;
constexpr uint32_t kLeaf7EbxAvx512f = 1u << 16;
constexpr uint32_t kLeaf7EcxPku = 1u << 3;
constexpr uint32_t kXcr0Avx = 1u << 2, kXcr0Mpx = 3u << 3, kXcr0Avx512 = 7u << 5,
                   kXcr0Pkru = 1u << 9;

constexpr uint32_t kLeafFeatures = 1, kLeafStructured = 7, kLeafXsave = 0xd,
                   kLeafExtFeatures = 0x80000001, kLeafBrand = 0x80000002;
constexpr unsigned kBrandLeaves = 3;

std::string_view without_suffix(std::string_view name) {
  if (size_t v = name.rfind("-v"); v != std::string_view::npos && v + 2 < name.size() &&
                                   name.find_first_not_of("0123456789", v + 2) == name.npos)
    return name.substr(0, v);
  for (std::string_view suffix : {"-noTSX-IBRS", "-IBRS", "-noTSX", "-IBPB"})
    if (name.ends_with(suffix)) return name.substr(0, name.size() - suffix.size());
  return name;
}

const CpuModel* lookup(std::string_view name) {
  for (const CpuModel& model : kModels)
    if (name == model.name) return &model;
  return nullptr;
}

CpuidEntry* entry_for(std::vector<CpuidEntry>& entries, uint32_t function, uint32_t index = 0) {
  for (CpuidEntry& e : entries)
    if (e.function == function && e.index == index) return &e;
  return nullptr;
}

}  // namespace

const CpuModel* find_cpu_model(std::string_view name) {
  // At most two steps: "Skylake-Client-noTSX-IBRS-v2" drops -v2, then -noTSX-IBRS.
  for (int step = 0; step < 3; ++step) {
    if (const CpuModel* model = lookup(name)) return model;
    std::string_view shorter = without_suffix(name);
    if (shorter == name) break;
    name = shorter;
  }
  return nullptr;
}

uint32_t cpuid_signature(unsigned family, unsigned model, unsigned stepping) {
  uint32_t base_family = std::min(family, 15u);
  uint32_t ext_family = family > 15 ? std::min(family - 15, 0xffu) : 0;
  return (ext_family << 20) | ((model >> 4 & 0xf) << 16) | (base_family << 8) |
         ((model & 0xf) << 4) | (stepping & 0xf);
}

Result<void> apply_cpu_model(std::string_view name, std::vector<CpuidEntry>& entries) {
  if (name.empty() || name == "host" || name == "max") return ok();
  const CpuModel* model = find_cpu_model(name);
  if (!model) {
    std::string text(name);
    return make_error("-cpu %s: no CPUID definition for this model", text.c_str());
  }
  const uint32_t* f = model->features;
  if (CpuidEntry* e = entry_for(entries, kLeafFeatures)) {
    e->eax = cpuid_signature(model->family, model->model, model->stepping);
    // KVM does not report the hypervisor bit (its user sets it); x2APIC it always reports.
    uint32_t ecx = (f[kLeaf1Ecx] | kLeaf1EcxX2apic) & ~kLeaf1EcxMonitor;
    e->ecx = (e->ecx & ecx) | kLeaf1EcxHypervisor;
    e->edx &= f[kLeaf1Edx] & ~kLeaf1EdxAcpi;
  }
  if (CpuidEntry* e = entry_for(entries, kLeafStructured)) {
    e->ebx &= f[kLeaf7Ebx];
    e->ecx &= f[kLeaf7Ecx];
    e->edx &= f[kLeaf7Edx];
  }
  if (CpuidEntry* e = entry_for(entries, kLeafExtFeatures)) {
    e->ecx &= f[kExtEcx] & ~kExtEcxSvm;
    e->edx &= f[kExtEdx] | (f[kLeaf1Edx] & kAmdAliasedEdx);
  }
  if (CpuidEntry* e = entry_for(entries, kLeafXsave)) {
    // The state components whose feature the model lacks are not offered for XCR0 either.
    if (!(f[kLeaf1Ecx] & kLeaf1EcxAvx)) e->eax &= ~(kXcr0Avx | kXcr0Avx512);
    if (!(f[kLeaf7Ebx] & kLeaf7EbxMpx)) e->eax &= ~kXcr0Mpx;
    if (!(f[kLeaf7Ebx] & kLeaf7EbxAvx512f)) e->eax &= ~kXcr0Avx512;
    if (!(f[kLeaf7Ecx] & kLeaf7EcxPku)) e->eax &= ~kXcr0Pkru;
  }
  // The brand string: 48 bytes, NUL padded, four bytes a register in EAX, EBX, ECX, EDX order.
  char brand[16 * kBrandLeaves] = {};
  std::strncpy(brand, model->model_id, sizeof(brand) - 1);
  for (unsigned i = 0; i < kBrandLeaves; ++i) {
    CpuidEntry* e = entry_for(entries, kLeafBrand + i);
    if (!e) continue;  // KVM offers no brand leaves: the guest has no brand string to read
    uint32_t regs[4];
    std::memcpy(regs, brand + 16 * i, sizeof(regs));
    e->eax = regs[0];
    e->ebx = regs[1];
    e->ecx = regs[2];
    e->edx = regs[3];
  }
  return ok();
}

}  // namespace hvmd::kvm
