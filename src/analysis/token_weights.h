#pragma once
// Token re-weighting, our reading of MoQa v1's factor `a` (PAPER.md §1.2, §6.15: "re-weighting data
// distributions to emphasize relevant tokens"; the formula was not found). Frequent tokens (punctuation,
// articles) dominate a plain sum over tokens; with a > 0 they are damped and rare, content-bearing
// tokens count more:
//
//     f(id)  = occurrences of id among all positions of all sampled calibration windows of the
//              distribution (the global sample list, a window drawn twice counted twice)
//     r(id)  = f(id)^(-a) / Z,    Z = (1/P) Σ_positions f(id_p)^(-a) = (1/P) Σ_id f(id)^(1-a)
//
// so the weights average exactly 1 over the P sampled positions, and a = 0 gives r ≡ 1. Every rank
// computes the same table from the same global sample list (sums in ascending id order), so the weights
// never depend on the number of ranks.
#include <cstdint>
#include <span>
#include <vector>

namespace moqa::analysis {

// r(id) for every id in [0, max id + 1) of the sampled windows (ids never sampled get 0: they never
// occur). stream: the distribution's token stream; starts: the global sample list; a >= 0.
std::vector<double> token_reweighting(std::span<const int32_t> stream, std::span<const int64_t> starts,
                                      int64_t seq_len, double a);

}  // namespace moqa::analysis
