#include "analysis/allocation_input.h"

#include "core/error.h"

namespace moqa::analysis {

allocate::AllocationInput make_allocation_input(const CalibrationResult& result, const ModelConfig& config) {
  MOQA_CHECK(result.synthesized.size() == result.moe_layers.size(), "analysis: synthesized statistics of ",
             result.synthesized.size(), " MoE layers for a model with ", result.moe_layers.size(),
             " (only rank 0 holds them)");
  const bool with_variance = result.options.fit == config::SignificanceFit::mean_var;
  allocate::AllocationInput input;
  for (const SynthesizedLayer& s : result.synthesized) {
    allocate::MoeLayerStats layer;
    for (size_t e = 0; e < s.routed_fraction.size(); ++e) {
      layer.experts.push_back({.params = config.expert_parameter_count(),
                               .significance_mean = s.significance.mean[e],
                               .significance_variance = with_variance ? s.significance.variance[e] : 0.0,
                               .routed_fraction = s.routed_fraction[e],
                               .quant_error = {}});
    }
    layer.coactivation = s.correlation;
    input.layers.push_back(std::move(layer));
  }
  return input;
}

std::vector<std::vector<Tensor>> channel_significance_by_expert(const CalibrationResult& result) {
  std::vector<std::vector<Tensor>> out;
  if (result.distributions.empty()) return out;
  const auto datasets = static_cast<int64_t>(result.distributions.size());
  const size_t layers = result.distributions.front().layers.size();
  for (const DistributionStatistics& d : result.distributions)
    MOQA_CHECK(d.layers.size() == layers, "analysis: distribution \"", d.name, "\" has statistics of ",
               d.layers.size(), " MoE layers, expected ", layers);
  for (size_t l = 0; l < layers; ++l) {
    const LayerAccumulator& shape = result.distributions.front().layers[l].sums;
    std::vector<Tensor> experts;
    for (int64_t e = 0; e < shape.experts; ++e) {
      Tensor s({datasets, shape.channels});
      for (int64_t d = 0; d < datasets; ++d) {
        const LayerStatistics& stats = result.distributions[static_cast<size_t>(d)].layers[l];
        MOQA_CHECK(stats.sums.channels == shape.channels && stats.sums.experts == shape.experts,
                   "analysis: distributions disagree on the shape of MoE layer ", shape.layer);
        for (int64_t c = 0; c < shape.channels; ++c)
          s.data[static_cast<size_t>(d * shape.channels + c)] =
              static_cast<float>(stats.channel_significance[static_cast<size_t>(e * shape.channels + c)]);
      }
      experts.push_back(std::move(s));
    }
    out.push_back(std::move(experts));
  }
  return out;
}

}  // namespace moqa::analysis
