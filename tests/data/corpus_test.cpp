// Corpus -> token stream conventions, and the trained models' reference setting (first 65,536 tokens of
// the code test text, windows of 512) reproduced from the committed tokenizer and the shared corpus.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "data/corpus.h"
#include "data/text_file.h"
#include "data/windows.h"
#include "support/test_support.h"

using Ids = std::vector<int32_t>;

namespace {

std::filesystem::path write_file(const std::string& name, const std::string& bytes) {
  const auto path = moqa::test::temp_dir("corpus") / name;
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

}  // namespace

TEST(DataCorpus, DocumentsAreJoinedWithABlankLine) {
  EXPECT_EQ(moqa::data::join_documents({"a", "b", "c"}), "a\n\nb\n\nc");
  EXPECT_EQ(moqa::data::join_documents({}), "");
  EXPECT_EQ(moqa::data::join_documents({"x", "y"}, " | "), "x | y");
}

TEST(DataCorpus, WholeTextIsOneStringWithOptionalCap) {
  const moqa::Tokenizer bytes = moqa::Tokenizer::bytes();
  EXPECT_EQ(moqa::data::tokenize_text(bytes, "abc\n", {}), (Ids{'a', 'b', 'c', '\n'}));
  EXPECT_EQ(moqa::data::tokenize_text(bytes, "abc\n", {.max_tokens = 2}), (Ids{'a', 'b'}));
  EXPECT_EQ(moqa::data::tokenize_text(bytes, "ab", {.max_tokens = 10}), (Ids{'a', 'b'}));
  EXPECT_THROW(moqa::data::tokenize_text(bytes, "ab", {.max_tokens = -1}), moqa::Error);

  const auto jsonl = write_file("docs.jsonl", "{\"text\": \"a\"}\n{\"text\": \"b\"}\n");
  const moqa::data::CorpusSource source{jsonl, moqa::data::CorpusFormat::jsonl, "text"};
  EXPECT_EQ(moqa::data::load_token_stream(bytes, source, {}), (Ids{'a', '\n', '\n', 'b'}));
  const auto text = write_file("plain.txt", "xy");
  EXPECT_EQ(moqa::data::load_token_stream(bytes, {text, moqa::data::CorpusFormat::text, ""}, {}), (Ids{'x', 'y'}));
}

// The perplexity stream under each add_bos policy, on a tokenizer whose post-processor adds a BOS (llama2)
// and one without a BOS (qwen3): special tokens come once, at the start of the whole text.
TEST(DataCorpus, BosPolicyOfTheWholeText) {
  using moqa::data::BosPolicy;
  const auto llama_path = moqa::test::assets_dir() / "tokenizers" / "llama2" / "tokenizer.json";
  const auto qwen_path = moqa::test::assets_dir() / "tokenizers" / "qwen3" / "tokenizer.json";
  MOQA_REQUIRE_ASSET(llama_path);
  MOQA_REQUIRE_ASSET(qwen_path);
  const std::string text = "one\n\ntwo";
  const moqa::Tokenizer llama = moqa::Tokenizer::load(llama_path);
  const Ids plain = llama.encode(text, false);
  Ids with_bos{1};
  with_bos.insert(with_bos.end(), plain.begin(), plain.end());
  EXPECT_EQ(moqa::data::tokenize_text(llama, text, {}), with_bos);  // default: the tokenizer's post-processor
  EXPECT_EQ(moqa::data::tokenize_text(llama, text, {.bos = BosPolicy::tokenizer}), with_bos);
  EXPECT_EQ(moqa::data::tokenize_text(llama, text, {.bos = BosPolicy::always}), with_bos);
  EXPECT_EQ(moqa::data::tokenize_text(llama, text, {.bos = BosPolicy::never}), plain);
  EXPECT_EQ(moqa::data::tokenize_text(llama, text, {.bos = BosPolicy::always, .max_tokens = 2}),
            (Ids{1, plain.front()}));  // the BOS counts as a token of the stream

  const moqa::Tokenizer qwen = moqa::Tokenizer::load(qwen_path);
  const Ids qwen_plain = qwen.encode(text, false);
  EXPECT_EQ(moqa::data::tokenize_text(qwen, text, {.bos = BosPolicy::tokenizer}), qwen_plain);
  EXPECT_EQ(moqa::data::tokenize_text(qwen, text, {.bos = BosPolicy::never}), qwen_plain);
  const std::string message = moqa::test::error_of([&] { moqa::data::tokenize_text(qwen, text, {.bos = BosPolicy::always}); });
  EXPECT_NE(message.find("add_bos = true, but the tokenizer (" + qwen_path.string() + ") has no BOS token"),
            std::string::npos)
      << message;
}

TEST(DataCorpus, TrainedModelReferenceSetting) {
  const auto code = moqa::test::assets_dir() / "trained" / "corpus_xz" / "code.test.txt.xz";
  MOQA_REQUIRE_ASSET(code);
  const moqa::Tokenizer tokenizer =
      moqa::Tokenizer::load(moqa::test::data_dir() / "tokenizer" / "trained_tokenizer.json");
  const Ids stream = moqa::data::load_token_stream(tokenizer, {code, moqa::data::CorpusFormat::text, ""},
                                                   {.max_tokens = 65536});
  ASSERT_EQ(stream.size(), 65536u);
  std::ifstream golden_file(moqa::test::data_dir() / "tokenizer" / "trained_code_tokens.json");
  const Ids golden = nlohmann::json::parse(golden_file)["tokens"].get<Ids>();
  EXPECT_EQ(Ids(stream.begin(), stream.begin() + 128), golden);

  const auto windows = moqa::data::perplexity_windows(static_cast<int64_t>(stream.size()), 512, 512);
  EXPECT_EQ(windows.size(), 128u);
  EXPECT_EQ(moqa::data::total_targets(windows), 128 * 511);
  EXPECT_EQ(moqa::data::window_tokens(stream, windows.back()).front(), stream[127 * 512]);
}
