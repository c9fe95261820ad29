#include "dm/qmp/qmp_server.h"

#include "dm/sub_options.h"

#include <fcntl.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <cctype>

namespace hvmd::qmp {

Session::Session(Server& server, SendFn send, TakeFdFn take_fd)
    : server_(server), send_(std::move(send)), take_fd_(std::move(take_fd)) {
  server_.register_session(this);
}

Session::~Session() {
  server_.unregister_session(this);
}

void Session::send_json(const Json& message) {
  // Invalid UTF-8 from a client echoed back in an error must not throw.
  send_(message.dump(-1, ' ', false, Json::error_handler_t::replace) + "\r\n");
}

void Session::greet() {
  send_json(server_.greeting());
}

void Session::reject(const Json* id, const std::string& desc, const std::string& error_class) {
  Json reply = {{"error", {{"class", error_class}, {"desc", desc}}}};
  if (id) reply["id"] = *id;
  send_json(reply);
}

namespace {

bool is_space(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}
bool is_bracket(unsigned char c) {
  return c == '{' || c == '}' || c == '[' || c == ']';
}
// Bytes of keywords and numbers (true, null, -1.5e3).
bool is_token_byte(unsigned char c) {
  return isalnum(c) || c == '-' || c == '+' || c == '.';
}

}  // namespace

// A bare top-level token ended: a number or true/false/null is a JSON value but not a command;
// anything else is no JSON at all.
void Session::finish_junk() {
  if (junk_.empty()) return;
  std::string token;
  token.swap(junk_);
  Json value = Json::parse(token, nullptr, false);
  if (!value.is_discarded())
    return reject(nullptr, "QMP input must be a JSON object", "GenericError");
  reject(nullptr, "JSON parse error, invalid keyword '" + token + "'", "GenericError");
}

// A byte that cannot stand where it is: the value being read is dropped and the input up to the
// next space or bracket with it, so the stream is in step again for the next command.
void Session::stray(unsigned char c) {
  std::string().swap(buffer_);
  in_value_ = in_string_ = escape_ = refused_ = false;
  depth_ = 0;
  recovering_ = true;
  // The byte itself goes back: JSON escapes a control character (\u0001), and a byte of 0x80 and
  // above, not UTF-8 on its own, goes back as U+FFFD (send_json replaces it).
  reject(nullptr, std::string("JSON parse error, stray '") + static_cast<char>(c) + "'",
         "GenericError");
}

void Session::start_value(unsigned char c) {
  buffer_.assign(1, static_cast<char>(c));
  in_value_ = true;
  refused_ = false;
  escape_ = false;
  in_string_ = c == '"';
  depth_ = in_string_ ? 0 : 1;
}

void Session::end_value() {
  in_value_ = false;
  if (!refused_) dispatch(buffer_);
  std::string().swap(buffer_);
  refused_ = false;
}

// Splits the byte stream into JSON values by tracking nesting outside strings; each complete
// top-level object, array or string is dispatched. A value nested deeper than kMaxDepth or longer
// than kMaxMessage is refused the moment it crosses the limit (nothing recursive ever sees it);
// its remaining bytes are skipped, still counting brackets, so the stream is back in step once it
// closes. Every byte is looked at once and nothing waits on a byte that can never come: a byte
// that cannot be part of the value ends it at once (stray()).
void Session::feed(std::string_view data) {
  for (char c : data) consume(static_cast<unsigned char>(c));
}

void Session::consume(unsigned char c) {
  if (recovering_) {
    if (!is_space(c) && !is_bracket(c)) return;
    recovering_ = false;
  }
  if (in_value_) return value_byte(c);
  if (is_space(c)) return finish_junk();
  if (c == '{' || c == '[' || c == '"') {
    finish_junk();
    return start_value(c);
  }
  if (c == '}' || c == ']' || c == ',' || c == ':') {
    finish_junk();
    return reject(nullptr, "JSON parse error, expecting value", "GenericError");
  }
  if (is_token_byte(c)) {
    if (junk_.size() < kMaxJunk) junk_ += static_cast<char>(c);
    return;
  }
  finish_junk();
  stray(c);
}

void Session::value_byte(unsigned char c) {
  if (!refused_) {
    buffer_ += static_cast<char>(c);
    if (buffer_.size() > kMaxMessage) refuse("JSON message too large (the limit is 1 MiB)");
  }
  if (in_string_) {
    // JSON strings hold no raw control characters: a newline inside one is a string never closed.
    if (c < 0x20) return stray(c);
    if (escape_) {
      escape_ = false;
    } else if (c == '\\') {
      escape_ = true;
    } else if (c == '"') {
      in_string_ = false;
      if (depth_ == 0) end_value();
    }
    return;
  }
  if (c == '"') {
    in_string_ = true;
  } else if (c == '{' || c == '[') {
    if (++depth_ > kMaxDepth && !refused_) refuse("JSON nesting too deep (the limit is 1024)");
  } else if (c == '}' || c == ']') {
    if (--depth_ == 0) end_value();
  } else if (!is_space(c) && c != ',' && c != ':' && !is_token_byte(c)) {
    stray(c);
  }
}

void Session::refuse(const char* desc) {
  refused_ = true;
  std::string().swap(buffer_);
  reject(nullptr, desc, "GenericError");
}

void Session::dispatch(const std::string& text) {
  Json request;
  try {
    request = Json::parse(text);
  } catch (const Json::exception& e) {
    // The framer has let through only well-nested text; what is left is a bad token, a bad
    // escape, invalid UTF-8 or a number out of range.
    std::string what = e.what();
    if (what.find("UTF-8") != std::string::npos || what.find("utf-8") != std::string::npos)
      return reject(nullptr, "JSON parse error, invalid UTF-8 sequence in string", "GenericError");
    if (what.find("surrogate") != std::string::npos)
      return reject(nullptr, "JSON parse error, invalid Unicode escape (lone surrogate)",
                    "GenericError");
    if (what.find("number overflow") != std::string::npos)
      return reject(nullptr, "JSON parse error, number out of range", "GenericError");
    return reject(nullptr, "JSON parse error", "GenericError");
  }
  if (!request.is_object())
    return reject(nullptr, "QMP input must be a JSON object", "GenericError");
  const Json* id = request.contains("id") ? &request["id"] : nullptr;
  for (const auto& [key, value] : request.items()) {
    if (key == "exec-oob" && oob_enabled_) continue;
    if (key != "execute" && key != "arguments" && key != "id")
      return reject(id, "QMP input member '" + key + "' is unexpected", "GenericError");
  }
  bool oob = request.contains("exec-oob");
  if (oob && request.contains("execute"))
    return reject(id, "QMP input member 'execute' clashes with 'exec-oob'", "GenericError");
  const char* key = oob ? "exec-oob" : "execute";
  if (!request.contains(key)) return reject(id, "QMP input lacks member 'execute'", "GenericError");
  if (!request[key].is_string())
    return reject(id, std::string("QMP input member '") + key + "' must be a string",
                  "GenericError");
  std::string command = request[key];
  Json arguments = Json::object();
  if (request.contains("arguments")) {
    if (!request["arguments"].is_object())
      return reject(id, "QMP input member 'arguments' must be an object", "GenericError");
    arguments = request["arguments"];
  }
  run(id, command, arguments, oob);
}

void Session::run(const Json* id, const std::string& command, const Json& arguments, bool oob) {
  if (oob) {
    // Out-of-band commands skip the queue; only those marked for it may (qmp_capabilities never).
    if (command != "qmp_capabilities" && !server_.has_command(command))
      return reject(id, "The command " + command + " has not been found", "CommandNotFound");
    if (!server_.allows_oob(command))
      return reject(id, "The command " + command + " does not support OOB", "GenericError");
  }
  if (command == "qmp_capabilities") {
    if (negotiated_)
      return reject(id, "Capabilities negotiation is already complete, command ignored",
                    "CommandNotFound");
    static const Schema kCapabilities =
        Schema::object({optional("enable", Schema::array(Schema::enumeration({"oob"})))});
    if (auto error = kCapabilities.check(arguments)) return reject(id, *error, "GenericError");
    if (const Json* enable = argument(arguments, "enable"); enable && !enable->empty())
      oob_enabled_ = true;
    negotiated_ = true;
  } else if (!negotiated_) {
    return reject(id, "Expecting capabilities negotiation with 'qmp_capabilities'",
                  "CommandNotFound");
  }
  Reply reply = Reply::success();
  if (command != "qmp_capabilities") {
    if (!server_.has_command(command))
      return reject(id, "The command " + command + " has not been found", "CommandNotFound");
    server_.set_current_session(this);
    reply = server_.execute(command, arguments);
    server_.set_current_session(nullptr);
  }
  if (!reply.ok) return reject(id, reply.error_desc, reply.error_class);
  Json out = {{"return", reply.value}};
  if (id) out["id"] = *id;
  send_json(out);
}

Server::Server() {
  add_fd_commands();
}

Server::~Server() {
  for (auto& [id, fds] : fdsets_)
    for (int fd : fds) close(fd);
}

void Server::add_fd_commands() {
  add_command("add-fd",
              Schema::object({optional("fdset-id", Schema::unsigned_integer()),
                              optional("opaque", Schema::string())}),
              [this](const Json& args) {
                int fd = current_ ? current_->take_fd() : -1;
                if (fd < 0) return Reply::error("No file descriptor supplied via SCM_RIGHTS");
                int64_t id = 0;
                if (const Json* requested = argument(args, "fdset-id")) {
                  if (requested->get<uint64_t>() > uint64_t(INT64_MAX)) {
                    close(fd);
                    return Reply::error("Parameter 'fdset-id' is out of range");
                  }
                  id = requested->get<int64_t>();
                } else {
                  while (fdsets_.count(id)) ++id;
                }
                fdsets_[id].push_back(fd);
                return Reply::success({{"fdset-id", id}, {"fd", fd}});
              });
  add_command("remove-fd",
              Schema::object({required("fdset-id", Schema::unsigned_integer()),
                              optional("fd", Schema::unsigned_integer())}),
              [this](const Json& args) {
                auto set = fdsets_.find(static_cast<int64_t>(args["fdset-id"].get<uint64_t>()));
                if (set == fdsets_.end())
                  return Reply::error("File descriptor named 'fdset-id' not found");
                const Json* fd = argument(args, "fd");
                for (auto it = set->second.begin(); it != set->second.end();) {
                  if (!fd || uint64_t(*it) == fd->get<uint64_t>()) {
                    close(*it);
                    it = set->second.erase(it);
                  } else {
                    ++it;
                  }
                }
                if (set->second.empty()) fdsets_.erase(set);
                return Reply::success();
              });
  add_command("query-fdsets", no_arguments(), [this](const Json&) {
    Json list = Json::array();
    for (const auto& [id, fds] : fdsets_) {
      Json entries = Json::array();
      for (int fd : fds) entries.push_back({{"fd", fd}});
      list.push_back({{"fdset-id", id}, {"fds", entries}});
    }
    return Reply::success(list);
  });
}

Result<int> Server::open_file(const std::string& path, int flags) {
  static constexpr std::string_view kFdsetPrefix = "/dev/fdset/";
  if (!path.starts_with(kFdsetPrefix)) {
    if (path_opener_) return path_opener_(path, flags);
    int fd = ::open(path.c_str(), flags | O_CLOEXEC, 0600);
    if (fd < 0) return make_error("Could not open '%s': %s", path.c_str(), strerror(errno));
    return fd;
  }
  auto id = parse_number(path.substr(kFdsetPrefix.size()), INT64_MAX);
  if (!id) return make_error("'%s' is not a valid fdset name", path.c_str());
  auto set = fdsets_.find(static_cast<int64_t>(*id));
  if (set == fdsets_.end() || set->second.empty())
    return make_error("No file descriptors in fdset %llu", static_cast<unsigned long long>(*id));
  int fd = fcntl(set->second.front(), F_DUPFD_CLOEXEC, 0);
  if (fd < 0) return make_error("Could not duplicate a descriptor of '%s'", path.c_str());
  return fd;
}

void Server::add_command(std::string name, Schema arguments, Handler handler, bool allow_oob) {
  commands_.insert_or_assign(std::move(name),
                             Command{std::move(arguments), std::move(handler), allow_oob});
}

Reply Server::execute(const std::string& name, const Json& arguments) {
  auto it = commands_.find(name);
  if (it == commands_.end())
    return Reply::error("The command " + name + " has not been found", "CommandNotFound");
  if (auto error = it->second.arguments.check(arguments)) return Reply::error(*error);
  return it->second.handler(arguments);
}

std::vector<std::string> Server::command_names() const {
  std::vector<std::string> names{"qmp_capabilities"};
  for (const auto& [name, command] : commands_) names.push_back(name);
  return names;
}

Json Server::greeting() const {
  Version v;
  return {{"QMP",
           {{"version",
             {{"qemu", {{"micro", v.micro}, {"minor", v.minor}, {"major", v.major}}},
              {"package", "hvmd"}}},
            {"capabilities", Json::array({"oob"})}}}};
}

void Server::attach(Chardev& chardev) {
  chardev.on_connect([this](std::shared_ptr<CharConnection> connection) {
    auto entry = std::make_unique<Connection>();
    Connection* raw = entry.get();
    raw->connection = std::move(connection);
    CharConnection* conn = raw->connection.get();
    raw->session = std::make_unique<Session>(
        *this, [conn](std::string_view s) { conn->write(s); }, [conn] { return conn->take_fd(); });
    connections_.push_back(std::move(entry));
    raw->session->greet();
    // start() may run the whole exchange and the close at once (input from a regular file), so
    // nothing touches raw after it.
    raw->connection->start([raw](std::string_view data) { raw->session->feed(data); },
                           [this, raw] {
                             std::erase_if(connections_,
                                           [raw](const auto& c) { return c.get() == raw; });
                           });
  });
}

void Server::emit_event(const std::string& name, Json data) {
  timeval now{};
  gettimeofday(&now, nullptr);
  Json event = {{"event", name},
                {"data", std::move(data)},
                {"timestamp", {{"seconds", now.tv_sec}, {"microseconds", now.tv_usec}}}};
  for (Session* s : sessions_)
    if (s->negotiated()) s->send_json(event);
}

const Json* argument(const Json& arguments, const char* name) {
  auto it = arguments.find(name);
  return it == arguments.end() ? nullptr : &*it;
}

}  // namespace hvmd::qmp
