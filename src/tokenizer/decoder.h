#pragma once
// tokenizer.json "decoder": turns the token strings of a sequence back into text. Each step maps the list
// of strings to a new list (as the reference's decode_chain does); the result is their concatenation.
#include <cstddef>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "tokenizer/json_where.h"
#include "tokenizer/pattern.h"

namespace moqa::tokenizer {

struct ByteLevelDecoder {};  // byte-level characters back to bytes, then lossy UTF-8
struct ReplaceDecoder {
  Pattern pattern;
  std::string content;
};
struct ByteFallbackDecoder {};  // runs of <0xNN> tokens back to the text they encode
struct FuseDecoder {};          // all strings into one
struct StripDecoder {
  char32_t content = U' ';
  size_t start = 0;  // at most this many `content` characters removed from each string's start
  size_t stop = 0;   // ... and from its end
};
struct MetaspaceDecoder {
  char32_t replacement = U'\u2581';
  bool drop_leading = true;  // prepend_scheme != never: replacements in the first token are dropped
};
struct BpeSuffixDecoder {
  std::string suffix;  // end-of-word suffix: a space, except after the last token
};

using DecoderStep = std::variant<ByteLevelDecoder, ReplaceDecoder, ByteFallbackDecoder, FuseDecoder, StripDecoder,
                                 MetaspaceDecoder, BpeSuffixDecoder>;

// nullopt for "decoder": null (tokens are then joined with spaces, as in the reference).
std::optional<std::vector<DecoderStep>> parse_decoder(const Json& value, const JsonWhere& where);

std::string decode_tokens(const std::optional<std::vector<DecoderStep>>& decoder, std::vector<std::string> tokens);

}  // namespace moqa::tokenizer
