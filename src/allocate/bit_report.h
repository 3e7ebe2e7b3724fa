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
  int64_t overhead_bits = 0;  // scales, zero points, g_idx of its quantized matrices (0 when kept)
};

// "Without overhead" counts the codes (params x width) and any extra parts (cached channels); "stored"
// adds the quantization overhead (scales, zero points, g_idx): every byte the quantized weights take.
struct BitsReport {
  int64_t expert_params = 0;
  int64_t expert_bit_params = 0;        // sum params * bits over routed experts, plus their parts
  int64_t expert_overhead_bits = 0;
  int64_t other_params = 0;
  int64_t other_bit_params = 0;
  int64_t other_overhead_bits = 0;
  double expert_mean_bits = 0.0;        // experts only, parameter-weighted, without overhead
  double all_linear_mean_bits = 0.0;    // experts + other weights, parameter-weighted, without overhead
  double expert_stored_mean_bits = 0.0;      // experts only, with overhead
  double all_linear_stored_mean_bits = 0.0;  // experts + other weights, with overhead
  std::vector<double> layer_mean_bits;  // experts of each layer, parameter-weighted, without overhead
};

// What an expert stores in addition to its codes: channel adjustment's cached channels (full-precision
// copies of entries whose codes stay in the packed matrix, so they add to the expert, they do not replace
// part of it), and the expert's quantization overhead.
struct ExpertExtra {
  int64_t part_bits = 0;      // cached channels (and their re-quantized copies for a novel distribution)
  int64_t overhead_bits = 0;  // scales, zero points, g_idx
};

// expert_params and expert_bits are [layer][expert] with identical shapes. `extras`, when not empty, has
// that shape too.
BitsReport report_bits(const std::vector<std::vector<int64_t>>& expert_params,
                       const std::vector<std::vector<int>>& expert_bits, const std::vector<WeightGroup>& other_weights,
                       const std::vector<std::vector<ExpertExtra>>& extras = {});

}  // namespace moqa::allocate
