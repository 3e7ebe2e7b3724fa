#pragma once
// tokenizer.json "pre_tokenizer": splits normalized text into the words the model encodes one at a time.
// A Sequence is flattened into its steps; null means the whole text is one word.
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "tokenizer/json_where.h"
#include "tokenizer/pattern.h"
#include "tokenizer/regex.h"

namespace moqa::tokenizer {

struct Piece {
  std::string text;
  // True when the piece begins where the input text begins (the reference's "original offset 0"), which
  // Metaspace's prepend_scheme "first" needs.
  bool at_text_start = false;
};

// What happens to a delimiter found by a split (the reference's SplitDelimiterBehavior).
enum class SplitBehavior { removed, isolated, merged_with_previous, merged_with_next, contiguous };

struct ByteLevelPreTokenizer {
  bool add_prefix_space = true;
  std::optional<Regex> word_regex;  // GPT-2's pattern when use_regex is true
};
struct SplitPreTokenizer {
  Pattern pattern;
  SplitBehavior behavior = SplitBehavior::isolated;
  bool invert = false;
};
enum class PrependScheme { first, always, never };
struct MetaspacePreTokenizer {
  char32_t replacement = U'\u2581';
  PrependScheme prepend_scheme = PrependScheme::always;
  bool split = true;
};
struct DigitsPreTokenizer {
  bool individual_digits = false;
};
struct WhitespacePreTokenizer {};       // words \w+ and symbol runs [^\w\s]+, whitespace dropped
struct WhitespaceSplitPreTokenizer {};  // split on whitespace, whitespace dropped
struct PunctuationPreTokenizer {
  SplitBehavior behavior = SplitBehavior::isolated;
};
struct BertPreTokenizer {};             // whitespace removed, then punctuation isolated

using PreTokenizerStep =
    std::variant<ByteLevelPreTokenizer, SplitPreTokenizer, MetaspacePreTokenizer, DigitsPreTokenizer,
                 WhitespacePreTokenizer, WhitespaceSplitPreTokenizer, PunctuationPreTokenizer, BertPreTokenizer>;

std::vector<PreTokenizerStep> parse_pre_tokenizer(const Json& value, const JsonWhere& where);
// The fields of a Metaspace component (shared with the Metaspace decoder).
MetaspacePreTokenizer parse_metaspace(const Json& value, const JsonWhere& where);

// Applies every step to every piece; empty pieces are dropped.
std::vector<Piece> pre_tokenize(const std::vector<PreTokenizerStep>& steps, std::vector<Piece> pieces);

}  // namespace moqa::tokenizer
