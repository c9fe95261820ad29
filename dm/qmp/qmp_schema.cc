#include "dm/qmp/qmp_schema.h"

#include <algorithm>

namespace hvmd::qmp {
namespace {

std::string member_path(const std::string& path, const std::string& name) {
  return path.empty() ? name : path + "." + name;
}

std::string type_error(const std::string& path, const char* expected) {
  return "Invalid parameter type for '" + path + "', expected: " + expected;
}

}  // namespace

Schema::Schema(Kind kind) : kind_(kind) {}

Schema Schema::string() {
  return Schema(Kind::kString);
}
Schema Schema::boolean() {
  return Schema(Kind::kBool);
}
Schema Schema::integer() {
  return Schema(Kind::kInt);
}
Schema Schema::unsigned_integer() {
  return Schema(Kind::kUint);
}
Schema Schema::any() {
  return Schema(Kind::kAny);
}

Schema Schema::enumeration(std::initializer_list<const char*> values) {
  Schema s(Kind::kEnum);
  for (const char* v : values) s.values_.emplace_back(v);
  return s;
}

Schema Schema::array(Schema element) {
  Schema s(Kind::kArray);
  s.element_ = std::make_shared<const Schema>(std::move(element));
  return s;
}

Schema Schema::object(std::initializer_list<Member> members) {
  Schema s(Kind::kObject);
  s.members_ = members;
  return s;
}

Schema Schema::open_object(std::initializer_list<Member> members) {
  Schema s = object(members);
  s.open_ = true;
  return s;
}

Schema Schema::tagged_union(std::string discriminator,
                            std::initializer_list<std::pair<const char*, Schema>> variants) {
  Schema s(Kind::kUnion);
  s.discriminator_ = std::move(discriminator);
  for (const auto& [name, schema] : variants)
    s.variants_[name] = std::make_shared<const Schema>(schema);
  return s;
}

const char* Schema::type_name() const {
  switch (kind_) {
    case Kind::kString:
    case Kind::kEnum:
      return "string";
    case Kind::kBool:
      return "boolean";
    case Kind::kInt:
    case Kind::kUint:
      return "integer";
    case Kind::kArray:
      return "array";
    case Kind::kObject:
    case Kind::kUnion:
      return "object";
    case Kind::kAny:
      return "any";
  }
  return "";
}

std::optional<std::string> Schema::check(const Json& value, const std::string& path) const {
  switch (kind_) {
    case Kind::kAny:
      return std::nullopt;
    case Kind::kString:
      if (!value.is_string()) return type_error(path, type_name());
      return std::nullopt;
    case Kind::kBool:
      if (!value.is_boolean()) return type_error(path, type_name());
      return std::nullopt;
    case Kind::kInt:
      if (!value.is_number_integer()) return type_error(path, type_name());
      return std::nullopt;
    case Kind::kUint:
      if (!value.is_number_unsigned()) return type_error(path, "non-negative integer");
      return std::nullopt;
    case Kind::kEnum:
      if (!value.is_string()) return type_error(path, type_name());
      if (std::find(values_.begin(), values_.end(), value.get<std::string>()) == values_.end())
        return "Parameter '" + path + "' does not accept value '" + value.get<std::string>() + "'";
      return std::nullopt;
    case Kind::kArray:
      if (!value.is_array()) return type_error(path, type_name());
      for (size_t i = 0; i < value.size(); ++i)
        if (auto error = element_->check(value[i], path + "[" + std::to_string(i) + "]"))
          return error;
      return std::nullopt;
    case Kind::kObject:
      return check_object(value, path);
    case Kind::kUnion:
      return check_union(value, path);
  }
  return std::nullopt;
}

std::optional<std::string> Schema::check_object(const Json& value, const std::string& path) const {
  if (!value.is_object()) return type_error(path.empty() ? "arguments" : path, type_name());
  for (const Member& m : members_) {
    auto it = value.find(m.name);
    if (it == value.end()) {
      if (m.required) return "Parameter '" + member_path(path, m.name) + "' is missing";
      continue;
    }
    if (auto error = m.schema.check(*it, member_path(path, m.name))) return error;
  }
  for (const auto& [key, item] : value.items()) {
    bool declared = std::any_of(members_.begin(), members_.end(),
                                [&key = key](const Member& m) { return m.name == key; });
    if (declared) continue;
    if (!open_) return "Parameter '" + member_path(path, key) + "' is unexpected";
    if (!item.is_string() && !item.is_number_integer() && !item.is_boolean())
      return type_error(member_path(path, key), "string, integer or boolean");
  }
  return std::nullopt;
}

std::optional<std::string> Schema::check_union(const Json& value, const std::string& path) const {
  if (!value.is_object()) return type_error(path, type_name());
  auto tag = value.find(discriminator_);
  std::string tag_path = member_path(path, discriminator_);
  if (tag == value.end()) return "Parameter '" + tag_path + "' is missing";
  if (!tag->is_string()) return type_error(tag_path, "string");
  auto variant = variants_.find(tag->get<std::string>());
  if (variant == variants_.end())
    return "Parameter '" + tag_path + "' does not accept value '" + tag->get<std::string>() + "'";
  for (const auto& [key, item] : value.items())
    if (key != discriminator_ && key != "data")
      return "Parameter '" + member_path(path, key) + "' is unexpected";
  auto data = value.find("data");
  std::string data_path = member_path(path, "data");
  if (data == value.end()) return "Parameter '" + data_path + "' is missing";
  return variant->second->check(*data, data_path);
}

}  // namespace hvmd::qmp
