// QMP's byte stream under malformed input: every bad message gets an error (as QEMU's JSON lexer
// reports it, learnt by running qemu-system-x86_64 -machine none -qmp stdio side by side) and the
// very next command is still answered. And the oob capability: offered, enabled, exec-oob.
#include <gtest/gtest.h>

#include "dm/qmp/qmp_server.h"

namespace hvmd::test {
namespace {

using qmp::Json;

class QmpFramingTest : public ::testing::Test {
 protected:
  QmpFramingTest() {
    server.add_command("echo", qmp::Schema::open_object({}),
                       [](const Json& args) { return qmp::Reply::success(args); });
    server.add_command(
        "fast", qmp::no_arguments(),
        [](const Json&) {
          return qmp::Reply::success({{"n", 1}});
        },
        /*allow_oob=*/true);
  }
  std::vector<Json> take() {
    std::vector<Json> out;
    for (const auto& line : sent) out.push_back(Json::parse(line));
    sent.clear();
    return out;
  }
  void negotiate(const char* text = R"({"execute":"qmp_capabilities"})") {
    session.feed(text);
    ASSERT_EQ(take().at(0), (Json{{"return", Json::object()}}));
  }
  // Feeds bad input, then a valid command; returns the error descriptions before its answer and
  // checks that the answer came, last.
  std::vector<std::string> errors_then_answer(const std::string& bad) {
    session.feed(bad);
    session.feed("\n{\"execute\":\"echo\",\"arguments\":{\"ok\":1},\"id\":\"next\"}\n");
    auto replies = take();
    EXPECT_FALSE(replies.empty()) << bad;
    if (replies.empty()) return {};
    EXPECT_EQ(replies.back(), (Json{{"return", {{"ok", 1}}}, {"id", "next"}})) << bad;
    std::vector<std::string> errors;
    for (size_t i = 0; i + 1 < replies.size(); ++i) {
      EXPECT_EQ(replies[i]["error"]["class"], "GenericError") << bad;
      EXPECT_FALSE(replies[i].contains("id")) << bad;
      errors.push_back(replies[i]["error"]["desc"]);
    }
    return errors;
  }

  qmp::Server server;
  std::vector<std::string> sent;
  qmp::Session session{server, [this](std::string_view s) {
                         ASSERT_TRUE(s.ends_with("\r\n"));
                         sent.emplace_back(s);
                       }};
};

using Errors = std::vector<std::string>;

// Fault: "{" then a byte that no JSON may hold left the framer waiting for a "}" forever; the
// monitor answered nothing after it.
TEST_F(QmpFramingTest, StrayBytesEndTheValueAndTheNextCommandIsAnswered) {
  negotiate();
  EXPECT_EQ(errors_then_answer("{\xff"), (Errors{"JSON parse error, stray '\xef\xbf\xbd'"}));
  EXPECT_EQ(errors_then_answer("{\x01"), (Errors{"JSON parse error, stray '\x01'"}));
  EXPECT_EQ(errors_then_answer("%p"), (Errors{"JSON parse error, stray '%'"}));
  // In an object, the rest up to its "}" is dropped, and that "}" expects a value (as QEMU).
  EXPECT_EQ(errors_then_answer(R"({"execute":"echo","id":%p})"),
            (Errors{"JSON parse error, stray '%'", "JSON parse error, expecting value"}));
  EXPECT_EQ(errors_then_answer("[\x7f]"),
            (Errors{"JSON parse error, stray '\x7f'", "JSON parse error, expecting value"}));
  EXPECT_EQ(errors_then_answer("{\"execute\":\"echo\",\"id\":\"a\x01\"}"),
            (Errors{"JSON parse error, stray '\x01'", "JSON parse error, expecting value"}));
}

// Fault: a string never closed swallowed every later command into itself.
TEST_F(QmpFramingTest, NewlineInsideAStringEndsIt) {
  negotiate();
  EXPECT_EQ(errors_then_answer("{\"execute\":\"echo\",\"id\":\"never closed"),
            (Errors{"JSON parse error, stray '\n'"}));
  EXPECT_EQ(errors_then_answer("{\"a\nb\"}"),
            (Errors{"JSON parse error, stray '\n'", "JSON parse error, expecting value"}));
}

TEST_F(QmpFramingTest, TopLevelValuesThatAreNotCommands) {
  negotiate();
  EXPECT_EQ(errors_then_answer("}"), (Errors{"JSON parse error, expecting value"}));
  EXPECT_EQ(errors_then_answer("abc"), (Errors{"JSON parse error, invalid keyword 'abc'"}));
  EXPECT_EQ(errors_then_answer("12345678901234567890123456789"),
            (Errors{"QMP input must be a JSON object"}));
  EXPECT_EQ(errors_then_answer("null"), (Errors{"QMP input must be a JSON object"}));
  EXPECT_EQ(errors_then_answer("\"text\""), (Errors{"QMP input must be a JSON object"}));
  EXPECT_EQ(errors_then_answer("[1,2]"), (Errors{"QMP input must be a JSON object"}));
}

TEST_F(QmpFramingTest, InvalidUtf8AndBadEscapes) {
  negotiate();
  EXPECT_EQ(errors_then_answer("\"\xc3\x28\""),
            (Errors{"JSON parse error, invalid UTF-8 sequence in string"}));
  EXPECT_EQ(errors_then_answer("{\"execute\":\"echo\",\"id\":\"\xed\xa0\x80\"}"),
            (Errors{"JSON parse error, invalid UTF-8 sequence in string"}));
  EXPECT_EQ(errors_then_answer(R"({"execute":"echo","id":"\ud800"})"),
            (Errors{"JSON parse error, invalid Unicode escape (lone surrogate)"}));
  EXPECT_EQ(errors_then_answer(R"({"execute":"echo","id":"\q"})"), (Errors{"JSON parse error"}));
  // An escaped NUL is a character like any other.
  session.feed(R"({"execute":"echo","id":"\u0000"})");
  EXPECT_EQ(take().at(0)["id"], std::string(1, '\0'));
}

TEST_F(QmpFramingTest, HugeNumbers) {
  negotiate();
  // Integers beyond 64 bits become doubles, as in QEMU; beyond a double, an error.
  session.feed(R"({"execute":"echo","id":123456789012345678901234567890})");
  EXPECT_DOUBLE_EQ(take().at(0)["id"].get<double>(), 1.2345678901234568e+29);
  session.feed(R"({"execute":"echo","id":18446744073709551615})");
  EXPECT_EQ(take().at(0)["id"].get<uint64_t>(), UINT64_MAX);
  EXPECT_EQ(errors_then_answer(R"({"execute":"echo","id":1e999})"),
            (Errors{"JSON parse error, number out of range"}));
}

TEST_F(QmpFramingTest, DeepNestingThenACommand) {
  negotiate();
  auto errors = errors_then_answer(std::string(1100, '[') + std::string(1100, ']'));
  EXPECT_EQ(errors, (Errors{"JSON nesting too deep (the limit is 1024)"}));
  // A deep value cut off by a stray byte: the nesting count starts again from nothing.
  errors = errors_then_answer(std::string(1100, '{') + "\x02");
  EXPECT_EQ(errors, (Errors{"JSON nesting too deep (the limit is 1024)",
                            "JSON parse error, stray '\x02'"}));
}

TEST_F(QmpFramingTest, EveryByteValueAloneInAnObject) {
  negotiate();
  for (int b = 0; b < 256; ++b) {
    std::string bad = "{";
    bad += static_cast<char>(b);
    if (b == '{' || b == '[' || b == '"')
      bad += b == '{' ? "}}" : b == '[' ? "]}" : "\"}";
    else if (b != '}')
      bad += "}";
    errors_then_answer(bad);
    if (HasFailure()) FAIL() << "byte " << b;
  }
}

TEST_F(QmpFramingTest, OobIsOfferedAndExecOobHonoured) {
  session.greet();
  EXPECT_EQ(take().at(0)["QMP"]["capabilities"], Json::array({"oob"}));
  // Before oob is enabled, exec-oob is an unknown member.
  negotiate();
  session.feed(R"({"exec-oob":"fast","id":1})");
  EXPECT_EQ(
      take().at(0),
      (Json{{"error",
             {{"class", "GenericError"}, {"desc", "QMP input member 'exec-oob' is unexpected"}}},
            {"id", 1}}));
}

TEST_F(QmpFramingTest, ExecOobAfterEnablingOob) {
  negotiate(R"({"execute":"qmp_capabilities","arguments":{"enable":["oob"]}})");
  EXPECT_TRUE(session.oob_enabled());
  session.feed(R"({"exec-oob":"fast","id":1})");
  EXPECT_EQ(take().at(0), (Json{{"return", {{"n", 1}}}, {"id", 1}}));
  session.feed(R"({"exec-oob":"echo","id":2})");
  EXPECT_EQ(take().at(0),
            (Json{{"error",
                   {{"class", "GenericError"}, {"desc", "The command echo does not support OOB"}}},
                  {"id", 2}}));
  session.feed(R"({"exec-oob":"nosuch","id":3})");
  EXPECT_EQ(take().at(0)["error"]["class"], "CommandNotFound");
  session.feed(R"({"exec-oob":"qmp_capabilities"})");
  EXPECT_EQ(take().at(0)["error"]["desc"], "The command qmp_capabilities does not support OOB");
  session.feed(R"({"exec-oob":"fast","execute":"fast"})");
  EXPECT_EQ(take().at(0)["error"]["desc"], "QMP input member 'execute' clashes with 'exec-oob'");
  // execute still works as before.
  session.feed(R"({"execute":"echo","id":4})");
  EXPECT_EQ(take().at(0), (Json{{"return", Json::object()}, {"id", 4}}));
}

}  // namespace
}  // namespace hvmd::test
