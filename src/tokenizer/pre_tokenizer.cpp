#include "tokenizer/pre_tokenizer.h"

#include <algorithm>

#include "tokenizer/byte_level.h"
#include "tokenizer/overloaded.h"
#include "tokenizer/unicode.h"
#include "tokenizer/utf8.h"

namespace moqa::tokenizer {
namespace {

constexpr const char* kSupported =
    "ByteLevel, Split, Metaspace, Digits, Whitespace, WhitespaceSplit, Punctuation, BertPreTokenizer, Sequence";

// GPT-2's word pattern, used by the ByteLevel pre-tokenizer when use_regex is true.
constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

SplitBehavior parse_behavior(const Json& object, const JsonWhere& where, SplitBehavior fallback) {
  const std::optional<std::string> name = optional_string(object, "behavior", where);
  if (!name) return fallback;
  if (*name == "Removed") return SplitBehavior::removed;
  if (*name == "Isolated") return SplitBehavior::isolated;
  if (*name == "MergedWithPrevious") return SplitBehavior::merged_with_previous;
  if (*name == "MergedWithNext") return SplitBehavior::merged_with_next;
  if (*name == "Contiguous") return SplitBehavior::contiguous;
  fail_at(where.field("behavior"), "unknown split behavior '", *name,
          "'; supported: Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous");
}

PrependScheme parse_prepend_scheme(const Json& object, const JsonWhere& where) {
  // Older files only have add_prefix_space; the reference maps false to "never" and defaults to "always".
  const std::optional<std::string> name = optional_string(object, "prepend_scheme", where);
  const bool add_prefix_space = optional_bool(object, "add_prefix_space", where, true);
  PrependScheme scheme = PrependScheme::always;
  if (name) {
    if (*name == "first") {
      scheme = PrependScheme::first;
    } else if (*name == "always") {
      scheme = PrependScheme::always;
    } else if (*name == "never") {
      scheme = PrependScheme::never;
    } else {
      fail_at(where.field("prepend_scheme"), "unknown prepend scheme '", *name, "'; supported: first, always, never");
    }
  }
  if (!add_prefix_space) {
    if (scheme != PrependScheme::never && name) {
      fail_at(where.field("add_prefix_space"), "add_prefix_space false contradicts prepend_scheme '", *name, "'");
    }
    scheme = PrependScheme::never;
  }
  return scheme;
}

void parse_into(const Json& value, const JsonWhere& where, std::vector<PreTokenizerStep>& steps) {
  if (value.is_null()) return;
  const std::string type = component_type(value, where);
  if (type == "Sequence") {
    const Json& items = require_array(value, "pretokenizers", where);
    for (size_t i = 0; i < items.size(); ++i) parse_into(items[i], where.field("pretokenizers").item(i), steps);
  } else if (type == "ByteLevel") {
    ByteLevelPreTokenizer step;
    step.add_prefix_space = optional_bool(value, "add_prefix_space", where, true);
    if (optional_bool(value, "use_regex", where, true)) step.word_regex.emplace(kGpt2Pattern, "GPT-2 word pattern");
    steps.emplace_back(std::move(step));
  } else if (type == "Split") {
    require_field(value, "behavior", where);
    steps.emplace_back(SplitPreTokenizer{parse_pattern(require_field(value, "pattern", where), where.field("pattern")),
                                         parse_behavior(value, where, SplitBehavior::isolated),
                                         optional_bool(value, "invert", where, false)});
  } else if (type == "Metaspace") {
    steps.emplace_back(parse_metaspace(value, where));
  } else if (type == "Digits") {
    steps.emplace_back(DigitsPreTokenizer{optional_bool(value, "individual_digits", where, false)});
  } else if (type == "Whitespace") {
    steps.emplace_back(WhitespacePreTokenizer{});
  } else if (type == "WhitespaceSplit") {
    steps.emplace_back(WhitespaceSplitPreTokenizer{});
  } else if (type == "Punctuation") {
    steps.emplace_back(PunctuationPreTokenizer{parse_behavior(value, where, SplitBehavior::isolated)});
  } else if (type == "BertPreTokenizer") {
    steps.emplace_back(BertPreTokenizer{});
  } else {
    fail_at(where.field("type"), "unknown pre-tokenizer type '", type, "'; supported: ", kSupported);
  }
}

// A stretch of a piece and whether it is a delimiter (a match of the split pattern). Spans cover the
// piece contiguously, in order.
struct Span {
  size_t begin = 0;
  size_t end = 0;
  bool is_match = false;
};

std::vector<Span> spans_from_matches(size_t length, const std::vector<Match>& matches) {
  std::vector<Span> spans;
  spans.reserve(matches.size() * 2 + 1);
  size_t previous = 0;
  for (const Match& m : matches) {
    if (previous != m.begin) spans.push_back({previous, m.begin, false});
    spans.push_back({m.begin, m.end, true});
    previous = m.end;
  }
  if (previous != length) spans.push_back({previous, length, false});
  return spans;
}

// Each character for which `is_delimiter` holds is its own match span.
template <class Predicate>
std::vector<Span> spans_from_predicate(std::string_view text, Predicate is_delimiter) {
  std::vector<Span> spans;
  size_t previous = 0;
  for (size_t pos = 0; pos < text.size();) {
    const size_t length = utf8_length(static_cast<unsigned char>(text[pos]));
    if (is_delimiter(decode_utf8(text, pos))) {
      if (previous < pos) spans.push_back({previous, pos, false});
      spans.push_back({pos, pos + length, true});
      previous = pos + length;
    }
    pos += length;
  }
  if (previous < text.size()) spans.push_back({previous, text.size(), false});
  return spans;
}

// Turns delimiter spans into the pieces to keep, following the split behavior, and appends the
// non-empty ones to `out`.
void emit_split(const Piece& piece, std::vector<Span> spans, SplitBehavior behavior, bool invert,
                std::vector<Piece>& out) {
  if (invert) {
    for (Span& s : spans) s.is_match = !s.is_match;
  }
  struct Kept {
    size_t begin, end;
    bool remove;
  };
  std::vector<Kept> kept;
  kept.reserve(spans.size());
  switch (behavior) {
    case SplitBehavior::isolated:
      for (const Span& s : spans) kept.push_back({s.begin, s.end, false});
      break;
    case SplitBehavior::removed:
      for (const Span& s : spans) kept.push_back({s.begin, s.end, s.is_match});
      break;
    case SplitBehavior::contiguous: {
      bool previous_match = false;
      for (const Span& s : spans) {
        if (s.is_match == previous_match && !kept.empty()) {
          kept.back().end = s.end;
        } else {
          kept.push_back({s.begin, s.end, false});
        }
        previous_match = s.is_match;
      }
      break;
    }
    case SplitBehavior::merged_with_previous: {
      bool previous_match = false;
      for (const Span& s : spans) {
        if (s.is_match && !previous_match && !kept.empty()) {
          kept.back().end = s.end;
        } else {
          kept.push_back({s.begin, s.end, false});
        }
        previous_match = s.is_match;
      }
      break;
    }
    case SplitBehavior::merged_with_next: {
      bool previous_match = false;
      for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
        if (it->is_match && !previous_match && !kept.empty()) {
          kept.back().begin = it->begin;
        } else {
          kept.push_back({it->begin, it->end, false});
        }
        previous_match = it->is_match;
      }
      std::reverse(kept.begin(), kept.end());
      break;
    }
  }
  for (const Kept& k : kept) {
    if (k.remove || k.begin == k.end) continue;
    out.push_back({piece.text.substr(k.begin, k.end - k.begin), piece.at_text_start && k.begin == 0});
  }
}

bool starts_with_char(std::string_view text, char32_t c) { return !text.empty() && decode_utf8(text, 0) == c; }

// Runs of word characters and runs of other non-space characters: the reference's \w+|[^\w\s]+.
void split_whitespace_words(const Piece& piece, std::vector<Piece>& out) {
  enum class Kind { word, space, other };
  const std::string& text = piece.text;
  size_t run_begin = 0;
  Kind run_kind = Kind::space;
  for (size_t pos = 0; pos <= text.size();) {
    Kind kind = Kind::space;
    size_t length = 1;
    if (pos < text.size()) {
      length = utf8_length(static_cast<unsigned char>(text[pos]));
      const char32_t c = decode_utf8(text, pos);
      kind = is_word_char(c) ? Kind::word : is_whitespace(c) ? Kind::space : Kind::other;
    }
    if (pos == text.size() || kind != run_kind) {
      if (run_kind != Kind::space && pos > run_begin) {
        out.push_back({text.substr(run_begin, pos - run_begin), piece.at_text_start && run_begin == 0});
      }
      run_begin = pos;
      run_kind = kind;
    }
    pos += length;
  }
}

// WhitespaceSplit, and the first half of BertPreTokenizer.
void split_on_whitespace(const Piece& piece, std::vector<Piece>& out) {
  emit_split(piece, spans_from_predicate(piece.text, is_whitespace), SplitBehavior::removed, false, out);
}

template <class Fn>
std::vector<Piece> for_each_piece(std::vector<Piece>& pieces, Fn split_one) {
  std::vector<Piece> out;
  out.reserve(pieces.size());
  for (Piece& piece : pieces) {
    if (!piece.text.empty()) split_one(piece, out);
  }
  return out;
}

std::vector<Piece> apply(const PreTokenizerStep& step, std::vector<Piece>& pieces) {
  return std::visit(
      Overloaded{
          [&](const ByteLevelPreTokenizer& s) {
            return for_each_piece(pieces, [&](Piece& piece, std::vector<Piece>& out) {
              if (s.add_prefix_space && piece.text[0] != ' ') piece.text.insert(0, 1, ' ');
              const size_t first = out.size();
              if (s.word_regex) {
                emit_split(piece, spans_from_matches(piece.text.size(), s.word_regex->find_all(piece.text)),
                           SplitBehavior::isolated, false, out);
              } else {
                out.push_back(std::move(piece));
              }
              for (size_t i = first; i < out.size(); ++i) out[i].text = bytes_to_byte_level(out[i].text);
            });
          },
          [&](const SplitPreTokenizer& s) {
            return for_each_piece(pieces, [&](const Piece& piece, std::vector<Piece>& out) {
              emit_split(piece, spans_from_matches(piece.text.size(), s.pattern.find_all(piece.text)), s.behavior,
                         s.invert, out);
            });
          },
          [&](const MetaspacePreTokenizer& s) {
            const std::string replacement = to_utf8(s.replacement);
            return for_each_piece(pieces, [&](Piece& piece, std::vector<Piece>& out) {
              piece.text = replace_literal(piece.text, " ", replacement);
              const bool prepend = s.prepend_scheme == PrependScheme::always ||
                                   (s.prepend_scheme == PrependScheme::first && piece.at_text_start);
              if (prepend && !starts_with_char(piece.text, s.replacement)) piece.text.insert(0, replacement);
              if (s.split) {
                emit_split(piece, spans_from_predicate(piece.text, [&](char32_t c) { return c == s.replacement; }),
                           SplitBehavior::merged_with_next, false, out);
              } else {
                out.push_back(std::move(piece));
              }
            });
          },
          [&](const DigitsPreTokenizer& s) {
            return for_each_piece(pieces, [&](const Piece& piece, std::vector<Piece>& out) {
              emit_split(piece, spans_from_predicate(piece.text, is_numeric),
                         s.individual_digits ? SplitBehavior::isolated : SplitBehavior::contiguous, false, out);
            });
          },
          [&](const WhitespacePreTokenizer&) { return for_each_piece(pieces, split_whitespace_words); },
          [&](const WhitespaceSplitPreTokenizer&) { return for_each_piece(pieces, split_on_whitespace); },
          [&](const PunctuationPreTokenizer& s) {
            return for_each_piece(pieces, [&](const Piece& piece, std::vector<Piece>& out) {
              emit_split(piece, spans_from_predicate(piece.text, is_punctuation), s.behavior, false, out);
            });
          },
          [&](const BertPreTokenizer&) {
            std::vector<Piece> words = for_each_piece(pieces, split_on_whitespace);
            return for_each_piece(words, [&](const Piece& piece, std::vector<Piece>& out) {
              emit_split(piece, spans_from_predicate(piece.text, is_punctuation), SplitBehavior::isolated, false, out);
            });
          },
      },
      step);
}

}  // namespace

MetaspacePreTokenizer parse_metaspace(const Json& value, const JsonWhere& where) {
  return MetaspacePreTokenizer{require_char(value, "replacement", where), parse_prepend_scheme(value, where),
                               optional_bool(value, "split", where, true)};
}

std::vector<PreTokenizerStep> parse_pre_tokenizer(const Json& value, const JsonWhere& where) {
  std::vector<PreTokenizerStep> steps;
  parse_into(value, where, steps);
  return steps;
}

std::vector<Piece> pre_tokenize(const std::vector<PreTokenizerStep>& steps, std::vector<Piece> pieces) {
  for (const PreTokenizerStep& step : steps) pieces = apply(step, pieces);
  std::erase_if(pieces, [](const Piece& p) { return p.text.empty(); });
  return pieces;
}

}  // namespace moqa::tokenizer
