#include <gtest/gtest.h>

#include "dm/qmp/qmp_schema.h"

namespace hvmd::test {
namespace {

using qmp::Json;
using qmp::Schema;

std::string error_of(const Schema& schema, const Json& value) {
  return schema.check(value).value_or("");
}

TEST(QmpSchema, ScalarsEnumerationsAndArrays) {
  Schema s = Schema::object({qmp::optional("b", Schema::boolean()),
                             qmp::optional("u", Schema::unsigned_integer()),
                             qmp::optional("e", Schema::enumeration({"x", "y"})),
                             qmp::optional("a", Schema::array(Schema::string()))});
  EXPECT_EQ(error_of(s, Json::object()), "");
  EXPECT_EQ(error_of(s, {{"b", 1}}), "Invalid parameter type for 'b', expected: boolean");
  EXPECT_EQ(error_of(s, {{"u", -1}}),
            "Invalid parameter type for 'u', expected: non-negative integer");
  EXPECT_EQ(error_of(s, {{"u", 1.5}}),
            "Invalid parameter type for 'u', expected: non-negative integer");
  EXPECT_EQ(error_of(s, {{"e", "z"}}), "Parameter 'e' does not accept value 'z'");
  EXPECT_EQ(error_of(s, {{"a", {"p", nullptr}}}),
            "Invalid parameter type for 'a[1]', expected: string");
  EXPECT_EQ(error_of(s, Json::array()), "Invalid parameter type for 'arguments', expected: object");
}

TEST(QmpSchema, OpenObjectsTakeScalarsOnly) {
  Schema s = Schema::open_object({qmp::required("driver", Schema::string())});
  EXPECT_EQ(error_of(s, {{"driver", "e1000"}, {"mac", "52:54:00:00:00:01"}, {"x", 1}}), "");
  EXPECT_EQ(error_of(s, {{"driver", "e1000"}, {"x", {{"nested", 1}}}}),
            "Invalid parameter type for 'x', expected: string, integer or boolean");
  EXPECT_EQ(error_of(s, {{"driver", 5}}), "Invalid parameter type for 'driver', expected: string");
}

// input-send-event's shape: the "type" member decides what "data" must be.
TEST(QmpSchema, TaggedUnions) {
  Schema event = Schema::tagged_union(
      "type", {{"btn", Schema::object({qmp::required("button", Schema::enumeration({"left"})),
                                       qmp::required("down", Schema::boolean())})}});
  Schema s = Schema::object({qmp::required("events", Schema::array(event))});
  Json good = {{"events", {{{"type", "btn"}, {"data", {{"button", "left"}, {"down", true}}}}}}};
  EXPECT_EQ(error_of(s, good), "");
  Json bad = good;
  bad["events"][0]["data"]["button"] = 1;
  EXPECT_EQ(error_of(s, bad),
            "Invalid parameter type for 'events[0].data.button', expected: string");
  bad = good;
  bad["events"][0]["type"] = "abs";
  EXPECT_EQ(error_of(s, bad), "Parameter 'events[0].type' does not accept value 'abs'");
  bad = good;
  bad["events"][0].erase("data");
  EXPECT_EQ(error_of(s, bad), "Parameter 'events[0].data' is missing");
  bad = good;
  bad["events"][0]["extra"] = 0;
  EXPECT_EQ(error_of(s, bad), "Parameter 'events[0].extra' is unexpected");
}

}  // namespace
}  // namespace hvmd::test
