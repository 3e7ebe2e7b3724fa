#include "pipeline/metrics.h"

#include "core/error.h"
#include "io/hf_config.h"
#include "pipeline/channel_adjustment.h"

namespace moqa::pipeline {

std::string_view model_key(EvaluatedModel model) {
  return model == EvaluatedModel::full_precision ? "fp" : "quantized";
}

ModelLabel label_model(EvaluatedModel model, const config::Experiment& e,
                       const std::optional<allocate::Allocation>& allocation,
                       const std::optional<ChannelAdjustmentPlan>& channels) {
  if (model == EvaluatedModel::full_precision) {
    // model.path may itself be a moqa quantized checkpoint (docs/FORMATS.md): then it is no FP baseline.
    const ModelConfig config = load_hf_config(e.model.path / "config.json");
    if (!config.weight_quantization.empty())
      return {.method = cat("checkpoint (", config.weight_quantization, ")")};
    return {.method = "FP",
            .bits_experts = 16.0,
            .bits_all_linear = 16.0,
            .stored_bits_experts = 16.0,
            .stored_bits_all_linear = 16.0};
  }
  ModelLabel label;
  label.method = cat(config::name_of(e.allocation.method), "/", config::name_of(e.quantization.method),
                     e.quantization.channel_adjustment == config::ChannelAdjustment::reallocate ? "+ca"
                     : e.quantization.caches_channels()                                        ? "+cache"
                                                                                               : "");
  (void)channels;  // the allocation's report already counts the cached channels
  if (allocation) {
    label.bits_experts = allocation->report.expert_mean_bits;
    label.bits_all_linear = allocation->report.all_linear_mean_bits;
    label.stored_bits_experts = allocation->report.expert_stored_mean_bits;
    label.stored_bits_all_linear = allocation->report.all_linear_stored_mean_bits;
  }
  return label;
}

}  // namespace moqa::pipeline
