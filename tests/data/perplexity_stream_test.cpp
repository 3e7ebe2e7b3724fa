// The named perplexity protocols: which text, which tokens, which windows. The token counts on the real
// files were cross-checked with an independent implementation (tokenizers.js 0.2.0, the Hugging Face
// JavaScript tokenizers, on the same tokenizer.json): WikiText-2 test 334,661 tokens, C4 validation's 1,025
// documents 551,907 tokens (both with the BOS).
#include "data/perplexity_stream.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "data/corpus.h"
#include "data/windows.h"
#include "support/test_support.h"

namespace moqa::data {
namespace {

using Ids = std::vector<int32_t>;

std::filesystem::path wikitext_test() { return test::assets_dir() / "eval" / "wikitext-2-raw" / "wiki.test.raw"; }
std::filesystem::path c4_validation() {
  return test::assets_dir() / "eval" / "c4" / "c4-validation.00000-of-00008.first1025.jsonl";
}
std::filesystem::path llama2() { return test::assets_dir() / "tokenizers" / "llama2" / "tokenizer.json"; }

std::filesystem::path write_file(const std::string& name, const std::string& bytes) {
  const auto path = test::temp_dir("perplexity_stream") / name;
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

// Windows side by side from 0, each of seq_len tokens scoring positions 1..seq_len-1.
void expect_gptq_windows(const PerplexityStream& stream, int64_t seq_len, int64_t count) {
  ASSERT_EQ(static_cast<int64_t>(stream.windows.size()), count);
  for (int64_t k = 0; k < count; ++k) {
    const EvalWindow& w = stream.windows[static_cast<size_t>(k)];
    EXPECT_EQ(w.begin, k * seq_len);
    EXPECT_EQ(w.length, seq_len);
    EXPECT_EQ(w.first_target, 1);
  }
  EXPECT_EQ(total_targets(stream.windows), count * (seq_len - 1));
}

TEST(DataPerplexityStream, WindowsProtocolIsTheFileAsStored) {
  const Tokenizer bytes = Tokenizer::bytes();
  const auto text = write_file("plain.txt", " \n = T = \n \n abcdefgh\n");
  const PerplexityStream s = load_perplexity_stream(bytes, {text, CorpusFormat::text, ""}, PerplexityProtocol::windows,
                                                    {.seq_len = 8, .stride = 4, .keep_partial_last = true});
  EXPECT_EQ(s.tokens, load_token_stream(bytes, {text, CorpusFormat::text, ""}, {}));
  EXPECT_EQ(s.windows.size(), perplexity_windows(static_cast<int64_t>(s.tokens.size()), 8, 4, true).size());
  EXPECT_EQ(s.documents, 0);
  const auto jsonl = write_file("docs.jsonl", "{\"text\": \"a\"}\n{\"text\": \"b\"}\n");
  const PerplexityStream j =
      load_perplexity_stream(bytes, {jsonl, CorpusFormat::jsonl, "text"}, PerplexityProtocol::windows, {.seq_len = 2});
  EXPECT_EQ(j.tokens, (Ids{'a', '\n', '\n', 'b'}));
  EXPECT_EQ(j.documents, 2);
  EXPECT_EQ(protocol_shortfall(j, {.seq_len = 2}), "");
}

TEST(DataPerplexityStream, GptqWikitext2JoinsTheRowsAndDropsThePartialTail) {
  const Tokenizer bytes = Tokenizer::bytes();
  // Rows "", " = T = \n", "", " abc\n": joined with "\n\n".
  const auto text = write_file("wiki.raw", " \n = T = \n \n abc\n");
  const std::string joined = "\n\n = T = \n\n\n\n\n abc\n";
  const PerplexityStream s =
      load_perplexity_stream(bytes, {text, CorpusFormat::text, ""}, PerplexityProtocol::gptq_wikitext2,
                             {.seq_len = 4, .stride = 1, .keep_partial_last = true});
  EXPECT_EQ(s.tokens, Ids(joined.begin(), joined.end()));
  EXPECT_EQ(s.documents, 4);
  // 19 tokens: 4 windows (the last 3 tokens are not scored); stride and keep_partial_last do not apply.
  expect_gptq_windows(s, 4, 4);
  const PerplexityStream odd =
      load_perplexity_stream(bytes, {text, CorpusFormat::text, ""}, PerplexityProtocol::gptq_wikitext2, {.seq_len = 6});
  expect_gptq_windows(odd, 6, 3);  // 19 // 6; the last token is not scored
}

TEST(DataPerplexityStream, GptqWikitext2OnTheRealTestSplit) {
  MOQA_REQUIRE_ASSET(wikitext_test());
  MOQA_REQUIRE_ASSET(llama2());
  const Tokenizer tokenizer = Tokenizer::load(llama2());
  const PerplexityStream s = load_perplexity_stream(tokenizer, {wikitext_test(), CorpusFormat::text, ""},
                                                    PerplexityProtocol::gptq_wikitext2, {.seq_len = 2048});
  EXPECT_EQ(s.documents, 4358);
  ASSERT_EQ(s.tokens.size(), 334661u);  // tokenizers.js: 334,661
  EXPECT_EQ(Ids(s.tokens.begin(), s.tokens.begin() + 8), (Ids{1, 28705, 13, 13, 327, 5606, 365, 3619}));
  EXPECT_EQ(Ids(s.tokens.end() - 4, s.tokens.end()), (Ids{28705, 13, 13, 13}));
  EXPECT_EQ(std::count(s.tokens.begin(), s.tokens.end(), 1), 1);  // one BOS, at the start
  expect_gptq_windows(s, 2048, 163);                              // 334,661 // 2048; 837 tokens dropped
  EXPECT_EQ(protocol_shortfall(s, {.seq_len = 2048}), "");
  const PerplexityStream no_bos =
      load_perplexity_stream(tokenizer, {wikitext_test(), CorpusFormat::text, ""}, PerplexityProtocol::gptq_wikitext2,
                             {.seq_len = 2048, .tokenize = {.bos = BosPolicy::never}});
  EXPECT_EQ(Ids(no_bos.tokens.begin(), no_bos.tokens.end()), Ids(s.tokens.begin() + 1, s.tokens.end()));
}

TEST(DataPerplexityStream, GptqC4NewOnTheRealValidationDocuments) {
  MOQA_REQUIRE_ASSET(c4_validation());
  MOQA_REQUIRE_ASSET(llama2());
  const Tokenizer tokenizer = Tokenizer::load(llama2());
  const CorpusSource source{c4_validation(), CorpusFormat::jsonl, "text"};
  const PerplexityStream s =
      load_perplexity_stream(tokenizer, source, PerplexityProtocol::gptq_c4_new, {.seq_len = 2048});
  EXPECT_EQ(s.documents, 1025);
  EXPECT_EQ(s.documents_wanted, 1100);
  ASSERT_EQ(s.tokens.size(), 256u * 2048u);  // of 551,907 (tokenizers.js: 551,907)
  EXPECT_EQ(Ids(s.tokens.begin(), s.tokens.begin() + 8), (Ids{1, 415, 2971, 693, 4847, 1024, 10931, 477}));
  expect_gptq_windows(s, 2048, 256);
  EXPECT_EQ(protocol_shortfall(s, {.seq_len = 2048}), "1025 of the protocol's 1100 documents exist");

  // At seq_len 4096 the same documents give 551,907 tokens, short of 256 x 4096: 134 windows, said so.
  const PerplexityStream longer =
      load_perplexity_stream(tokenizer, source, PerplexityProtocol::gptq_c4_new, {.seq_len = 4096});
  EXPECT_EQ(longer.tokens.size(), 551907u);
  expect_gptq_windows(longer, 4096, 134);
  EXPECT_EQ(protocol_shortfall(longer, {.seq_len = 4096}),
            "1025 of the protocol's 1100 documents exist; the text gives 551907 tokens, fewer than 256 x 4096 = "
            "1048576: 134 windows scored instead of 256");
}

TEST(DataPerplexityStream, GptqC4NewTakesTheFirst1100DocumentsJoinedWithASpace) {
  const Tokenizer bytes = Tokenizer::bytes();
  std::string lines;
  for (int i = 0; i < 1200; ++i) lines += "{\"text\": \"" + std::string(1, static_cast<char>('a' + i % 26)) + "\"}\n";
  const auto jsonl = write_file("c4.jsonl", lines);
  const CorpusSource source{jsonl, CorpusFormat::jsonl, "text"};
  // seq_len 10: all 1100 letters and 1099 spaces (2,199 tokens) are under 256 x 10: 219 windows, said so.
  const PerplexityStream all = load_perplexity_stream(bytes, source, PerplexityProtocol::gptq_c4_new, {.seq_len = 10});
  EXPECT_EQ(all.documents, 1100);
  ASSERT_EQ(all.tokens.size(), 2199u);
  EXPECT_EQ(Ids(all.tokens.begin(), all.tokens.begin() + 5), (Ids{'a', ' ', 'b', ' ', 'c'}));
  EXPECT_EQ(all.tokens.back(), 'a' + 1099 % 26);
  expect_gptq_windows(all, 10, 219);
  EXPECT_EQ(protocol_shortfall(all, {.seq_len = 10}),
            "the text gives 2199 tokens, fewer than 256 x 10 = 2560: 219 windows scored instead of 256");
  // seq_len 3: cut to 256 x 3 = 768 tokens, 256 windows.
  const PerplexityStream cut = load_perplexity_stream(bytes, source, PerplexityProtocol::gptq_c4_new, {.seq_len = 3});
  EXPECT_EQ(cut.tokens.size(), 768u);
  expect_gptq_windows(cut, 3, 256);
  EXPECT_EQ(protocol_shortfall(cut, {.seq_len = 3}), "");

  const auto text = write_file("c4.txt", "plain");
  const std::string message = test::error_of([&] {
    load_perplexity_stream(bytes, {text, CorpusFormat::text, ""}, PerplexityProtocol::gptq_c4_new, {.seq_len = 3});
  });
  EXPECT_NE(message.find("c4.txt: protocol \"gptq-c4-new\" reads C4 documents from JSON Lines"), std::string::npos)
      << message;
}

}  // namespace
}  // namespace moqa::data
