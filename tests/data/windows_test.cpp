// Perplexity windows: exact accounting of fed and scored tokens for non-overlapping and sliding windows.
#include <gtest/gtest.h>

#include <vector>

#include "core/error.h"
#include "data/windows.h"

using moqa::data::EvalWindow;

namespace {

std::vector<int> times_scored(int64_t tokens, const std::vector<EvalWindow>& windows) {
  std::vector<int> count(static_cast<size_t>(tokens), 0);
  for (const EvalWindow& w : windows) {
    EXPECT_GE(w.first_target, 1);
    EXPECT_LE(w.begin + w.length, tokens);
    for (int64_t p = w.first_target; p < w.length; ++p) ++count[static_cast<size_t>(w.begin + p)];
  }
  return count;
}

}  // namespace

TEST(DataWindows, NonOverlappingScoreAllButTheFirstTokenOfEachWindow) {
  const auto windows = moqa::data::perplexity_windows(1030, 512, 512);
  ASSERT_EQ(windows.size(), 3u);
  EXPECT_EQ(windows[0].begin, 0);
  EXPECT_EQ(windows[1].begin, 512);
  EXPECT_EQ(windows[2].begin, 1024);
  EXPECT_EQ(windows[2].length, 6);
  for (const EvalWindow& w : windows) EXPECT_EQ(w.first_target, 1);
  EXPECT_EQ(moqa::data::total_targets(windows), 511 + 511 + 5);
  EXPECT_EQ(moqa::data::perplexity_windows(1030, 512, 512, false).size(), 2u);
  // A last window of one token would score nothing and is not produced.
  EXPECT_EQ(moqa::data::perplexity_windows(513, 512, 512).size(), 1u);
}

TEST(DataWindows, SlidingScoresEveryTokenButTheFirstExactlyOnce) {
  const auto windows = moqa::data::perplexity_windows(1000, 512, 256);
  ASSERT_EQ(windows.size(), 3u);
  EXPECT_EQ(windows[1].begin, 256);
  EXPECT_EQ(windows[1].first_target, 256);
  EXPECT_EQ(windows[2].begin, 512);
  EXPECT_EQ(windows[2].length, 488);
  EXPECT_EQ(windows[2].first_target, 256);
  EXPECT_EQ(moqa::data::total_targets(windows), 999);
  for (const int64_t tokens : {2, 3, 100, 511, 512, 513, 1000, 4097}) {
    for (const int64_t seq_len : {2, 8, 512}) {
      for (const int64_t stride : {int64_t{1}, seq_len / 2, seq_len - 1}) {
        if (stride < 1) continue;
        const auto w = moqa::data::perplexity_windows(tokens, seq_len, stride);
        const std::vector<int> count = times_scored(tokens, w);
        EXPECT_EQ(count[0], 0);
        for (int64_t t = 1; t < tokens; ++t) {
          ASSERT_EQ(count[static_cast<size_t>(t)], 1) << tokens << " " << seq_len << " " << stride << " token " << t;
        }
        EXPECT_EQ(moqa::data::total_targets(w), tokens - 1);
      }
    }
  }
}

TEST(DataWindows, EdgeCasesAndErrors) {
  EXPECT_TRUE(moqa::data::perplexity_windows(0, 512, 512).empty());
  EXPECT_TRUE(moqa::data::perplexity_windows(1, 512, 512).empty());
  EXPECT_EQ(moqa::data::perplexity_windows(2, 512, 512).size(), 1u);
  EXPECT_THROW(moqa::data::perplexity_windows(100, 512, 513), moqa::Error);
  EXPECT_THROW(moqa::data::perplexity_windows(100, 1, 1), moqa::Error);
  EXPECT_THROW(moqa::data::perplexity_windows(100, 8, 0), moqa::Error);
  // A window longer than any stream is one partial window, without overflowing begin + seq_len.
  const auto huge = moqa::data::perplexity_windows(10, INT64_MAX, 1);
  ASSERT_EQ(huge.size(), 1u);
  EXPECT_EQ(huge[0].length, 10);
  EXPECT_EQ(huge[0].targets(), 9);
  const std::vector<int32_t> stream{10, 11, 12, 13};
  const auto slice = moqa::data::slice_tokens(stream, 1, 2);
  EXPECT_EQ(std::vector<int32_t>(slice.begin(), slice.end()), (std::vector<int32_t>{11, 12}));
  EXPECT_TRUE(moqa::data::slice_tokens(stream, 4, 0).empty());
  EXPECT_THROW(moqa::data::slice_tokens(stream, 3, 2), moqa::Error);
  EXPECT_THROW(moqa::data::slice_tokens(stream, -1, 1), moqa::Error);
}
