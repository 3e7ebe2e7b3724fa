#include "tokenizer/decoder.h"

#include "tokenizer/byte_level.h"
#include "tokenizer/overloaded.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/utf8.h"

namespace moqa::tokenizer {
namespace {

constexpr const char* kSupported = "ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace, BPEDecoder, Sequence";

using Strings = std::vector<std::string>;

void parse_into(const Json& value, const JsonWhere& where, std::vector<DecoderStep>& steps) {
  const std::string type = component_type(value, where);
  if (type == "Sequence") {
    const Json& items = require_array(value, "decoders", where);
    for (size_t i = 0; i < items.size(); ++i) parse_into(items[i], where.field("decoders").item(i), steps);
  } else if (type == "ByteLevel") {
    steps.emplace_back(ByteLevelDecoder{});
  } else if (type == "Replace") {
    steps.emplace_back(ReplaceDecoder{parse_pattern(require_field(value, "pattern", where), where.field("pattern")),
                                      require_string(value, "content", where)});
  } else if (type == "ByteFallback") {
    steps.emplace_back(ByteFallbackDecoder{});
  } else if (type == "Fuse") {
    steps.emplace_back(FuseDecoder{});
  } else if (type == "Strip") {
    const int64_t start = optional_int(value, "start", where, 0);
    const int64_t stop = optional_int(value, "stop", where, 0);
    if (start < 0) fail_at(where.field("start"), "expected a count >= 0, found ", start);
    if (stop < 0) fail_at(where.field("stop"), "expected a count >= 0, found ", stop);
    steps.emplace_back(StripDecoder{require_char(value, "content", where), static_cast<size_t>(start),
                                    static_cast<size_t>(stop)});
  } else if (type == "Metaspace") {
    // Same fields as the Metaspace pre-tokenizer; only the replacement and whether one is prepended matter.
    const MetaspacePreTokenizer metaspace = parse_metaspace(value, where);
    steps.emplace_back(MetaspaceDecoder{metaspace.replacement, metaspace.prepend_scheme != PrependScheme::never});
  } else if (type == "BPEDecoder") {
    steps.emplace_back(BpeSuffixDecoder{optional_string(value, "suffix", where).value_or("</w>")});
  } else {
    fail_at(where.field("type"), "unknown decoder type '", type, "'; supported: ", kSupported);
  }
}

bool parse_byte_token(const std::string& token, unsigned char& byte) {
  if (token.size() != 6 || !token.starts_with("<0x") || token[5] != '>') return false;
  unsigned value = 0;
  for (size_t i = 3; i < 5; ++i) {
    const char c = token[i];
    unsigned digit = 0;
    if (c >= '0' && c <= '9') {
      digit = static_cast<unsigned>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      digit = static_cast<unsigned>(c - 'a' + 10);
    } else if (c >= 'A' && c <= 'F') {
      digit = static_cast<unsigned>(c - 'A' + 10);
    } else {
      return false;
    }
    value = value * 16 + digit;
  }
  byte = static_cast<unsigned char>(value);
  return true;
}

Strings byte_level(const Strings& tokens) {
  std::string bytes;
  for (const std::string& token : tokens) {
    std::string mapped;
    bool all_mapped = true;
    for (size_t pos = 0; pos < token.size() && all_mapped;) {
      const auto byte = byte_level_to_byte(decode_utf8(token, pos));
      if (byte) {
        mapped.push_back(static_cast<char>(*byte));
      } else {
        all_mapped = false;
      }
      pos += utf8_length(static_cast<unsigned char>(token[pos]));
    }
    // A token with any character outside the byte-level alphabet (an added token) is kept as it is.
    bytes += all_mapped ? mapped : token;
  }
  return {utf8_lossy(bytes)};
}

Strings byte_fallback(const Strings& tokens) {
  Strings out;
  std::string pending;  // bytes of consecutive <0xNN> tokens
  const auto flush = [&] {
    if (pending.empty()) return;
    if (!first_invalid_utf8(pending)) {
      out.push_back(pending);
    } else {
      for (size_t i = 0; i < pending.size(); ++i) out.push_back("\xEF\xBF\xBD");  // one U+FFFD per byte
    }
    pending.clear();
  };
  for (const std::string& token : tokens) {
    unsigned char byte = 0;
    if (parse_byte_token(token, byte)) {
      pending.push_back(static_cast<char>(byte));
      continue;
    }
    flush();
    out.push_back(token);
  }
  flush();
  return out;
}

std::string strip(const std::string& token, const StripDecoder& s) {
  std::vector<size_t> starts;  // byte offset of each character
  for (size_t pos = 0; pos < token.size(); pos += utf8_length(static_cast<unsigned char>(token[pos]))) starts.push_back(pos);
  const size_t count = starts.size();
  size_t first = 0;
  while (first < count && first < s.start && decode_utf8(token, starts[first]) == s.content) ++first;
  size_t last = count;  // one past the last kept character
  for (size_t i = 0; i < s.stop && last > first; ++i) {
    if (decode_utf8(token, starts[last - 1]) != s.content) break;
    --last;
  }
  const size_t begin = first < count ? starts[first] : token.size();
  const size_t end = last < count ? starts[last] : token.size();
  return token.substr(begin, end - begin);
}

Strings apply(const DecoderStep& step, Strings tokens) {
  return std::visit(
      Overloaded{
          [&](const ByteLevelDecoder&) { return byte_level(tokens); },
          [&](const ReplaceDecoder& s) {
            for (std::string& token : tokens) token = replace_all(token, s.pattern, s.content);
            return tokens;
          },
          [&](const ByteFallbackDecoder&) { return byte_fallback(tokens); },
          [&](const FuseDecoder&) {
            std::string fused;
            for (const std::string& token : tokens) fused += token;
            return Strings{fused};
          },
          [&](const StripDecoder& s) {
            for (std::string& token : tokens) token = strip(token, s);
            return tokens;
          },
          [&](const MetaspaceDecoder& s) {
            const std::string replacement = to_utf8(s.replacement);
            for (size_t i = 0; i < tokens.size(); ++i) {
              tokens[i] = replace_literal(tokens[i], replacement, i == 0 && s.drop_leading ? "" : " ");
            }
            return tokens;
          },
          [&](const BpeSuffixDecoder& s) {
            if (s.suffix.empty()) return tokens;
            for (size_t i = 0; i < tokens.size(); ++i) {
              tokens[i] = replace_literal(tokens[i], s.suffix, i + 1 == tokens.size() ? "" : " ");
            }
            return tokens;
          },
      },
      step);
}

}  // namespace

std::optional<std::vector<DecoderStep>> parse_decoder(const Json& value, const JsonWhere& where) {
  if (value.is_null()) return std::nullopt;
  std::vector<DecoderStep> steps;
  parse_into(value, where, steps);
  return steps;
}

std::string decode_tokens(const std::optional<std::vector<DecoderStep>>& decoder, std::vector<std::string> tokens) {
  std::string text;
  if (!decoder) {
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (i > 0) text += ' ';
      text += tokens[i];
    }
    return text;
  }
  for (const DecoderStep& step : *decoder) tokens = apply(step, std::move(tokens));
  for (const std::string& token : tokens) text += token;
  return text;
}

}  // namespace moqa::tokenizer
