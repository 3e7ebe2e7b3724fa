// End-to-end behaviour of moqa::Tokenizer on small hand-written tokenizer.json files: BPE merging, byte
// fallback, unknown tokens, added tokens, the byte tokenizer, round trips and every load/encode error.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"
#include "support/test_support.h"
#include "random_text.h"
#include "tokenizer/tokenizer.h"

using Json = nlohmann::json;
using Ids = std::vector<int32_t>;

namespace {

std::filesystem::path write_file(const std::string& tag, const std::string& content) {
  const auto path = moqa::test::temp_dir(tag) / "tokenizer.json";
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

moqa::Tokenizer load_json(const Json& tokenizer) { return moqa::Tokenizer::load(write_file("tok", tokenizer.dump())); }

// A BPE tokenizer over the given vocabulary (ids in order) and merges, no other components.
Json bpe(const std::vector<std::string>& tokens, const Json& merges) {
  Json vocab = Json::object();
  for (size_t i = 0; i < tokens.size(); ++i) vocab[tokens[i]] = i;
  return Json{{"version", "1.0"},
              {"added_tokens", Json::array()},
              {"normalizer", nullptr},
              {"pre_tokenizer", nullptr},
              {"post_processor", nullptr},
              {"decoder", nullptr},
              {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}}}};
}

// Expects `load` to throw a moqa::Error whose message contains every fragment.
template <class Fn>
void expect_error(Fn&& action, const std::vector<std::string>& fragments) {
  try {
    action();
    ADD_FAILURE() << "expected a moqa::Error";
  } catch (const moqa::Error& e) {
    const std::string message = e.what();
    for (const std::string& fragment : fragments) {
      EXPECT_NE(message.find(fragment), std::string::npos) << "'" << fragment << "' missing from: " << message;
    }
  }
}

}  // namespace

TEST(TokenizerBpe, LowestRankFirstLeftmostOnTies) {
  const Json tokenizer = bpe({"a", "b", "c", "ab", "bc", "abc"}, Json::array({"b c", "a b", "ab c", "a bc"}));
  const auto t = load_json(tokenizer);
  EXPECT_EQ(t.encode("abc", false), (Ids{5}));     // (b c) first, then (a bc)
  EXPECT_EQ(t.encode("abab", false), (Ids{3, 3}));
  EXPECT_EQ(t.encode("bcab", false), (Ids{4, 3}));
  EXPECT_EQ(t.encode("aaa", false), (Ids{0, 0, 0}));
  EXPECT_EQ(t.vocab_size(), 6);
  EXPECT_EQ(t.decode(Ids{5, 0}, false), "abc a");  // no decoder: tokens joined by spaces
}

TEST(TokenizerBpe, MergesAsStringsOrPairsAreEquivalent) {
  const std::vector<std::string> vocab{"a", "b", "c", "ab", "abc"};
  const auto strings = load_json(bpe(vocab, Json::array({"a b", "ab c"})));
  const auto pairs = load_json(bpe(vocab, Json::parse(R"([["a", "b"], ["ab", "c"]])")));
  for (const char* text : {"abc", "cab", "abcabc", "ba"}) EXPECT_EQ(strings.encode(text, false), pairs.encode(text, false)) << text;
  EXPECT_EQ(pairs.encode("abcab", false), (Ids{4, 3}));
}

TEST(TokenizerBpe, ByteFallbackUnknownAndFusing) {
  std::vector<std::string> vocab{"<unk>", "a"};
  for (const char* b : {"<0xC3>", "<0xA9>"}) vocab.emplace_back(b);
  Json tokenizer = bpe(vocab, Json::array());
  tokenizer["model"]["unk_token"] = "<unk>";
  tokenizer["model"]["byte_fallback"] = true;
  const auto with_fallback = load_json(tokenizer);
  EXPECT_EQ(with_fallback.encode("aé", false), (Ids{1, 2, 3}));  // é = C3 A9, both byte tokens exist
  EXPECT_EQ(with_fallback.encode("aü", false), (Ids{1, 0}));     // ü = C3 BC, <0xBC> missing -> unknown

  tokenizer["model"]["byte_fallback"] = false;
  tokenizer["model"]["fuse_unk"] = true;
  EXPECT_EQ(load_json(tokenizer).encode("aüüa", false), (Ids{1, 0, 1}));
  tokenizer["model"]["fuse_unk"] = false;
  EXPECT_EQ(load_json(tokenizer).encode("aüüa", false), (Ids{1, 0, 0, 1}));
  tokenizer["model"]["unk_token"] = nullptr;
  EXPECT_EQ(load_json(tokenizer).encode("aüüa", false), (Ids{1, 1}));  // no unknown token: dropped
}

TEST(TokenizerBpe, IgnoreMergesAndSubwordAffixes) {
  Json tokenizer = bpe({"a", "b", "c", "abc"}, Json::array());
  EXPECT_EQ(load_json(tokenizer).encode("abc", false), (Ids{0, 1, 2}));
  tokenizer["model"]["ignore_merges"] = true;
  EXPECT_EQ(load_json(tokenizer).encode("abc", false), (Ids{3}));

  Json affixes = bpe({"a", "##b", "ab", "b</w>", "a##b</w>"}, Json::array({"a ##b"}));
  affixes["model"]["continuing_subword_prefix"] = "##";
  EXPECT_EQ(load_json(affixes).encode("ab", false), (Ids{2}));
  Json suffix = bpe({"a", "b</w>", "ab</w>"}, Json::array({"a b</w>"}));
  suffix["model"]["end_of_word_suffix"] = "</w>";
  EXPECT_EQ(load_json(suffix).encode("ab", false), (Ids{2}));
}

TEST(TokenizerAddedTokens, SplitFirstAndHonourStripAndSingleWord) {
  Json tokenizer = bpe({"a", " ", "b", "<m>", "x"}, Json::array());
  tokenizer["added_tokens"] = Json::parse(R"([
    {"id": 3, "content": "<m>", "special": true, "normalized": false, "lstrip": true, "rstrip": false, "single_word": false},
    {"id": 5, "content": "[W]", "special": false, "normalized": false, "lstrip": false, "rstrip": true, "single_word": true},
    {"id": 6, "content": "ab", "special": false, "normalized": true, "lstrip": false, "rstrip": false, "single_word": false}])");
  tokenizer["normalizer"] = Json{{"type", "Lowercase"}};
  const auto t = load_json(tokenizer);
  EXPECT_EQ(t.vocab_size(), 7);  // [W] and ab are new: numbered from the model vocabulary's size (5, 6, ...)
  EXPECT_EQ(t.token_to_id("[W]"), 5);
  EXPECT_EQ(t.token_to_id("ab"), 6);
  EXPECT_EQ(t.encode("a <m>b", false), (Ids{0, 3, 2}));        // lstrip swallows the space before <m>
  EXPECT_EQ(t.encode("a [W]  b", false), (Ids{0, 1, 5, 2}));    // rstrip swallows the spaces after [W]
  EXPECT_EQ(t.encode("AB", false), (Ids{6}));                   // normalized token matched after lowercasing
  EXPECT_TRUE(t.is_special(3));
  EXPECT_FALSE(t.is_special(5));
  EXPECT_EQ(t.decode(Ids{0, 3, 2}, true), "a b");
  EXPECT_EQ(t.decode(Ids{0, 3, 2}, false), "a <m> b");
}

TEST(TokenizerAddedTokens, SingleWordTokenInsideAWordIsNotMatched) {
  Json tokenizer = bpe({"a", "[", "W", "]"}, Json::array());
  tokenizer["added_tokens"] = Json::parse(R"([
    {"id": 4, "content": "[W]", "special": false, "normalized": false, "lstrip": false, "rstrip": false, "single_word": true}])");
  const auto t = load_json(tokenizer);
  EXPECT_EQ(t.encode("a[W]", false), (Ids{0, 1, 2, 3}));
  EXPECT_EQ(t.encode("[W]", false), (Ids{4}));
}

TEST(TokenizerBytes, IdsAreUtf8Bytes) {
  const auto t = moqa::Tokenizer::bytes();
  EXPECT_EQ(t.vocab_size(), 256);
  EXPECT_EQ(t.encode("aé", true), (Ids{97, 0xC3, 0xA9}));
  EXPECT_EQ(t.decode(Ids{97, 0xC3, 0xA9}, true), "aé");
  EXPECT_EQ(t.decode(Ids{0xC3}, true), "\xEF\xBF\xBD");
  EXPECT_EQ(t.token_to_id("a"), 97);
  EXPECT_EQ(t.id_to_token(98), "b");
  EXPECT_EQ(t.bos_id(), std::nullopt);
  EXPECT_EQ(t.source(), "bytes");
  expect_error([&] { t.decode(Ids{256}, false); }, {"token id 256", "[0, 256)"});
}

// decode(encode(text)) gives the text back for a byte-level tokenizer, including random Unicode. (The
// shared HF tokenizers are checked the same way in golden_test.cpp.)
TEST(TokenizerRoundTrip, ByteLevelTokenizerReproducesItsInput) {
  const auto t = moqa::Tokenizer::load(moqa::test::data_dir() / "tokenizer" / "trained_tokenizer.json");
  std::ifstream goldens_file(moqa::test::data_dir() / "tokenizer" / "goldens.json");
  std::vector<std::string> texts = Json::parse(goldens_file)["texts"].get<std::vector<std::string>>();
  for (const std::string& text : moqa::test::random_texts(50, 40, 7)) texts.push_back(text);
  for (const std::string& text : texts) EXPECT_EQ(t.decode(t.encode(text, true), false), text);
}

TEST(TokenizerConcurrency, EncodeFromSeveralThreadsGivesTheSameIds) {
  const auto t = moqa::Tokenizer::load(moqa::test::data_dir() / "tokenizer" / "trained_tokenizer.json");
  const std::string text = "def f(x):\n    return x ** 2  # the square of x\n";
  const Ids expected = t.encode(text, false);
  std::vector<Ids> results(4);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < results.size(); ++i) threads.emplace_back([&, i] { results[i] = t.encode(text, false); });
  for (std::thread& thread : threads) thread.join();
  for (const Ids& ids : results) EXPECT_EQ(ids, expected);
}

TEST(TokenizerErrors, MissingFileAndBadJson) {
  const auto missing = moqa::test::temp_dir("missing") / "tokenizer.json";
  expect_error([&] { moqa::Tokenizer::load(missing); }, {missing.string(), "cannot open"});
  const auto bad = write_file("bad", R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [})");
  expect_error([&] { moqa::Tokenizer::load(bad); }, {bad.string() + ":1:", "not valid JSON", "line 1"});
  const auto not_object = write_file("array", "[1, 2]");
  expect_error([&] { moqa::Tokenizer::load(not_object); }, {not_object.string(), "expected a JSON object"});
}

TEST(TokenizerErrors, UnknownComponentTypesNameTheKeyPathAndTheSupportedTypes) {
  Json tokenizer = bpe({"a"}, Json::array());
  tokenizer["pre_tokenizer"] = Json::parse(R"({"type": "Sequence", "pretokenizers": [
      {"type": "Digits", "individual_digits": true}, {"type": "UnicodeScripts"}]})");
  const auto path = write_file("unknown", tokenizer.dump());
  expect_error([&] { moqa::Tokenizer::load(path); },
               {path.string(), "pre_tokenizer.pretokenizers[1].type", "UnicodeScripts", "supported: ByteLevel, Split"});

  tokenizer["pre_tokenizer"] = nullptr;
  tokenizer["normalizer"] = Json{{"type", "Precompiled"}};
  expect_error([&] { load_json(tokenizer); }, {"normalizer.type", "Precompiled", "supported: NFC"});
  tokenizer["normalizer"] = nullptr;
  tokenizer["decoder"] = Json::parse(R"({"type": "Sequence", "decoders": [{"type": "CTC"}]})");
  expect_error([&] { load_json(tokenizer); }, {"decoder.decoders[0].type", "CTC", "supported: ByteLevel"});
  tokenizer["decoder"] = nullptr;
  tokenizer["post_processor"] = Json{{"type", "Mystery"}};
  expect_error([&] { load_json(tokenizer); }, {"post_processor.type", "Mystery", "supported: TemplateProcessing"});
  tokenizer["post_processor"] = nullptr;
  tokenizer["model"]["type"] = "WordPiece";
  expect_error([&] { load_json(tokenizer); }, {"model.type", "WordPiece", "supported: BPE"});
}

TEST(TokenizerErrors, BadModelContents) {
  expect_error([&] { load_json(bpe({"a", "b"}, Json::array({"a c"}))); }, {"model.merges[0]", "'c'", "not in model.vocab"});
  expect_error([&] { load_json(bpe({"a", "b"}, Json::array({"a b"}))); }, {"model.merges[0]", "merged token 'ab'"});
  expect_error([&] { load_json(bpe({"a", "b", "ab"}, Json::array({"a b", "a  b"}))); },
               {"model.merges[1]", "exactly one space"});
  Json tokenizer = bpe({"a"}, Json::array());
  tokenizer["model"]["vocab"]["b"] = "one";
  expect_error([&] { load_json(tokenizer); }, {"model.vocab.b", "expected a token id"});
  tokenizer = bpe({"a"}, Json::array());
  tokenizer["model"]["unk_token"] = "<unk>";
  expect_error([&] { load_json(tokenizer); }, {"model.unk_token", "<unk>"});
  tokenizer = bpe({"a"}, Json::array());
  tokenizer["pre_tokenizer"] = Json::parse(R"({"type": "Split", "pattern": {"Regex": "[a-"}, "behavior": "Isolated"})");
  expect_error([&] { load_json(tokenizer); }, {"pre_tokenizer.pattern.Regex", "invalid regular expression"});
  tokenizer["pre_tokenizer"] = Json::parse(R"({"type": "Split", "pattern": {"Regex": "a"}, "behavior": "Sideways"})");
  expect_error([&] { load_json(tokenizer); }, {"pre_tokenizer.behavior", "Sideways"});
  tokenizer["pre_tokenizer"] = nullptr;
  tokenizer["post_processor"] = Json::parse(R"({"type": "TemplateProcessing",
      "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
      "special_tokens": {"<s>": {"id": "<s>", "ids": [99], "tokens": ["<s>"]}}})");
  expect_error([&] { load_json(tokenizer); }, {"post_processor", "adds token id 99"});
  tokenizer["post_processor"]["single"][0]["SpecialToken"]["id"] = "<bos>";
  expect_error([&] { load_json(tokenizer); }, {"post_processor.single[0].SpecialToken.id", "<bos>"});
  tokenizer.erase("model");
  expect_error([&] { load_json(tokenizer); }, {"model", "missing required field"});
}

TEST(TokenizerErrors, BadTextAndIds) {
  const auto t = load_json(bpe({"a", "b"}, Json::array()));
  expect_error([&] { t.encode("ab\xFF", false); }, {"not valid UTF-8", "byte offset 2"});
  expect_error([&] { t.decode(Ids{2}, false); }, {"token id 2", "[0, 2)"});
  expect_error([&] { t.decode(Ids{-1}, false); }, {"token id -1"});
  expect_error([&] { t.id_to_token(7); }, {"token id 7"});
}
