// Documents of a corpus (Hugging Face rows, WikiText articles, JSON Lines records), their separate
// tokenization, and GPTQ's calibration sampling over them: windows inside one document, seeded.
#include "data/documents.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <numeric>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"
#include "data/sampler.h"
#include "data/shard.h"
#include "data/text_file.h"
#include "support/test_support.h"

namespace moqa::data {
namespace {

using Ids = std::vector<int32_t>;
using Strings = std::vector<std::string>;

std::filesystem::path wikitext_test() { return test::assets_dir() / "eval" / "wikitext-2-raw" / "wiki.test.raw"; }
std::filesystem::path c4_train() {
  return test::assets_dir() / "eval" / "c4" / "c4-train.00000-of-01024.first1041.jsonl";
}
std::filesystem::path llama2() { return test::assets_dir() / "tokenizers" / "llama2" / "tokenizer.json"; }

// The document holding stream offset `start` (offsets[d] <= start < offsets[d + 1]).
size_t document_of(const std::vector<int64_t>& offsets, int64_t start) {
  return static_cast<size_t>(std::upper_bound(offsets.begin(), offsets.end(), start) - offsets.begin()) - 1;
}

TEST(DataDocuments, TextRowsAreHuggingFaceWikitextRows) {
  // Python text mode: every terminator reads as "\n" and stays on its row; whitespace-only rows become "".
  EXPECT_EQ(text_rows("a\n \nb\r\nc\rd"), (Strings{"a\n", "", "b\n", "c\n", "d"}));
  EXPECT_EQ(text_rows("\t\n\n x \n"), (Strings{"", "", " x \n"}));
  EXPECT_EQ(text_rows("\xC2\xA0\n\xE3\x80\x80"), (Strings{"", ""}));    // U+00A0, U+3000: Python whitespace
  EXPECT_EQ(text_rows("\xE2\x80\x8B\n"), (Strings{"\xE2\x80\x8B\n"}));  // U+200B is not
  EXPECT_TRUE(text_rows("").empty());
}

TEST(DataDocuments, WikitextTestRowsMatchTheHuggingFaceSplit) {
  MOQA_REQUIRE_ASSET(wikitext_test());
  const Strings rows = text_rows(read_text(wikitext_test()));
  // The Hugging Face test split: 4,358 rows, the blank lines (" \n") as "".
  ASSERT_EQ(rows.size(), 4358u);
  EXPECT_EQ(std::count(rows.begin(), rows.end(), ""), 1467);
  EXPECT_EQ(rows[0], "");
  EXPECT_EQ(rows[1], " = Robert Boulter = \n");
  EXPECT_EQ(rows.back(), "");
  // The joined text in bytes, as Python's len("\n\n".join(rows).encode()) gives it.
  EXPECT_EQ(join_documents(rows, "\n\n").size(), 1296370u);
}

TEST(DataDocuments, ArticlesStartAtTopLevelHeadingsBetweenBlankLines) {
  const std::string text = " \n = A = \n \n x\n \n = = S = = \n \n y = 1\n = 2 = \n z\n \n = B = \n \n w\n";
  const Strings articles = text_articles(text);
  ASSERT_EQ(articles.size(), 3u);
  EXPECT_EQ(articles[0], " \n");
  EXPECT_EQ(articles[1], " = A = \n \n x\n \n = = S = = \n \n y = 1\n = 2 = \n z\n \n");  // " = 2 = " has text around
  EXPECT_EQ(articles[2], " = B = \n \n w\n");
  EXPECT_EQ(std::accumulate(articles.begin(), articles.end(), std::string()), text);
  EXPECT_EQ(text_articles("no headings\n\nat all\n"), (Strings{"no headings\n\nat all\n"}));
  EXPECT_EQ(text_articles(" = Only = \n"), (Strings{" = Only = \n"}));
}

TEST(DataDocuments, WikitextTestHasSixtyArticles) {
  MOQA_REQUIRE_ASSET(wikitext_test());
  const std::string text = read_text(wikitext_test());
  const Strings documents = text_articles(text);
  // The leading blank line, then WikiText-2's 60 test articles; the equation lines " = 1 henry and
  // capacitance C = " inside "Constant k filter" are not headings.
  ASSERT_EQ(documents.size(), 61u);
  EXPECT_EQ(documents[0], " \n");
  EXPECT_TRUE(documents[1].starts_with(" = Robert Boulter = \n"));
  EXPECT_TRUE(documents[60].starts_with(" = The Hustler ( film ) = \n"));
  EXPECT_EQ(std::accumulate(documents.begin(), documents.end(), std::string()), text);
}

TEST(DataDocuments, DocumentsAreTokenizedSeparatelyUpToMaxTokens) {
  const Tokenizer bytes = Tokenizer::bytes();
  const Strings documents{"ab", "", "cde"};
  const TokenizedDocuments all = tokenize_documents(bytes, documents, {});
  EXPECT_EQ(all.tokens, (Ids{'a', 'b', 'c', 'd', 'e'}));
  EXPECT_EQ(all.offsets, (std::vector<int64_t>{0, 2, 2, 5}));
  EXPECT_EQ(all.documents(), 3);
  const TokenizedDocuments cut = tokenize_documents(bytes, documents, {.max_tokens = 3});
  EXPECT_EQ(cut.tokens, (Ids{'a', 'b', 'c'}));
  EXPECT_EQ(cut.offsets, (std::vector<int64_t>{0, 2, 2, 3}));

  MOQA_REQUIRE_ASSET(llama2());
  const Tokenizer tokenizer = Tokenizer::load(llama2());
  // One BOS per document, as GPTQ's tokenizer(document) gives.
  const TokenizedDocuments llama = tokenize_documents(tokenizer, Strings{"one", "two"}, {});
  ASSERT_EQ(llama.documents(), 2);
  EXPECT_EQ(llama.tokens[static_cast<size_t>(llama.offsets[0])], 1);
  EXPECT_EQ(llama.tokens[static_cast<size_t>(llama.offsets[1])], 1);
}

TEST(DataSampler, GptqWindowsStayInsideOneLongEnoughDocument) {
  // Documents of 5, 40, 3, 64 and 16 tokens; windows of 16: documents 1, 3 and 4 hold one.
  const std::vector<int64_t> offsets{0, 5, 45, 48, 112, 128};
  const std::vector<int64_t> starts = sample_document_windows(offsets, 16, 2000, 77);
  ASSERT_EQ(starts.size(), 2000u);
  std::vector<int64_t> per_document(offsets.size() - 1, 0);
  std::set<int64_t> distinct;
  for (const int64_t start : starts) {
    const size_t d = document_of(offsets, start);
    EXPECT_LE(start + 16, offsets[d + 1]) << "window at " << start << " crosses the end of document " << d;
    ++per_document[d];
    distinct.insert(start);
  }
  // Documents are drawn uniformly among the long enough ones, whatever their length (2000 / 3 = 667 each,
  // binomial sd 21).
  EXPECT_EQ(per_document, (std::vector<int64_t>{0, 670, 0, 668, 662}));
  // Every window of the eligible documents is drawn (25 + 49 + 1 starts), the last ones included.
  EXPECT_EQ(distinct.size(), 75u);
  EXPECT_TRUE(distinct.count(45 - 16) && distinct.count(112) && distinct.count(112 - 16));
  // Pinned: the generator and this procedure give these starts with every compiler and standard library.
  EXPECT_EQ(std::vector<int64_t>(starts.begin(), starts.begin() + 6),
            (std::vector<int64_t>{112, 112, 112, 112, 86, 64}));
  EXPECT_NE(starts, sample_document_windows(offsets, 16, 2000, 78));
  // A longer list starts with the shorter one, so each rank's share does not depend on the rank count.
  const std::vector<int64_t> shorter = sample_document_windows(offsets, 16, 37, 77);
  EXPECT_TRUE(std::equal(shorter.begin(), shorter.end(), starts.begin()));
}

TEST(DataSampler, GptqSamplingWithoutALongEnoughDocumentSaysWhichIsLongest) {
  const std::string message = test::error_of([] { sample_document_windows({{0, 5, 45, 48}}, 41, 4, 1); });
  EXPECT_NE(message.find("no document has seq_len = 41 tokens"), std::string::npos) << message;
  EXPECT_NE(message.find("the longest of 3 has 40"), std::string::npos) << message;
  EXPECT_THROW(sample_window_starts(1000, 16, 4, 1, SampleMode::gptq), Error);
}

TEST(DataSampler, GptqWindowsOnRealC4TrainDocuments) {
  MOQA_REQUIRE_ASSET(c4_train());
  MOQA_REQUIRE_ASSET(llama2());
  const Tokenizer tokenizer = Tokenizer::load(llama2());
  const Strings records = read_documents({c4_train(), CorpusFormat::jsonl, "text"});
  ASSERT_EQ(records.size(), 1041u);
  const TokenizedDocuments documents = tokenize_documents(tokenizer, records, {});
  const int64_t eligible = std::count_if(documents.offsets.begin(), documents.offsets.end() - 1, [&](const int64_t& o) {
    const size_t d = static_cast<size_t>(&o - documents.offsets.data());
    return documents.offsets[d + 1] - o >= 2048;
  });
  EXPECT_EQ(eligible, 36) << "documents of at least 2048 tokens";
  const std::vector<int64_t> starts = sample_document_windows(documents.offsets, 2048, 128, 0);
  for (const int64_t start : starts) {
    const size_t d = document_of(documents.offsets, start);
    EXPECT_LE(start + 2048, documents.offsets[d + 1]);
  }
}

}  // namespace
}  // namespace moqa::data
