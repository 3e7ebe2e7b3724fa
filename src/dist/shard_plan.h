#pragma once
// Which rank owns which routed expert. Deterministic (a pure function of the model shape and the world
// size), balanced per MoE layer (every rank owns floor(E/R) or ceil(E/R) of the layer's experts, so the
// expert compute of each layer is spread evenly) and balanced in bytes over the whole model (the ranks
// that take the extra experts rotate from layer to layer). Each rank owns a contiguous range of experts
// per layer. Everything else (embeddings, attention, routers, shared experts, dense MLPs, lm_head) is
// replicated on every rank.
#include <cstdint>
#include <string>
#include <vector>

#include "io/hf_config.h"

namespace moqa::dist {

struct ShardPlan {
  int world_size = 1;
  int64_t num_layers = 0;
  int64_t num_experts = 0;   // routed experts per MoE layer
  int64_t expert_bytes = 0;  // bytes of one routed expert's weights
  std::vector<bool> layer_is_moe;
  std::vector<int> owners;   // [layer * num_experts + expert]; -1 on dense layers

  // Throws moqa::Error for a dense layer or an index out of range.
  int owner(int64_t layer, int64_t expert) const;
  // The experts of `layer` owned by `rank`, ascending; empty on dense layers.
  std::vector<int64_t> experts_of(int rank, int64_t layer) const;
  int64_t expert_count_of(int rank) const;  // over all layers
  // Bytes of the routed experts `rank` holds (the replicated weights come on top, equal on every rank).
  int64_t bytes_of(int rank) const;
};

// `bytes_per_parameter`: 4 for float32 weights in memory, 2 for bf16/fp16.
ShardPlan make_shard_plan(const ModelConfig& config, int world_size, int64_t bytes_per_parameter = 4);

// Layer-by-rank table of expert ranges plus per-rank totals, for --dry-run and logs.
std::string format_shard_plan(const ShardPlan& plan);

}  // namespace moqa::dist
