#include "passthrough/cli/names.h"

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>

extern "C" {
#include <pci/pci.h>
}

namespace hvmd::pcicli {
namespace {

// libpci's default handlers print and exit; a damaged pci.ids only costs the names here.
void quiet_warning(char*, ...) {}
// The attribute, not [[noreturn]]: clang makes it part of the type libpci's pointer has.
__attribute__((noreturn)) void fatal_error(char* msg, ...) {
  va_list args;
  va_start(args, msg);
  fputs("hvmd-pci: libpci: ", stderr);
  vfprintf(stderr, msg, args);
  fputc('\n', stderr);
  va_end(args);
  exit(3);
}

std::string hex(unsigned v, int digits) {
  char buf[16];
  snprintf(buf, sizeof buf, "%0*x", digits, v);
  return buf;
}

}  // namespace

struct PciNames::Impl {
  pci_access* access = nullptr;
  std::string ids_file;  // kept alive: libpci holds the pointer
  // Names from pci.ids or nothing (the caller prints hex). Never udev's hwdb: it is built from
  // the same database, and libudev's lookup leaks (LeakSanitizer in the VFIO lab).
  int flags = PCI_LOOKUP_NO_NUMBERS | PCI_LOOKUP_NO_HWDB;
};

PciNames::PciNames(const std::string& ids_file) : impl_(std::make_unique<Impl>()) {
  // Only the name lookup is used: no pci_init, so libpci scans no bus of its own.
  impl_->access = pci_alloc();
  if (!impl_->access) return;
  impl_->access->warning = quiet_warning;
  impl_->access->debug = quiet_warning;  // pci_init would set these; we do not call it
  impl_->access->error = fatal_error;
  if (!ids_file.empty()) {
    impl_->ids_file = ids_file;
    pci_set_name_list_path(impl_->access, impl_->ids_file.data(), 0);
  }
}

PciNames::~PciNames() {
  if (impl_->access) pci_cleanup(impl_->access);
}

std::string PciNames::vendor(uint16_t vendor) const {
  char buf[256];
  const char* name = impl_->access ? pci_lookup_name(impl_->access, buf, sizeof buf,
                                                     impl_->flags | PCI_LOOKUP_VENDOR, vendor)
                                   : nullptr;
  return name ? name : hex(vendor, 4);
}

std::string PciNames::device(uint16_t vendor, uint16_t device) const {
  char buf[256];
  const char* name = impl_->access
                         ? pci_lookup_name(impl_->access, buf, sizeof buf,
                                           impl_->flags | PCI_LOOKUP_DEVICE, vendor, device)
                         : nullptr;
  return name ? name : hex(device, 4);
}

std::string PciNames::class_name(uint32_t class_code) const {
  char buf[256];
  unsigned cls = (class_code >> 8) & 0xffff;
  const char* name = impl_->access ? pci_lookup_name(impl_->access, buf, sizeof buf,
                                                     impl_->flags | PCI_LOOKUP_CLASS, cls)
                                   : nullptr;
  return name ? name : hex(cls, 4);
}

}  // namespace hvmd::pcicli
