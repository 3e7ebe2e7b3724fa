#pragma once
// Calibration statistics of one MoE layer on the device: per (expert, channel) sums of |x|, x², their
// token-weighted versions and max |x|; router probability mass per expert; co-activation counts.
// Reference: analysis::accumulate (src/analysis/accumulators.cpp). The sums are added in the CPU's order
// (tokens ascending within each expert) with separately rounded float64 operations, so they agree with the
// CPU to the last bit on the same inputs.
#include <cuda_runtime.h>

#include <cstdint>

namespace moqa::cuda {

// The routed rows of a batch grouped by expert: expert e's tokens are tokens[offsets[e] .. offsets[e + 1])
// (ascending), each with its token weight omega (r_t, times the router's combine weight when gate-weighted).
struct ExpertRowsView {
  const int64_t* offsets = nullptr;  // [experts + 1]
  const int32_t* tokens = nullptr;   // [offsets[experts]]
  const double* omega = nullptr;     // [offsets[experts]]
};

// Device accumulators [experts * channels], float64, added to (not overwritten).
struct ChannelSumsView {
  double* abs_sum = nullptr;
  double* sq_sum = nullptr;
  double* weighted_abs_sum = nullptr;
  double* weighted_sq_sum = nullptr;
  double* abs_max = nullptr;
};

// x [tokens, channels] float32.
void accumulate_channel_sums(const float* x, int64_t channels, int64_t experts, const ExpertRowsView& rows,
                             const ChannelSumsView& sums, cudaStream_t stream);

// mass[e] += sum over tokens of scores[t, e] (scores [tokens, experts]), tokens in order.
void accumulate_score_mass(const float* scores, int64_t tokens, int64_t experts, double* mass, cudaStream_t stream);

// counts[i * experts + j] += number of tokens routed to both i and j (the diagonal counts tokens routed to
// i); chosen [tokens, top_k]. Integer atomics: exact in any order.
void accumulate_coactivation(const int32_t* chosen, int64_t tokens, int64_t top_k, int64_t experts,
                             unsigned long long* counts, cudaStream_t stream);

}  // namespace moqa::cuda
