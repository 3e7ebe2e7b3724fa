#pragma once
// Which tensors the quantize stage quantizes, at which width and on which rank (docs/QUANTIZATION.md §2).
//   - Routed experts are always quantized, at the allocation's bits[moe layer][expert], by their owner
//     rank (dist/shard_plan.h), which alone holds their weights.
//   - Every other linear weight is quantized unless its category is in [quantization].keep_full_precision,
//     at one width for all of them, non_expert_bits(): the uniform width, or the candidate nearest to
//     target_bits. These weights are replicated, so each is quantized by one rank and broadcast; linears
//     that read the same input (one GPTQ Hessian) share that rank, and the (layer, input) groups are dealt
//     to the ranks round-robin.
//   - The embedding table and lm_head are quantized when not kept (RTN for the embedding: a lookup table
//     has no input to build a Hessian from; lm_head like any linear, from the final-norm states). With tied
//     embeddings the one tensor follows `embeddings`.
// Pure functions of the model config, the experiment and the allocation: every rank builds the same plan.
#include <cstdint>
#include <string>
#include <vector>

#include "allocate/allocation.h"
#include "config/experiment.h"
#include "dist/shard_plan.h"
#include "io/hf_config.h"
#include "model/weight_names.h"

namespace moqa::pipeline {

// The keep_full_precision / count_in_average category of a decoder linear weight: attention projections
// (of dense layers too) -> attention; router -> router; dense MLP -> dense_layers; shared experts and
// Qwen2-MoE's shared_expert_gate -> shared_experts; routed experts -> experts.
config::WeightGroup weight_group_of(model::Linear kind);

// Width of every quantized non-expert weight: `uniform`: target_bits (the uniform width itself, so a
// "GPTQ 3-bit" run is 3 bits everywhere); other methods: the candidate nearest to target_bits, ties to the
// wider one (target 3 on {2, 4, 6, 8} -> 4).
int non_expert_bits(const config::AllocationSection& allocation);
// Width of the quantized weights of one non-expert group: allocation.attention_bits for attention,
// shared_expert_bits for shared experts when set (moeptq's variants), else non_expert_bits().
int weight_group_bits(const config::AllocationSection& allocation, config::WeightGroup group);

// Whether [quantization] gives a weight with `cols` input columns a g_idx (GPTQ, act_order, dynamic groups).
bool stores_group_index(const config::QuantizationSection& quantization, int64_t cols);

// What one routed expert stores besides its codes (docs/ALLOCATION.md, "Stored bits"): the scales, zero
// points and g_idx of its three matrices under [quantization] (quant::overhead_bits), and with
// channel_adjustment the 16-bit copies of its cached channels (allocate::dynamic_channel_count of the
// hidden channels, each a gate and an up column and a down row). The same for every expert of a model.
struct ExpertStorage {
  int64_t overhead_bits = 0;
  int64_t cache_bits = 0;
};
ExpertStorage expert_storage(const ModelConfig& config, const config::Experiment& experiment);

// Linears that read the same activations, hence share one GPTQ Hessian.
enum class InputGroup {
  attention_input,   // q, k, v (or MLA's q / q_a and kv_a): the input-normed hidden state
  query_latent,      // MLA q_b: the normed compressed query
  kv_latent,         // MLA kv_b: the normed latent
  attention_output,  // o
  mlp_input,  // router, shared experts' gate/up and shared_expert_gate, dense gate/up: the post-attention-normed state
  shared_down,    // shared experts' down: silu(gate) * up
  dense_down,     // dense MLP down
  expert_input,   // a routed expert's gate/up (per expert: only its routed rows)
  expert_down,    // a routed expert's down
  lm_head_input,  // the final-norm states
};
InputGroup input_group_of(model::Linear kind);
std::string input_group_name(InputGroup group);

// GPTQ's true-sequential order inside a decoder layer (quantization.true_sequential): the inputs of a
// group's linears depend only on the weights of groups with a smaller step. 0: attention input; 1: MLA
// latents; 2: attention output; 3: the MLP input and the routed experts' gate/up; 4: the down
// projections; 5: lm_head (after the last layer).
int sequential_step(InputGroup group);

enum class TensorKind { linear, embedding, lm_head };

struct QuantTarget {
  std::string name;  // Hugging Face tensor name
  TensorKind kind = TensorKind::linear;
  model::LinearId id;      // kind == linear
  int64_t moe_index = -1;  // routed experts: index of the layer among the MoE layers (the allocation's row)
  config::WeightGroup group = config::WeightGroup::experts;
  InputGroup input = InputGroup::attention_input;
  Shape shape;  // [out_features, in_features] ([vocab, hidden] for the embedding)
  int bits = 0;
  int quantizer = 0;  // the rank that quantizes it

  bool is_routed_expert() const { return kind == TensorKind::linear && id.is_routed_expert(); }
};

struct QuantizationPlan {
  std::vector<QuantTarget> targets;  // embedding, then layer by layer (layer_linears order), then lm_head
  int non_expert_bits = 0;
  std::vector<int64_t> moe_layers;  // model layer of each allocation row

  std::vector<std::string> names() const;
  // Indices into targets of the tensors of decoder layer `layer`.
  std::vector<size_t> targets_of_layer(int64_t layer) const;
  const QuantTarget* find(const std::string& name) const;
  const QuantTarget* find(TensorKind kind) const;  // the embedding / lm_head target, if quantized
};

// `bits` is the allocation [moe layer][expert]; `plan` the expert-to-rank plan of the run.
QuantizationPlan plan_quantization(const ModelConfig& config, const config::Experiment& experiment,
                                   const allocate::BitMatrix& bits, const dist::ShardPlan& plan);

// Throws moqa::Error naming the first target whose columns quantization.group_size does not divide
// (before any work is done, rather than in the middle of the pass).
void check_group_sizes(const QuantizationPlan& plan, int64_t group_size);

// AllocationInput::other_weights: one entry per category of allocation.count_in_average other than
// `experts` that the model has, with its parameter count and 16 bits when kept in full precision, else
// weight_group_bits() and the overhead of its quantized matrices. lm_head counts its [vocab, hidden]
// matrix also when tied to the embeddings.
std::vector<allocate::WeightGroup> other_weight_groups(const ModelConfig& config, const config::Experiment& experiment);

}  // namespace moqa::pipeline
