#include "model/weight_names.h"

#include <array>

#include "core/error.h"

namespace moqa::model {
namespace {

constexpr std::array<std::string_view, 19> kLinearNames = {
    "q",           "k",          "v",         "o",           "q_a",         "q_b",          "kv_a",
    "kv_b",        "router",     "dense_gate", "dense_up",   "dense_down",  "shared_gate",  "shared_up",
    "shared_down", "shared_expert_gate", "expert_gate", "expert_up", "expert_down"};

std::string layer_prefix(int64_t layer) { return cat("model.layers.", layer, "."); }

bool mixtral_names(const ModelConfig& c) { return c.arch == Arch::mixtral; }

// The module path of a shared expert: Qwen2-MoE has one "shared_expert", DeepSeek fuses "shared_experts".
std::string shared_module(const ModelConfig& c) {
  return c.arch == Arch::qwen2_moe ? "mlp.shared_expert." : "mlp.shared_experts.";
}

void check_layer(const ModelConfig& c, int64_t layer) {
  MOQA_CHECK(layer >= 0 && layer < c.num_layers, "layer ", layer, " is outside [0, ", c.num_layers, ")");
}

}  // namespace

std::string_view linear_name(Linear kind) { return kLinearNames.at(static_cast<size_t>(kind)); }

bool LinearId::is_routed_expert() const {
  return kind == Linear::expert_gate || kind == Linear::expert_up || kind == Linear::expert_down;
}

std::string to_string(const LinearId& id) {
  return id.is_routed_expert() ? cat("layer ", id.layer, " expert ", id.expert, " ", linear_name(id.kind))
                               : cat("layer ", id.layer, " ", linear_name(id.kind));
}

std::string weight_name(const ModelConfig& c, const LinearId& id) {
  check_layer(c, id.layer);
  MOQA_CHECK(id.is_routed_expert() == (id.expert >= 0), "weight ", to_string(id), ": an expert index belongs to ",
             "routed-expert weights only");
  MOQA_CHECK(id.expert < c.num_experts, "weight ", to_string(id), ": expert index outside [0, ", c.num_experts, ")");
  const std::string p = layer_prefix(id.layer);
  const std::string moe = mixtral_names(c) ? "block_sparse_moe." : "mlp.";
  const std::string expert = cat(p, moe, "experts.", id.expert, ".");
  switch (id.kind) {
    case Linear::q: return cat(p, "self_attn.q_proj.weight");
    case Linear::k: return cat(p, "self_attn.k_proj.weight");
    case Linear::v: return cat(p, "self_attn.v_proj.weight");
    case Linear::o: return cat(p, "self_attn.o_proj.weight");
    case Linear::q_a: return cat(p, "self_attn.q_a_proj.weight");
    case Linear::q_b: return cat(p, "self_attn.q_b_proj.weight");
    case Linear::kv_a: return cat(p, "self_attn.kv_a_proj_with_mqa.weight");
    case Linear::kv_b: return cat(p, "self_attn.kv_b_proj.weight");
    case Linear::router: return cat(p, moe, "gate.weight");
    case Linear::dense_gate: return cat(p, "mlp.gate_proj.weight");
    case Linear::dense_up: return cat(p, "mlp.up_proj.weight");
    case Linear::dense_down: return cat(p, "mlp.down_proj.weight");
    case Linear::shared_gate: return cat(p, shared_module(c), "gate_proj.weight");
    case Linear::shared_up: return cat(p, shared_module(c), "up_proj.weight");
    case Linear::shared_down: return cat(p, shared_module(c), "down_proj.weight");
    case Linear::shared_expert_gate: return cat(p, "mlp.shared_expert_gate.weight");
    case Linear::expert_gate: return cat(expert, mixtral_names(c) ? "w1.weight" : "gate_proj.weight");
    case Linear::expert_up: return cat(expert, mixtral_names(c) ? "w3.weight" : "up_proj.weight");
    case Linear::expert_down: return cat(expert, mixtral_names(c) ? "w2.weight" : "down_proj.weight");
  }
  fail("unknown linear kind ", static_cast<int>(id.kind));
}

std::optional<std::string> bias_name(const ModelConfig& c, const LinearId& id) {
  bool has_bias = false;
  switch (id.kind) {
    case Linear::q: has_bias = c.qkv_bias && !c.mla; break;  // MLA's direct q_proj has no bias
    case Linear::k:
    case Linear::v:
    case Linear::q_a:
    case Linear::kv_a: has_bias = c.qkv_bias; break;
    case Linear::o: has_bias = c.o_bias; break;
    default: break;
  }
  if (!has_bias) return std::nullopt;
  std::string name = weight_name(c, id);
  name.replace(name.size() - std::string_view("weight").size(), std::string::npos, "bias");
  return name;
}

std::string vector_name(const ModelConfig& c, int64_t layer, Vector vector) {
  check_layer(c, layer);
  const std::string p = layer_prefix(layer);
  switch (vector) {
    case Vector::input_norm: return cat(p, "input_layernorm.weight");
    case Vector::post_attention_norm: return cat(p, "post_attention_layernorm.weight");
    case Vector::q_norm: return cat(p, "self_attn.q_norm.weight");
    case Vector::k_norm: return cat(p, "self_attn.k_norm.weight");
    case Vector::q_a_norm: return cat(p, "self_attn.q_a_layernorm.weight");
    case Vector::kv_a_norm: return cat(p, "self_attn.kv_a_layernorm.weight");
    case Vector::score_correction_bias: return cat(p, "mlp.gate.e_score_correction_bias");
  }
  fail("unknown vector kind ", static_cast<int>(vector));
}

std::string embedding_name() { return "model.embed_tokens.weight"; }
std::string final_norm_name() { return "model.norm.weight"; }
std::string lm_head_name() { return "lm_head.weight"; }

Shape weight_shape(const ModelConfig& c, const LinearId& id) {
  const int64_t d = c.hidden_size;
  const MlaConfig& m = c.mla_dims;
  const int64_t attention_out = c.mla ? c.num_heads * m.v_head_dim : c.num_heads * c.head_dim;
  switch (id.kind) {
    case Linear::q: return {c.num_heads * c.head_dim, d};  // MLA: head_dim = nope + rope
    case Linear::k:
    case Linear::v: return {c.num_kv_heads * c.head_dim, d};
    case Linear::o: return {d, attention_out};
    case Linear::q_a: return {m.q_lora_rank, d};
    case Linear::q_b: return {c.num_heads * c.head_dim, m.q_lora_rank};
    case Linear::kv_a: return {m.kv_lora_rank + m.qk_rope_head_dim, d};
    case Linear::kv_b: return {c.num_heads * (m.qk_nope_head_dim + m.v_head_dim), m.kv_lora_rank};
    case Linear::router: return {c.num_experts, d};
    case Linear::dense_gate:
    case Linear::dense_up: return {c.dense_intermediate_size, d};
    case Linear::dense_down: return {d, c.dense_intermediate_size};
    case Linear::shared_gate:
    case Linear::shared_up: return {c.shared_expert_intermediate_size, d};
    case Linear::shared_down: return {d, c.shared_expert_intermediate_size};
    case Linear::shared_expert_gate: return {1, d};
    case Linear::expert_gate:
    case Linear::expert_up: return {c.expert_intermediate_size, d};
    case Linear::expert_down: return {d, c.expert_intermediate_size};
  }
  fail("unknown linear kind ", static_cast<int>(id.kind));
}

Shape vector_shape(const ModelConfig& c, Vector vector) {
  switch (vector) {
    case Vector::input_norm:
    case Vector::post_attention_norm: return {c.hidden_size};
    case Vector::q_norm: return {c.qk_norm == QkNorm::full ? c.num_heads * c.head_dim : c.head_dim};
    case Vector::k_norm: return {c.qk_norm == QkNorm::full ? c.num_kv_heads * c.head_dim : c.head_dim};
    case Vector::q_a_norm: return {c.mla_dims.q_lora_rank};
    case Vector::kv_a_norm: return {c.mla_dims.kv_lora_rank};
    case Vector::score_correction_bias: return {c.num_experts};
  }
  fail("unknown vector kind ", static_cast<int>(vector));
}

std::vector<LinearId> layer_linears(const ModelConfig& c, int64_t layer, bool include_experts) {
  check_layer(c, layer);
  std::vector<LinearId> out;
  auto add = [&](Linear kind, int64_t expert = -1) { out.push_back({layer, kind, expert}); };
  if (c.mla) {
    if (c.mla_dims.q_lora_rank > 0) {
      add(Linear::q_a);
      add(Linear::q_b);
    } else {
      add(Linear::q);
    }
    add(Linear::kv_a);
    add(Linear::kv_b);
  } else {
    add(Linear::q);
    add(Linear::k);
    add(Linear::v);
  }
  add(Linear::o);
  if (!c.is_moe_layer(layer)) {
    add(Linear::dense_gate);
    add(Linear::dense_up);
    add(Linear::dense_down);
    return out;
  }
  add(Linear::router);
  if (c.shared_expert_intermediate_size > 0) {
    add(Linear::shared_gate);
    add(Linear::shared_up);
    add(Linear::shared_down);
    if (c.shared_expert_gated) add(Linear::shared_expert_gate);
  }
  if (include_experts) {
    for (int64_t e = 0; e < c.num_experts; ++e) {
      add(Linear::expert_gate, e);
      add(Linear::expert_up, e);
      add(Linear::expert_down, e);
    }
  }
  return out;
}

std::vector<Vector> layer_vectors(const ModelConfig& c, int64_t layer) {
  check_layer(c, layer);
  std::vector<Vector> out{Vector::input_norm, Vector::post_attention_norm};
  if (c.qk_norm != QkNorm::none) {
    out.push_back(Vector::q_norm);
    out.push_back(Vector::k_norm);
  }
  if (c.mla) {
    if (c.mla_dims.q_lora_rank > 0) out.push_back(Vector::q_a_norm);
    out.push_back(Vector::kv_a_norm);
  }
  if (c.is_moe_layer(layer) && c.score_correction_bias) out.push_back(Vector::score_correction_bias);
  return out;
}

}  // namespace moqa::model
