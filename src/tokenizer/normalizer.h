#pragma once
// tokenizer.json "normalizer": text-to-text rewrites applied to each stretch of input between added
// tokens, before pre-tokenization. A Sequence is flattened into its steps; null means no steps.
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "tokenizer/json_where.h"
#include "tokenizer/pattern.h"
#include "tokenizer/unicode.h"

namespace moqa::tokenizer {

struct UnicodeNormalizer {
  NormalForm form = NormalForm::nfc;
};
struct LowercaseNormalizer {};
struct StripNormalizer {
  bool left = true;
  bool right = true;
};
struct StripAccentsNormalizer {};
struct PrependNormalizer {
  std::string prefix;  // added in front of non-empty text
};
struct ReplaceNormalizer {
  Pattern pattern;
  std::string content;
};
struct ByteLevelNormalizer {};

using NormalizerStep = std::variant<UnicodeNormalizer, LowercaseNormalizer, StripNormalizer, StripAccentsNormalizer,
                                    PrependNormalizer, ReplaceNormalizer, ByteLevelNormalizer>;

std::vector<NormalizerStep> parse_normalizer(const Json& value, const JsonWhere& where);

std::string normalize(const std::vector<NormalizerStep>& steps, std::string_view text);

}  // namespace moqa::tokenizer
