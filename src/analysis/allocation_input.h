#pragma once
// From the calibration statistics to what the allocation stage consumes (allocate/allocation.h).
#include <vector>

#include "allocate/allocation.h"
#include "analysis/calibrate.h"
#include "core/tensor.h"
#include "io/hf_config.h"

namespace moqa::analysis {

// Per MoE layer (model order) and expert: params = the expert's gate+up+down parameters;
// significance_mean / _variance = the synthesized fit (variance only with analysis.fit = "mean_var",
// else 0: the plain-mean fit ignores the spread); routed_fraction = pooled over all distributions;
// coactivation = the phi correlation of the pooled co-activation counts (empty with correlation off).
// error_bits, quant_error and other_weights are left for the allocation stage to fill. Rank 0.
allocate::AllocationInput make_allocation_input(const CalibrationResult& result, const ModelConfig& config);

// S_ch for the channel-level adjustment plan (allocate/channel_plan.h): [MoE layer][expert] ->
// [distributions, channels] in [[calibration]] order. Rank 0.
std::vector<std::vector<Tensor>> channel_significance_by_expert(const CalibrationResult& result);

}  // namespace moqa::analysis
