#include "tokenizer/pattern.h"

namespace moqa::tokenizer {

std::vector<Match> Pattern::find_all(std::string_view text) const {
  if (regex) return regex->find_all(text);
  std::vector<Match> matches;
  size_t pos = text.find(literal);
  while (pos != std::string_view::npos) {
    matches.push_back({pos, pos + literal.size()});
    pos = text.find(literal, pos + literal.size());
  }
  return matches;
}

Pattern parse_pattern(const Json& value, const JsonWhere& where) {
  require_object(value, where);
  if (value.size() != 1 || (!value.contains("String") && !value.contains("Regex"))) {
    fail_at(where, "expected {\"String\": ...} or {\"Regex\": ...}, found ", value.dump());
  }
  Pattern pattern;
  if (value.contains("String")) {
    pattern.literal = require_string(value, "String", where);
    if (pattern.literal.empty()) fail_at(where.field("String"), "an empty pattern matches nothing useful");
  } else {
    const std::string regex = require_string(value, "Regex", where);
    pattern.regex.emplace(regex, where.field("Regex").str());
  }
  return pattern;
}

std::string replace_all(std::string_view text, const Pattern& pattern, std::string_view content) {
  const std::vector<Match> matches = pattern.find_all(text);
  if (matches.empty()) return std::string(text);
  std::string out;
  out.reserve(text.size() + matches.size() * content.size());
  size_t pos = 0;
  for (const Match& m : matches) {
    out.append(text.substr(pos, m.begin - pos));
    out.append(content);
    pos = m.end;
  }
  out.append(text.substr(pos));
  return out;
}

std::string replace_literal(std::string_view text, std::string_view literal, std::string_view content) {
  if (literal.empty()) return std::string(text);  // find_all would never advance
  return replace_all(text, Pattern{std::string(literal), std::nullopt}, content);
}

}  // namespace moqa::tokenizer
