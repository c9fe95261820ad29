#include "ioreq/xen/xenbus_store.h"

// xenstore.h declares C functions without an extern "C" guard of its own.
extern "C" {
#include <xenstore.h>
}

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace hvmd::xen {
namespace {

// Watches carry a token; ours is always the same, the path says what changed.
constexpr const char* kToken = "hvmd";

class LibXenbusStore final : public XenbusStore {
 public:
  explicit LibXenbusStore(xs_handle* handle) : handle_(handle) {}
  ~LibXenbusStore() override { xs_close(handle_); }

  std::optional<std::string> read(const std::string& path) override {
    unsigned length = 0;
    void* value = xs_read(handle_, XBT_NULL, path.c_str(), &length);
    if (!value) return std::nullopt;
    std::string result(static_cast<const char*>(value), length);
    free(value);
    return result;
  }

  Result<void> write(const std::string& path, const std::string& value) override {
    if (!xs_write(handle_, XBT_NULL, path.c_str(), value.data(),
                  static_cast<unsigned>(value.size())))
      return make_error("xenstore write of %s: %s", path.c_str(), strerror(errno));
    return ok();
  }

  Result<void> watch(const std::string& path) override {
    if (!xs_watch(handle_, path.c_str(), kToken))
      return make_error("xenstore watch of %s: %s", path.c_str(), strerror(errno));
    return ok();
  }

  void unwatch(const std::string& path) override { xs_unwatch(handle_, path.c_str(), kToken); }

  int watch_fd() override { return xs_fileno(handle_); }

  std::optional<std::string> next_watch() override {
    char** event = xs_check_watch(handle_);
    if (!event) return std::nullopt;
    std::string path = event[XS_WATCH_PATH];
    free(event);
    return path;
  }

 private:
  xs_handle* handle_;
};

}  // namespace

Result<std::unique_ptr<XenbusStore>> open_xenbus_store() {
  xs_handle* handle = xs_open(0);
  if (!handle) return make_error("cannot connect to xenstore: %s", strerror(errno));
  return std::unique_ptr<XenbusStore>(new LibXenbusStore(handle));
}

std::optional<uint64_t> parse_xenstore_number(const std::optional<std::string>& value,
                                              uint64_t max) {
  if (!value || value->empty() || value->size() > 20) return std::nullopt;
  uint64_t result = 0;
  for (char c : *value) {
    if (c < '0' || c > '9') return std::nullopt;
    unsigned digit = static_cast<unsigned>(c - '0');
    if (digit > max || result > (max - digit) / 10) return std::nullopt;
    result = result * 10 + digit;
  }
  return result;
}

}  // namespace hvmd::xen
