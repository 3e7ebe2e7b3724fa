#pragma once
// Reading tokenizer.json with error messages that name the file and the JSON key path of the offending
// value (e.g. "tokenizer.json: pre_tokenizer.pretokenizers[1].type: ..."). Internal to the module.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.h"

namespace moqa::tokenizer {

using Json = nlohmann::json;

struct JsonWhere {
  std::string file;  // the tokenizer.json path as given by the user
  std::string key;   // dotted key path from the document root; empty for the root

  JsonWhere field(std::string_view name) const;
  JsonWhere item(size_t index) const;
  std::string str() const;  // "<file>: <key>"
};

template <class... Parts>
[[noreturn]] void fail_at(const JsonWhere& where, Parts&&... parts) {
  fail(where.str(), ": ", std::forward<Parts>(parts)...);
}

std::string json_kind(const Json& value);  // "string", "number", "null", ... for messages

// `object` must be a JSON object; `where` locates it. Missing or null optional fields yield the default.
const Json& require_field(const Json& object, std::string_view name, const JsonWhere& where);
std::string require_string(const Json& object, std::string_view name, const JsonWhere& where);
std::optional<std::string> optional_string(const Json& object, std::string_view name, const JsonWhere& where);
bool optional_bool(const Json& object, std::string_view name, const JsonWhere& where, bool fallback);
int64_t optional_int(const Json& object, std::string_view name, const JsonWhere& where, int64_t fallback);
const Json& require_array(const Json& object, std::string_view name, const JsonWhere& where);
void require_object(const Json& value, const JsonWhere& where);
// The value of a one-code-point string field (Metaspace replacement, Strip content).
char32_t require_char(const Json& object, std::string_view name, const JsonWhere& where);
// A token id: an integer in [0, 2^31).
int32_t require_token_id(const Json& value, const JsonWhere& where);
// The "type" field of a component, checked to be a string.
std::string component_type(const Json& object, const JsonWhere& where);

}  // namespace moqa::tokenizer
