#pragma once
// The {"String": ...} / {"Regex": ...} pattern of the Split pre-tokenizer and the Replace normalizer and
// decoder. A String pattern matches its text literally; a Regex pattern is an Oniguruma-syntax regex.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/json_where.h"
#include "tokenizer/regex.h"

namespace moqa::tokenizer {

struct Pattern {
  std::string literal;         // used when regex is empty; never empty itself
  std::optional<Regex> regex;

  // Non-overlapping matches, left to right.
  std::vector<Match> find_all(std::string_view text) const;
};

Pattern parse_pattern(const Json& value, const JsonWhere& where);

// Every match of `pattern` in `text` replaced by `content` (inserted literally).
std::string replace_all(std::string_view text, const Pattern& pattern, std::string_view content);
// The same for a literal (non-empty) pattern; on valid UTF-8 a whole character's encoding only matches
// at character boundaries, so this also replaces one code point by a string.
std::string replace_literal(std::string_view text, std::string_view literal, std::string_view content);

}  // namespace moqa::tokenizer
