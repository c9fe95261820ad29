// Vendor, device and class names from the PCI ID database through libpci (pci.ids); hex IDs
// when the database or the entry is missing.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace hvmd::pcicli {

class PciNames {
 public:
  // ids_file: a pci.ids to use instead of libpci's default ("" = default).
  explicit PciNames(const std::string& ids_file = "");
  ~PciNames();
  PciNames(const PciNames&) = delete;
  PciNames& operator=(const PciNames&) = delete;

  std::string vendor(uint16_t vendor) const;                   // "Intel Corporation" or "8086"
  std::string device(uint16_t vendor, uint16_t device) const;  // "82574L ..." or "10d3"
  std::string class_name(uint32_t class_code) const;           // "Ethernet controller" or "0200"

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hvmd::pcicli
