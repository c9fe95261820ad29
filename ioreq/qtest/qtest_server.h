// The qtest transport: serves QtestProtocol on the -qtest character device. When the test program
// goes away the daemon exits, as nothing can drive the machine any more.
#pragma once

#include <cstdio>
#include <memory>
#include <string>

#include "dm/backends/chardev.h"
#include "dm/event_loop.h"
#include "ioreq/qtest/qtest_protocol.h"

namespace hvmd::qtest {

class QtestServer {
 public:
  QtestServer(Machine& machine, QtestInterrupts& interrupts, EventLoop& loop)
      : machine_(machine), interrupts_(interrupts), loop_(loop) {}
  ~QtestServer();
  QtestServer(const QtestServer&) = delete;
  QtestServer& operator=(const QtestServer&) = delete;

  Result<void> start(const ChardevSpec& spec, const std::string& log_path);

 private:
  Machine& machine_;
  QtestInterrupts& interrupts_;
  EventLoop& loop_;
  FILE* log_ = nullptr;
  std::unique_ptr<Chardev> chardev_;
  std::shared_ptr<CharConnection> connection_;
  std::unique_ptr<QtestProtocol> protocol_;
};

}  // namespace hvmd::qtest
