// The -vnc option: every form libxl and QEMU users write, and one-line errors naming the value.
#include "dm/vnc/vnc_options.h"

#include <gtest/gtest.h>

namespace hvmd::test {
namespace {

using vnc::VncOptions;

TEST(VncOptionsTest, Forms) {
  auto none = VncOptions::parse("none");
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->enabled);
  auto libxl = VncOptions::parse("127.0.0.1:0,to=99");
  ASSERT_TRUE(libxl) << libxl.error().message;
  EXPECT_TRUE(libxl->enabled);
  EXPECT_EQ(libxl->host, "127.0.0.1");
  EXPECT_EQ(libxl->display, 0u);
  EXPECT_EQ(libxl->last_display, 99u);
  EXPECT_FALSE(libxl->password);
  auto any = VncOptions::parse(":3,password=on");
  ASSERT_TRUE(any);
  EXPECT_EQ(any->host, "");
  EXPECT_EQ(any->display, 3u);
  EXPECT_EQ(any->last_display, 3u);
  EXPECT_TRUE(any->password);
  auto flag = VncOptions::parse("localhost:1,password");
  ASSERT_TRUE(flag);
  EXPECT_TRUE(flag->password);
  auto v6 = VncOptions::parse("[::1]:2");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "::1");
  auto path = VncOptions::parse("unix:/run/vnc.sock,password=on");
  ASSERT_TRUE(path);
  EXPECT_EQ(path->unix_path, "/run/vnc.sock");
  EXPECT_TRUE(path->password);
}

TEST(VncOptionsTest, ErrorsNameTheValue) {
  for (const char* bad : {"127.0.0.1", "host:x", "host:70000", ":1,to=0", ":0,sasl=on", "::1:0",
                          "unix:", "unix:/a,to=3", ":0,password=maybe"}) {
    auto parsed = VncOptions::parse(bad);
    ASSERT_FALSE(parsed) << bad;
    EXPECT_EQ(parsed.error().message.find('\n'), std::string::npos);
    EXPECT_NE(parsed.error().message.find(std::string("-vnc ") + bad), std::string::npos)
        << parsed.error().message;
  }
}

}  // namespace
}  // namespace hvmd::test
