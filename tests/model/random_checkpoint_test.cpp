// Random-weight checkpoints of published shapes (src/model/random_checkpoint.h): the embedded config.json
// files are the published ones, parse to the published dimensions, and the tensor names and shapes follow
// each family's published naming scheme. Writing, loading and a forward pass at real size are
// random_checkpoint_scale_test.cpp (gigabytes per model: CTest label `scale`, not in the default suite).
#include <gtest/gtest.h>

#include <cctype>
#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "backend/cpu/cpu_backend.h"
#include "core/error.h"
#include "io/atomic_file.h"
#include "model/expert_executor.h"
#include "model/forward.h"
#include "model/model.h"
#include "model/random_checkpoint.h"
#include "model/synthetic_weights.h"
#include "support/test_support.h"

namespace moqa::model {
namespace {

ModelConfig generated_config(RealModel model, int64_t layers = 0) {
  const auto dir = test::temp_dir(cat("random-config-", real_model_info(model).name));
  io::write_file_atomic(dir / "config.json", generated_config_json(model, layers));
  return load_hf_config(dir / "config.json");
}

TEST(RandomCheckpoint, EmbeddedConfigsAreThePublishedFiles) {
  const std::map<RealModel, std::string> fixtures = {{RealModel::olmoe_1b_7b, "olmoe-1b-7b-0924"},
                                                     {RealModel::qwen15_moe_a27b, "qwen1.5-moe-a2.7b"},
                                                     {RealModel::mixtral_8x7b, "mixtral-8x7b-v0.1"},
                                                     {RealModel::deepseek_v3, "deepseek-v3"}};
  for (const auto& [model, folder] : fixtures) {
    std::ifstream in(test::data_dir() / "io/configs" / folder / "config.json");
    const nlohmann::json fixture = nlohmann::json::parse(in);
    EXPECT_EQ(nlohmann::json::parse(published_config_json(model)), fixture) << folder;
  }
}

TEST(RandomCheckpoint, ConfigsParseToThePublishedDimensions) {
  const ModelConfig olmoe = generated_config(RealModel::olmoe_1b_7b);
  EXPECT_EQ(olmoe.arch, Arch::olmoe);
  EXPECT_EQ(olmoe.hidden_size, 2048);
  EXPECT_EQ(olmoe.num_layers, 16);
  EXPECT_EQ(olmoe.num_heads, 16);
  EXPECT_EQ(olmoe.num_kv_heads, 16);
  EXPECT_EQ(olmoe.expert_intermediate_size, 1024);
  EXPECT_EQ(olmoe.num_experts, 64);
  EXPECT_EQ(olmoe.top_k, 8);
  EXPECT_EQ(olmoe.shared_expert_intermediate_size, 0);
  EXPECT_EQ(olmoe.vocab_size, 50304);
  EXPECT_EQ(olmoe.rope.theta, 10000.0);
  EXPECT_EQ(olmoe.qk_norm, QkNorm::full);
  EXPECT_NEAR(double(parameter_counts(olmoe).total) / 1e9, 6.92, 0.01);

  const ModelConfig qwen = generated_config(RealModel::qwen15_moe_a27b);
  EXPECT_EQ(qwen.arch, Arch::qwen2_moe);
  EXPECT_EQ(qwen.hidden_size, 2048);
  EXPECT_EQ(qwen.num_layers, 24);
  EXPECT_EQ(qwen.expert_intermediate_size, 1408);
  EXPECT_EQ(qwen.num_experts, 60);
  EXPECT_EQ(qwen.top_k, 4);
  EXPECT_EQ(qwen.shared_expert_intermediate_size, 5632);
  EXPECT_TRUE(qwen.shared_expert_gated);
  EXPECT_TRUE(qwen.qkv_bias);
  EXPECT_EQ(qwen.vocab_size, 151936);
  EXPECT_EQ(qwen.rope.theta, 1e6);
  EXPECT_NEAR(double(parameter_counts(qwen).total) / 1e9, 14.3, 0.05);

  const ModelConfig v2 = generated_config(RealModel::deepseek_v2_lite);
  EXPECT_EQ(v2.arch, Arch::deepseek_v2);
  EXPECT_EQ(v2.hidden_size, 2048);
  EXPECT_EQ(v2.num_layers, 27);
  EXPECT_EQ(v2.num_heads, 16);
  EXPECT_TRUE(v2.mla);
  EXPECT_EQ(v2.mla_dims.q_lora_rank, 0);
  EXPECT_EQ(v2.mla_dims.kv_lora_rank, 512);
  EXPECT_EQ(v2.mla_dims.qk_nope_head_dim, 128);
  EXPECT_EQ(v2.mla_dims.qk_rope_head_dim, 64);
  EXPECT_EQ(v2.mla_dims.v_head_dim, 128);
  EXPECT_EQ(v2.dense_intermediate_size, 10944);
  EXPECT_EQ(v2.expert_intermediate_size, 1408);
  EXPECT_EQ(v2.num_experts, 64);
  EXPECT_EQ(v2.top_k, 6);
  EXPECT_EQ(v2.shared_expert_intermediate_size, 2 * 1408);
  EXPECT_EQ(v2.scoring, RouterScoring::softmax);
  EXPECT_FALSE(v2.score_correction_bias);
  EXPECT_FALSE(v2.norm_topk_prob);
  EXPECT_EQ(v2.routed_scaling_factor, 1.0);
  EXPECT_FALSE(v2.is_moe_layer(0));
  EXPECT_EQ(v2.num_moe_layers(), 26);
  EXPECT_EQ(v2.vocab_size, 102400);
  EXPECT_EQ(v2.rope.scaling, RopeScaling::yarn);
  EXPECT_EQ(v2.rope.factor, 40.0);
  EXPECT_EQ(v2.rope.mscale, 0.707);
  EXPECT_EQ(v2.rope.mscale_all_dim, 0.707);
  EXPECT_NEAR(double(parameter_counts(v2).total) / 1e9, 15.7, 0.1);  // "16B total params"

  const ModelConfig mixtral = generated_config(RealModel::mixtral_8x7b);
  EXPECT_EQ(mixtral.arch, Arch::mixtral);
  EXPECT_EQ(mixtral.hidden_size, 4096);
  EXPECT_EQ(mixtral.num_layers, 32);
  EXPECT_EQ(mixtral.num_kv_heads, 8);
  EXPECT_EQ(mixtral.expert_intermediate_size, 14336);
  EXPECT_EQ(mixtral.num_experts, 8);
  EXPECT_EQ(mixtral.top_k, 2);
  EXPECT_EQ(mixtral.vocab_size, 32000);
  EXPECT_EQ(mixtral.rope.theta, 1e6);
  EXPECT_NEAR(double(parameter_counts(mixtral).total) / 1e9, 46.7, 0.1);

  const ModelConfig v3 = generated_config(RealModel::deepseek_v3);
  EXPECT_EQ(v3.arch, Arch::deepseek_v3);
  EXPECT_EQ(v3.hidden_size, 7168);
  EXPECT_EQ(v3.num_layers, 61);
  EXPECT_EQ(v3.num_heads, 128);
  EXPECT_EQ(v3.mla_dims.q_lora_rank, 1536);
  EXPECT_EQ(v3.mla_dims.kv_lora_rank, 512);
  EXPECT_EQ(v3.dense_intermediate_size, 18432);
  EXPECT_EQ(v3.expert_intermediate_size, 2048);
  EXPECT_EQ(v3.num_experts, 256);
  EXPECT_EQ(v3.top_k, 8);
  EXPECT_EQ(v3.n_group, 8);
  EXPECT_EQ(v3.topk_group, 4);
  EXPECT_EQ(v3.shared_expert_intermediate_size, 2048);
  EXPECT_EQ(v3.num_moe_layers(), 58);
  EXPECT_EQ(v3.vocab_size, 129280);
  EXPECT_EQ(v3.weight_quantization, "");  // BF16: the FP8 quantization_config is dropped
  EXPECT_NEAR(double(parameter_counts(v3).total) / 1e9, 671.0, 1.0);  // without the 14 B MTP module
}

TEST(RandomCheckpoint, CutConfigsKeepAMoeLayer) {
  const ModelConfig v3 = generated_config(RealModel::deepseek_v3, 2);
  EXPECT_EQ(v3.num_layers, 2);
  EXPECT_FALSE(v3.is_moe_layer(0));
  EXPECT_TRUE(v3.is_moe_layer(1));  // first_k_dense_replace lowered from 3 to 1
  const ModelConfig v3_one = generated_config(RealModel::deepseek_v3, 1);
  EXPECT_TRUE(v3_one.is_moe_layer(0));
  const ModelConfig v2 = generated_config(RealModel::deepseek_v2_lite, 2);
  EXPECT_FALSE(v2.is_moe_layer(0));  // first_k_dense_replace 1 kept
  EXPECT_TRUE(v2.is_moe_layer(1));
  EXPECT_EQ(generated_config(RealModel::mixtral_8x7b, 3).num_layers, 3);
  EXPECT_NE(test::error_of([] { generated_config_json(RealModel::olmoe_1b_7b, 17); }).find("published model has 16"),
            std::string::npos);
}

// Names and shapes of tensors in the published index files (model.safetensors.index.json and the shards'
// headers) of each model, a sample per family.
TEST(RandomCheckpoint, TensorNamesAndShapesFollowThePublishedCheckpoints) {
  const std::map<RealModel, std::map<std::string, Shape>> published = {
      {RealModel::olmoe_1b_7b,
       {{"model.embed_tokens.weight", {50304, 2048}},
        {"model.layers.15.mlp.experts.63.down_proj.weight", {2048, 1024}},
        {"model.layers.0.mlp.gate.weight", {64, 2048}},
        {"model.layers.0.self_attn.q_norm.weight", {2048}},
        {"model.layers.0.self_attn.k_norm.weight", {2048}},
        {"lm_head.weight", {50304, 2048}}}},
      {RealModel::qwen15_moe_a27b,
       {{"model.layers.23.mlp.experts.59.gate_proj.weight", {1408, 2048}},
        {"model.layers.0.mlp.shared_expert.down_proj.weight", {2048, 5632}},
        {"model.layers.0.mlp.shared_expert_gate.weight", {1, 2048}},
        {"model.layers.0.self_attn.q_proj.bias", {2048}},
        {"model.layers.0.self_attn.v_proj.bias", {2048}}}},
      {RealModel::deepseek_v2_lite,
       {{"model.layers.0.mlp.gate_proj.weight", {10944, 2048}},
        {"model.layers.0.self_attn.q_proj.weight", {3072, 2048}},
        {"model.layers.0.self_attn.kv_a_proj_with_mqa.weight", {576, 2048}},
        {"model.layers.0.self_attn.kv_a_layernorm.weight", {512}},
        {"model.layers.0.self_attn.kv_b_proj.weight", {4096, 512}},
        {"model.layers.0.self_attn.o_proj.weight", {2048, 2048}},
        {"model.layers.1.mlp.shared_experts.up_proj.weight", {2816, 2048}},
        {"model.layers.26.mlp.experts.63.down_proj.weight", {2048, 1408}},
        {"model.layers.1.mlp.gate.weight", {64, 2048}}}},
      {RealModel::mixtral_8x7b,
       {{"model.layers.31.block_sparse_moe.experts.7.w2.weight", {4096, 14336}},
        {"model.layers.0.block_sparse_moe.experts.0.w1.weight", {14336, 4096}},
        {"model.layers.0.block_sparse_moe.gate.weight", {8, 4096}},
        {"model.layers.0.self_attn.k_proj.weight", {1024, 4096}}}},
      {RealModel::deepseek_v3,
       {{"model.layers.0.mlp.down_proj.weight", {7168, 18432}},
        {"model.layers.0.self_attn.q_a_proj.weight", {1536, 7168}},
        {"model.layers.0.self_attn.q_a_layernorm.weight", {1536}},
        {"model.layers.0.self_attn.q_b_proj.weight", {24576, 1536}},
        {"model.layers.0.self_attn.kv_b_proj.weight", {32768, 512}},
        {"model.layers.0.self_attn.o_proj.weight", {7168, 16384}},
        {"model.layers.3.mlp.gate.e_score_correction_bias", {256}},
        {"model.layers.3.mlp.shared_experts.gate_proj.weight", {2048, 7168}},
        {"model.layers.60.mlp.experts.255.down_proj.weight", {7168, 2048}}}},
  };
  // Every name a published checkpoint of these families uses for what moqa reads.
  const std::regex scheme(
      R"(model\.embed_tokens\.weight|model\.norm\.weight|lm_head\.weight|)"
      R"(model\.layers\.\d+\.(input_layernorm|post_attention_layernorm)\.weight|)"
      R"(model\.layers\.\d+\.self_attn\.(q_proj|k_proj|v_proj|o_proj|q_a_proj|q_b_proj|kv_a_proj_with_mqa|kv_b_proj)\.weight|)"
      R"(model\.layers\.\d+\.self_attn\.(q_proj|k_proj|v_proj)\.bias|)"
      R"(model\.layers\.\d+\.self_attn\.(q_norm|k_norm|q_a_layernorm|kv_a_layernorm)\.weight|)"
      R"(model\.layers\.\d+\.mlp\.(gate_proj|up_proj|down_proj|gate|shared_expert_gate)\.weight|)"
      R"(model\.layers\.\d+\.mlp\.gate\.e_score_correction_bias|)"
      R"(model\.layers\.\d+\.mlp\.(shared_expert|shared_experts)\.(gate_proj|up_proj|down_proj)\.weight|)"
      R"(model\.layers\.\d+\.mlp\.experts\.\d+\.(gate_proj|up_proj|down_proj)\.weight|)"
      R"(model\.layers\.\d+\.block_sparse_moe\.gate\.weight|)"
      R"(model\.layers\.\d+\.block_sparse_moe\.experts\.\d+\.w[123]\.weight)");
  for (const auto& [model, sample] : published) {
    const ModelConfig config = generated_config(model);
    const auto tensors = checkpoint_tensors(config);
    std::map<std::string, Shape> by_name;
    int64_t parameters = 0;
    for (const auto& t : tensors) {
      EXPECT_TRUE(std::regex_match(t.name, scheme)) << t.name;
      EXPECT_TRUE(by_name.emplace(t.name, t.shape).second) << "duplicate " << t.name;
      parameters += element_count(t.shape);
    }
    EXPECT_EQ(parameters, parameter_counts(config).total) << real_model_info(model).name;
    for (const auto& [name, shape] : sample) {
      ASSERT_TRUE(by_name.count(name)) << real_model_info(model).name << ": " << name;
      EXPECT_EQ(by_name.at(name), shape) << name;
    }
  }
}

TEST(RandomCheckpoint, RefusesATokenizerWhoseIdsDoNotFit) {
  const auto tokenizers = test::assets_dir() / "tokenizers";
  if (!std::filesystem::exists(tokenizers / "qwen3" / "tokenizer.json"))
    GTEST_SKIP() << test::unmet_requirement(tokenizers.string());
  RandomCheckpointOptions o;
  o.model = RealModel::olmoe_1b_7b;
  o.layers = 1;
  o.output_dir = test::temp_dir("random-tokenizer-refusal") / "out";
  o.tokenizer_dir = tokenizers / "qwen3";  // 151k ids, OLMoE has 50304
  const std::string error = test::error_of([&] { write_random_checkpoint(o); });
  EXPECT_NE(error.find("do not fit olmoe-1b-7b's vocabulary of 50304"), std::string::npos) << error;
  EXPECT_FALSE(std::filesystem::exists(o.output_dir / "model.safetensors.index.json"));
}

}  // namespace
}  // namespace moqa::model
