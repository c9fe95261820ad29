#include <gtest/gtest.h>

#include "dm/qmp/qmp_server.h"

namespace hvmd::test {
namespace {

using qmp::Json;

class QmpSessionTest : public ::testing::Test {
 protected:
  QmpSessionTest() {
    server.add_command("echo", qmp::Schema::open_object({}),
                       [](const Json& args) { return qmp::Reply::success(args); });
    server.add_command("fail", qmp::no_arguments(),
                       [](const Json&) { return qmp::Reply::error("it broke", "DeviceNotFound"); });
  }
  std::vector<Json> take() {
    std::vector<Json> out;
    for (const auto& line : sent) out.push_back(Json::parse(line));
    sent.clear();
    return out;
  }
  void negotiate() {
    session.feed(R"({"execute":"qmp_capabilities"})");
    sent.clear();
  }

  qmp::Server server;
  std::vector<std::string> sent;
  qmp::Session session{server, [this](std::string_view s) {
                         ASSERT_TRUE(s.ends_with("\r\n"));
                         sent.emplace_back(s);
                       }};
};

TEST_F(QmpSessionTest, GreetingNegotiationAndIds) {
  session.greet();
  EXPECT_TRUE(take()[0].contains("QMP"));
  session.feed(R"({"execute":"echo","id":"x"})");
  EXPECT_EQ(take()[0]["error"]["class"], "CommandNotFound");
  session.feed(R"({"execute":"qmp_capabilities","arguments":{"enable":["nosuch"]}})");
  EXPECT_EQ(take()[0]["error"]["desc"], "Parameter 'enable[0]' does not accept value 'nosuch'");
  session.feed(R"({"execute":"qmp_capabilities","id":{"n":[1,2]}})");
  EXPECT_EQ(take()[0], (Json{{"return", Json::object()}, {"id", {{"n", {1, 2}}}}}));
  session.feed(R"({"execute":"echo","arguments":{"a":"}{\"\\"},"id":3})");
  EXPECT_EQ(take()[0], (Json{{"return", {{"a", "}{\"\\"}}}, {"id", 3}}));
  session.feed(R"({"execute":"fail","id":4})");
  EXPECT_EQ(take()[0],
            (Json{{"error", {{"class", "DeviceNotFound"}, {"desc", "it broke"}}}, {"id", 4}}));
}

TEST_F(QmpSessionTest, StreamSplitting) {
  negotiate();
  std::string two = R"({"execute":"echo","id":1} {"execute":"echo","id":2})";
  for (char c : two) session.feed(std::string_view(&c, 1));  // byte by byte
  auto replies = take();
  ASSERT_EQ(replies.size(), 2u);
  EXPECT_EQ(replies[1]["id"], 2);
}

TEST_F(QmpSessionTest, HostileInput) {
  negotiate();
  session.feed("{\"execute\": 5}");
  session.feed("{\"arguments\": {}}");
  session.feed("{\"execute\":\"echo\",\"arguments\":[]}");
  session.feed("{\"execute\":\"echo\",\"frob\":1}");
  session.feed("garbage\n");
  session.feed("{\"execute\":\"echo\",\"arguments\":{\"a\":\"\xff\xfe\"}}");
  auto replies = take();
  ASSERT_EQ(replies.size(), 6u);
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ(replies[i]["error"]["class"], "GenericError") << i;
  // Deep nesting and a message over the limit are refused, and the session goes on.
  session.feed(std::string(100000, '['));
  session.feed(std::string(100000, ']'));
  session.feed("{\"execute\":\"echo\",\"arguments\":{\"a\":\"" + std::string(2 << 20, 'x') +
               "\"}}");
  replies = take();
  ASSERT_EQ(replies.size(), 2u);
  EXPECT_EQ(replies[0]["error"]["desc"], "JSON nesting too deep (the limit is 1024)");
  EXPECT_EQ(replies[1]["error"]["desc"], "JSON message too large (the limit is 1 MiB)");
  session.feed(R"({"execute":"echo","id":9})");
  EXPECT_EQ(take()[0]["id"], 9);
}

// Fault: an "id" nested 100,000 deep, before negotiation, overflowed the stack in the JSON
// library's recursive copy. Refused at depth 1025, before anything parses it.
TEST_F(QmpSessionTest, DeepNestingIsRefusedBeforeNegotiation) {
  session.feed(R"({"execute":"qmp_capabilities","id":)" + std::string(100000, '[') +
               std::string(100000, ']') + "}");
  auto replies = take();
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0]["error"]["desc"], "JSON nesting too deep (the limit is 1024)");
  session.feed(R"({"execute":"qmp_capabilities","id":1})");
  EXPECT_EQ(take()[0], (Json{{"return", Json::object()}, {"id", 1}}));
  // 1024 levels are still accepted.
  session.feed(R"({"execute":"echo","id":)" + std::string(1023, '[') + std::string(1023, ']') +
               "}");
  EXPECT_TRUE(take()[0].contains("return"));
}

// Fault: a value that never closed was dropped silently once it passed 1 MiB. The error now
// comes when it crosses the limit, not when (if ever) it ends.
TEST_F(QmpSessionTest, OversizedInputIsReportedAtTheLimit) {
  negotiate();
  session.feed(R"({"execute":"echo","arguments":{"a":")");
  session.feed(std::string(qmp::Session::kMaxMessage, 'x'));
  auto replies = take();
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0]["error"]["desc"], "JSON message too large (the limit is 1 MiB)");
  session.feed(R"("}} {"execute":"echo","id":2})");
  EXPECT_EQ(take()[0]["id"], 2);
}

// Fault: a wrong JSON type in an argument threw from the handler and ended the daemon. Every
// command's arguments are checked against its schema first.
TEST_F(QmpSessionTest, ArgumentsAreCheckedAgainstTheSchema) {
  server.add_command(
      "typed",
      qmp::Schema::object({qmp::required("name", qmp::Schema::string()),
                           qmp::optional("list", qmp::Schema::array(qmp::Schema::integer()))}),
      [](const Json& args) {
        return qmp::Reply::success({{"name", args["name"]}});
      });
  negotiate();
  auto desc = [&](const std::string& text) {
    session.feed(text);
    return take()[0]["error"].value("desc", "");
  };
  EXPECT_EQ(desc(R"({"execute":"typed"})"), "Parameter 'name' is missing");
  EXPECT_EQ(desc(R"({"execute":"typed","arguments":{"name":1}})"),
            "Invalid parameter type for 'name', expected: string");
  EXPECT_EQ(desc(R"({"execute":"typed","arguments":{"name":"a","list":[1,"2"]}})"),
            "Invalid parameter type for 'list[1]', expected: integer");
  EXPECT_EQ(desc(R"({"execute":"typed","arguments":{"name":"a","x":0}})"),
            "Parameter 'x' is unexpected");
  EXPECT_EQ(desc(R"({"execute":"fail","arguments":{"x":0}})"), "Parameter 'x' is unexpected");
  session.feed(R"({"execute":"typed","arguments":{"name":"a","list":[1]}})");
  EXPECT_EQ(take()[0]["return"]["name"], "a");
}

TEST_F(QmpSessionTest, EventsOnlyAfterNegotiation) {
  server.emit_event("RESET");
  EXPECT_TRUE(sent.empty());
  negotiate();
  server.emit_event("RESET", {{"guest", false}});
  auto events = take();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["event"], "RESET");
  EXPECT_EQ(events[0]["data"]["guest"], false);
  EXPECT_TRUE(events[0]["timestamp"].contains("seconds"));
}

}  // namespace
}  // namespace hvmd::test
