#pragma once
// Calibration sampling: which windows of seq_len tokens of a token stream are used for calibration.
// The global list depends only on (stream length or document offsets, seq_len, samples, seed, mode): every
// MPI rank computes the same list and takes its share with shard_range, so the samples never depend on the
// number of ranks.
#include <cstdint>
#include <span>
#include <vector>

#include "data/sample_mode.h"

namespace moqa::data {

// Start offsets of `samples` windows of one stream (random_offsets, disjoint), in draw order. moqa::Error
// when the stream is shorter than seq_len, (disjoint) has fewer than `samples` whole windows, or mode is
// gptq (which needs document boundaries: sample_document_windows).
std::vector<int64_t> sample_window_starts(int64_t stream_tokens, int64_t seq_len, int64_t samples, uint64_t seed,
                                          SampleMode mode = SampleMode::random_offsets);

// SampleMode::gptq over documents laid end to end, document d at [offsets[d], offsets[d + 1]): per window,
// a uniformly random document among those of at least seq_len tokens (what GPTQ's loop "random document
// until one is long enough" draws from), then a uniform start among its length - seq_len + 1 windows.
// Returns stream offsets; every window lies inside one document. moqa::Error when no document is long
// enough, naming the longest.
std::vector<int64_t> sample_document_windows(std::span<const int64_t> offsets, int64_t seq_len, int64_t samples,
                                             uint64_t seed);

// The length of the longest document (0 for none).
int64_t longest_document(std::span<const int64_t> offsets);

}  // namespace moqa::data
