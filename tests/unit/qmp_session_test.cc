#include <gtest/gtest.h>

#include "dm/qmp/qmp_server.h"

namespace hvmd::test {
namespace {

using qmp::Json;

class QmpSessionTest : public ::testing::Test {
 protected:
  QmpSessionTest() {
    server.add_command("echo", [](const Json& args) { return qmp::Reply::success(args); });
    server.add_command("fail",
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
  session.feed(R"({"execute":"qmp_capabilities","arguments":{"enable":["oob"]}})");
  EXPECT_EQ(take()[0]["error"]["desc"], "Capability 'oob' not available");
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
  EXPECT_EQ(replies[1]["error"]["desc"], "JSON message too large");
  session.feed(R"({"execute":"echo","id":9})");
  EXPECT_EQ(take()[0]["id"], 9);
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
