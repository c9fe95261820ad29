// CPU models on the kvm runner: what `-cpu MODEL` makes the guest's CPUID say. KVM reports what
// it can give a guest (KVM_GET_SUPPORTED_CPUID, the host's CPU less what KVM cannot virtualise);
// a model keeps of that only the feature flags the model has, and presents the model's family,
// model, stepping and name, as QEMU does under KVM. `-cpu host`, `max` and no -cpu at all keep
// everything KVM supports.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "dm/result.h"

namespace hvmd::kvm {

// One CPUID leaf (and sub-leaf) as the guest reads it.
struct CpuidEntry {
  uint32_t function = 0;
  uint32_t index = 0;
  uint32_t eax = 0, ebx = 0, ecx = 0, edx = 0;
};

// The registers whose feature flags a model filters. Flags of other leaves (XSAVE's 0xd sub-leaf
// 1, 0x80000008, KVM's own 0x40000001) stay as KVM supports them.
enum FeatureWord : unsigned {
  kLeaf1Ecx,
  kLeaf1Edx,
  kLeaf7Ebx,  // leaf 7, sub-leaf 0
  kLeaf7Ecx,
  kLeaf7Edx,
  kExtEcx,  // leaf 0x80000001
  kExtEdx,
  kFeatureWords
};

struct CpuModel {
  const char* name;
  unsigned family, model, stepping;
  const char* model_id;  // the brand string, leaves 0x80000002-0x80000004
  uint32_t features[kFeatureWords];
};

// The model `name` names: as listed, else without QEMU's version (-vN) or variant suffix
// (-IBRS, -noTSX, ...). nullptr for an unknown name.
const CpuModel* find_cpu_model(std::string_view name);

// The CPUID signature (leaf 1 EAX) of a family, model and stepping: families above 15 and models
// above 15 spill into the extended fields.
uint32_t cpuid_signature(unsigned family, unsigned model, unsigned stepping);

// Turns KVM's supported table into what the guest sees with `-cpu name`. "", "host" and "max"
// leave it as it is; a name with no model is an error naming it.
Result<void> apply_cpu_model(std::string_view name, std::vector<CpuidEntry>& entries);

}  // namespace hvmd::kvm
