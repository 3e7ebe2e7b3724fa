#include "tokenizer/json_where.h"

#include "tokenizer/utf8.h"

namespace moqa::tokenizer {

JsonWhere JsonWhere::field(std::string_view name) const {
  return {file, key.empty() ? std::string(name) : cat(key, ".", name)};
}

JsonWhere JsonWhere::item(size_t index) const { return {file, cat(key, "[", index, "]")}; }

std::string JsonWhere::str() const { return key.empty() ? file : cat(file, ": ", key); }

std::string json_kind(const Json& value) {
  switch (value.type()) {
    case Json::value_t::null: return "null";
    case Json::value_t::object: return "an object";
    case Json::value_t::array: return "an array";
    case Json::value_t::string: return cat("the string '", value.get_ref<const std::string&>(), "'");
    case Json::value_t::boolean: return value.get<bool>() ? "true" : "false";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
    case Json::value_t::number_float: return cat("the number ", value.dump());
    default: return "an unsupported JSON value";
  }
}

void require_object(const Json& value, const JsonWhere& where) {
  if (!value.is_object()) fail_at(where, "expected a JSON object, found ", json_kind(value));
}

const Json& require_field(const Json& object, std::string_view name, const JsonWhere& where) {
  require_object(object, where);
  const auto it = object.find(name);
  if (it == object.end()) fail_at(where.field(name), "missing required field");
  return *it;
}

std::string require_string(const Json& object, std::string_view name, const JsonWhere& where) {
  const Json& value = require_field(object, name, where);
  if (!value.is_string()) fail_at(where.field(name), "expected a string, found ", json_kind(value));
  return value.get<std::string>();
}

namespace {

// The field's value, or nullptr when it is absent or null (both mean "use the default").
const Json* optional_field(const Json& object, std::string_view name, const JsonWhere& where) {
  require_object(object, where);
  const auto it = object.find(name);
  return it == object.end() || it->is_null() ? nullptr : &*it;
}

}  // namespace

std::optional<std::string> optional_string(const Json& object, std::string_view name, const JsonWhere& where) {
  const Json* value = optional_field(object, name, where);
  if (!value) return std::nullopt;
  if (!value->is_string()) fail_at(where.field(name), "expected a string or null, found ", json_kind(*value));
  return value->get<std::string>();
}

bool optional_bool(const Json& object, std::string_view name, const JsonWhere& where, bool fallback) {
  const Json* value = optional_field(object, name, where);
  if (!value) return fallback;
  if (!value->is_boolean()) fail_at(where.field(name), "expected true or false, found ", json_kind(*value));
  return value->get<bool>();
}

int64_t optional_int(const Json& object, std::string_view name, const JsonWhere& where, int64_t fallback) {
  const Json* value = optional_field(object, name, where);
  if (!value) return fallback;
  if (!value->is_number_integer()) fail_at(where.field(name), "expected an integer, found ", json_kind(*value));
  return value->get<int64_t>();
}

const Json& require_array(const Json& object, std::string_view name, const JsonWhere& where) {
  const Json& value = require_field(object, name, where);
  if (!value.is_array()) fail_at(where.field(name), "expected an array, found ", json_kind(value));
  return value;
}

char32_t require_char(const Json& object, std::string_view name, const JsonWhere& where) {
  const std::string text = require_string(object, name, where);
  if (text.empty() || first_invalid_utf8(text) || utf8_length(static_cast<unsigned char>(text[0])) != text.size()) {
    fail_at(where.field(name), "expected a single character, found '", text, "'");
  }
  return decode_utf8(text, 0);
}

int32_t require_token_id(const Json& value, const JsonWhere& where) {
  if (!value.is_number_integer() || value.get<int64_t>() < 0 || value.get<int64_t>() > INT32_MAX)
    fail_at(where, "expected a token id (integer in [0, 2^31)), found ", json_kind(value));
  return static_cast<int32_t>(value.get<int64_t>());
}

std::string component_type(const Json& object, const JsonWhere& where) { return require_string(object, "type", where); }

}  // namespace moqa::tokenizer
