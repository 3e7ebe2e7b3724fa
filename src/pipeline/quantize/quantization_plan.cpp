#include "pipeline/quantize/quantization_plan.h"

#include <cmath>
#include <map>

#include "allocate/channel_plan.h"
#include "core/error.h"
#include "quant/format.h"

namespace moqa::pipeline {

using config::WeightGroup;
using model::Linear;

config::WeightGroup weight_group_of(Linear kind) {
  switch (kind) {
    case Linear::q:
    case Linear::k:
    case Linear::v:
    case Linear::o:
    case Linear::q_a:
    case Linear::q_b:
    case Linear::kv_a:
    case Linear::kv_b:
      return WeightGroup::attention;
    case Linear::router:
      return WeightGroup::router;
    case Linear::dense_gate:
    case Linear::dense_up:
    case Linear::dense_down:
      return WeightGroup::dense_layers;
    case Linear::shared_gate:
    case Linear::shared_up:
    case Linear::shared_down:
    case Linear::shared_expert_gate:
      return WeightGroup::shared_experts;
    case Linear::expert_gate:
    case Linear::expert_up:
    case Linear::expert_down:
      return WeightGroup::experts;
  }
  fail("weight_group_of: unknown linear kind ", static_cast<int>(kind));
}

int non_expert_bits(const config::AllocationSection& allocation) {
  if (allocation.method == config::AllocationMethod::uniform)
    return static_cast<int>(std::lround(allocation.target_bits));
  MOQA_CHECK(!allocation.candidate_bits.empty(), "allocation.candidate_bits is empty");
  int best = allocation.candidate_bits.front();
  for (const int bits : allocation.candidate_bits) {
    const double distance = std::fabs(bits - allocation.target_bits);
    const double best_distance = std::fabs(best - allocation.target_bits);
    if (distance < best_distance || (distance == best_distance && bits > best)) best = bits;
  }
  return best;
}

int weight_group_bits(const config::AllocationSection& allocation, WeightGroup group) {
  if (group == WeightGroup::attention && allocation.attention_bits != 0) return allocation.attention_bits;
  if (group == WeightGroup::shared_experts && allocation.shared_expert_bits != 0) return allocation.shared_expert_bits;
  return non_expert_bits(allocation);
}

bool stores_group_index(const config::QuantizationSection& q, int64_t cols) {
  return q.method == config::QuantMethod::gptq && q.act_order && !q.static_groups && q.group_size > 0 &&
         q.group_size < cols;
}

namespace {

int64_t matrix_overhead_bits(const config::QuantizationSection& q, const Shape& shape) {
  return quant::overhead_bits(shape.at(0), shape.at(1), q.group_size, q.scale_dtype, stores_group_index(q, shape.at(1)));
}

}  // namespace

ExpertStorage expert_storage(const ModelConfig& config, const config::Experiment& experiment) {
  ExpertStorage out;
  for (const Linear kind : {Linear::expert_gate, Linear::expert_up, Linear::expert_down})
    out.overhead_bits += matrix_overhead_bits(
        experiment.quantization, model::weight_shape(config, {.layer = 0, .kind = kind, .expert = 0}));
  if (experiment.quantization.caches_channels())
    out.cache_bits = 16 * 3 * config.expert_intermediate_size *
                     allocate::dynamic_channel_count(config.hidden_size, experiment.analysis.channel_fraction);
  return out;
}

InputGroup input_group_of(Linear kind) {
  switch (kind) {
    case Linear::q:
    case Linear::k:
    case Linear::v:
    case Linear::q_a:
    case Linear::kv_a:
      return InputGroup::attention_input;
    case Linear::q_b:
      return InputGroup::query_latent;
    case Linear::kv_b:
      return InputGroup::kv_latent;
    case Linear::o:
      return InputGroup::attention_output;
    case Linear::router:
    case Linear::shared_gate:
    case Linear::shared_up:
    case Linear::shared_expert_gate:
    case Linear::dense_gate:
    case Linear::dense_up:
      return InputGroup::mlp_input;
    case Linear::shared_down:
      return InputGroup::shared_down;
    case Linear::dense_down:
      return InputGroup::dense_down;
    case Linear::expert_gate:
    case Linear::expert_up:
      return InputGroup::expert_input;
    case Linear::expert_down:
      return InputGroup::expert_down;
  }
  fail("input_group_of: unknown linear kind ", static_cast<int>(kind));
}

int sequential_step(InputGroup group) {
  switch (group) {
    case InputGroup::attention_input:
      return 0;
    case InputGroup::query_latent:
    case InputGroup::kv_latent:
      return 1;
    case InputGroup::attention_output:
      return 2;
    case InputGroup::mlp_input:
    case InputGroup::expert_input:
      return 3;
    case InputGroup::shared_down:
    case InputGroup::dense_down:
    case InputGroup::expert_down:
      return 4;
    case InputGroup::lm_head_input:
      return 5;
  }
  fail("sequential_step: unknown input group ", static_cast<int>(group));
}

std::string input_group_name(InputGroup group) {
  switch (group) {
    case InputGroup::attention_input:
      return "attention input";
    case InputGroup::query_latent:
      return "query latent";
    case InputGroup::kv_latent:
      return "kv latent";
    case InputGroup::attention_output:
      return "attention output";
    case InputGroup::mlp_input:
      return "mlp input";
    case InputGroup::shared_down:
      return "shared expert down input";
    case InputGroup::dense_down:
      return "dense down input";
    case InputGroup::expert_input:
      return "expert input";
    case InputGroup::expert_down:
      return "expert down input";
    case InputGroup::lm_head_input:
      return "lm_head input";
  }
  return "?";
}

std::vector<std::string> QuantizationPlan::names() const {
  std::vector<std::string> out;
  out.reserve(targets.size());
  for (const QuantTarget& t : targets) out.push_back(t.name);
  return out;
}

std::vector<size_t> QuantizationPlan::targets_of_layer(int64_t layer) const {
  std::vector<size_t> out;
  for (size_t i = 0; i < targets.size(); ++i)
    if (targets[i].kind == TensorKind::linear && targets[i].id.layer == layer) out.push_back(i);
  return out;
}

const QuantTarget* QuantizationPlan::find(const std::string& name) const {
  for (const QuantTarget& t : targets)
    if (t.name == name) return &t;
  return nullptr;
}

const QuantTarget* QuantizationPlan::find(TensorKind kind) const {
  for (const QuantTarget& t : targets)
    if (t.kind == kind) return &t;
  return nullptr;
}

QuantizationPlan plan_quantization(const ModelConfig& config, const config::Experiment& experiment,
                                   const allocate::BitMatrix& bits, const dist::ShardPlan& plan) {
  const config::QuantizationSection& q = experiment.quantization;
  QuantizationPlan out;
  out.non_expert_bits = non_expert_bits(experiment.allocation);
  for (int64_t layer = 0; layer < config.num_layers; ++layer)
    if (config.is_moe_layer(layer)) out.moe_layers.push_back(layer);
  MOQA_CHECK(bits.size() == out.moe_layers.size(), "quantization plan: allocation of ", bits.size(),
             " MoE layers for a model with ", out.moe_layers.size());
  const int world = plan.world_size;
  int next_rank = 0;  // round-robin over the replicated tensors' input groups
  auto deal = [&] {
    const int rank = next_rank;
    next_rank = (next_rank + 1) % world;
    return rank;
  };

  // The embedding table and lm_head: [vocab, hidden] matrices outside the decoder layers.
  auto add_table = [&](std::string name, TensorKind kind, WeightGroup group, InputGroup input) {
    if (q.keeps(group)) return;
    out.targets.push_back({.name = std::move(name),
                           .kind = kind,
                           .id = {},
                           .group = group,
                           .input = input,
                           .shape = {config.vocab_size, config.hidden_size},
                           .bits = out.non_expert_bits,
                           .quantizer = deal()});
  };

  // The embedding's input group is never read (it is quantized with RTN, without a Hessian).
  add_table(model::embedding_name(), TensorKind::embedding, WeightGroup::embeddings, InputGroup::attention_input);

  int64_t moe_index = -1;
  for (int64_t layer = 0; layer < config.num_layers; ++layer) {
    const bool moe = config.is_moe_layer(layer);
    if (moe) ++moe_index;
    std::map<InputGroup, int> group_rank;
    for (const model::LinearId& id : model::layer_linears(config, layer, /*include_experts=*/true)) {
      QuantTarget t;
      t.name = model::weight_name(config, id);
      t.id = id;
      t.group = weight_group_of(id.kind);
      t.input = input_group_of(id.kind);
      t.shape = model::weight_shape(config, id);
      if (id.is_routed_expert()) {
        const auto& row = bits.at(static_cast<size_t>(moe_index));
        MOQA_CHECK(static_cast<int64_t>(row.size()) == config.num_experts, "quantization plan: allocation of ",
                   row.size(), " experts for MoE layer ", layer, " of a model with ", config.num_experts);
        t.moe_index = moe_index;
        t.bits = row[static_cast<size_t>(id.expert)];
        t.quantizer = plan.owner(layer, id.expert);
      } else {
        if (q.keeps(t.group)) continue;
        t.bits = weight_group_bits(experiment.allocation, t.group);
        const auto it = group_rank.find(t.input);
        t.quantizer = it != group_rank.end() ? it->second : (group_rank[t.input] = deal());
      }
      out.targets.push_back(std::move(t));
    }
  }
  if (!config.tie_word_embeddings)
    add_table(model::lm_head_name(), TensorKind::lm_head, WeightGroup::lm_head, InputGroup::lm_head_input);
  return out;
}

void check_group_sizes(const QuantizationPlan& plan, int64_t group_size) {
  if (group_size <= 0) return;
  for (const QuantTarget& t : plan.targets)
    MOQA_CHECK(t.shape.at(1) % group_size == 0, "quantization.group_size = ", group_size, " does not divide the ",
               t.shape.at(1), " input columns of ", t.name, " (shape ", to_string(t.shape),
               "); expected a group size that divides every quantized weight's columns, or 0 (per channel)");
}

std::vector<allocate::WeightGroup> other_weight_groups(const ModelConfig& config,
                                                       const config::Experiment& experiment) {
  std::map<WeightGroup, int64_t> params;
  std::map<WeightGroup, int64_t> overhead;  // if quantized
  const config::QuantizationSection& q = experiment.quantization;
  for (int64_t layer = 0; layer < config.num_layers; ++layer)
    for (const model::LinearId& id : model::layer_linears(config, layer, /*include_experts=*/false)) {
      const Shape shape = model::weight_shape(config, id);
      params[weight_group_of(id.kind)] += element_count(shape);
      overhead[weight_group_of(id.kind)] += matrix_overhead_bits(q, shape);
    }
  params[WeightGroup::lm_head] = config.vocab_size * config.hidden_size;
  overhead[WeightGroup::lm_head] = matrix_overhead_bits(q, {config.vocab_size, config.hidden_size});
  std::vector<allocate::WeightGroup> out;
  for (const WeightGroup group : experiment.allocation.count_in_average) {
    if (group == WeightGroup::experts || params[group] == 0) continue;
    // A tied lm_head is the embedding table: it is quantized exactly when the embeddings are.
    const WeightGroup governs =
        group == WeightGroup::lm_head && config.tie_word_embeddings ? WeightGroup::embeddings : group;
    const bool kept = q.keeps(governs);
    out.push_back({.name = std::string(config::name_of(group)),
                   .params = params[group],
                   .bits = kept ? 16 : weight_group_bits(experiment.allocation, group),
                   .overhead_bits = kept ? 0 : overhead[group]});
  }
  return out;
}

}  // namespace moqa::pipeline
