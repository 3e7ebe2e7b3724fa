// Reference encodings produced by the Hugging Face `tokenizers` library (goldens.json, 0.23.2) and the
// token ids the trained models' goldens were computed from. Every id and every decoded string must match.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "support/test_support.h"
#include "random_text.h"
#include "tokenizer/tokenizer.h"

namespace {

nlohmann::json read_json(const std::filesystem::path& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in) << path;
  return nlohmann::json::parse(in);
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in) << path;
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

class TokenizerHfGolden : public testing::TestWithParam<std::string> {};

// Facts about each shared tokenizer that the pipeline relies on.
void check_vocabulary(const std::string& name, const moqa::Tokenizer& t) {
  if (name == "llama2") {
    EXPECT_EQ(t.vocab_size(), 32000);
    EXPECT_EQ(t.bos_id(), 1);  // tokenizer_config.json
    EXPECT_EQ(t.eos_id(), 2);
    EXPECT_EQ(t.token_to_id("<0x0A>"), 13);
    EXPECT_TRUE(t.is_special(0));
  } else if (name == "qwen3") {
    EXPECT_EQ(t.vocab_size(), 151669);  // 151643 BPE tokens + 26 added tokens
    EXPECT_EQ(t.token_to_id("<|endoftext|>"), 151643);
    EXPECT_EQ(t.eos_id(), 151645);      // tokenizer_config.json: <|im_end|>
    EXPECT_EQ(t.bos_id(), std::nullopt);
    EXPECT_FALSE(t.is_special(151667));  // <think> is an added, non-special token
  } else if (name == "deepseek_v3") {
    EXPECT_EQ(t.vocab_size(), 128815);
    EXPECT_EQ(t.bos_id(), 0);
    EXPECT_EQ(t.eos_id(), 1);
  }
}

// ids_no_special: encode(text, add_special_tokens=false); ids_with_special: add_special_tokens=true;
// decoded: decode(ids, skip_special_tokens=true), the same from either id list. Each tokenizer is loaded
// once (the files are large) and also checked for lossless round trips of random text.
TEST_P(TokenizerHfGolden, EveryTextEncodesAndDecodesExactly) {
  const std::string name = GetParam();
  const auto tokenizer_path = moqa::test::assets_dir() / "tokenizers" / name / "tokenizer.json";
  MOQA_REQUIRE_ASSET(tokenizer_path);
  const nlohmann::json goldens = read_json(moqa::test::data_dir() / "tokenizer" / "goldens.json");
  const nlohmann::json& expected = goldens["cases"][name];
  const moqa::Tokenizer tokenizer = moqa::Tokenizer::load(tokenizer_path);
  const auto& texts = goldens["texts"];
  ASSERT_EQ(texts.size(), 22u);
  for (size_t i = 0; i < texts.size(); ++i) {
    const std::string text = texts[i];
    const auto no_special = expected["ids_no_special"][i].get<std::vector<int32_t>>();
    const auto with_special = expected["ids_with_special"][i].get<std::vector<int32_t>>();
    const std::string decoded = expected["decoded"][i];
    EXPECT_EQ(tokenizer.encode(text, false), no_special) << name << " text " << i << ": " << text;
    EXPECT_EQ(tokenizer.encode(text, true), with_special) << name << " text " << i << ": " << text;
    EXPECT_EQ(tokenizer.decode(with_special, true), decoded) << name << " text " << i;
    EXPECT_EQ(tokenizer.decode(no_special, true), decoded) << name << " text " << i;
  }
  check_vocabulary(name, tokenizer);
  // Random text (all NFC, no special tokens) survives encode + decode unchanged, also for Llama's
  // prepended and stripped space.
  for (const std::string& text : moqa::test::random_texts(30, 40, 11)) {
    EXPECT_EQ(tokenizer.decode(tokenizer.encode(text, false), false), text) << name;
  }
}

INSTANTIATE_TEST_SUITE_P(Tokenizers, TokenizerHfGolden, testing::Values("llama2", "qwen3", "deepseek_v3"));

// The trained models' golden.json `tokens` are the first 128 ids of the code test text. The post-processor
// is ByteLevel, so the ids are the same with and without special tokens (no BOS).
TEST(TokenizerTrained, CodeTextStartsWithTheGoldenTokens) {
  const moqa::Tokenizer tokenizer = moqa::Tokenizer::load(moqa::test::data_dir() / "tokenizer" / "trained_tokenizer.json");
  EXPECT_EQ(tokenizer.vocab_size(), 8192);
  EXPECT_EQ(tokenizer.token_to_id("<|endoftext|>"), 0);
  const std::string head = read_text(moqa::test::data_dir() / "tokenizer" / "code_test_head.txt");
  const auto golden =
      read_json(moqa::test::data_dir() / "tokenizer" / "trained_code_tokens.json")["tokens"].get<std::vector<int32_t>>();
  ASSERT_EQ(golden.size(), 128u);
  const std::vector<int32_t> ids = tokenizer.encode(head, false);
  ASSERT_GT(ids.size(), golden.size() + 100);  // the fixture reaches far past the golden prefix
  EXPECT_EQ(std::vector<int32_t>(ids.begin(), ids.begin() + 128), golden);
  EXPECT_EQ(tokenizer.encode(head, true), ids);
  EXPECT_EQ(tokenizer.decode(ids, false), head);
}

TEST(TokenizerTrained, AssetCopyIsTheCommittedOne) {
  const auto asset = moqa::test::assets_dir() / "trained" / "tokenizer" / "tokenizer.json";
  MOQA_REQUIRE_ASSET(asset);
  EXPECT_EQ(read_text(asset), read_text(moqa::test::data_dir() / "tokenizer" / "trained_tokenizer.json"));
}

}  // namespace
