// The tokenizer.json components one at a time: normalizers, pre-tokenizer split behaviours, decoders,
// post-processors, the regex engine's Oniguruma compatibility and the UTF-8 helpers.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/decoder.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/pattern.h"
#include "tokenizer/post_processor.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/regex.h"
#include "tokenizer/utf8.h"

namespace tk = moqa::tokenizer;
using Json = nlohmann::json;
using Strings = std::vector<std::string>;

namespace {

const tk::JsonWhere kWhere{"test.json", "component"};

Strings split(const Json& pre_tokenizer, const std::string& text, bool at_text_start = true) {
  std::vector<tk::Piece> pieces{{text, at_text_start}};
  Strings out;
  for (const tk::Piece& p : tk::pre_tokenize(tk::parse_pre_tokenizer(pre_tokenizer, kWhere), pieces)) out.push_back(p.text);
  return out;
}

Json split_with(const std::string& behavior, bool invert = false) {
  return Json{{"type", "Split"}, {"pattern", {{"String", "-"}}}, {"behavior", behavior}, {"invert", invert}};
}

std::string normalized(const Json& normalizer, const std::string& text) {
  return tk::normalize(tk::parse_normalizer(normalizer, kWhere), text);
}

std::string decoded(const Json& decoder, const Strings& tokens) {
  return tk::decode_tokens(tk::parse_decoder(decoder, kWhere), tokens);
}

std::vector<size_t> match_starts_and_ends(const tk::Regex& regex, const std::string& text) {
  std::vector<size_t> flat;
  for (const tk::Match& m : regex.find_all(text)) {
    flat.push_back(m.begin);
    flat.push_back(m.end);
  }
  return flat;
}

}  // namespace

TEST(TokenizerSplit, EveryDelimiterBehavior) {
  EXPECT_EQ(split(split_with("Removed"), "a-b--c"), (Strings{"a", "b", "c"}));
  EXPECT_EQ(split(split_with("Isolated"), "a-b--c"), (Strings{"a", "-", "b", "-", "-", "c"}));
  EXPECT_EQ(split(split_with("MergedWithPrevious"), "a-b--c"), (Strings{"a-", "b-", "-", "c"}));
  EXPECT_EQ(split(split_with("MergedWithNext"), "a-b--c"), (Strings{"a", "-b", "-", "-c"}));
  EXPECT_EQ(split(split_with("Contiguous"), "a-b--c"), (Strings{"a", "-", "b", "--", "c"}));
  EXPECT_EQ(split(split_with("Removed", true), "a-b--c"), (Strings{"-", "-", "-"}));
  EXPECT_EQ(split(split_with("Isolated"), "-"), (Strings{"-"}));
}

TEST(TokenizerSplit, RegexPatternWithUnicodeClassesAndLookahead) {
  const Json gpt2_like{{"type", "Split"},
                       {"pattern", {{"Regex", R"( ?\p{L}+| ?\p{N}+|\s+(?!\S)|\s+)"}}},
                       {"behavior", "Isolated"}};
  EXPECT_EQ(split(gpt2_like, "héllo  wörld 42"), (Strings{"héllo", " ", " wörld", " 42"}));
  const Json digits3{{"type", "Split"}, {"pattern", {{"Regex", R"(\p{N}{1,3})"}}}, {"behavior", "Isolated"}};
  EXPECT_EQ(split(digits3, "x1234567"), (Strings{"x", "123", "456", "7"}));
}

TEST(TokenizerByteLevel, PrefixSpaceRegexAndByteMapping) {
  const Json with_prefix{{"type", "ByteLevel"}, {"add_prefix_space", true}, {"use_regex", true}};
  EXPECT_EQ(split(with_prefix, "Hello world"), (Strings{"ĠHello", "Ġworld"}));
  EXPECT_EQ(split(with_prefix, " it's\n"), (Strings{"Ġit", "'s", "Ċ"}));
  const Json plain{{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}};
  EXPECT_EQ(split(plain, "a b\tü"), (Strings{"aĠbĉÃ¼"}));
  EXPECT_EQ(tk::bytes_to_byte_level(std::string(1, '\0')), "Ā");
  for (int b = 0; b < 256; ++b) {
    const std::string mapped = tk::bytes_to_byte_level(std::string(1, static_cast<char>(b)));
    EXPECT_EQ(tk::byte_level_to_byte(tk::decode_utf8(mapped, 0)), b);
  }
}

TEST(TokenizerMetaspace, PrependSchemesAndSplitting) {
  const auto metaspace = [](const char* scheme, bool split_words) {
    return Json{{"type", "Metaspace"}, {"replacement", "▁"}, {"prepend_scheme", scheme}, {"split", split_words}};
  };
  EXPECT_EQ(split(metaspace("always", true), "Hello  world"), (Strings{"▁Hello", "▁", "▁world"}));
  EXPECT_EQ(split(metaspace("never", true), "Hello  world"), (Strings{"Hello", "▁", "▁world"}));
  EXPECT_EQ(split(metaspace("first", true), "Hello world", true), (Strings{"▁Hello", "▁world"}));
  EXPECT_EQ(split(metaspace("first", true), "Hello world", false), (Strings{"Hello", "▁world"}));
  EXPECT_EQ(split(metaspace("always", false), "Hello world"), (Strings{"▁Hello▁world"}));
  // Legacy files: add_prefix_space false means "never".
  EXPECT_EQ(split(Json{{"type", "Metaspace"}, {"replacement", "▁"}, {"add_prefix_space", false}}, "a b"),
            (Strings{"a", "▁b"}));
}

TEST(TokenizerPreTokenizers, DigitsWhitespacePunctuationSequence) {
  EXPECT_EQ(split(Json{{"type", "Digits"}, {"individual_digits", true}}, "a123b"), (Strings{"a", "1", "2", "3", "b"}));
  EXPECT_EQ(split(Json{{"type", "Digits"}, {"individual_digits", false}}, "a123b4"), (Strings{"a", "123", "b", "4"}));
  EXPECT_EQ(split(Json{{"type", "Whitespace"}}, "Hey man!  How's it_going?"),
            (Strings{"Hey", "man", "!", "How", "'", "s", "it_going", "?"}));
  EXPECT_EQ(split(Json{{"type", "WhitespaceSplit"}}, " Hey man!\u3000x "), (Strings{"Hey", "man!", "x"}));
  EXPECT_EQ(split(Json{{"type", "Punctuation"}}, "a,b!"), (Strings{"a", ",", "b", "!"}));
  EXPECT_EQ(split(Json{{"type", "BertPreTokenizer"}}, "Hey friend!  ok?!"), (Strings{"Hey", "friend", "!", "ok", "?", "!"}));
  const Json sequence{{"type", "Sequence"},
                      {"pretokenizers", Json::array({Json{{"type", "WhitespaceSplit"}},
                                                     Json{{"type", "Digits"}, {"individual_digits", true}}})}};
  EXPECT_EQ(split(sequence, "ab12 c3"), (Strings{"ab", "1", "2", "c", "3"}));
  EXPECT_EQ(split(Json(nullptr), "kept as one"), (Strings{"kept as one"}));
}

TEST(TokenizerNormalizers, UnicodeFormsCaseStripPrependReplace) {
  const std::string decomposed = "e\xCC\x81";  // e + COMBINING ACUTE ACCENT
  EXPECT_EQ(normalized(Json{{"type", "NFC"}}, decomposed), "é");
  EXPECT_EQ(normalized(Json{{"type", "NFD"}}, "é"), decomposed);
  EXPECT_EQ(normalized(Json{{"type", "NFKC"}}, "ﬁ²"), "fi2");
  EXPECT_EQ(normalized(Json{{"type", "NFKD"}}, "ﬁé"), "fi" + decomposed);
  EXPECT_EQ(normalized(Json{{"type", "Lowercase"}}, "ÀB İΣ"), "àb i\xCC\x87σ");  // full mapping, no final-sigma rule
  EXPECT_EQ(normalized(Json{{"type", "Strip"}, {"strip_left", true}, {"strip_right", false}}, "\u3000 a "), "a ");
  EXPECT_EQ(normalized(Json{{"type", "Strip"}, {"strip_left", true}, {"strip_right", true}}, " \t a b\n"), "a b");
  EXPECT_EQ(normalized(Json{{"type", "StripAccents"}}, decomposed + "x"), "ex");
  EXPECT_EQ(normalized(Json{{"type", "Prepend"}, {"prepend", "▁"}}, "a"), "▁a");
  EXPECT_EQ(normalized(Json{{"type", "Prepend"}, {"prepend", "▁"}}, ""), "");
  EXPECT_EQ(normalized(Json{{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "▁"}}, " a b"), "▁a▁b");
  EXPECT_EQ(normalized(Json{{"type", "Replace"}, {"pattern", {{"Regex", " {2,}"}}}, {"content", " "}}, "a   b  c d"),
            "a b c d");
  const Json sequence{{"type", "Sequence"},
                      {"normalizers", Json::array({Json{{"type", "Prepend"}, {"prepend", "▁"}},
                                                   Json{{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "▁"}}})}};
  EXPECT_EQ(normalized(sequence, "Hi there"), "▁Hi▁there");
  EXPECT_EQ(normalized(Json(nullptr), "unchanged"), "unchanged");
}

TEST(TokenizerDecoders, EachStepAndSequences) {
  EXPECT_EQ(decoded(Json{{"type", "ByteLevel"}}, {"ĠHello", "Ġw", "Ã¶rld"}), " Hello wörld");
  EXPECT_EQ(decoded(Json{{"type", "ByteLevel"}}, {"Ã", "©", "<|x|>"}), "é<|x|>");
  EXPECT_EQ(decoded(Json{{"type", "ByteLevel"}}, {"Ã"}), "\xEF\xBF\xBD");  // truncated UTF-8 -> U+FFFD
  EXPECT_EQ(decoded(Json{{"type", "ByteFallback"}}, {"<0xE2>", "<0x96>", "<0x81>", "a"}), "▁a");
  EXPECT_EQ(decoded(Json{{"type", "ByteFallback"}}, {"<0xE2>", "<0x96>", "a"}), "\xEF\xBF\xBD\xEF\xBF\xBD" "a");
  EXPECT_EQ(decoded(Json{{"type", "Fuse"}}, {"a", "b"}), "ab");
  const Json strip{{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 1}};
  EXPECT_EQ(decoded(strip, {"  a  ", " ", "b"}), " a b");
  EXPECT_EQ(decoded(Json{{"type", "Metaspace"}, {"replacement", "▁"}, {"prepend_scheme", "always"}},
                    {"▁Hello", "▁world", "▁"}),
            "Hello world ");
  EXPECT_EQ(decoded(Json{{"type", "Metaspace"}, {"replacement", "▁"}, {"prepend_scheme", "never"}}, {"▁Hi"}), " Hi");
  EXPECT_EQ(decoded(Json{{"type", "BPEDecoder"}, {"suffix", "</w>"}}, {"hel", "lo</w>", "you</w>"}), "hello you");
  const Json llama{{"type", "Sequence"},
                   {"decoders", Json::array({Json{{"type", "Replace"}, {"pattern", {{"String", "▁"}}}, {"content", " "}},
                                             Json{{"type", "ByteFallback"}}, Json{{"type", "Fuse"}},
                                             Json{{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}})}};
  EXPECT_EQ(decoded(llama, {"▁Hello", "▁", "<0x0A>", "▁world"}), "Hello \n world");
  EXPECT_EQ(decoded(Json(nullptr), {"no", "decoder"}), "no decoder");
}

TEST(TokenizerPostProcessors, TemplateWrapAndSequence) {
  const Json template_json = Json::parse(R"({
    "type": "TemplateProcessing",
    "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
               {"SpecialToken": {"id": "</s>", "type_id": 0}}],
    "pair": [],
    "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]},
                       "</s>": {"id": "</s>", "ids": [2], "tokens": ["</s>"]}}})");
  const auto steps = tk::parse_post_processor(template_json, kWhere);
  EXPECT_EQ(tk::post_process(steps, {7, 8}, true), (std::vector<int32_t>{1, 7, 8, 2}));
  EXPECT_EQ(tk::post_process(steps, {7, 8}, false), (std::vector<int32_t>{7, 8}));
  EXPECT_EQ(tk::leading_special_ids(steps), (std::vector<int32_t>{1}));
  const Json bert{{"type", "BertProcessing"}, {"sep", {"[SEP]", 102}}, {"cls", {"[CLS]", 101}}};
  EXPECT_EQ(tk::post_process(tk::parse_post_processor(bert, kWhere), {5}, true), (std::vector<int32_t>{101, 5, 102}));
  const Json sequence{{"type", "Sequence"},
                      {"processors", Json::array({Json{{"type", "ByteLevel"}, {"trim_offsets", false}},
                                                  Json{{"type", "RobertaProcessing"}, {"sep", {"</s>", 2}}, {"cls", {"<s>", 0}}}})}};
  EXPECT_EQ(tk::post_process(tk::parse_post_processor(sequence, kWhere), {5}, true), (std::vector<int32_t>{0, 5, 2}));
}

TEST(TokenizerRegex, OnigurumaEmptyMatchIterationAndWhitespace) {
  EXPECT_EQ(match_starts_and_ends(tk::Regex("a*", "test"), "baaab"), (std::vector<size_t>{0, 0, 1, 4, 5, 5}));
  // Oniguruma's \s includes U+0085 (NEL); PCRE2's does not without the translation.
  EXPECT_EQ(match_starts_and_ends(tk::Regex(R"(\s+)", "test"), "a\u0085\u3000b"), (std::vector<size_t>{1, 6}));
  EXPECT_EQ(match_starts_and_ends(tk::Regex(R"([^\s]+)", "test"), "a\u0085b"), (std::vector<size_t>{0, 1, 3, 4}));
  EXPECT_EQ(match_starts_and_ends(tk::Regex(R"(\h+)", "test"), "xx0aFg"), (std::vector<size_t>{2, 5}));
  EXPECT_EQ(match_starts_and_ends(tk::Regex(R"(\u00e9)", "test"), "caf\u00e9"), (std::vector<size_t>{3, 5}));
  EXPECT_EQ(match_starts_and_ends(tk::Regex(R"((?i:'s|'ll))", "test"), "it'S we'LL"), (std::vector<size_t>{2, 4, 7, 10}));
  EXPECT_EQ(tk::translate_oniguruma(R"([]\s]\s)"), R"([]\s\x{85}][\s\x{85}])");
  try {
    tk::Regex("(unclosed", "my.json: pre_tokenizer.pattern.Regex");
    FAIL() << "expected an error";
  } catch (const moqa::Error& e) {
    EXPECT_NE(std::string(e.what()).find("my.json: pre_tokenizer.pattern.Regex"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("(unclosed"), std::string::npos) << e.what();
  }
}

TEST(TokenizerUtf8, ValidationAndLossyConversionLikeRust) {
  EXPECT_EQ(tk::first_invalid_utf8("héllo 🤖"), std::nullopt);
  EXPECT_EQ(tk::first_invalid_utf8("ab\xC0\x80"), 2u);      // overlong
  EXPECT_EQ(tk::first_invalid_utf8("a\xED\xA0\x80"), 1u);   // surrogate
  EXPECT_EQ(tk::first_invalid_utf8("\xF4\x90\x80\x80"), 0u);  // above U+10FFFF
  EXPECT_EQ(tk::first_invalid_utf8("ok\xE2\x96"), 2u);      // truncated
  const std::string fffd = "\xEF\xBF\xBD";
  EXPECT_EQ(tk::utf8_lossy("a\xF0\x9F\xA4" "b"), "a" + fffd + "b");  // one maximal subpart
  EXPECT_EQ(tk::utf8_lossy("\xC0\x80"), fffd + fffd);
  EXPECT_EQ(tk::utf8_lossy("\xED\xA0\x80"), fffd + fffd + fffd);
  EXPECT_EQ(tk::utf8_lossy("\xFF" "é"), fffd + "é");
}

TEST(TokenizerUtf8, PreviousCharacterAndLiteralReplacement) {
  const std::string text = "a\xC3\xA9\xF0\x9F\xA4\x96";  // a, é, 🤖
  EXPECT_EQ(tk::previous_char_start(text, text.size()), 3u);
  EXPECT_EQ(tk::previous_char_start(text, 3), 1u);
  EXPECT_EQ(tk::previous_char_start(text, 1), 0u);
  const std::string marker = "\xE2\x96\x81";  // U+2581
  EXPECT_EQ(tk::replace_literal(marker + "a" + marker + "b", marker, " "), " a b");
  EXPECT_EQ(tk::replace_literal("a b", " ", marker), "a" + marker + "b");
  EXPECT_EQ(tk::replace_literal("abc", "", "x"), "abc");
}
