#include "ioreq/qtest/qtest_server.h"

#include <cerrno>
#include <cstring>

namespace hvmd::qtest {

QtestServer::~QtestServer() {
  protocol_.reset();
  if (log_ && log_ != stderr && log_ != stdout) fclose(log_);
}

Result<void> QtestServer::start(const ChardevSpec& spec, const std::string& log_path) {
  if (!log_path.empty() && log_path != "/dev/null") {
    log_ = fopen(log_path.c_str(), "we");
    if (!log_) return make_error("-qtest-log %s: %s", log_path.c_str(), strerror(errno));
  }
  auto chardev = Chardev::open(spec, loop_);
  if (!chardev) return make_error("-qtest: %s", chardev.error().message.c_str());
  chardev_ = std::move(*chardev);
  chardev_->on_connect([this](std::shared_ptr<CharConnection> connection) {
    if (connection_ && connection_->is_open()) return;  // one test program at a time
    connection_ = std::move(connection);
    // Beyond the longest reply the test program is not reading: the connection ends, and with
    // it the daemon, as when the program goes away.
    connection_->set_max_queued(QtestProtocol::kMaxReply);
    CharConnection* conn = connection_.get();
    protocol_ = std::make_unique<QtestProtocol>(
        machine_, interrupts_, [conn](std::string_view s) { conn->write(s); }, log_);
    connection_->start([this](std::string_view data) { protocol_->feed(data); },
                       [this] { loop_.stop(0); });
  });
  return ok();
}

}  // namespace hvmd::qtest
