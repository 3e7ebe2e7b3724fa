#include "model/random_checkpoint.h"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/atomic_file.h"
#include "io/hf_config.h"
#include "io/safetensors.h"
#include "model/synthetic_weights.h"
#include "model/weight_names.h"

namespace moqa::model {
namespace {

using ordered_json = nlohmann::ordered_json;

// The published config.json files, verbatim (whitespace aside). Sources, read on the hub or in copies of
// the hub file that carry the same values:
// - OLMoE-1B-7B: huggingface.co/allenai/OLMoE-1B-7B-0924/blob/main/config.json
// - Qwen1.5-MoE-A2.7B: huggingface.co/Qwen/Qwen1.5-MoE-A2.7B/blob/main/config.json
// - DeepSeek-V2-Lite: huggingface.co/deepseek-ai/DeepSeek-V2-Lite/blob/main/config.json (read through
//   ModelCloud/DeepSeek-V2-Lite-gptq-4bit and deepseek-ai/DeepSeek-Coder-V2-Lite-Base, same architecture
//   keys; only quantization_config differs there)
// - Mixtral-8x7B: huggingface.co/mistralai/Mixtral-8x7B-v0.1/blob/main/config.json
// - DeepSeek-V3: huggingface.co/deepseek-ai/DeepSeek-V3/blob/main/config.json
// The first, second, fourth and fifth are also tests/data/io/configs/*/config.json.
constexpr std::string_view kOlmoe = R"({
  "architectures": ["OlmoeForCausalLM"], "attention_bias": false, "attention_dropout": 0.0, "clip_qkv": null,
  "eos_token_id": 50279, "hidden_act": "silu", "hidden_size": 2048, "initializer_range": 0.02,
  "intermediate_size": 1024, "max_position_embeddings": 4096, "model_type": "olmoe", "norm_topk_prob": false,
  "num_attention_heads": 16, "num_experts": 64, "num_experts_per_tok": 8, "num_hidden_layers": 16,
  "num_key_value_heads": 16, "output_router_logits": false, "pad_token_id": 1, "rms_norm_eps": 1e-05,
  "rope_scaling": null, "rope_theta": 10000.0, "router_aux_loss_coef": 0.01, "tie_word_embeddings": false,
  "torch_dtype": "bfloat16", "transformers_version": "4.43.0.dev0", "use_cache": true, "vocab_size": 50304
})";

constexpr std::string_view kQwen15Moe = R"({
  "architectures": ["Qwen2MoeForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 151643,
  "eos_token_id": 151643, "hidden_act": "silu", "hidden_size": 2048, "initializer_range": 0.02,
  "intermediate_size": 5632, "max_position_embeddings": 8192, "max_window_layers": 21, "model_type": "qwen2_moe",
  "num_attention_heads": 16, "num_hidden_layers": 24, "num_key_value_heads": 16, "rms_norm_eps": 1e-06,
  "rope_theta": 1000000.0, "sliding_window": 32768, "tie_word_embeddings": false, "torch_dtype": "bfloat16",
  "transformers_version": "4.40.0.dev0", "use_cache": true, "use_sliding_window": false, "vocab_size": 151936,
  "decoder_sparse_step": 1, "moe_intermediate_size": 1408, "shared_expert_intermediate_size": 5632,
  "num_experts_per_tok": 4, "num_experts": 60, "norm_topk_prob": false, "output_router_logits": false,
  "router_aux_loss_coef": 0.001
})";

constexpr std::string_view kDeepseekV2Lite = R"({
  "architectures": ["DeepseekV2ForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
  "auto_map": {"AutoConfig": "configuration_deepseek.DeepseekV2Config",
               "AutoModel": "modeling_deepseek.DeepseekV2Model",
               "AutoModelForCausalLM": "modeling_deepseek.DeepseekV2ForCausalLM"},
  "aux_loss_alpha": 0.001, "bos_token_id": 100000, "eos_token_id": 100001, "first_k_dense_replace": 1,
  "hidden_act": "silu", "hidden_size": 2048, "initializer_range": 0.02, "intermediate_size": 10944,
  "kv_lora_rank": 512, "max_position_embeddings": 163840, "model_type": "deepseek_v2",
  "moe_intermediate_size": 1408, "moe_layer_freq": 1, "n_group": 1, "n_routed_experts": 64,
  "n_shared_experts": 2, "norm_topk_prob": false, "num_attention_heads": 16, "num_experts_per_tok": 6,
  "num_hidden_layers": 27, "num_key_value_heads": 16, "pretraining_tp": 1, "q_lora_rank": null,
  "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "rms_norm_eps": 1e-06,
  "rope_scaling": {"beta_fast": 32, "beta_slow": 1, "factor": 40, "mscale": 0.707, "mscale_all_dim": 0.707,
                   "original_max_position_embeddings": 4096, "type": "yarn"},
  "rope_theta": 10000, "routed_scaling_factor": 1.0, "scoring_func": "softmax", "seq_aux": true,
  "tie_word_embeddings": false, "topk_group": 1, "topk_method": "greedy", "torch_dtype": "bfloat16",
  "transformers_version": "4.33.1", "use_cache": true, "v_head_dim": 128, "vocab_size": 102400
})";

constexpr std::string_view kMixtral = R"({
  "architectures": ["MixtralForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 1, "eos_token_id": 2,
  "hidden_act": "silu", "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 14336,
  "max_position_embeddings": 32768, "model_type": "mixtral", "num_attention_heads": 32,
  "num_experts_per_tok": 2, "num_hidden_layers": 32, "num_key_value_heads": 8, "num_local_experts": 8,
  "output_router_logits": false, "rms_norm_eps": 1e-05, "rope_theta": 1000000.0, "router_aux_loss_coef": 0.02,
  "sliding_window": null, "tie_word_embeddings": false, "torch_dtype": "bfloat16",
  "transformers_version": "4.36.0.dev0", "use_cache": true, "vocab_size": 32000
})";

constexpr std::string_view kDeepseekV3 = R"({
  "architectures": ["DeepseekV3ForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
  "auto_map": {"AutoConfig": "configuration_deepseek.DeepseekV3Config",
               "AutoModel": "modeling_deepseek.DeepseekV3Model",
               "AutoModelForCausalLM": "modeling_deepseek.DeepseekV3ForCausalLM"},
  "aux_loss_alpha": 0.001, "bos_token_id": 0, "eos_token_id": 1, "ep_size": 1, "first_k_dense_replace": 3,
  "hidden_act": "silu", "hidden_size": 7168, "initializer_range": 0.02, "intermediate_size": 18432,
  "kv_lora_rank": 512, "max_position_embeddings": 163840, "model_type": "deepseek_v3",
  "moe_intermediate_size": 2048, "moe_layer_freq": 1, "n_group": 8, "n_routed_experts": 256,
  "n_shared_experts": 1, "norm_topk_prob": true, "num_attention_heads": 128, "num_experts_per_tok": 8,
  "num_hidden_layers": 61, "num_key_value_heads": 128, "num_nextn_predict_layers": 1, "pretraining_tp": 1,
  "q_lora_rank": 1536, "qk_nope_head_dim": 128, "qk_rope_head_dim": 64,
  "quantization_config": {"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8",
                          "weight_block_size": [128, 128]},
  "rms_norm_eps": 1e-06,
  "rope_scaling": {"beta_fast": 32, "beta_slow": 1, "factor": 40, "mscale": 1.0, "mscale_all_dim": 1.0,
                   "original_max_position_embeddings": 4096, "type": "yarn"},
  "rope_theta": 10000, "routed_scaling_factor": 2.5, "scoring_func": "sigmoid", "seq_aux": true,
  "tie_word_embeddings": false, "topk_group": 4, "topk_method": "noaux_tc", "torch_dtype": "bfloat16",
  "transformers_version": "4.33.1", "use_cache": true, "v_head_dim": 128, "vocab_size": 129280
})";

// Tokenizers whose ids fit each vocabulary: OLMoE's own (GPT-NeoX, 50280 ids) and DeepSeek-V2's (100k)
// are not in the assets, so those two use Llama-2's 32000 ids.
const std::vector<RealModelInfo> kModels = {
    {RealModel::olmoe_1b_7b, "olmoe-1b-7b", "allenai/OLMoE-1B-7B-0924", "llama2"},
    {RealModel::qwen15_moe_a27b, "qwen1.5-moe-a2.7b", "Qwen/Qwen1.5-MoE-A2.7B", "qwen3"},
    {RealModel::deepseek_v2_lite, "deepseek-v2-lite", "deepseek-ai/DeepSeek-V2-Lite", "llama2"},
    {RealModel::mixtral_8x7b, "mixtral-8x7b", "mistralai/Mixtral-8x7B-v0.1", "llama2"},
    {RealModel::deepseek_v3, "deepseek-v3", "deepseek-ai/DeepSeek-V3", "deepseek_v3"},
};

std::string shard_name(int64_t index, int64_t count) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "model-%05lld-of-%05lld.safetensors", static_cast<long long>(index + 1),
                static_cast<long long>(count));
  return buf;
}

// The largest token id a tokenizer.json can produce: its model vocabulary and its added tokens.
int64_t max_token_id(const std::filesystem::path& tokenizer_json) {
  std::ifstream in(tokenizer_json);
  MOQA_CHECK(in.good(), tokenizer_json.string(), ": cannot be read");
  const nlohmann::json t = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  MOQA_CHECK(t.is_object(), tokenizer_json.string(), ": not a JSON object");
  int64_t max_id = -1;
  if (const auto model = t.find("model"); model != t.end() && model->contains("vocab")) {
    const auto& vocab = (*model)["vocab"];
    if (vocab.is_object()) {
      for (const auto& [piece, id] : vocab.items())
        if (id.is_number_integer()) max_id = std::max(max_id, id.get<int64_t>());
    } else if (vocab.is_array()) {  // Unigram: [[piece, score], ...], ids are positions
      max_id = static_cast<int64_t>(vocab.size()) - 1;
    }
  }
  if (const auto added = t.find("added_tokens"); added != t.end() && added->is_array())
    for (const auto& token : *added)
      if (token.contains("id") && token["id"].is_number_integer()) max_id = std::max(max_id, token["id"].get<int64_t>());
  return max_id;
}

}  // namespace

std::vector<CheckpointTensor> checkpoint_tensors(const ModelConfig& c) {
  std::vector<CheckpointTensor> out;
  out.push_back({embedding_name(), {c.vocab_size, c.hidden_size}});
  for (int64_t layer = 0; layer < c.num_layers; ++layer) {
    for (const Vector v : layer_vectors(c, layer)) out.push_back({vector_name(c, layer, v), vector_shape(c, v)});
    for (const LinearId& id : layer_linears(c, layer, /*include_experts=*/true)) {
      const Shape shape = weight_shape(c, id);
      out.push_back({weight_name(c, id), shape});
      if (const auto bias = bias_name(c, id)) out.push_back({*bias, {shape[0]}});
    }
  }
  out.push_back({final_norm_name(), {c.hidden_size}});
  if (!c.tie_word_embeddings) out.push_back({lm_head_name(), {c.vocab_size, c.hidden_size}});
  return out;
}

const std::vector<RealModelInfo>& real_models() { return kModels; }

const RealModelInfo& real_model_info(RealModel model) {
  for (const auto& info : kModels)
    if (info.model == model) return info;
  fail("unknown real model ", static_cast<int>(model));
}

RealModel parse_real_model(std::string_view name) {
  std::string known;
  for (const auto& info : kModels) {
    if (info.name == name) return info.model;
    known += (known.empty() ? "" : ", ") + std::string(info.name);
  }
  fail("unknown model shape \"", name, "\" (known: ", known, ")");
}

std::string published_config_json(RealModel model) {
  switch (model) {
    case RealModel::olmoe_1b_7b: return std::string(kOlmoe);
    case RealModel::qwen15_moe_a27b: return std::string(kQwen15Moe);
    case RealModel::deepseek_v2_lite: return std::string(kDeepseekV2Lite);
    case RealModel::mixtral_8x7b: return std::string(kMixtral);
    case RealModel::deepseek_v3: return std::string(kDeepseekV3);
  }
  fail("unknown real model ", static_cast<int>(model));
}

std::string generated_config_json(RealModel model, int64_t layers) {
  ordered_json config = ordered_json::parse(published_config_json(model));
  const int64_t published = config["num_hidden_layers"].get<int64_t>();
  MOQA_CHECK(layers >= 0 && layers <= published, real_model_info(model).name, ": ", layers, " layers requested, the ",
             "published model has ", published, " (0 keeps them all)");
  if (layers > 0) config["num_hidden_layers"] = layers;
  const int64_t kept = layers > 0 ? layers : published;
  if (config.contains("first_k_dense_replace") && config["first_k_dense_replace"].get<int64_t>() >= kept)
    config["first_k_dense_replace"] = kept - 1;
  config.erase("quantization_config");
  return config.dump(2) + "\n";
}

RandomCheckpointSummary write_random_checkpoint(const RandomCheckpointOptions& o) {
  namespace fs = std::filesystem;
  MOQA_CHECK(!o.output_dir.empty(), "random checkpoint: no output directory given");
  MOQA_CHECK(o.shard_bytes > 0, "random checkpoint: shard size must be positive");
  if (fs::exists(o.output_dir))
    MOQA_CHECK(fs::is_directory(o.output_dir) && fs::is_empty(o.output_dir), o.output_dir.string(),
               ": exists and is not an empty directory; refusing to write a checkpoint over it");
  fs::create_directories(o.output_dir);

  const fs::path config_path = o.output_dir / "config.json";
  io::write_file_atomic(config_path, generated_config_json(o.model, o.layers));
  const ModelConfig config = load_hf_config(config_path);  // the loader's own reading decides the tensors

  if (!o.tokenizer_dir.empty()) {
    const fs::path tokenizer = o.tokenizer_dir / "tokenizer.json";
    const int64_t max_id = max_token_id(tokenizer);
    MOQA_CHECK(max_id < config.vocab_size, tokenizer.string(), ": produces ids up to ", max_id, ", which do not fit ",
               real_model_info(o.model).name, "'s vocabulary of ", config.vocab_size);
    fs::copy_file(tokenizer, o.output_dir / "tokenizer.json");
    if (fs::exists(o.tokenizer_dir / "tokenizer_config.json"))
      fs::copy_file(o.tokenizer_dir / "tokenizer_config.json", o.output_dir / "tokenizer_config.json");
  }

  // Shards are packed in order before any is written, so each file knows the total count for its name.
  const std::vector<CheckpointTensor> tensors = checkpoint_tensors(config);
  const auto bytes_of = [](const CheckpointTensor& t) {
    return static_cast<uint64_t>(element_count(t.shape)) * io::dtype_bytes(io::DType::BF16);
  };
  std::vector<int64_t> shard_of(tensors.size());
  int64_t shards = 0;
  uint64_t in_shard = 0, total = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (in_shard > 0 && in_shard + bytes_of(tensors[i]) > o.shard_bytes) {
      ++shards;
      in_shard = 0;
    }
    shard_of[i] = shards;
    in_shard += bytes_of(tensors[i]);
    total += bytes_of(tensors[i]);
  }
  ++shards;

  const SyntheticWeights weights(o.seed);
  RandomCheckpointSummary summary;
  summary.shards = shards;
  summary.bytes = total;
  ordered_json weight_map = ordered_json::object();
  size_t next = 0;
  for (int64_t shard = 0; shard < shards; ++shard) {
    const std::string file = shard_name(shard, shards);
    std::vector<std::vector<std::byte>> storage;
    std::vector<io::TensorToWrite> to_write;
    for (; next < tensors.size() && shard_of[next] == shard; ++next) {
      const CheckpointTensor& t = tensors[next];
      const Tensor values = weights.load(t.name, t.shape);
      storage.push_back(io::convert_from_f32(io::DType::BF16, values.data));
      summary.parameters += element_count(t.shape);
      summary.tensor_names.push_back(t.name);
      weight_map[t.name] = file;
    }
    for (size_t k = 0; k < storage.size(); ++k) {
      const CheckpointTensor& t = tensors[next - storage.size() + k];
      to_write.push_back({t.name, io::DType::BF16, t.shape, storage[k]});
    }
    io::write_safetensors(o.output_dir / file, to_write, {{"format", "pt"}});
  }
  summary.tensors = static_cast<int64_t>(tensors.size());

  ordered_json index;
  index["metadata"] = {{"total_size", total},
                       {"moqa_random_checkpoint", cat(real_model_info(o.model).hub_id, " shapes, seed ", o.seed)}};
  index["weight_map"] = std::move(weight_map);
  io::write_file_atomic(o.output_dir / "model.safetensors.index.json", index.dump(2) + "\n");
  return summary;
}

}  // namespace moqa::model
