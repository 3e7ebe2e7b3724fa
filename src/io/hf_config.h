#pragma once
// Hugging Face config.json -> ModelConfig: one normalised description of every supported MoE family, so
// model code asks "does this layer have a gated shared expert?" instead of "is this qwen2_moe?".
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace moqa {

// deepseek_v2 is DeepSeek-V3's MLA layer with V2's router (softmax scores, greedy or group-limited top-k,
// no score-correction bias); its tensor names are V3's.
enum class Arch { mixtral, qwen2_moe, qwen3_moe, olmoe, deepseek_v3, deepseek, deepseek_v2 };
enum class RouterScoring { softmax, sigmoid };
enum class QkNorm { none, per_head, full };  // qwen3: RMSNorm over head_dim; olmoe: over the whole projection
enum class RopeScaling { none, linear, dynamic, yarn, llama3 };

std::string_view arch_name(Arch arch);  // the config's model_type

struct RopeConfig {
  double theta = 10000.0;
  RopeScaling scaling = RopeScaling::none;
  double factor = 1.0;
  int64_t original_max_position_embeddings = 0;
  double beta_fast = 32.0, beta_slow = 1.0;  // yarn
  double mscale = 1.0, mscale_all_dim = 0.0;  // yarn (DeepSeek)
  double low_freq_factor = 1.0, high_freq_factor = 4.0;  // llama3
  bool interleave = false;  // DeepSeek-V3 rope_interleave: rotate (even, odd) pairs
  std::optional<double> attention_factor;  // yarn: explicit attention scaling instead of the mscale formula
};

// Multi-head latent attention (DeepSeek-V3).
struct MlaConfig {
  int64_t q_lora_rank = 0;  // 0: q_proj directly, else q_a_proj -> q_a_layernorm -> q_b_proj
  int64_t kv_lora_rank = 0;
  int64_t qk_nope_head_dim = 0;
  int64_t qk_rope_head_dim = 0;
  int64_t v_head_dim = 0;
};

struct ModelConfig {
  std::filesystem::path source;  // the config.json it came from (for messages)
  Arch arch = Arch::mixtral;

  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;  // for MLA: qk_nope_head_dim + qk_rope_head_dim
  int64_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  bool tie_word_embeddings = false;
  RopeConfig rope;

  // Attention.
  bool qkv_bias = false;  // bias on q/k/v projections (qwen2_moe)
  bool o_bias = false;
  QkNorm qk_norm = QkNorm::none;
  std::optional<double> clip_qkv;  // olmoe
  bool mla = false;
  MlaConfig mla_dims;

  // Feed-forward. A layer is either dense (an MLP of dense_intermediate_size) or MoE.
  std::vector<bool> layer_is_moe;  // size num_layers
  int64_t dense_intermediate_size = 0;
  int64_t expert_intermediate_size = 0;
  int64_t num_experts = 0;  // routed experts per MoE layer
  int64_t top_k = 0;
  RouterScoring scoring = RouterScoring::softmax;
  bool norm_topk_prob = false;
  double routed_scaling_factor = 1.0;
  int64_t n_group = 1, topk_group = 1;  // group-limited top-k (DeepSeek-V3)
  bool score_correction_bias = false;    // e_score_correction_bias added for selection only
  int64_t shared_expert_intermediate_size = 0;  // 0: no shared expert; DeepSeek: n_shared * moe width
  bool shared_expert_gated = false;             // qwen2_moe: sigmoid(shared_expert_gate(x)) * shared(x)

  std::optional<int64_t> bos_token_id, eos_token_id;  // eos_token_id: the first when config.json lists several
  std::vector<int64_t> eos_token_ids;                  // all of them
  std::string torch_dtype;  // as declared; weights are read into float32 regardless
  // Sliding-window attention span when the config enables it (Mixtral "sliding_window", Qwen
  // "use_sliding_window"); nullopt = full causal attention.
  std::optional<int64_t> sliding_window;
  // quantization_config.quant_method of a pre-quantized checkpoint ("fp8" for DeepSeek-V3), else empty.
  std::string weight_quantization;
  // DeepSeek-V3 multi-token-prediction layers stored after the last decoder layer (not part of the forward).
  int64_t num_nextn_predict_layers = 0;

  bool is_moe_layer(int64_t layer) const { return layer_is_moe.at(static_cast<size_t>(layer)); }
  int64_t num_moe_layers() const;
  // Parameters of one routed expert (gate, up and down projections).
  int64_t expert_parameter_count() const { return 3 * hidden_size * expert_intermediate_size; }
};

struct ParameterCounts {
  int64_t total = 0;             // every weight, embeddings and lm_head included (lm_head once when tied)
  int64_t routed_experts = 0;    // all routed experts of all MoE layers
  int64_t active_per_token = 0;  // total minus the routed experts a token does not visit (top_k of num_experts)
};
// Throws moqa::Error when the counts would not fit (load_hf_config refuses such configs first).
ParameterCounts parameter_counts(const ModelConfig& config);
// Whether every parameter count of `config` stays below 4e18, so that sizes and parameter-bit totals
// computed from it fit in int64.
bool parameter_count_fits(const ModelConfig& config);

// Parses and validates config.json. Unsupported model types, missing keys, wrong types and
// inconsistent values throw moqa::Error naming the file and the key.
ModelConfig load_hf_config(const std::filesystem::path& config_json);

// Multi-line human summary for --dry-run (family, sizes, experts, parameter counts).
std::string describe(const ModelConfig& config);

}  // namespace moqa
