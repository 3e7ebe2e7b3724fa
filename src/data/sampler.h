#pragma once
// Calibration sampling: which windows of seq_len tokens of a token stream are used for calibration.
// The global list depends only on (stream length, seq_len, samples, seed, mode): every MPI rank computes
// the same list and takes its share with shard_range, so the samples never depend on the number of ranks.
#include <cstdint>
#include <vector>

namespace moqa::data {

enum class SampleMode {
  // Each window starts at an independent uniform offset in [0, tokens - seq_len] (GPTQ's convention;
  // windows may overlap or repeat).
  random_offsets,
  // Distinct windows from the non-overlapping grid k * seq_len, drawn without replacement.
  disjoint,
};

// Start offsets of `samples` windows, in draw order. moqa::Error when the stream is shorter than seq_len
// or (disjoint) has fewer than `samples` whole windows.
std::vector<int64_t> sample_window_starts(int64_t stream_tokens, int64_t seq_len, int64_t samples, uint64_t seed,
                                          SampleMode mode = SampleMode::random_offsets);

}  // namespace moqa::data
