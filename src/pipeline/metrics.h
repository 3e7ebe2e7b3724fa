#pragma once
// What the evaluate stage measured, one record per (model, dataset). The counts and sums are reduced over
// all ranks, so every rank holds the same records (RunContext::evaluations); rank 0 writes them to
// results.h5 /metrics (stage_evaluate.cpp) and to results.json / results.md (results_summary.h).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "allocate/allocation.h"
#include "config/experiment.h"
#include "eval/perplexity.h"
#include "eval/zero_shot.h"

namespace moqa::pipeline {

struct ChannelAdjustmentPlan;  // pipeline/channel_adjustment.h

enum class EvaluatedModel { full_precision, quantized };

// "fp" / "quantized": the group under /metrics and the key in results.json.
std::string_view model_key(EvaluatedModel model);

struct DatasetEvaluation {
  EvaluatedModel model = EvaluatedModel::full_precision;
  size_t set = 0;  // index into Experiment::evaluation
  // Exactly one is set, by the set's kind. Sums and counts are over all ranks; seconds is rank 0's wall
  // time of the whole evaluation (every rank takes part in every forward pass, so it is the job's);
  // ZeroShotResult::scores stays empty (per-example scores live on the rank that scored them).
  std::optional<eval::PerplexityResult> perplexity;
  std::optional<eval::ZeroShotResult> zero_shot;
  // Perplexity: how its protocol's stream was built (data::PerplexityStream): the rows or documents joined
  // (0: a text file read whole), the windows the protocol asks for (gptq-c4-new: 256; 0: no fixed number)
  // and what the stream fell short of, in words ("" = nothing).
  int64_t documents = 0;
  int64_t windows_wanted = 0;
  std::string shortfall;
  // Quantized model with channel adjustment: evaluated on the weights adjusted to this (novel) set
  // (RunContext::novel_weights), which store these average bits (NovelAllocation::stored_*: only the
  // cached channels of the experts whose width changed were re-quantized).
  bool channel_adjusted = false;
  std::optional<double> adjusted_bits_experts;
  std::optional<double> adjusted_bits_all_linear;
};

// How a model row is labelled in the tables: the method and the achieved average bits.
struct ModelLabel {
  std::string method;                      // "FP", or "<allocation method>/<quantizer>[+ca]", e.g. "moqa/gptq+ca"
  std::optional<double> bits_experts;      // parameter-weighted mean over the routed experts, without overhead
  std::optional<double> bits_all_linear;   // over every linear weight counted in the average, without overhead
  // The same with the quantization overhead (scales, zero points, g_idx): every stored bit.
  std::optional<double> stored_bits_experts;
  std::optional<double> stored_bits_all_linear;
};

// The full-precision model is labelled 16 bits (the half-precision checkpoint, as the papers' FP16 rows),
// whatever compute_dtype the forward pass uses; when model.path is itself a quantized checkpoint it is
// labelled "checkpoint (<quant_method>)" without bits. The quantized model's bits come from the allocation
// (absent when the run has none; allocate::BitsReport), which counts the cached channels of channel
// adjustment (16 bits per entry, next to the codes) both without and with the overhead.
ModelLabel label_model(EvaluatedModel model, const config::Experiment& experiment,
                       const std::optional<allocate::Allocation>& allocation,
                       const std::optional<ChannelAdjustmentPlan>& channels);

}  // namespace moqa::pipeline
