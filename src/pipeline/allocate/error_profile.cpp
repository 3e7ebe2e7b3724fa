#include "pipeline/allocate/error_profile.h"

#include "core/error.h"
#include "core/progress.h"
#include "dist/mpi_session.h"
#include "pipeline/quantize/layer_inputs.h"
#include "quant/output_error.h"

namespace moqa::pipeline {

ErrorProfile profile_expert_errors(LayerPassWorld& world, CalibrationBatches& batches, const std::vector<int>& bits,
                                   const QuantizerSettings& settings) {
  model::Model& model = world.model;
  const ModelConfig& config = model.config();
  const int rank = world.rank();
  MOQA_CHECK(!bits.empty(), "error profile: no widths to measure");
  // Every expert matrix must take the group size before the pass starts rather than fail in its middle.
  for (const int64_t cols : {config.hidden_size, config.expert_intermediate_size})
    quant::effective_group_size(
        {.bits = bits.front(), .group_size = settings.group_size, .symmetric = settings.symmetric}, cols,
        cat("a routed expert matrix with ", cols, " input columns"));

  ErrorProfile out;
  out.bits = bits;
  out.windows = batches.windows;
  out.tokens = batches.tokens;
  const auto width_count = static_cast<int64_t>(bits.size());
  std::vector<double> table;  // [MoE layer][expert][width], this rank's experts only (zeros elsewhere)
  Progress progress("error profile", config.num_layers, "layers", world.progress, world.progress_interval_s);
  for (int64_t layer = 0; layer < config.num_layers; ++layer) {
    if (!config.is_moe_layer(layer)) {
      run_layer_on_batches(model, world.experts, layer, batches, nullptr, /*in_place=*/true);
      progress.advance(1, layer_tokens(batches.tokens, layer, config.num_layers));
      continue;
    }
    const std::vector<int64_t> mine = world.plan.experts_of(rank, layer);
    LayerInputCollector collector(model.backend(), layer, mine, config.hidden_size, config.expert_intermediate_size,
                                  {InputGroup::expert_input, InputGroup::expert_down});
    run_layer_on_batches(model, world.experts, layer, batches, &collector, /*in_place=*/true);

    const size_t row = table.size();
    table.resize(row + static_cast<size_t>(config.num_experts * width_count), 0.0);
    for (const int64_t expert : mine) {
      for (const InputGroup which : {InputGroup::expert_input, InputGroup::expert_down}) {
        const quant::HessianSum& sum = collector.expert_hessian(expert, which);
        const quant::Hessian h = quant::normalized_hessian(sum);
        const std::vector<model::Linear> kinds =
            which == InputGroup::expert_input
                ? std::vector<model::Linear>{model::Linear::expert_gate, model::Linear::expert_up}
                : std::vector<model::Linear>{model::Linear::expert_down};
        for (const model::Linear kind : kinds) {
          const model::LinearId id{layer, kind, expert};
          const std::string name = model::to_string(id);
          const Tensor weight = model.weight_tensor(id);
          for (int64_t k = 0; k < width_count; ++k) {
            const QuantizedWeight q = quantize_weight(weight, &sum, bits[static_cast<size_t>(k)], settings, name);
            out.rtn_fallbacks += q.rtn_fallback ? 1 : 0;
            table[row + static_cast<size_t>(expert * width_count + k)] +=
                quant::output_error(weight, quant::dequantize(q.matrix, name), h, name);
          }
        }
      }
    }
    progress.advance(1, layer_tokens(batches.tokens, layer, config.num_layers));
  }
  progress.finish();

  sum_to_root(table, world.comm, "error profile");
  int64_t fallbacks = out.rtn_fallbacks;
  dist::check_mpi(MPI_Allreduce(&fallbacks, &out.rtn_fallbacks, 1, MPI_INT64_T, MPI_SUM, world.comm),
                  "MPI_Allreduce (error profile fallbacks)");
  if (rank == 0) {
    const size_t layers = table.size() / static_cast<size_t>(config.num_experts * width_count);
    out.error.assign(layers, std::vector<std::vector<double>>(static_cast<size_t>(config.num_experts)));
    for (size_t l = 0; l < layers; ++l)
      for (int64_t e = 0; e < config.num_experts; ++e) {
        const auto first = table.begin() + static_cast<std::ptrdiff_t>(
                                               (l * static_cast<size_t>(config.num_experts) + static_cast<size_t>(e)) *
                                               static_cast<size_t>(width_count));
        out.error[l][static_cast<size_t>(e)].assign(first, first + width_count);
      }
  }
  return out;
}

}  // namespace moqa::pipeline
