#include "tokenizer/normalizer.h"

#include "tokenizer/byte_level.h"
#include "tokenizer/overloaded.h"
#include "tokenizer/utf8.h"

namespace moqa::tokenizer {
namespace {

constexpr const char* kSupported = "NFC, NFD, NFKC, NFKD, Lowercase, Strip, StripAccents, Prepend, Replace, ByteLevel, Sequence";

void parse_into(const Json& value, const JsonWhere& where, std::vector<NormalizerStep>& steps) {
  if (value.is_null()) return;
  const std::string type = component_type(value, where);
  if (type == "Sequence") {
    const Json& items = require_array(value, "normalizers", where);
    for (size_t i = 0; i < items.size(); ++i) parse_into(items[i], where.field("normalizers").item(i), steps);
  } else if (type == "NFC") {
    steps.emplace_back(UnicodeNormalizer{NormalForm::nfc});
  } else if (type == "NFD") {
    steps.emplace_back(UnicodeNormalizer{NormalForm::nfd});
  } else if (type == "NFKC") {
    steps.emplace_back(UnicodeNormalizer{NormalForm::nfkc});
  } else if (type == "NFKD") {
    steps.emplace_back(UnicodeNormalizer{NormalForm::nfkd});
  } else if (type == "Lowercase") {
    steps.emplace_back(LowercaseNormalizer{});
  } else if (type == "Strip") {
    steps.emplace_back(StripNormalizer{optional_bool(value, "strip_left", where, true),
                                       optional_bool(value, "strip_right", where, true)});
  } else if (type == "StripAccents") {
    steps.emplace_back(StripAccentsNormalizer{});
  } else if (type == "Prepend") {
    steps.emplace_back(PrependNormalizer{require_string(value, "prepend", where)});
  } else if (type == "Replace") {
    steps.emplace_back(ReplaceNormalizer{parse_pattern(require_field(value, "pattern", where), where.field("pattern")),
                                         require_string(value, "content", where)});
  } else if (type == "ByteLevel") {
    steps.emplace_back(ByteLevelNormalizer{});
  } else {
    fail_at(where.field("type"), "unknown normalizer type '", type, "'; supported: ", kSupported);
  }
}

std::string strip(std::string_view text, bool left, bool right) {
  size_t begin = 0;
  size_t end = text.size();
  if (left) {
    while (begin < end) {
      const size_t length = utf8_length(static_cast<unsigned char>(text[begin]));
      if (!is_whitespace(decode_utf8(text, begin))) break;
      begin += length;
    }
  }
  if (right) {
    while (end > begin) {
      const size_t start = previous_char_start(text, end);
      if (!is_whitespace(decode_utf8(text, start))) break;
      end = start;
    }
  }
  return std::string(text.substr(begin, end - begin));
}

std::string strip_accents(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    const size_t length = utf8_length(static_cast<unsigned char>(text[pos]));
    if (!is_combining_mark(decode_utf8(text, pos))) out.append(text.substr(pos, length));
    pos += length;
  }
  return out;
}

}  // namespace

std::vector<NormalizerStep> parse_normalizer(const Json& value, const JsonWhere& where) {
  std::vector<NormalizerStep> steps;
  parse_into(value, where, steps);
  return steps;
}

std::string normalize(const std::vector<NormalizerStep>& steps, std::string_view text) {
  std::string current(text);
  for (const NormalizerStep& step : steps) {
    current = std::visit(
        Overloaded{
            [&](const UnicodeNormalizer& s) { return normalize_unicode(current, s.form); },
            [&](const LowercaseNormalizer&) { return lowercase(current); },
            [&](const StripNormalizer& s) { return strip(current, s.left, s.right); },
            [&](const StripAccentsNormalizer&) { return strip_accents(current); },
            [&](const PrependNormalizer& s) { return current.empty() ? current : s.prefix + current; },
            [&](const ReplaceNormalizer& s) { return replace_all(current, s.pattern, s.content); },
            [&](const ByteLevelNormalizer&) { return bytes_to_byte_level(current); },
        },
        step);
  }
  return current;
}

}  // namespace moqa::tokenizer
