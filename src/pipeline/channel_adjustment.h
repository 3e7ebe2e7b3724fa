#pragma once
// Channel-level adjustment for novel distributions (PAPER.md §4.3; docs/QUANTIZATION.md §5).
//   Plan (allocate stage, rank 0, broadcast): per routed expert the analysis.channel_fraction hidden
//   channels whose S_ch changes most across the calibration distributions (allocate/channel_plan.h), and
//   per novel [[evaluation]] perplexity set the allocation re-run on that distribution's measured expert
//   significance (allocate/reallocate.h).
//   Quantize stage: a cached channel c of an expert is column c of its gate and up projections and row c
//   of its down projection (its input weights and its output weights of that hidden channel: 1% of the
//   channels is then 1% of the expert's weights). The baseline model serves them in full precision; for a
//   novel distribution, the experts whose width changed get their cached entries re-quantized to the new
//   width (quant/channel_cache.h) and everything else stays as in the baseline.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "allocate/allocation.h"
#include "allocate/bit_report.h"
#include "io/hf_config.h"
#include "pipeline/quantize/quantization_plan.h"
#include "pipeline/quantize/quantized_weights.h"
#include "quant/channel_cache.h"
#include "quant/gptq.h"

namespace moqa::pipeline {

// One novel distribution's re-allocation.
struct NovelAllocation {
  std::string name;                          // the [[evaluation]] set that was profiled
  // The text it was profiled on (pipeline/allocate/novel_profile.h): the mode's TOML name, the file, and the
  // token range [profile_token_begin, profile_token_end) of that file's stream; the set's scored windows start
  // at scored_from_token of its own stream (> 0 only with leading_slice).
  std::string profile;
  std::string profile_source;
  int64_t profile_token_begin = 0;
  int64_t profile_token_end = 0;
  int64_t scored_from_token = 0;
  allocate::BitMatrix bits;                  // [MoE layer][expert]
  std::vector<allocate::BitChange> changes;  // against the baseline; BitChange::layer is the MoE index
  double expert_mean_bits = 0.0;             // of the re-allocation's widths
  double all_linear_mean_bits = 0.0;
  // What the model adjusted to this distribution stores (without / with the quantization overhead): the
  // baseline model, plus the re-quantized copies of the cached channels of the experts whose width changed
  // (at the new width; the baseline codes and the 16-bit cache stay, to switch again).
  double stored_expert_mean_bits = 0.0;
  double stored_all_linear_mean_bits = 0.0;
  int64_t windows = 0;
  int64_t tokens = 0;
  std::vector<std::vector<double>> significance;  // S_exp measured on it [MoE layer][expert]
};

struct ChannelAdjustmentPlan {
  double fraction = 0.0;
  std::string measure;
  std::vector<std::vector<std::vector<int64_t>>> channels;  // [MoE layer][expert] -> hidden channels, ascending
  std::vector<std::vector<std::vector<double>>> change;     // the measure of each selected channel, same layout
  std::vector<NovelAllocation> novel;
  // What the baseline quantized model stores: the allocation's codes plus the 16-bit cached channels
  // (without the quantization overhead; allocate::BitsReport has both).
  double stored_expert_mean_bits = 0.0;
  double stored_all_linear_mean_bits = 0.0;
};

// The parameters one cached channel takes out of its expert's quantized weights: a gate and an up column
// and a down row.
inline int64_t params_per_cached_channel(const ModelConfig& config) { return 3 * config.expert_intermediate_size; }

// The bits the model with channel adjustment stores (allocate::report_bits; each expert's cached channels,
// 16 bits per entry, and its overhead from `input`): the baseline when `novel` is null, else the model
// adjusted to that distribution. `baseline_bits` is [MoE layer][expert].
allocate::BitsReport stored_bits(const allocate::AllocationInput& input, const allocate::BitMatrix& baseline_bits,
                                 const ChannelAdjustmentPlan& plan, int64_t params_per_channel,
                                 const NovelAllocation* novel);

std::string channel_plan_to_json(const ChannelAdjustmentPlan& plan);
ChannelAdjustmentPlan channel_plan_from_json(std::string_view text);

// The FP cache of one routed-expert matrix: gate/up: the input columns `channels`; down: those output rows.
quant::ChannelCache expert_channel_cache(const QuantTarget& target, const Tensor& weight,
                                         const std::vector<int64_t>& channels);
// The same entries, for GPTQ to keep exact (docs/QUANTIZATION.md §5): GPTQ spreads no rounding error from a
// cached column, and the cache then holds that column's final, error-updated weights.
quant::GptqExact expert_exact_entries(const QuantTarget& target, const std::vector<int64_t>& channels);

struct NovelWeights {
  std::shared_ptr<const QuantizedWeights> weights;
  int64_t requantized_tensors = 0;  // on this rank
  int64_t requantized_elements = 0;
};

// The quantized model for one novel distribution, on this rank: `baseline` with the cached entries of
// every expert it holds whose width changed re-quantized to the new width.
NovelWeights novel_weights(const QuantizedWeights& baseline, const QuantizationPlan& plan,
                           const NovelAllocation& novel);

}  // namespace moqa::pipeline
