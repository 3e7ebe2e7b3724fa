#pragma once
// Random-weight checkpoints with the exact config.json, tensor names and shapes of published MoE models,
// written in Hugging Face's sharded layout (model-0000k-of-0000n.safetensors + model.safetensors.index.json,
// BF16) so that loading, memory and speed can be measured at real scale without downloading weights.
// Values come from SyntheticWeights (each tensor a function of (seed, name); matrices ~ N(0, 1/in_features),
// norm weights ~ 1 + N(0, 0.1²), other vectors ~ N(0, 0.1²)): every projection then keeps the RMS of its
// input, so the forward stays finite at any depth (the residual stream grows like sqrt(layers)).
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "core/tensor.h"
#include "io/hf_config.h"

namespace moqa::model {

// The published models whose shapes can be generated.
enum class RealModel { olmoe_1b_7b, qwen15_moe_a27b, deepseek_v2_lite, mixtral_8x7b, deepseek_v3 };

struct RealModelInfo {
  RealModel model;
  std::string_view name;       // command-line spelling: "olmoe-1b-7b"
  std::string_view hub_id;     // "allenai/OLMoE-1B-7B-0924"
  std::string_view tokenizer;  // folder under ../shared/assets/tokenizers whose ids fit the vocabulary
};
const std::vector<RealModelInfo>& real_models();
const RealModelInfo& real_model_info(RealModel model);
// Throws moqa::Error listing the known names.
RealModel parse_real_model(std::string_view name);

// The model's config.json as published on the Hugging Face hub (keys in the published order).
std::string published_config_json(RealModel model);

// The config.json written for a generated checkpoint: the published one with num_hidden_layers cut to
// `layers` (0 keeps them all). Where the cut would leave no MoE layer (DeepSeek's first_k_dense_replace
// dense layers come first), first_k_dense_replace is lowered to layers - 1. DeepSeek-V3's
// quantization_config (FP8 blocks) is dropped: the generated weights are BF16, as in the hub's BF16 ports.
std::string generated_config_json(RealModel model, int64_t layers);

// Every tensor moqa's loader reads for this config, in the order of the published files (embeddings,
// then layer by layer, then the final norm and lm_head). DeepSeek-V3's multi-token-prediction layer
// (model.layers.61.* in the published files) is not written: moqa does not run it.
struct CheckpointTensor {
  std::string name;
  Shape shape;
};
std::vector<CheckpointTensor> checkpoint_tensors(const ModelConfig& config);

struct RandomCheckpointOptions {
  RealModel model = RealModel::olmoe_1b_7b;
  int64_t layers = 0;                 // 0: all of the published model's layers
  uint64_t shard_bytes = 2ull << 30;  // a shard is closed once it would exceed this (one tensor at least)
  uint64_t seed = 0;
  std::filesystem::path output_dir;
  // Folder holding tokenizer.json (and tokenizer_config.json) to copy; empty: no tokenizer is written.
  std::filesystem::path tokenizer_dir;
};

struct RandomCheckpointSummary {
  int64_t tensors = 0;
  int64_t parameters = 0;
  uint64_t bytes = 0;  // tensor data, as index.json's metadata.total_size
  int64_t shards = 0;
  std::vector<std::string> tensor_names;  // in the order written
};

// Writes config.json, the shards, the index and the tokenizer. Refuses an existing non-empty output_dir
// and a tokenizer whose ids do not fit the vocabulary.
RandomCheckpointSummary write_random_checkpoint(const RandomCheckpointOptions& options);

}  // namespace moqa::model
