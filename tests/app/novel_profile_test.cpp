// The text a novel distribution is profiled on (pipeline/allocate/novel_profile.h), in one process: the leading slice's
// windows and the windows every model scores are disjoint token ranges of one stream; "file" reads another
// file; "transductive" draws exactly the windows the allocate stage drew before the choice existed
// (analysis::prepare_distribution of the scored file as a calibration set "novel/<name>"), so it reproduces
// that allocation.
#include <gtest/gtest.h>
#include <mpi.h>

#include <fstream>
#include <string>

#include "analysis/calibration_data.h"
#include "core/error.h"
#include "data/corpus.h"
#include "data/random.h"
#include "data/perplexity_stream.h"
#include "pipeline/allocate/novel_profile.h"
#include "support/test_support.h"

namespace moqa::pipeline {
namespace {

namespace fs = std::filesystem;

// Pseudo-random lower-case words, so that no two windows of the stream are alike.
void write_words(const fs::path& path, size_t bytes, uint64_t seed) {
  std::ofstream out(path, std::ios::binary);
  uint64_t state = seed;
  for (size_t n = 0; n < bytes; ++n) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    const auto r = static_cast<int>((state >> 33) % 27);
    out << static_cast<char>(r == 26 ? ' ' : 'a' + r);
  }
}

struct Fixture {
  fs::path dir = test::temp_dir("novel-profile");
  config::Experiment e;
  config::EvaluationSet set;
  Tokenizer tokens = Tokenizer::bytes();

  Fixture() {
    write_words(dir / "scored.txt", 5000, 1);
    write_words(dir / "train.txt", 9000, 2);
    e.experiment.seed = 3;
    config::CalibrationSet first;
    first.name = "a";
    first.path = dir / "train.txt";
    first.samples = 6;
    first.seq_len = 32;
    e.calibration = {first};
    set.name = "code";
    set.path = dir / "scored.txt";
    set.seq_len = 48;
    set.stride = 48;
  }
};

TEST(NovelProfile, LeadingSliceWindowsAndScoredWindowsAreDisjoint) {
  Fixture f;
  f.set.profile = config::NovelProfile::leading_slice;
  f.set.profile_tokens = 500;
  const NovelProfileText p = novel_profile_text(f.e, f.set, f.tokens);
  EXPECT_EQ(p.mode, config::NovelProfile::leading_slice);
  EXPECT_EQ(p.source, f.set.path);
  EXPECT_EQ(p.token_begin, 0);
  EXPECT_EQ(p.token_end, 500);
  EXPECT_EQ(p.scored_from, 500);
  ASSERT_EQ(p.sample.window_starts.size(), 6u);
  ASSERT_EQ(p.sample.seq_len, 32);
  for (const int64_t start : p.sample.window_starts) {
    EXPECT_GE(start, 0);
    EXPECT_LE(start + p.sample.seq_len, 500);
  }
  // The windows the evaluate stage scores, for every model.
  const data::PerplexityStream scored = data::load_perplexity_stream(
      f.tokens, evaluation_source(f.set, f.set.path), f.set.protocol, scored_stream_options(f.set));
  ASSERT_EQ(scored.tokens.size(), 5000u);
  EXPECT_EQ(scored.windows.size(), size_t{(5000 - 500) / 48});
  for (const data::EvalWindow& w : scored.windows) EXPECT_GE(w.begin, 500);  // inputs and targets after the slice
  EXPECT_EQ(scored.windows.front().begin, 500);
  // The slice is the scored stream's own first tokens (same tokenization), not a re-tokenization.
  EXPECT_EQ(p.sample.tokens, std::vector<int32_t>(scored.tokens.begin(), scored.tokens.begin() + 500));

  f.set.profile_tokens = 4990;  // no window of 48 left to score
  try {
    novel_profile_text(f.e, f.set, f.tokens);
    FAIL() << "expected moqa::Error";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("profile_tokens = 4990"), std::string::npos) << error.what();
  }
}

TEST(NovelProfile, FileReadsTheFirstProfileTokensOfAnotherFile) {
  Fixture f;
  write_words(f.dir / "code-train.txt", 3000, 4);
  f.set.profile = config::NovelProfile::file;
  f.set.profile_path = f.dir / "code-train.txt";
  f.set.profile_tokens = 2000;
  const NovelProfileText p = novel_profile_text(f.e, f.set, f.tokens);
  EXPECT_EQ(p.source, f.set.profile_path);
  EXPECT_NE(p.source, f.set.path);
  EXPECT_EQ(p.token_end, 2000);
  EXPECT_EQ(p.scored_from, 0);
  EXPECT_EQ(p.sample.tokens, data::load_token_stream(f.tokens, {.path = f.set.profile_path}, {.max_tokens = 2000}));
  for (const int64_t start : p.sample.window_starts) EXPECT_LE(start + 32, 2000);
}

TEST(NovelProfile, TransductiveDrawsTheWindowsTheAllocateStageDrewBefore) {
  Fixture f;
  f.set.max_tokens = 3000;
  // The allocate stage before the choice existed: the scored set as a calibration set.
  config::CalibrationSet before;
  before.name = "novel/" + f.set.name;
  before.path = f.set.path;
  before.format = f.set.format;
  before.field = f.set.field;
  before.samples = f.e.calibration.front().samples;
  before.sampling = config::SampleMode::random_offsets;
  before.seq_len = f.e.calibration.front().seq_len;
  before.max_tokens = f.set.max_tokens;
  const analysis::DistributionSample expected =
      analysis::prepare_distribution(before, f.tokens, f.e.experiment.seed, MPI_COMM_SELF);
  const NovelProfileText p = novel_profile_text(f.e, f.set, f.tokens);
  EXPECT_EQ(p.sample.name, expected.name);
  EXPECT_EQ(p.sample.source, expected.source);
  EXPECT_EQ(p.sample.seed, expected.seed);
  EXPECT_EQ(p.sample.seq_len, expected.seq_len);
  EXPECT_EQ(p.sample.tokens, expected.tokens);
  EXPECT_EQ(p.sample.window_starts, expected.window_starts);
  EXPECT_EQ(p.token_end, 3000);
  EXPECT_EQ(p.scored_from, 0);  // the scored windows cover the profiled tokens: transductive
}

}  // namespace
}  // namespace moqa::pipeline
