#include "dm/sub_options.h"

#include <gtest/gtest.h>

namespace hvmd::test {
namespace {

using Items = std::vector<std::pair<std::string, std::string>>;

TEST(SubOptions, ImpliedKeyFlagsAndEscapes) {
  auto o =
      SubOptions::parse("e1000,netdev=n0,mac=52:54:00:12:34:56,romfile=a,,b.rom,x-flag", "driver");
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->items(), (Items{{"driver", "e1000"},
                               {"netdev", "n0"},
                               {"mac", "52:54:00:12:34:56"},
                               {"romfile", "a,b.rom"},
                               {"x-flag", "on"}}));
  EXPECT_EQ(o->get("romfile"), "a,b.rom");
  EXPECT_EQ(o->to_string(),
            "driver=e1000,netdev=n0,mac=52:54:00:12:34:56,romfile=a,,b.rom,x-flag=on");
}

TEST(SubOptions, EdgeCases) {
  EXPECT_EQ(SubOptions::parse("a=1,")->items(), (Items{{"a", "1"}}));  // trailing comma
  EXPECT_EQ(SubOptions::parse("a=1,a=2")->get("a"), "2");              // last one wins
  EXPECT_EQ(SubOptions::parse("a=x=y")->get("a"), "x=y");
  EXPECT_EQ(SubOptions::parse("path=/tmp/a,,,,b")->get("path"), "/tmp/a,,b");
  EXPECT_EQ(SubOptions::parse("a=1,,")->get("a"), "1,");
  EXPECT_EQ(SubOptions::parse("a=")->get("a"), "");
  EXPECT_FALSE(SubOptions::parse("=1").ok());
  EXPECT_FALSE(SubOptions::parse("a=1,,,=2").ok());
  EXPECT_FALSE(SubOptions::parse(",a=1", "driver").ok());
  EXPECT_EQ(SubOptions::parse("a=1,,b=2,,,")->get("a"), "1,b=2,");
}

TEST(OptionReader, TypedAccessAndUnknownKeys) {
  auto o = SubOptions::parse("size=512M,count=0x10,on=yes,bad=maybe,typo=1");
  ASSERT_TRUE(o.ok());
  OptionReader r(*o, "thing");
  EXPECT_EQ(r.size("size", 1).value(), 512ull << 20);
  EXPECT_EQ(r.number("count", 100).value(), 16u);
  EXPECT_EQ(r.boolean("on").value(), true);
  EXPECT_FALSE(r.boolean("bad").ok());
  EXPECT_EQ(r.number("missing", 1).value(), std::nullopt);
  auto unread = r.finish();
  ASSERT_FALSE(unread.ok());
  EXPECT_EQ(unread.error().message, "thing: unknown parameter 'typo'");
}

TEST(ParseSize, UnitsAndLimits) {
  EXPECT_EQ(parse_size("128", 1 << 20).value(), 128ull << 20);
  EXPECT_EQ(parse_size("1G", 1 << 20).value(), 1ull << 30);
  EXPECT_EQ(parse_size("4k", 1).value(), 4096u);
  EXPECT_EQ(parse_size("2MB", 1).value(), 2ull << 20);
  EXPECT_FALSE(parse_size("12x", 1).ok());
  EXPECT_FALSE(parse_size("-1", 1).ok());
  EXPECT_FALSE(parse_size("", 1).ok());
  EXPECT_FALSE(parse_size("99999999999T", 1).ok());
  EXPECT_FALSE(parse_number("5", 4).ok());
  EXPECT_FALSE(parse_number("-5", 10).ok());
  EXPECT_FALSE(parse_number("5z", 10).ok());
}

}  // namespace
}  // namespace hvmd::test
