#include "pipeline/quantize/quantize_pass.h"

#include <algorithm>
#include <map>
#include <optional>

#include "core/error.h"
#include "core/progress.h"
#include "dist/mpi_session.h"
#include "pipeline/channel_adjustment.h"
#include "pipeline/quantize/layer_inputs.h"
#include "pipeline/quantize/quantized_matrix_mpi.h"

namespace moqa::pipeline {
namespace {

int comm_rank(MPI_Comm comm) {
  int rank = 0;
  dist::check_mpi(MPI_Comm_rank(comm, &rank), "MPI_Comm_rank");
  return rank;
}

const std::vector<int64_t>* cached_channels(const ChannelSets* channels, const QuantTarget& t) {
  if (channels == nullptr || channels->empty() || !t.is_routed_expert()) return nullptr;
  return &channels->at(static_cast<size_t>(t.moe_index)).at(static_cast<size_t>(t.id.expert));
}

size_t matrix_index(model::Linear kind) {
  return kind == model::Linear::expert_gate ? 0 : kind == model::Linear::expert_up ? 1 : 2;
}

// Makes a finished tensor available: routed experts stay on their owner, replicated tensors are broadcast
// from their quantizer. Every rank calls this for every target, in plan order.
void publish(const QuantTarget& t, std::optional<quant::QuantizedMatrix> quantized, const Tensor* original,
             const ChannelSets* channels, QuantizedWeights& store, model::Model* model, int rank, MPI_Comm comm) {
  if (t.is_routed_expert()) {
    if (t.quantizer != rank) return;
    const std::vector<int64_t>* cached = cached_channels(channels, t);
    MOQA_CHECK(quantized && (original || !cached), t.name, ": quantized on its owner but not published");
    store.add(t.name, std::move(*quantized),
              cached ? expert_channel_cache(t, *original, *cached) : quant::ChannelCache{});
  } else {
    store.add(t.name,
              broadcast_quantized(quantized ? std::move(*quantized) : quant::QuantizedMatrix{}, t.quantizer, comm));
  }
  if (model != nullptr && t.kind == TensorKind::linear) model->set_weight(t.id, store.served(t.name));
}

// `targets` of decoder layer `layer` (plan order), grouped by sequential_step, steps in order.
std::vector<std::vector<size_t>> split_into_steps(const QuantizationPlan& plan, const std::vector<size_t>& targets) {
  std::map<int, std::vector<size_t>> by_step;
  for (const size_t i : targets) by_step[sequential_step(plan.targets[i].input)].push_back(i);
  std::vector<std::vector<size_t>> steps;
  for (auto& [step, indices] : by_step) steps.push_back(std::move(indices));
  return steps;
}

// Steps 1 and 2 of the pass (quantize_pass.h) for `targets`, tensors of decoder layer `layer` in plan
// order: one forward of the layer over every batch collects their inputs with the model's current
// weights, then they are quantized and published, which sets them on the model.
void quantize_targets(LayerPassWorld& world, CalibrationBatches& batches, const QuantizationPlan& plan, int64_t layer,
                      const std::vector<size_t>& targets, const QuantizerSettings& settings, QuantizedWeights& store,
                      const ChannelSets* channels, QuantizeReport& report) {
  model::Model& model = world.model;
  const ModelConfig& config = model.config();
  const int rank = world.rank();
  // Inputs: this rank's experts, and the replicated linears' input groups (rows of every rank).
  std::vector<int64_t> my_experts;
  std::vector<InputGroup> collected;
  std::map<InputGroup, std::pair<int, int64_t>> groups;  // replicated input group -> (quantizer rank, columns)
  for (const size_t i : targets) {
    const QuantTarget& t = plan.targets[i];
    if (std::find(collected.begin(), collected.end(), t.input) == collected.end()) collected.push_back(t.input);
    if (t.is_routed_expert()) {
      if (t.quantizer == rank && std::find(my_experts.begin(), my_experts.end(), t.id.expert) == my_experts.end())
        my_experts.push_back(t.id.expert);
    } else {
      groups.emplace(t.input, std::make_pair(t.quantizer, t.shape.at(1)));
    }
  }
  LayerInputCollector collector(model.backend(), layer, my_experts, config.hidden_size, config.expert_intermediate_size,
                                collected);
  std::map<InputGroup, quant::HessianSum> group_sums;  // on each group's quantizer
  run_layer_on_batches(model, world.experts, layer, batches, &collector, /*in_place=*/false, [&](size_t) {
    for (const auto& [group, owner] : groups) {
      const Tensor all = gather_rows(collector.take_rows(group, owner.second), owner.second, owner.first, world.comm);
      if (rank != owner.first) continue;
      auto it = group_sums.find(group);
      if (it == group_sums.end()) it = group_sums.emplace(group, quant::make_hessian_sum(owner.second)).first;
      quant::accumulate(it->second, all);
    }
  });

  // Quantize this rank's tensors, then publish every tensor in plan order.
  std::map<size_t, quant::QuantizedMatrix> done;
  std::map<size_t, Tensor> originals;
  for (const size_t i : targets) {
    const QuantTarget& t = plan.targets[i];
    if (t.quantizer != rank) continue;
    const quant::HessianSum* inputs = nullptr;
    if (t.is_routed_expert()) {
      inputs = &collector.expert_hessian(t.id.expert, t.input);
    } else {
      auto it = group_sums.find(t.input);
      if (it == group_sums.end()) it = group_sums.emplace(t.input, quant::make_hessian_sum(t.shape.at(1))).first;
      inputs = &it->second;
    }
    Tensor original = store.original().load(t.name, t.shape);
    const std::vector<int64_t>* cached = cached_channels(channels, t);
    const quant::GptqExact exact = cached ? expert_exact_entries(t, *cached) : quant::GptqExact{};
    QuantizedWeight q = quantize_weight(original, inputs, t.bits, settings, t.name, exact);
    // Cached columns were kept exact inside GPTQ: the cache serves their final weights.
    const auto n_exact = static_cast<int64_t>(exact.columns.size());
    for (int64_t r = 0; r < t.shape.at(0) && !q.exact_column_values.empty(); ++r) {
      for (int64_t k = 0; k < n_exact; ++k) {
        original.data[static_cast<size_t>(r * t.shape.at(1) + exact.columns[static_cast<size_t>(k)])] =
            q.exact_column_values[static_cast<size_t>(r * n_exact + k)];
      }
    }
    ++report.tensors;
    report.rtn_fallbacks += q.rtn_fallback ? 1 : 0;
    if (t.is_routed_expert())
      report.expert_loss[static_cast<size_t>(t.moe_index)][static_cast<size_t>(t.id.expert)][matrix_index(t.id.kind)] =
          q.gptq_loss;
    done.emplace(i, std::move(q.matrix));
    if (cached) originals.emplace(i, std::move(original));
  }
  for (const size_t i : targets) {
    const auto q = done.find(i);
    const auto original = originals.find(i);
    publish(plan.targets[i],
            q == done.end() ? std::nullopt : std::optional<quant::QuantizedMatrix>(std::move(q->second)),
            original == originals.end() ? nullptr : &original->second, channels, store, &model, rank, world.comm);
  }
}

QuantizeReport finish_report(QuantizeReport report, const QuantizationPlan& plan, int64_t experts, MPI_Comm comm) {
  std::vector<double> loss(plan.moe_layers.size() * static_cast<size_t>(experts) * 3, 0.0);
  for (size_t l = 0; l < report.expert_loss.size(); ++l)
    for (size_t e = 0; e < report.expert_loss[l].size(); ++e)
      for (size_t k = 0; k < 3; ++k) loss[(l * static_cast<size_t>(experts) + e) * 3 + k] = report.expert_loss[l][e][k];
  sum_to_root(loss, comm, "GPTQ losses");
  report.expert_loss.assign(plan.moe_layers.size(), std::vector<std::array<double, 3>>(static_cast<size_t>(experts)));
  for (size_t l = 0; l < plan.moe_layers.size(); ++l)
    for (size_t e = 0; e < static_cast<size_t>(experts); ++e)
      for (size_t k = 0; k < 3; ++k) report.expert_loss[l][e][k] = loss[(l * static_cast<size_t>(experts) + e) * 3 + k];
  std::array<int64_t, 2> counts{report.tensors, report.rtn_fallbacks};
  dist::check_mpi(MPI_Allreduce(MPI_IN_PLACE, counts.data(), 2, MPI_INT64_T, MPI_SUM, comm),
                  "MPI_Allreduce (quantize counts)");
  report.tensors = counts[0];
  report.rtn_fallbacks = counts[1];
  return report;
}

std::vector<std::vector<std::array<double, 3>>> zero_losses(const QuantizationPlan& plan, int64_t experts) {
  return std::vector<std::vector<std::array<double, 3>>>(
      plan.moe_layers.size(), std::vector<std::array<double, 3>>(static_cast<size_t>(experts)));
}

int64_t expert_count(const QuantizationPlan& plan) {
  int64_t experts = 0;
  for (const QuantTarget& t : plan.targets)
    if (t.is_routed_expert()) experts = std::max(experts, t.id.expert + 1);
  return experts;
}

}  // namespace

QuantizeReport quantize_from_original(const QuantizationPlan& plan, const std::vector<size_t>& which,
                                      const QuantizerSettings& settings, QuantizedWeights& store,
                                      const ChannelSets* channels, MPI_Comm comm, std::ostream* progress_out,
                                      double progress_interval_s) {
  const int rank = comm_rank(comm);
  QuantizerSettings rtn = settings;
  rtn.method = config::QuantMethod::rtn;
  const int64_t experts = expert_count(plan);
  QuantizeReport report;
  report.expert_loss = zero_losses(plan, experts);
  Progress progress("quantize (rtn)", static_cast<int64_t>(which.size()), "tensors", progress_out, progress_interval_s);
  for (const size_t i : which) {
    const QuantTarget& t = plan.targets.at(i);
    std::optional<quant::QuantizedMatrix> quantized;
    std::optional<Tensor> original;
    if (t.quantizer == rank) {
      original = store.original().load(t.name, t.shape);
      quantized = quantize_weight(*original, nullptr, t.bits, rtn, t.name).matrix;
      ++report.tensors;
    }
    publish(t, std::move(quantized), original ? &*original : nullptr, channels, store, nullptr, rank, comm);
    progress.advance(1);
  }
  progress.finish();
  return finish_report(std::move(report), plan, experts, comm);
}

QuantizeReport quantize_sequential(LayerPassWorld& world, CalibrationBatches& batches, const QuantizationPlan& plan,
                                   const QuantizerSettings& settings, QuantizedWeights& store,
                                   const ChannelSets* channels) {
  model::Model& model = world.model;
  const ModelConfig& config = model.config();
  const int rank = world.rank();
  const int64_t experts = expert_count(plan);
  QuantizeReport report;
  report.windows = batches.windows;
  report.tokens = batches.tokens;
  report.expert_loss = zero_losses(plan, experts);
  const QuantTarget* lm_head = plan.find(TensorKind::lm_head);
  const int64_t units = config.num_layers + (lm_head ? 1 : 0);
  Progress progress("quantize", units, "layers", world.progress, world.progress_interval_s);

  for (int64_t layer = 0; layer < config.num_layers; ++layer) {
    const std::vector<size_t> targets = plan.targets_of_layer(layer);
    if (targets.empty()) {  // nothing quantized here (e.g. a dense layer kept in full precision): pass through
      run_layer_on_batches(model, world.experts, layer, batches, nullptr, /*in_place=*/true);
      progress.advance(1, layer_tokens(batches.tokens, layer, units));
      continue;
    }
    const std::vector<std::vector<size_t>> steps =
        settings.true_sequential ? split_into_steps(plan, targets) : std::vector<std::vector<size_t>>{targets};
    for (const std::vector<size_t>& step : steps)
      quantize_targets(world, batches, plan, layer, step, settings, store, channels, report);

    // 3. The quantized layer's outputs are the next layer's inputs.
    run_layer_on_batches(model, world.experts, layer, batches, nullptr, /*in_place=*/true);
    progress.advance(1, layer_tokens(batches.tokens, layer, units));  // whole-model tokens (core/progress.h)
  }

  if (lm_head != nullptr) {
    const int64_t cols = lm_head->shape.at(1);
    std::optional<quant::HessianSum> sum;
    if (rank == lm_head->quantizer) sum = quant::make_hessian_sum(cols);
    for (const model::HiddenStates& hidden : batches.batches) {
      const Tensor rows = hidden.tokens() > 0 ? model.backend().download(model.final_norm(hidden)) : Tensor({0, cols});
      const Tensor all = gather_rows(rows, cols, lm_head->quantizer, world.comm);
      if (sum) quant::accumulate(*sum, all);
    }
    std::optional<quant::QuantizedMatrix> quantized;
    if (sum) {
      const Tensor original = store.original().load(lm_head->name, lm_head->shape);
      QuantizedWeight q = quantize_weight(original, &*sum, lm_head->bits, settings, lm_head->name);
      ++report.tensors;
      report.rtn_fallbacks += q.rtn_fallback ? 1 : 0;
      quantized = std::move(q.matrix);
    }
    publish(*lm_head, std::move(quantized), nullptr, channels, store, nullptr, rank, world.comm);
    progress.advance(1, layer_tokens(batches.tokens, config.num_layers, units));
  }
  progress.finish();
  return finish_report(std::move(report), plan, experts, world.comm);
}

}  // namespace moqa::pipeline
