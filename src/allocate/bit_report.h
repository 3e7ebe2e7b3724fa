#pragma once
// Achieved average bits, reported two ways because papers disagree on the denominator: over the routed
// experts only (what the allocation controls) and over every linear weight of the model (what decides
// the memory footprint and whether "2.95 bits" is comparable with GPTQ's "3.00").
#include <cstdint>
#include <string>
#include <vector>

namespace moqa::allocate {

// A non-expert linear weight family: attention, router, shared experts, dense MLPs, lm_head...
// bits = 16 when it is kept in half precision.
struct WeightGroup {
  std::string name;
  int64_t params = 0;
  int bits = 16;
};

struct BitsReport {
  int64_t expert_params = 0;
  int64_t expert_bit_params = 0;        // sum params * bits over routed experts
  int64_t other_params = 0;
  int64_t other_bit_params = 0;
  double expert_mean_bits = 0.0;        // experts only, parameter-weighted
  double all_linear_mean_bits = 0.0;    // experts + other weights, parameter-weighted
  std::vector<double> layer_mean_bits;  // experts of each layer, parameter-weighted
};

// Part of an expert stored at a width other than the expert's: channel adjustment's cached channels, kept
// at 16 bits, or re-quantized to a novel distribution's width while the rest of the expert keeps its own.
struct ExpertPart {
  int64_t params = 0;
  int bits = 16;
};

// expert_params and expert_bits are [layer][expert] with identical shapes. `parts`, when not empty, has
// that shape too: each expert's `params` of the part are counted at the part's bits instead of the
// expert's, so that the report states what the model stores.
BitsReport report_bits(const std::vector<std::vector<int64_t>>& expert_params,
                       const std::vector<std::vector<int>>& expert_bits, const std::vector<WeightGroup>& other_weights,
                       const std::vector<std::vector<ExpertPart>>& parts = {});

}  // namespace moqa::allocate
