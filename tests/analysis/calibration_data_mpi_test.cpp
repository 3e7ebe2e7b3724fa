// Calibration data with sampling = "gptq" under mpiexec (1 to 4 ranks): rank 0 reads, tokenizes and draws,
// the result is broadcast; every rank then compares it with the same preparation done alone
// (MPI_COMM_SELF), so the windows do not depend on the number of ranks. Documents are JSON Lines records of
// varied lengths; no window may cross one's end.
#include <gtest/gtest.h>
#include <mpi.h>

#include <algorithm>
#include <fstream>
#include <string>
#include <vector>

#include "analysis/calibration_data.h"
#include "core/error.h"
#include "support/mpi_test_support.h"
#include "support/test_support.h"

namespace moqa::analysis {
namespace {

// 40 records of 1 to 113 bytes (the byte tokenizer: one token per byte), written by each rank for itself.
config::CalibrationSet documents_set(int64_t seq_len) {
  const auto path = test::temp_dir("calibration_data") / "docs.jsonl";
  std::ofstream out(path, std::ios::binary);
  for (int d = 0; d < 40; ++d)
    out << "{\"text\": \"" << std::string(static_cast<size_t>(1 + (d * 37) % 117), static_cast<char>('a' + d % 26))
        << "\"}\n";
  config::CalibrationSet set;
  set.name = "docs";
  set.path = path;
  set.format = data::CorpusFormat::jsonl;
  set.samples = 50;
  set.sampling = config::SampleMode::gptq;
  set.seq_len = seq_len;
  return set;
}

TEST(CalibrationDataMpi, GptqWindowsAreTheSameOnAnyNumberOfRanksAndStayInOneDocument) {
  const config::CalibrationSet set = documents_set(64);
  const Tokenizer bytes = Tokenizer::bytes();
  const DistributionSample world = prepare_distribution(set, bytes, 7, MPI_COMM_WORLD);
  const DistributionSample alone = prepare_distribution(set, bytes, 7, MPI_COMM_SELF);
  EXPECT_EQ(world.window_starts, alone.window_starts) << "rank " << test::world_rank() << " of " << test::world_size();
  EXPECT_EQ(world.tokens, alone.tokens);
  ASSERT_EQ(world.window_starts.size(), 50u);
  // Each record's letter fills it: a window inside one document holds a single letter.
  for (const int64_t start : world.window_starts) {
    ASSERT_LE(start + 64, static_cast<int64_t>(world.tokens.size()));
    const auto first = world.tokens.begin() + start;
    EXPECT_TRUE(std::all_of(first, first + 64, [&](int32_t id) { return id == *first; }))
        << "the window at " << start << " crosses a document boundary";
  }
  // Pinned: the same windows with every compiler, standard library and rank count.
  EXPECT_EQ(std::vector<int64_t>(world.window_starts.begin(), world.window_starts.begin() + 4),
            (std::vector<int64_t>{527, 152, 261, 1965}));
  EXPECT_NE(world.window_starts, prepare_distribution(set, bytes, 8, MPI_COMM_SELF).window_starts);
}

TEST(CalibrationDataMpi, GptqSamplingWithoutALongEnoughDocumentNamesTheFileAndTheLongest) {
  const config::CalibrationSet set = documents_set(200);
  const std::string message = test::error_of([&] { prepare_distribution(set, Tokenizer::bytes(), 7, MPI_COMM_SELF); });
  EXPECT_NE(message.find("calibration \"docs\": sampling = \"gptq\" needs a document of at least seq_len = 200 "
                         "tokens, but the longest of the 40 documents of " +
                         set.path.string() + " has 113 tokens"),
            std::string::npos)
      << message;
}

}  // namespace
}  // namespace moqa::analysis
