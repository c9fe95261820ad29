// The argument schema of a QMP command. Every command declares one when it is registered, and
// the server checks a command's arguments against it before the handler runs (types, required
// members, unknown members, enumerations, union variants), so a handler reads validated JSON and
// no client input can reach a JSON type error. A mismatch is a GenericError naming the argument
// by its path ("events[0].data.button").
#pragma once

#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace hvmd::qmp {

using Json = nlohmann::json;

class Schema {
 public:
  struct Member;

  static Schema string();
  static Schema boolean();
  static Schema integer();  // any JSON integer, signed or not
  static Schema unsigned_integer();
  static Schema any();  // accepted as it is (a command's "id"-like opaque values)
  // A string from a fixed set.
  static Schema enumeration(std::initializer_list<const char*> values);
  static Schema array(Schema element);
  // An object with these members and no others.
  static Schema object(std::initializer_list<Member> members);
  // An object whose other members are free, each a string, integer or boolean (device_add's
  // device properties).
  static Schema open_object(std::initializer_list<Member> members);
  // An object whose "discriminator" member picks which schema its "data" member has (QEMU's
  // flat-union-as-"type"/"data" form, as input-send-event uses it).
  static Schema tagged_union(std::string discriminator,
                             std::initializer_list<std::pair<const char*, Schema>> variants);

  // An error description naming the first argument that does not match, or nothing.
  std::optional<std::string> check(const Json& value, const std::string& path = "") const;

 private:
  enum class Kind { kString, kBool, kInt, kUint, kAny, kEnum, kArray, kObject, kUnion };
  explicit Schema(Kind kind);  // out of line: Member is incomplete here
  std::optional<std::string> check_object(const Json& value, const std::string& path) const;
  std::optional<std::string> check_union(const Json& value, const std::string& path) const;
  const char* type_name() const;

  Kind kind_;
  bool open_ = false;
  std::vector<std::string> values_;                                // kEnum
  std::shared_ptr<const Schema> element_;                          // kArray
  std::vector<Member> members_;                                    // kObject
  std::string discriminator_;                                      // kUnion
  std::map<std::string, std::shared_ptr<const Schema>> variants_;  // kUnion
};

struct Schema::Member {
  std::string name;
  Schema schema;
  bool required = false;
};

// Shorthands for a command's argument list.
inline Schema::Member required(std::string name, Schema schema) {
  return {std::move(name), std::move(schema), true};
}
inline Schema::Member optional(std::string name, Schema schema) {
  return {std::move(name), std::move(schema), false};
}
// A command that takes no arguments.
inline Schema no_arguments() {
  return Schema::object({});
}

}  // namespace hvmd::qmp
