#pragma once
// Which weights a model of each family has, under which Hugging Face tensor name and with which shape.
// One table for loading, for replacing weights after quantization and for exporting them again.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/tensor.h"
#include "io/hf_config.h"

namespace moqa::model {

// The linear (matrix) weights of a decoder layer, by role.
enum class Linear {
  q, k, v, o,                                // attention (MLA with q_lora_rank 0 also uses q)
  q_a, q_b, kv_a, kv_b,                      // multi-head latent attention (DeepSeek-V3)
  router,                                    // MoE gate [n_experts, hidden]
  dense_gate, dense_up, dense_down,          // the MLP of a dense layer
  shared_gate, shared_up, shared_down,       // shared expert(s) of a MoE layer
  shared_expert_gate,                        // Qwen2-MoE's sigmoid gate of the shared expert [1, hidden]
  expert_gate, expert_up, expert_down,       // routed expert: w1, w3, w2 in Mixtral's names
};
std::string_view linear_name(Linear kind);  // "expert_gate"

struct LinearId {
  int64_t layer = 0;
  Linear kind = Linear::q;
  int64_t expert = -1;  // only for expert_*; -1 otherwise

  bool is_routed_expert() const;
  friend bool operator==(const LinearId&, const LinearId&) = default;
};
std::string to_string(const LinearId& id);  // "layer 3 expert 5 expert_gate"
using moqa::to_string;                      // keeps to_string(Shape) visible next to the overload above

// The vectors (norms, biases) a layer also has.
enum class Vector { input_norm, post_attention_norm, q_norm, k_norm, q_a_norm, kv_a_norm, score_correction_bias };

// Tensor names as published for the config's family, e.g. "model.layers.3.block_sparse_moe.experts.5.w1.weight".
std::string weight_name(const ModelConfig& config, const LinearId& id);
// "…q_proj.bias" for linears that carry a bias in this config; nullopt otherwise.
std::optional<std::string> bias_name(const ModelConfig& config, const LinearId& id);
std::string vector_name(const ModelConfig& config, int64_t layer, Vector vector);
std::string embedding_name();   // model.embed_tokens.weight
std::string final_norm_name();  // model.norm.weight
std::string lm_head_name();     // lm_head.weight

Shape weight_shape(const ModelConfig& config, const LinearId& id);  // [out, in]
Shape vector_shape(const ModelConfig& config, Vector vector);

// The linears of `layer` present in this config, attention first, then feed-forward; routed experts
// are listed only with include_experts (for every expert index, owned or not).
std::vector<LinearId> layer_linears(const ModelConfig& config, int64_t layer, bool include_experts);
// The norms and biases of `layer` present in this config.
std::vector<Vector> layer_vectors(const ModelConfig& config, int64_t layer);

}  // namespace moqa::model
