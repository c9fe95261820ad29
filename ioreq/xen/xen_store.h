// The few xenstore writes the toolstack waits for (device-model state).
#pragma once

#include <memory>
#include <string>

#include "dm/result.h"

struct xs_handle;

namespace hvmd::xen {

class XenStore {
 public:
  static Result<std::unique_ptr<XenStore>> open();
  ~XenStore();
  XenStore(const XenStore&) = delete;
  XenStore& operator=(const XenStore&) = delete;

  Result<void> write(const std::string& path, const std::string& value);
  // libxl waits for "running" at /local/domain/0/device-model/<domid>/state.
  static std::string device_model_state_path(uint32_t domid) {
    return "/local/domain/0/device-model/" + std::to_string(domid) + "/state";
  }

 private:
  explicit XenStore(xs_handle* handle) : handle_(handle) {}
  xs_handle* handle_;
};

}  // namespace hvmd::xen
