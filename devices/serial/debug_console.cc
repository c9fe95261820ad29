#include "devices/serial/debug_console.h"

namespace hvmd::devices {

DebugConsole::DebugConsole(Dispatcher& dispatcher, uint16_t port, Chardev* chardev)
    : dispatcher_(dispatcher), chardev_(chardev) {
  mapping_ = dispatcher_.map_ports(port, 1, &io_, "debugcon");
  if (!chardev_) return;
  chardev_->on_connect([this](std::shared_ptr<CharConnection> connection) {
    connection_ = connection;
    connection->set_output_outlives_input();
    connection->start([](std::string_view) {}, [this] { connection_.reset(); });
  });
}

DebugConsole::~DebugConsole() {
  if (chardev_) chardev_->on_connect({});
  if (connection_) connection_->close();
}

void DebugConsole::unrealize() {
  dispatcher_.unmap(mapping_);
}

void DebugConsole::io_write(uint64_t, unsigned size, uint64_t value) {
  if (!connection_) return;
  char bytes[8];
  for (unsigned i = 0; i < size; ++i) bytes[i] = static_cast<char>(value >> (8 * i));
  connection_->write({bytes, size});
}

}  // namespace hvmd::devices
