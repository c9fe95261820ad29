// The ISA debug console (QEMU's isa-debugcon): bytes written to one port go to a character device,
// and the port reads back 0xe9 so firmware can tell it is there. SeaBIOS writes its debug log to
// port 0x402 this way (-device isa-debugcon,iobase=0x402,chardev=ID).
#pragma once

#include <memory>

#include "dm/backends/chardev.h"
#include "dm/device.h"
#include "dm/dispatcher.h"
#include "dm/io_handler.h"

namespace hvmd::devices {

class DebugConsole final : public Device {
 public:
  static constexpr uint16_t kDefaultPort = 0xe9;
  static constexpr uint8_t kReadback = 0xe9;

  DebugConsole(Dispatcher& dispatcher, uint16_t port, Chardev* chardev);
  ~DebugConsole() override;
  std::string_view type() const override { return "isa-debugcon"; }
  void save(StateWriter&) const override {}
  Result<std::unique_ptr<StagedState>> parse_state(StateReader&, uint32_t) override {
    return nothing_staged();
  }
  void unrealize() override;

  uint64_t io_read(uint64_t, unsigned) { return kReadback; }
  void io_write(uint64_t offset, unsigned size, uint64_t value);

 private:
  Dispatcher& dispatcher_;
  MemberIoHandler<DebugConsole, &DebugConsole::io_read, &DebugConsole::io_write> io_{*this};
  Dispatcher::MappingId mapping_;
  Chardev* chardev_;
  std::shared_ptr<CharConnection> connection_;
};

}  // namespace hvmd::devices
