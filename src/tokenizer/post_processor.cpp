#include "tokenizer/post_processor.h"

#include <map>
#include <string>

#include "tokenizer/overloaded.h"

namespace moqa::tokenizer {
namespace {

constexpr const char* kSupported = "TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevel, Sequence";

// "sep": ["</s>", 2] in BertProcessing / RobertaProcessing.
int32_t parse_named_id(const Json& object, const char* name, const JsonWhere& where) {
  const Json& value = require_field(object, name, where);
  if (!value.is_array() || value.size() != 2 || !value[0].is_string()) {
    fail_at(where.field(name), "expected [\"token\", id], found ", value.dump());
  }
  return require_token_id(value[1], where.field(name).item(1));
}

TemplatePostProcessor parse_template(const Json& value, const JsonWhere& where) {
  std::map<std::string, std::vector<int32_t>> specials;
  const JsonWhere specials_at = where.field("special_tokens");
  const Json& special_tokens = require_field(value, "special_tokens", where);
  require_object(special_tokens, specials_at);
  for (auto it = special_tokens.begin(); it != special_tokens.end(); ++it) {
    const JsonWhere at = specials_at.field(it.key());
    const Json& ids = require_array(it.value(), "ids", at);
    std::vector<int32_t> parsed;
    for (size_t i = 0; i < ids.size(); ++i) parsed.push_back(require_token_id(ids[i], at.field("ids").item(i)));
    specials.emplace(it.key(), std::move(parsed));
  }

  TemplatePostProcessor result;
  const JsonWhere single_at = where.field("single");
  const Json& single = require_array(value, "single", where);
  for (size_t i = 0; i < single.size(); ++i) {
    const JsonWhere at = single_at.item(i);
    const Json& piece = single[i];
    require_object(piece, at);
    if (piece.contains("Sequence")) {
      const std::string id = require_string(piece["Sequence"], "id", at.field("Sequence"));
      if (id != "A") fail_at(at.field("Sequence").field("id"), "a single-sequence template can only use A, found '", id, "'");
      result.single.push_back({true, {}});
    } else if (piece.contains("SpecialToken")) {
      const JsonWhere token_at = at.field("SpecialToken");
      const std::string id = require_string(piece["SpecialToken"], "id", token_at);
      const auto found = specials.find(id);
      if (found == specials.end()) fail_at(token_at.field("id"), "'", id, "' is not defined in special_tokens");
      result.single.push_back({false, found->second});
    } else {
      fail_at(at, "expected {\"Sequence\": ...} or {\"SpecialToken\": ...}, found ", piece.dump());
    }
  }
  return result;
}

void parse_into(const Json& value, const JsonWhere& where, std::vector<PostProcessorStep>& steps) {
  if (value.is_null()) return;
  const std::string type = component_type(value, where);
  if (type == "Sequence") {
    const Json& items = require_array(value, "processors", where);
    for (size_t i = 0; i < items.size(); ++i) parse_into(items[i], where.field("processors").item(i), steps);
  } else if (type == "TemplateProcessing") {
    steps.emplace_back(parse_template(value, where));
  } else if (type == "BertProcessing" || type == "RobertaProcessing") {
    steps.emplace_back(WrapPostProcessor{parse_named_id(value, "cls", where), parse_named_id(value, "sep", where)});
  } else if (type == "ByteLevel") {
    steps.emplace_back(ByteLevelPostProcessor{});
  } else {
    fail_at(where.field("type"), "unknown post-processor type '", type, "'; supported: ", kSupported);
  }
}

}  // namespace

std::vector<PostProcessorStep> parse_post_processor(const Json& value, const JsonWhere& where) {
  std::vector<PostProcessorStep> steps;
  parse_into(value, where, steps);
  return steps;
}

std::vector<int32_t> post_process(const std::vector<PostProcessorStep>& steps, std::vector<int32_t> ids,
                                  bool add_special_tokens) {
  if (!add_special_tokens) return ids;
  for (const PostProcessorStep& step : steps) {
    ids = std::visit(Overloaded{
                         [&](const TemplatePostProcessor& t) {
                           std::vector<int32_t> out;
                           for (const auto& piece : t.single) {
                             const auto& part = piece.is_sequence ? ids : piece.special;
                             out.insert(out.end(), part.begin(), part.end());
                           }
                           return out;
                         },
                         [&](const WrapPostProcessor& w) {
                           std::vector<int32_t> out;
                           out.reserve(ids.size() + 2);
                           out.push_back(w.cls_id);
                           out.insert(out.end(), ids.begin(), ids.end());
                           out.push_back(w.sep_id);
                           return out;
                         },
                         [&](const ByteLevelPostProcessor&) { return ids; },
                     },
                     step);
  }
  return ids;
}

std::vector<int32_t> leading_special_ids(const std::vector<PostProcessorStep>& steps) {
  const std::vector<int32_t> marker = post_process(steps, {-1}, true);
  std::vector<int32_t> leading;
  for (const int32_t id : marker) {
    if (id == -1) break;
    leading.push_back(id);
  }
  return leading;
}

}  // namespace moqa::tokenizer
