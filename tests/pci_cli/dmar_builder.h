// Builds an ACPI DMAR table with RMRR structures (VT-d specification, chapter 8) for tests.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace hvmd::pcicli::test {

class DmarBuilder {
 public:
  struct Scope {
    uint8_t start_bus;
    std::vector<std::pair<uint8_t, uint8_t>> path;  // (device, function)
  };

  DmarBuilder() : t_(48, 0) {
    t_[0] = 'D';
    t_[1] = 'M';
    t_[2] = 'A';
    t_[3] = 'R';
    t_[36] = 38;  // host address width - 1
  }

  DmarBuilder& rmrr(uint64_t base, uint64_t limit, const std::vector<Scope>& scopes) {
    std::vector<uint8_t> s(24, 0);
    put(s, 0, 1, 2);  // type RMRR
    put(s, 8, base, 8);
    put(s, 16, limit, 8);
    for (auto& scope : scopes) {
      size_t at = s.size();
      s.resize(at + 6 + 2 * scope.path.size(), 0);
      s[at] = 1;  // PCI endpoint
      s[at + 1] = static_cast<uint8_t>(6 + 2 * scope.path.size());
      s[at + 5] = scope.start_bus;
      for (size_t i = 0; i < scope.path.size(); ++i) {
        s[at + 6 + 2 * i] = scope.path[i].first;
        s[at + 7 + 2 * i] = scope.path[i].second;
      }
    }
    put(s, 2, s.size(), 2);
    t_.insert(t_.end(), s.begin(), s.end());
    put(t_, 4, t_.size(), 4);
    return *this;
  }

  std::vector<uint8_t> bytes() const { return t_; }

 private:
  static void put(std::vector<uint8_t>& v, size_t at, uint64_t value, size_t n) {
    for (size_t i = 0; i < n; ++i) v[at + i] = static_cast<uint8_t>(value >> (8 * i));
  }
  std::vector<uint8_t> t_;
};

}  // namespace hvmd::pcicli::test
