// QMP, the QEMU Machine Protocol, as libxl and QEMU-style test programs speak it: a greeting,
// capabilities negotiation, then {"execute", "arguments", "id"} commands answered with
// {"return"} or {"error": {"class", "desc"}}, plus asynchronous {"event"} messages.
// Malformed input gets an error object and the connection stays up: a byte no JSON text may hold
// where it stands (a control character, a byte of 0x80 or above outside a string, '%') ends the
// value being read with "JSON parse error, stray ..." and the stream picks up again at the next
// space or bracket, as QEMU's lexer recovers.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "dm/backends/chardev.h"
#include "dm/qmp/qmp_schema.h"

namespace hvmd::qmp {

struct Reply {
  bool ok = true;
  Json value = Json::object();
  std::string error_class = "GenericError";
  std::string error_desc;

  static Reply success(Json value = Json::object()) { return {true, std::move(value), {}, {}}; }
  static Reply error(std::string desc, std::string error_class = "GenericError") {
    return {false, nullptr, std::move(error_class), std::move(desc)};
  }
};

class Server;

// One monitor connection's protocol state. Independent of sockets so it can be tested directly.
class Session {
 public:
  // Objects larger than this are refused; QMP commands are small.
  static constexpr size_t kMaxMessage = 1 << 20;
  // Deeper nesting is refused (QEMU's limit): the JSON library copies and frees recursively.
  static constexpr int kMaxDepth = 1024;
  // Bytes of a stray top-level token kept for its error (the rest is not needed to report it).
  static constexpr size_t kMaxJunk = 64;
  using SendFn = std::function<void(std::string_view line)>;
  using TakeFdFn = std::function<int()>;  // a descriptor passed with the current message, or -1

  Session(Server& server, SendFn send, TakeFdFn take_fd = {});
  ~Session();
  void greet();
  void feed(std::string_view data);
  bool negotiated() const { return negotiated_; }
  bool oob_enabled() const { return oob_enabled_; }
  void send_json(const Json& message);
  int take_fd() { return take_fd_ ? take_fd_() : -1; }

 private:
  void consume(unsigned char c);
  void value_byte(unsigned char c);
  void start_value(unsigned char c);
  void end_value();
  void dispatch(const std::string& text);
  void run(const Json* id, const std::string& command, const Json& arguments, bool oob);
  void reject(const Json* id, const std::string& desc, const std::string& error_class);
  void finish_junk();
  void refuse(const char* desc);
  void stray(unsigned char c);

  Server& server_;
  SendFn send_;
  TakeFdFn take_fd_;
  bool negotiated_ = false;
  bool oob_enabled_ = false;  // qmp_capabilities enabled "oob": exec-oob is accepted
  std::string buffer_;
  std::string junk_;       // a bare top-level token (keyword or number) being read
  bool in_value_ = false;  // inside an object, array or top-level string
  int depth_ = 0;
  bool in_string_ = false;
  bool escape_ = false;
  bool refused_ = false;     // the current value broke a limit: skip it to its end
  bool recovering_ = false;  // after a stray byte: drop input up to a space or bracket
};

class Server {
 public:
  // Runs with arguments already checked against the command's schema.
  using Handler = std::function<Reply(const Json& arguments)>;
  struct Version {
    int major = 8, minor = 2, micro = 0;  // the QEMU interface level hvmd speaks
  };

  Server();
  // arguments: the schema of the command's "arguments" object (an object schema). allow_oob:
  // the command may be sent with "exec-oob" once the client enabled the oob capability (QEMU
  // allows it for migrate-pause, migrate-recover and its x-oob-test only; hvmd has none of them,
  // so today every exec-oob of an existing command is refused as QEMU refuses query-status).
  void add_command(std::string name, Schema arguments, Handler handler, bool allow_oob = false);
  // Checks the arguments, then runs the command.
  Reply execute(const std::string& name, const Json& arguments);
  bool has_command(const std::string& name) const { return commands_.count(name) != 0; }
  bool allows_oob(const std::string& name) const {
    auto it = commands_.find(name);
    return it != commands_.end() && it->second.allow_oob;
  }
  std::vector<std::string> command_names() const;

  // Each connection of the chardev becomes a monitor session.
  void attach(Chardev& chardev);
  // Sends an event to every negotiated session.
  void emit_event(const std::string& name, Json data = Json::object());

  Json greeting() const;
  void register_session(Session* s) { sessions_.push_back(s); }
  void unregister_session(Session* s) { std::erase(sessions_, s); }

  // File descriptors handed over with add-fd, in numbered sets, as QEMU keeps them. A command
  // given "/dev/fdset/N" for a file name gets a duplicate of a descriptor of set N.
  Result<int> open_file(const std::string& path, int flags);
  // Replaces the opening of plain paths (the fuzzer gives every command a memfd instead).
  void set_path_opener(std::function<Result<int>(const std::string&, int)> opener) {
    path_opener_ = std::move(opener);
  }
  // The session whose command is running (for add-fd's descriptor).
  void set_current_session(Session* s) { current_ = s; }
  ~Server();

 private:
  void add_fd_commands();
  std::map<int64_t, std::vector<int>> fdsets_;
  std::function<Result<int>(const std::string&, int)> path_opener_;
  Session* current_ = nullptr;

  struct Connection {
    std::shared_ptr<CharConnection> connection;
    std::unique_ptr<Session> session;
  };
  struct Command {
    Schema arguments;
    Handler handler;
    bool allow_oob = false;
  };
  std::map<std::string, Command> commands_;
  std::vector<Session*> sessions_;
  std::vector<std::unique_ptr<Connection>> connections_;
};

// An optional argument a handler reads (its type already checked by the schema), or nullptr.
const Json* argument(const Json& arguments, const char* name);

}  // namespace hvmd::qmp
