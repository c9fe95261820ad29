#include "ioreq/xen/xen_store.h"

// xenstore.h declares C functions without an extern "C" guard of its own.
extern "C" {
#include <xenstore.h>
}

#include <cerrno>
#include <cstring>

namespace hvmd::xen {

Result<std::unique_ptr<XenStore>> XenStore::open() {
  xs_handle* handle = xs_open(0);
  if (!handle) return make_error("cannot connect to xenstore: %s", strerror(errno));
  return std::unique_ptr<XenStore>(new XenStore(handle));
}

XenStore::~XenStore() {
  xs_close(handle_);
}

Result<void> XenStore::write(const std::string& path, const std::string& value) {
  if (!xs_write(handle_, XBT_NULL, path.c_str(), value.data(), static_cast<unsigned>(value.size())))
    return make_error("xenstore write of %s: %s", path.c_str(), strerror(errno));
  return ok();
}

}  // namespace hvmd::xen
