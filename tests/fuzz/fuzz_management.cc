#include "tests/fuzz/fuzz_management.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

#include "devices/input/scancodes.h"
#include "dm/command_line.h"
#include "dm/qmp/machine_commands.h"

namespace hvmd::fuzz {
namespace {

// The properties every target checks on top of "does not crash": every QMP line is one JSON
// object, and every command-line error is one line.
[[noreturn]] void violated(const char* what, std::string_view detail) {
  fprintf(stderr, "hvmd-fuzz: %s: %.*s\n", what, int(std::min<size_t>(detail.size(), 200)),
          detail.data());
  abort();
}

void run_qmp(FuzzMachine& fuzz, const uint8_t* data, size_t size) {
  auto ran = fuzz.with_machine([&](Machine& machine, qtest::QtestInterrupts&) {
    qmp::Server server;
    qmp::register_machine_commands(
        server, machine, {.quit = [] {}, .key_names = devices::scancodes::qnum_from_name});
    // Files named in commands are memfds: the fuzzer never touches the file system.
    server.set_path_opener([](const std::string&, int) -> Result<int> {
      int fd = memfd_create("hvmd-fuzz-qmp", MFD_CLOEXEC);
      if (fd < 0) return make_error("memfd_create failed");
      return fd;
    });
    qmp::Session session(server, [](std::string_view line) {
      if (!line.ends_with("\r\n") || !qmp::Json::accept(line.substr(0, line.size() - 2)))
        violated("QMP sent something other than one JSON line", line);
    });
    session.greet();
    session.feed({reinterpret_cast<const char*>(data), size});
  });
  if (!ran) violated("machine", ran.error().message);
}

void run_qtest(FuzzMachine& fuzz, const uint8_t* data, size_t size) {
  auto ran = fuzz.with_reset_machine([&](Machine& machine, qtest::QtestInterrupts& interrupts) {
    qtest::QtestProtocol protocol(
        machine, interrupts, [](std::string_view) {}, nullptr);
    protocol.feed({reinterpret_cast<const char*>(data), size});
  });
  if (!ran) violated("machine", ran.error().message);
}

void run_cmdline(const uint8_t* data, size_t size) {
  // Arguments are NUL-separated; at most this many, as a shell would pass.
  constexpr size_t kMaxArguments = 256;
  std::vector<std::string> words{"hvmd"};
  std::string word;
  for (size_t i = 0; i < size && words.size() < kMaxArguments; ++i) {
    if (data[i] == 0) {
      words.push_back(std::move(word));
      word.clear();
    } else {
      word += static_cast<char>(data[i]);
    }
  }
  if (!word.empty()) words.push_back(std::move(word));
  std::vector<const char*> argv;
  for (const auto& w : words) argv.push_back(w.c_str());
  argv.push_back(nullptr);
  auto config = parse_command_line(static_cast<int>(words.size()), argv.data());
  if (!config && config.error().message.find('\n') != std::string::npos)
    violated("a command-line error of more than one line", config.error().message);
}

}  // namespace

bool run_management_target(const std::string& target, FuzzMachine& machine, const uint8_t* data,
                           size_t size) {
  if (target == "qmp")
    run_qmp(machine, data, size);
  else if (target == "qtest")
    run_qtest(machine, data, size);
  else if (target == "cmdline")
    run_cmdline(data, size);
  else
    return false;
  return true;
}

}  // namespace hvmd::fuzz
