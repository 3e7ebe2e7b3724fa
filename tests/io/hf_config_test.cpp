// config.json -> ModelConfig for every supported family: the tiny asset configs, configs of published
// checkpoints (tests/data/io/configs, parameter counts checked against the published sizes) and broken ones.
#include "io/hf_config.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "io/io_test_util.h"
#include "support/test_support.h"

namespace moqa {
namespace {

using moqa::test::expect_error;
using json = nlohmann::json;

std::filesystem::path fixture(const std::string& name) { return moqa::test::data_dir() / "io/configs" / name / "config.json"; }

// Loads a published config and checks total / active parameters against the published sizes (in B).
void expect_parameters(const ModelConfig& c, double total_b, double active_b) {
  const ParameterCounts p = parameter_counts(c);
  EXPECT_NEAR(static_cast<double>(p.total) / 1e9, total_b, total_b * 0.01) << describe(c);
  EXPECT_NEAR(static_cast<double>(p.active_per_token) / 1e9, active_b, active_b * 0.02) << describe(c);
  EXPECT_LT(p.routed_experts, p.total);
}

// ------------------------------------------------------------------------------------- published configs

TEST(HfConfigPublished, Mixtral8x7B) {
  const ModelConfig c = load_hf_config(fixture("mixtral-8x7b-v0.1"));
  EXPECT_EQ(c.arch, Arch::mixtral);
  EXPECT_EQ(c.num_layers, 32);
  EXPECT_EQ(c.hidden_size, 4096);
  EXPECT_EQ(c.num_heads, 32);
  EXPECT_EQ(c.num_kv_heads, 8);
  EXPECT_EQ(c.head_dim, 128);
  EXPECT_EQ(c.num_experts, 8);
  EXPECT_EQ(c.top_k, 2);
  EXPECT_EQ(c.expert_intermediate_size, 14336);
  EXPECT_TRUE(c.norm_topk_prob);
  EXPECT_EQ(c.scoring, RouterScoring::softmax);
  EXPECT_EQ(c.num_moe_layers(), 32);
  EXPECT_EQ(c.shared_expert_intermediate_size, 0);
  EXPECT_EQ(c.rope.theta, 1e6);
  EXPECT_EQ(c.rope.scaling, RopeScaling::none);
  EXPECT_DOUBLE_EQ(c.rms_norm_eps, 1e-5);
  EXPECT_FALSE(c.sliding_window);
  EXPECT_EQ(c.bos_token_id, 1);
  EXPECT_EQ(c.eos_token_id, 2);
  EXPECT_EQ(c.torch_dtype, "bfloat16");
  EXPECT_EQ(c.expert_parameter_count(), 3ll * 4096 * 14336);
  expect_parameters(c, 46.7, 12.9);
}

TEST(HfConfigPublished, Qwen15MoeA27B) {
  const ModelConfig c = load_hf_config(fixture("qwen1.5-moe-a2.7b"));
  EXPECT_EQ(c.arch, Arch::qwen2_moe);
  EXPECT_EQ(c.num_experts, 60);
  EXPECT_EQ(c.top_k, 4);
  EXPECT_EQ(c.expert_intermediate_size, 1408);
  EXPECT_EQ(c.shared_expert_intermediate_size, 5632);
  EXPECT_TRUE(c.shared_expert_gated);
  EXPECT_TRUE(c.qkv_bias);  // absent from this config: Qwen1.5-MoE always has q/k/v biases
  EXPECT_FALSE(c.o_bias);
  EXPECT_FALSE(c.norm_topk_prob);
  EXPECT_EQ(c.num_moe_layers(), 24);
  EXPECT_FALSE(c.sliding_window);  // use_sliding_window is false
  expect_parameters(c, 14.3, 2.7);
}

TEST(HfConfigPublished, Olmoe1B7B) {
  const ModelConfig c = load_hf_config(fixture("olmoe-1b-7b-0924"));
  EXPECT_EQ(c.arch, Arch::olmoe);
  EXPECT_EQ(c.num_experts, 64);
  EXPECT_EQ(c.top_k, 8);
  EXPECT_EQ(c.expert_intermediate_size, 1024);
  EXPECT_EQ(c.qk_norm, QkNorm::full);
  EXPECT_FALSE(c.clip_qkv);
  EXPECT_FALSE(c.bos_token_id);
  EXPECT_EQ(c.eos_token_id, 50279);
  expect_parameters(c, 6.9, 1.3);
}

TEST(HfConfigPublished, DeepSeekMoe16B) {
  const ModelConfig c = load_hf_config(fixture("deepseek-moe-16b-base"));
  EXPECT_EQ(c.arch, Arch::deepseek);
  EXPECT_FALSE(c.mla);
  EXPECT_EQ(c.head_dim, 128);
  EXPECT_EQ(c.num_experts, 64);
  EXPECT_EQ(c.top_k, 6);
  EXPECT_EQ(c.scoring, RouterScoring::softmax);
  EXPECT_FALSE(c.norm_topk_prob);
  EXPECT_FALSE(c.score_correction_bias);
  EXPECT_EQ(c.routed_scaling_factor, 1.0);
  EXPECT_EQ(c.shared_expert_intermediate_size, 2 * 1408);  // two shared experts fused into one MLP
  EXPECT_FALSE(c.shared_expert_gated);
  EXPECT_FALSE(c.is_moe_layer(0));
  EXPECT_TRUE(c.is_moe_layer(1));
  EXPECT_EQ(c.num_moe_layers(), 27);
  EXPECT_EQ(c.dense_intermediate_size, 10944);
  expect_parameters(c, 16.4, 2.8);
}

TEST(HfConfigPublished, DeepSeekV3WithYarn) {
  const ModelConfig c = load_hf_config(fixture("deepseek-v3"));
  EXPECT_EQ(c.arch, Arch::deepseek_v3);
  EXPECT_TRUE(c.mla);
  EXPECT_EQ(c.mla_dims.q_lora_rank, 1536);
  EXPECT_EQ(c.mla_dims.kv_lora_rank, 512);
  EXPECT_EQ(c.mla_dims.qk_nope_head_dim, 128);
  EXPECT_EQ(c.mla_dims.qk_rope_head_dim, 64);
  EXPECT_EQ(c.mla_dims.v_head_dim, 128);
  EXPECT_EQ(c.head_dim, 192);
  EXPECT_EQ(c.rope.scaling, RopeScaling::yarn);
  EXPECT_EQ(c.rope.factor, 40.0);
  EXPECT_EQ(c.rope.original_max_position_embeddings, 4096);
  EXPECT_EQ(c.rope.beta_fast, 32.0);
  EXPECT_EQ(c.rope.beta_slow, 1.0);
  EXPECT_EQ(c.rope.mscale, 1.0);
  EXPECT_EQ(c.rope.mscale_all_dim, 1.0);
  EXPECT_TRUE(c.rope.interleave);
  EXPECT_EQ(c.scoring, RouterScoring::sigmoid);
  EXPECT_TRUE(c.score_correction_bias);
  EXPECT_TRUE(c.norm_topk_prob);
  EXPECT_EQ(c.n_group, 8);
  EXPECT_EQ(c.topk_group, 4);
  EXPECT_EQ(c.routed_scaling_factor, 2.5);
  EXPECT_EQ(c.num_experts, 256);
  EXPECT_EQ(c.top_k, 8);
  EXPECT_EQ(c.num_moe_layers(), 58);
  EXPECT_FALSE(c.is_moe_layer(2));
  EXPECT_TRUE(c.is_moe_layer(3));
  EXPECT_EQ(c.shared_expert_intermediate_size, 2048);
  EXPECT_EQ(c.weight_quantization, "fp8");
  EXPECT_EQ(c.num_nextn_predict_layers, 1);
  expect_parameters(c, 671, 37);
}

TEST(HfConfigPublished, Qwen3_30B_A3B) {
  const ModelConfig c = load_hf_config(fixture("qwen3-30b-a3b"));
  EXPECT_EQ(c.arch, Arch::qwen3_moe);
  EXPECT_EQ(c.head_dim, 128);  // explicit, not hidden / heads (= 64)
  EXPECT_EQ(c.num_kv_heads, 4);
  EXPECT_EQ(c.num_experts, 128);
  EXPECT_EQ(c.top_k, 8);
  EXPECT_EQ(c.qk_norm, QkNorm::per_head);
  EXPECT_TRUE(c.norm_topk_prob);
  EXPECT_FALSE(c.qkv_bias);
  EXPECT_EQ(c.shared_expert_intermediate_size, 0);
  EXPECT_EQ(c.num_moe_layers(), 48);
  expect_parameters(c, 30.5, 3.3);
}

TEST(HfConfigPublished, DescribeSummarises) {
  const std::string text = describe(load_hf_config(fixture("deepseek-moe-16b-base")));
  for (const char* fragment : {"deepseek", "28 (27 MoE, 1 dense)", "hidden 2048", "64 x top-6", "width 2816", "dense layers 0 (MLP width 10944)",
                               "16.38 B total", "active per token"})
    EXPECT_NE(text.find(fragment), std::string::npos) << fragment << " not in:\n" << text;
  const std::string v3 = describe(load_hf_config(fixture("deepseek-v3")));
  for (const char* fragment : {"MLA", "kv_lora 512", "yarn x40 from 4096", "4 of 8 groups", "pre-quantized fp8", "dense layers 0-2"})
    EXPECT_NE(v3.find(fragment), std::string::npos) << fragment << " not in:\n" << v3;
  const std::string qwen = describe(load_hf_config(fixture("qwen1.5-moe-a2.7b")));
  EXPECT_NE(qwen.find("width 5632 (sigmoid-gated)"), std::string::npos) << qwen;
}

// ---------------------------------------------------------------------------------------- asset configs

TEST(HfConfigAssets, ArchConfigs) {
  const auto arch = moqa::test::assets_dir() / "arch";
  MOQA_REQUIRE_ASSET(arch / "mixtral/config.json");

  const ModelConfig mixtral = load_hf_config(arch / "mixtral/config.json");
  EXPECT_EQ(mixtral.num_experts, 8);
  EXPECT_EQ(mixtral.top_k, 2);
  EXPECT_EQ(mixtral.head_dim, 16);  // head_dim null -> 64 / 4
  EXPECT_EQ(mixtral.expert_intermediate_size, 96);
  EXPECT_EQ(mixtral.vocab_size, 512);

  const ModelConfig qwen2 = load_hf_config(arch / "qwen2_moe/config.json");
  EXPECT_EQ(qwen2.num_experts, 16);
  EXPECT_EQ(qwen2.top_k, 4);
  EXPECT_FALSE(qwen2.norm_topk_prob);
  EXPECT_EQ(qwen2.shared_expert_intermediate_size, 96);
  EXPECT_TRUE(qwen2.shared_expert_gated);
  EXPECT_TRUE(qwen2.qkv_bias);
  EXPECT_EQ(qwen2.expert_intermediate_size, 32);

  const ModelConfig qwen3 = load_hf_config(arch / "qwen3_moe/config.json");
  EXPECT_EQ(qwen3.num_experts, 16);  // from num_local_experts
  EXPECT_TRUE(qwen3.norm_topk_prob);
  EXPECT_EQ(qwen3.qk_norm, QkNorm::per_head);
  EXPECT_EQ(qwen3.head_dim, 16);

  const ModelConfig olmoe = load_hf_config(arch / "olmoe/config.json");
  EXPECT_EQ(olmoe.qk_norm, QkNorm::full);
  EXPECT_EQ(olmoe.expert_intermediate_size, 32);
  EXPECT_EQ(olmoe.num_experts, 16);
  EXPECT_FALSE(olmoe.norm_topk_prob);

  const ModelConfig v3 = load_hf_config(arch / "deepseek_v3/config.json");
  EXPECT_TRUE(v3.mla);
  EXPECT_EQ(v3.head_dim, 24);  // nope 16 + rope 8 (config.json's head_dim 8 is the rope part)
  EXPECT_EQ(v3.mla_dims.q_lora_rank, 32);
  EXPECT_EQ(v3.mla_dims.kv_lora_rank, 16);
  EXPECT_EQ(v3.mla_dims.v_head_dim, 16);
  EXPECT_FALSE(v3.is_moe_layer(0));
  EXPECT_TRUE(v3.is_moe_layer(1));
  EXPECT_EQ(v3.num_experts, 16);
  EXPECT_EQ(v3.n_group, 4);
  EXPECT_EQ(v3.topk_group, 2);
  EXPECT_EQ(v3.scoring, RouterScoring::sigmoid);
  EXPECT_TRUE(v3.score_correction_bias);
  EXPECT_EQ(v3.routed_scaling_factor, 2.5);
  EXPECT_EQ(v3.shared_expert_intermediate_size, 32);
  EXPECT_EQ(v3.dense_intermediate_size, 128);
  EXPECT_TRUE(v3.rope.interleave);
  EXPECT_EQ(v3.rope.scaling, RopeScaling::none);
}

TEST(HfConfigAssets, TrainedConfigs) {
  const auto trained = moqa::test::assets_dir() / "trained";
  MOQA_REQUIRE_ASSET(trained / "mixtral-tiny/config.json");
  const ModelConfig mixtral = load_hf_config(trained / "mixtral-tiny/config.json");
  EXPECT_EQ(mixtral.num_layers, 4);
  EXPECT_EQ(mixtral.hidden_size, 128);
  EXPECT_EQ(mixtral.torch_dtype, "bfloat16");
  const ParameterCounts mp = parameter_counts(mixtral);
  EXPECT_NEAR(static_cast<double>(mp.total) / 1e6, 5.4, 0.1);  // the assets README: 5.4M params

  const ModelConfig qwen = load_hf_config(trained / "qwen2moe-small/config.json");
  EXPECT_EQ(qwen.num_experts, 16);
  EXPECT_EQ(qwen.top_k, 4);
  EXPECT_EQ(qwen.shared_expert_intermediate_size, 512);
  EXPECT_NEAR(static_cast<double>(parameter_counts(qwen).total) / 1e6, 19.0, 0.5);  // README: 19M params
}

// --------------------------------------------------------------------------------------------- variants

class HfConfigVariants : public ::testing::Test {
 protected:
  // A valid small qwen2_moe config to mutate.
  json base() const {
    return json::parse(R"({
      "model_type": "qwen2_moe", "vocab_size": 512, "hidden_size": 64, "intermediate_size": 128,
      "num_hidden_layers": 4, "num_attention_heads": 4, "num_key_value_heads": 2, "hidden_act": "silu",
      "max_position_embeddings": 256, "rms_norm_eps": 1e-6, "rope_theta": 10000.0,
      "decoder_sparse_step": 1, "moe_intermediate_size": 32, "shared_expert_intermediate_size": 96,
      "num_experts_per_tok": 4, "num_experts": 16, "norm_topk_prob": false, "mlp_only_layers": []})");
  }
  json deepseek_v3() const {
    return json::parse(R"({
      "model_type": "deepseek_v3", "vocab_size": 512, "hidden_size": 64, "intermediate_size": 128,
      "moe_intermediate_size": 32, "num_hidden_layers": 3, "num_attention_heads": 4, "num_key_value_heads": 4,
      "n_shared_experts": 1, "n_routed_experts": 16, "kv_lora_rank": 16, "q_lora_rank": null,
      "qk_rope_head_dim": 8, "v_head_dim": 16, "qk_nope_head_dim": 16, "n_group": 4, "topk_group": 2,
      "num_experts_per_tok": 4, "first_k_dense_replace": 1, "max_position_embeddings": 256})");
  }
  std::filesystem::path write(const json& config) {
    const auto path = moqa::test::temp_dir("hfconfig") / "config.json";
    moqa::test::write_file(path, config.dump(2));
    return path;
  }
  ModelConfig load(const json& config) { return load_hf_config(write(config)); }
  // Expects an error naming the written config.json and every fragment.
  void expect_bad(const json& config, std::initializer_list<std::string> fragments) {
    const auto path = write(config);
    const std::string message = expect_error([&] { load_hf_config(path); }, fragments);
    EXPECT_NE(message.find(path.string()), std::string::npos) << message;
  }
};

TEST_F(HfConfigVariants, QwenSparseStepAndMlpOnlyLayers) {
  json j = base();
  j["decoder_sparse_step"] = 2;
  j["mlp_only_layers"] = {3};
  const ModelConfig c = load(j);
  EXPECT_EQ(c.layer_is_moe, (std::vector<bool>{false, true, false, false}));
  EXPECT_EQ(c.dense_intermediate_size, 128);
}

TEST_F(HfConfigVariants, DeepSeekLayerFrequencyAndDefaults) {
  json j = deepseek_v3();
  j["moe_layer_freq"] = 2;
  j["num_hidden_layers"] = 6;
  const ModelConfig c = load(j);
  EXPECT_EQ(c.layer_is_moe, (std::vector<bool>{false, false, true, false, true, false}));
  EXPECT_EQ(c.mla_dims.q_lora_rank, 0);  // null -> q_proj directly
  EXPECT_EQ(c.scoring, RouterScoring::sigmoid);
  EXPECT_TRUE(c.score_correction_bias);  // topk_method defaults to noaux_tc
  EXPECT_TRUE(c.norm_topk_prob);
  EXPECT_TRUE(c.rope.interleave);
  j["rope_interleave"] = false;
  j["topk_method"] = "greedy";
  j["scoring_func"] = "softmax";
  const ModelConfig greedy = load(j);
  EXPECT_FALSE(greedy.rope.interleave);
  EXPECT_FALSE(greedy.score_correction_bias);
  EXPECT_EQ(greedy.n_group, 1);
  EXPECT_EQ(greedy.scoring, RouterScoring::softmax);
}

TEST_F(HfConfigVariants, RopeParametersV5) {
  json j = base();
  j.erase("rope_theta");
  j["rope_parameters"] = {{"rope_theta", 500000.0}, {"rope_type", "yarn"}, {"factor", 4.0}, {"original_max_position_embeddings", 64},
                          {"beta_fast", 16}, {"attention_factor", 1.2}};
  const ModelConfig c = load(j);
  EXPECT_EQ(c.rope.theta, 500000.0);
  EXPECT_EQ(c.rope.scaling, RopeScaling::yarn);
  EXPECT_EQ(c.rope.factor, 4.0);
  EXPECT_EQ(c.rope.original_max_position_embeddings, 64);
  EXPECT_EQ(c.rope.beta_fast, 16.0);
  EXPECT_EQ(c.rope.beta_slow, 1.0);
  EXPECT_EQ(c.rope.attention_factor, 1.2);
  j["rope_parameters"] = {{"rope_theta", 1000.0}, {"rope_type", "default"}};
  EXPECT_EQ(load(j).rope.scaling, RopeScaling::none);
  EXPECT_EQ(load(j).rope.theta, 1000.0);
}

TEST_F(HfConfigVariants, RopeScalingLegacy) {
  json j = base();
  j["rope_scaling"] = {{"type", "linear"}, {"factor", 2}};
  ModelConfig c = load(j);
  EXPECT_EQ(c.rope.scaling, RopeScaling::linear);
  EXPECT_EQ(c.rope.factor, 2.0);
  j["rope_scaling"] = {{"rope_type", "dynamic"}, {"factor", 3.0}};
  c = load(j);
  EXPECT_EQ(c.rope.scaling, RopeScaling::dynamic);
  EXPECT_EQ(c.rope.original_max_position_embeddings, 256);  // defaults to max_position_embeddings
  j["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0}, {"high_freq_factor", 4.0},
                       {"original_max_position_embeddings", 128}};
  c = load(j);
  EXPECT_EQ(c.rope.scaling, RopeScaling::llama3);
  EXPECT_EQ(c.rope.low_freq_factor, 1.0);
  EXPECT_EQ(c.rope.high_freq_factor, 4.0);
  j["rope_scaling"] = nullptr;
  EXPECT_EQ(load(j).rope.scaling, RopeScaling::none);
  j["rope_scaling"] = {{"type", "default"}};
  EXPECT_EQ(load(j).rope.scaling, RopeScaling::none);
}

TEST_F(HfConfigVariants, EosListAndSlidingWindow) {
  json j = base();
  j["eos_token_id"] = {7, 9};
  j["use_sliding_window"] = true;
  j["sliding_window"] = 128;
  const ModelConfig c = load(j);
  EXPECT_EQ(c.eos_token_id, 7);
  EXPECT_EQ(c.eos_token_ids, (std::vector<int64_t>{7, 9}));
  EXPECT_EQ(c.sliding_window, 128);
}

TEST_F(HfConfigVariants, HeadDimAbsentOrNull) {
  json j = base();
  j["head_dim"] = nullptr;
  EXPECT_EQ(load(j).head_dim, 16);
  j["head_dim"] = 32;
  EXPECT_EQ(load(j).head_dim, 32);
  j.erase("num_key_value_heads");
  EXPECT_EQ(load(j).num_kv_heads, 4);  // defaults to num_attention_heads
}

// ------------------------------------------------------------------------------------------ bad configs

TEST_F(HfConfigVariants, UnsupportedModelTypeListsSupported) {
  json j = base();
  j["model_type"] = "llama";
  expect_bad(j, {"\"model_type\"", "\"llama\"", "mixtral, qwen2_moe, qwen3_moe, olmoe, deepseek_v3, deepseek"});
  j.erase("model_type");
  expect_bad(j, {"missing key \"model_type\"", "mixtral"});
}

TEST_F(HfConfigVariants, MissingKeys) {
  for (const char* key : {"hidden_size", "num_hidden_layers", "vocab_size", "num_experts_per_tok", "moe_intermediate_size",
                          "num_experts", "shared_expert_intermediate_size", "max_position_embeddings"}) {
    json j = base();
    j.erase(key);
    expect_bad(j, {std::string("missing key \"") + key + "\""});
  }
  json ds = deepseek_v3();
  ds.erase("kv_lora_rank");
  expect_bad(ds, {"missing key \"kv_lora_rank\""});
}

TEST_F(HfConfigVariants, WrongTypes) {
  json j = base();
  j["hidden_size"] = "64";
  expect_bad(j, {"\"hidden_size\"", "the string \"64\"", "expected a positive integer"});
  j = base();
  j["num_hidden_layers"] = 4.5;
  expect_bad(j, {"\"num_hidden_layers\"", "the number 4.5", "positive integer"});
  j = base();
  j["num_experts"] = nullptr;
  expect_bad(j, {"\"num_experts\"", "null"});
  j = base();
  j["tie_word_embeddings"] = "no";
  expect_bad(j, {"\"tie_word_embeddings\"", "true or false"});
  j = base();
  j["rms_norm_eps"] = "1e-6";
  expect_bad(j, {"\"rms_norm_eps\"", "expected a positive number"});
  j = base();
  j["mlp_only_layers"] = {"3"};
  expect_bad(j, {"\"mlp_only_layers\"", "array of integers"});
  j = base();
  j["rope_scaling"] = "yarn";
  expect_bad(j, {"\"rope_scaling\"", "expected an object"});
  j = base();
  j["rope_scaling"] = {{"type", "yarn"}, {"factor", "4"}};
  expect_bad(j, {"\"rope_scaling.factor\"", "the string \"4\""});
}

// Sizes nobody's model has are refused before any size computed from them could overflow int64.
TEST_F(HfConfigVariants, AbsurdSizesAreRefusedNotOverflowed) {
  json j = base();
  j["vocab_size"] = int64_t{1} << 40;
  expect_bad(j, {"\"vocab_size\"", "is 1099511627776", "up to 1073741824"});
  j = base();
  j["shared_expert_intermediate_size"] = int64_t{1} << 31;
  expect_bad(j, {"\"shared_expert_intermediate_size\"", "non-negative integer up to 1073741824"});
  // Each size allowed, their product not: 2 x 2^30 x 2^30 embedding parameters alone.
  j = base();
  j["vocab_size"] = int64_t{1} << 30;
  j["hidden_size"] = int64_t{1} << 30;
  j["num_attention_heads"] = 1 << 20;
  j["num_key_value_heads"] = 1 << 20;
  expect_bad(j, {"more than 4e18 parameters"});
  // An ordinary config fits.
  EXPECT_TRUE(parameter_count_fits(load(deepseek_v3())));
}

TEST_F(HfConfigVariants, ImpossibleValues) {
  json j = base();
  j["num_key_value_heads"] = 3;
  expect_bad(j, {"\"num_key_value_heads\"", "is 3", "does not divide num_attention_heads (4)"});
  j = base();
  j["num_experts_per_tok"] = 17;
  expect_bad(j, {"\"num_experts_per_tok\"", "is 17", "at most num_experts (16)"});
  j = base();
  j["num_experts_per_tok"] = 0;
  expect_bad(j, {"\"num_experts_per_tok\"", "is 0", "positive"});
  j = base();
  j["hidden_size"] = -64;
  expect_bad(j, {"\"hidden_size\"", "is -64"});
  j = base();
  j["num_experts"] = 0;
  expect_bad(j, {"\"num_experts\"", "no layer is a mixture-of-experts layer"});
  j = base();
  j["mlp_only_layers"] = {7};
  expect_bad(j, {"\"mlp_only_layers\"", "layer 7", "[0, 4)"});
  j = base();
  j["hidden_act"] = "gelu";
  expect_bad(j, {"\"hidden_act\"", "\"gelu\"", "silu"});
  j = base();
  j["hidden_size"] = 66;
  expect_bad(j, {"\"num_attention_heads\"", "does not divide hidden_size (66)"});
  j = base();
  j["head_dim"] = 15;
  expect_bad(j, {"\"head_dim\"", "even"});
  j = base();
  j["rope_scaling"] = {{"type", "longrope"}, {"factor", 2}};
  expect_bad(j, {"\"rope_scaling.type\"", "\"longrope\"", "default, linear, dynamic, yarn, llama3"});
  j = base();
  j["rope_parameters"] = {{"rope_type", "su"}, {"rope_theta", 1e4}};
  expect_bad(j, {"\"rope_parameters.rope_type\"", "\"su\""});
  j = base();
  j["rope_scaling"] = {{"type", "linear"}};
  expect_bad(j, {"missing key \"rope_scaling.factor\""});
  j = base();
  j["rope_scaling"] = {{"type", "linear"}, {"factor", -2}};
  expect_bad(j, {"\"rope_scaling.factor\"", "positive"});
  j = base();
  j["rope_theta"] = 0;
  expect_bad(j, {"\"rope_theta\"", "positive"});
  j = base();
  j["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 4.0}, {"high_freq_factor", 1.0},
                       {"original_max_position_embeddings", 128}};
  expect_bad(j, {"\"rope_scaling.high_freq_factor\"", "more than low_freq_factor"});

  json ds = deepseek_v3();
  ds["n_group"] = 3;
  expect_bad(ds, {"\"n_group\"", "is 3", "does not divide n_routed_experts (16)"});
  ds = deepseek_v3();
  ds["topk_group"] = 5;
  expect_bad(ds, {"\"topk_group\"", "at most n_group (4)"});
  ds = deepseek_v3();
  ds["topk_group"] = 1;
  ds["num_experts_per_tok"] = 5;
  expect_bad(ds, {"\"num_experts_per_tok\"", "offer only 4"});
  ds = deepseek_v3();
  ds["first_k_dense_replace"] = 9;
  expect_bad(ds, {"\"first_k_dense_replace\"", "more than num_hidden_layers (3)"});
  ds = deepseek_v3();
  ds["scoring_func"] = "tanh";
  expect_bad(ds, {"\"scoring_func\"", "\"tanh\""});
  ds = deepseek_v3();
  ds["topk_method"] = "random";
  expect_bad(ds, {"\"topk_method\"", "noaux_tc"});
  ds = deepseek_v3();
  ds["qk_rope_head_dim"] = 7;
  expect_bad(ds, {"\"qk_rope_head_dim\"", "even"});
  ds = deepseek_v3();
  ds["intermediate_size"] = 0;
  expect_bad(ds, {"\"intermediate_size\"", "dense"});
}

TEST_F(HfConfigVariants, InvalidJsonGivesLineAndColumn) {
  const auto path = moqa::test::temp_dir("hfconfig-json") / "config.json";
  moqa::test::write_file(path, "{\n  \"model_type\": \"mixtral\",\n  \"hidden_size\": 64,,\n}");
  expect_error([&] { load_hf_config(path); }, {path.string() + ":3:21", "not valid JSON"});
  moqa::test::write_file(path, "[1, 2]");
  expect_error([&] { load_hf_config(path); }, {path.string(), "expected a JSON object"});
  expect_error([&] { load_hf_config(path.parent_path() / "absent.json"); }, {"absent.json", "cannot open"});
}

TEST(HfConfigNames, ArchNameIsTheModelType) {
  EXPECT_EQ(arch_name(Arch::mixtral), "mixtral");
  EXPECT_EQ(arch_name(Arch::qwen2_moe), "qwen2_moe");
  EXPECT_EQ(arch_name(Arch::qwen3_moe), "qwen3_moe");
  EXPECT_EQ(arch_name(Arch::olmoe), "olmoe");
  EXPECT_EQ(arch_name(Arch::deepseek_v3), "deepseek_v3");
  EXPECT_EQ(arch_name(Arch::deepseek), "deepseek");
}

}  // namespace
}  // namespace moqa
