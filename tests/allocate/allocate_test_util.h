#pragma once
// Builders for small allocation inputs shared by the allocate tests.
#include <cstdint>
#include <vector>

#include "allocate/allocation.h"
#include "allocate/splitmix64.h"

namespace moqa::allocate::test {

// One layer whose experts have the given significances (variance 0) and parameter counts (all
// `params` when `params_each` is empty).
inline MoeLayerStats make_layer(const std::vector<double>& significance, int64_t params = 1000,
                                const std::vector<int64_t>& params_each = {}) {
  MoeLayerStats layer;
  for (size_t e = 0; e < significance.size(); ++e) {
    ExpertStats expert;
    expert.params = params_each.empty() ? params : params_each[e];
    expert.significance_mean = significance[e];
    expert.routed_fraction = 1.0 / static_cast<double>(significance.size());
    layer.experts.push_back(expert);
  }
  return layer;
}

inline AllocationInput make_input(const std::vector<std::vector<double>>& significance, int64_t params = 1000) {
  AllocationInput input;
  for (const auto& layer : significance) input.layers.push_back(make_layer(layer, params));
  return input;
}

inline int64_t spent(const AllocationInput& input, const BitMatrix& bits) {
  int64_t total = 0;
  for (size_t l = 0; l < bits.size(); ++l)
    for (size_t e = 0; e < bits[l].size(); ++e) total += input.layers[l].experts[e].params * bits[l][e];
  return total;
}

inline int64_t total_params(const AllocationInput& input) {
  int64_t total = 0;
  for (const auto& layer : input.layers)
    for (const auto& expert : layer.experts) total += expert.params;
  return total;
}

// Integer in [low, high] from the test's own generator (deterministic on every platform).
inline int64_t uniform_int(SplitMix64& rng, int64_t low, int64_t high) {
  return low + static_cast<int64_t>(rng.next() % static_cast<uint64_t>(high - low + 1));
}

}  // namespace moqa::allocate::test
