// model_type "deepseek" (DeepSeek-MoE-16B, remote code in transformers) has no golden of its own:
// 1. With a config that makes it identical to Mixtral (no shared or dense layers, renormalised softmax
//    top-k) and the Mixtral checkpoint renamed into DeepSeek's layout, it must reproduce the Mixtral golden.
// 2. On a generated checkpoint with a dense first layer, fused shared experts (n_shared_experts = 2),
//    un-normalised top-k weights and linear RoPE scaling, it must match a plain-loop reference written
//    from the remote code's definition.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <random>
#include <regex>

#include "backend/cpu/cpu_backend.h"
#include "io/safetensors.h"
#include "model/forward.h"
#include "model/model.h"
#include "model/test_checkpoints.h"
#include "support/test_support.h"

namespace moqa::model {
namespace {

using testing::TensorMap;

double max_error_over_std(const Tensor& got, const Tensor& want) {
  EXPECT_EQ(got.size(), want.size());
  double mean = 0, var = 0, worst = 0;
  for (float v : want.data) mean += v;
  mean /= double(want.size());
  for (float v : want.data) var += (v - mean) * (v - mean);
  for (int64_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::abs(double(got.data[i]) - want.data[i]));
  return worst / std::sqrt(var / double(want.size()));
}

TEST(DeepSeekMoe, MixtralCheckpointInDeepSeekLayoutReproducesMixtralGolden) {
  const auto mixtral = test::data_dir() / "arch" / "mixtral";
  TensorMap renamed;
  const std::regex expert(R"(block_sparse_moe\.experts\.(\d+)\.w([123])\.weight)");
  for (auto& [name, tensor] : testing::read_tensors(mixtral / "model.safetensors")) {
    std::smatch m;
    std::string out = name;
    if (std::regex_search(name, m, expert)) {
      const char* proj = m[2] == "1" ? "gate_proj" : m[2] == "3" ? "up_proj" : "down_proj";
      out = m.prefix().str() + "mlp.experts." + m[1].str() + "." + proj + ".weight";
    } else if (const auto at = name.find("block_sparse_moe.gate"); at != std::string::npos) {
      out = name.substr(0, at) + "mlp.gate" + name.substr(at + std::string("block_sparse_moe.gate").size());
    }
    renamed.emplace(out, std::move(tensor));
  }
  const nlohmann::json config = {
      {"model_type", "deepseek"}, {"vocab_size", 512}, {"hidden_size", 64}, {"intermediate_size", 96},
      {"moe_intermediate_size", 96}, {"num_hidden_layers", 2}, {"num_attention_heads", 4},
      {"num_key_value_heads", 2}, {"n_routed_experts", 8}, {"num_experts_per_tok", 2},
      {"n_shared_experts", nullptr}, {"first_k_dense_replace", 0}, {"moe_layer_freq", 1},
      {"norm_topk_prob", true}, {"scoring_func", "softmax"}, {"max_position_embeddings", 256},
      {"rms_norm_eps", 1e-6}, {"rope_theta", 10000.0}, {"hidden_act", "silu"}, {"tie_word_embeddings", false}};
  const auto dir = test::temp_dir("deepseek-as-mixtral");
  testing::write_model_dir(dir, renamed, config);

  backend::CpuBackend backend(backend::CpuOptions{.threads = 1});
  Model model = Model::open(dir, backend);
  ASSERT_EQ(model.config().arch, Arch::deepseek);
  const auto golden = io::SafetensorsFile::open(mixtral / "golden.safetensors");
  const Tensor ids = golden.read("input_ids");
  TokenBatch batch{ids.dim(0), ids.dim(1), {}};
  for (float v : ids.data) batch.ids.push_back(static_cast<int32_t>(v));
  EXPECT_LE(max_error_over_std(forward_logits(model, batch), golden.read("logits")), 1e-4);
}

// ---- Reference: DeepSeek-MoE written out with plain loops in double precision --------------------------

struct ReferenceConfig {
  int64_t vocab = 64, d = 32, layers = 3, heads = 4, kv_heads = 2, head_dim = 8;
  int64_t experts = 6, top_k = 2, expert_width = 16, shared_width = 32, dense_width = 48, first_dense = 1;
  double eps = 1e-6, theta = 10000.0, rope_linear_factor = 2.0;
};

using Matrix = std::vector<std::vector<double>>;  // [rows][cols]

Matrix linear(const Matrix& x, const Tensor& w) {  // x · wᵀ
  const int64_t out = w.dim(0), in = w.dim(1);
  Matrix y(x.size(), std::vector<double>(static_cast<size_t>(out)));
  for (size_t r = 0; r < x.size(); ++r)
    for (int64_t o = 0; o < out; ++o) {
      double s = 0;
      for (int64_t i = 0; i < in; ++i) s += x[r][i] * w.data[o * in + i];
      y[r][o] = s;
    }
  return y;
}

Matrix rms_norm(const Matrix& x, const Tensor& w, double eps) {
  Matrix y = x;
  for (auto& row : y) {
    double ms = 0;
    for (double v : row) ms += v * v;
    const double inv = 1 / std::sqrt(ms / double(row.size()) + eps);
    for (size_t c = 0; c < row.size(); ++c) row[c] = w.data[c] * row[c] * inv;
  }
  return y;
}

Matrix mlp(const Matrix& x, const Tensor& gate, const Tensor& up, const Tensor& down) {
  Matrix g = linear(x, gate);
  const Matrix u = linear(x, up);
  for (size_t r = 0; r < g.size(); ++r)
    for (size_t c = 0; c < g[r].size(); ++c) g[r][c] = g[r][c] / (1 + std::exp(-g[r][c])) * u[r][c];
  return linear(g, down);
}

void add_into(Matrix& a, const Matrix& b, double scale = 1.0) {
  for (size_t r = 0; r < a.size(); ++r)
    for (size_t c = 0; c < a[r].size(); ++c) a[r][c] += scale * b[r][c];
}

Matrix reference_logits(const TensorMap& w, const ReferenceConfig& c, const std::vector<int32_t>& ids) {
  const int64_t seq = static_cast<int64_t>(ids.size());
  const auto& embed = w.at("model.embed_tokens.weight");
  Matrix h(ids.size(), std::vector<double>(static_cast<size_t>(c.d)));
  for (int64_t t = 0; t < seq; ++t)
    for (int64_t j = 0; j < c.d; ++j) h[t][j] = embed.data[ids[t] * c.d + j];

  for (int64_t L = 0; L < c.layers; ++L) {
    const std::string p = "model.layers." + std::to_string(L) + ".";
    const Matrix x = rms_norm(h, w.at(p + "input_layernorm.weight"), c.eps);
    Matrix q = linear(x, w.at(p + "self_attn.q_proj.weight"));
    Matrix k = linear(x, w.at(p + "self_attn.k_proj.weight"));
    const Matrix v = linear(x, w.at(p + "self_attn.v_proj.weight"));
    const int64_t half = c.head_dim / 2;
    for (int64_t t = 0; t < seq; ++t)  // rotate-half RoPE with linear scaling (positions / factor)
      for (Matrix* m : {&q, &k})
        for (size_t base = 0; base < (*m)[t].size(); base += static_cast<size_t>(c.head_dim))
          for (int64_t i = 0; i < half; ++i) {
            const double angle =
                double(t) / c.rope_linear_factor / std::pow(c.theta, double(2 * i) / double(c.head_dim));
            const double a = (*m)[t][base + i], b = (*m)[t][base + i + half];
            (*m)[t][base + i] = a * std::cos(angle) - b * std::sin(angle);
            (*m)[t][base + i + half] = b * std::cos(angle) + a * std::sin(angle);
          }
    Matrix attended(ids.size(), std::vector<double>(static_cast<size_t>(c.heads * c.head_dim)));
    for (int64_t hd = 0; hd < c.heads; ++hd) {
      const int64_t kv = hd / (c.heads / c.kv_heads);
      for (int64_t i = 0; i < seq; ++i) {
        std::vector<double> s(static_cast<size_t>(i + 1));
        for (int64_t j = 0; j <= i; ++j) {
          double dot = 0;
          for (int64_t e = 0; e < c.head_dim; ++e) dot += q[i][hd * c.head_dim + e] * k[j][kv * c.head_dim + e];
          s[j] = dot / std::sqrt(double(c.head_dim));
        }
        const double mx = *std::max_element(s.begin(), s.end());
        double z = 0;
        for (double& e : s) z += (e = std::exp(e - mx));
        for (int64_t j = 0; j <= i; ++j)
          for (int64_t e = 0; e < c.head_dim; ++e)
            attended[i][hd * c.head_dim + e] += s[j] / z * v[j][kv * c.head_dim + e];
      }
    }
    add_into(h, linear(attended, w.at(p + "self_attn.o_proj.weight")));

    const Matrix y = rms_norm(h, w.at(p + "post_attention_layernorm.weight"), c.eps);
    if (L < c.first_dense) {
      add_into(h, mlp(y, w.at(p + "mlp.gate_proj.weight"), w.at(p + "mlp.up_proj.weight"),
                      w.at(p + "mlp.down_proj.weight")));
      continue;
    }
    const Matrix router = linear(y, w.at(p + "mlp.gate.weight"));
    const std::string shared = p + "mlp.shared_experts.";
    Matrix mixed = mlp(y, w.at(shared + "gate_proj.weight"), w.at(shared + "up_proj.weight"),
                       w.at(shared + "down_proj.weight"));
    for (int64_t t = 0; t < seq; ++t) {
      std::vector<double> prob = router[t];
      const double mx = *std::max_element(prob.begin(), prob.end());
      double z = 0;
      for (double& e : prob) z += (e = std::exp(e - mx));
      for (double& e : prob) e /= z;
      std::vector<int> order(static_cast<size_t>(c.experts));
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return prob[a] > prob[b]; });
      for (int64_t slot = 0; slot < c.top_k; ++slot) {  // norm_topk_prob = false: raw softmax weights
        const std::string e = p + "mlp.experts." + std::to_string(order[slot]) + ".";
        const Matrix out = mlp({y[t]}, w.at(e + "gate_proj.weight"), w.at(e + "up_proj.weight"),
                               w.at(e + "down_proj.weight"));
        for (int64_t j = 0; j < c.d; ++j) mixed[t][j] += prob[order[slot]] * out[0][j];
      }
    }
    add_into(h, mixed);
  }
  return linear(rms_norm(h, w.at("model.norm.weight"), c.eps), w.at("lm_head.weight"));
}

TEST(DeepSeekMoe, DenseFirstLayerAndFusedSharedExpertsMatchReference) {
  const ReferenceConfig c;
  std::mt19937 rng(7);
  TensorMap w;
  w["model.embed_tokens.weight"] = testing::random_normal({c.vocab, c.d}, rng, 1.0f);
  w["lm_head.weight"] = testing::random_normal({c.vocab, c.d}, rng, 0.2f);
  w["model.norm.weight"] = testing::random_normal({c.d}, rng, 0.1f, 1.0f);
  for (int64_t L = 0; L < c.layers; ++L) {
    const std::string p = "model.layers." + std::to_string(L) + ".";
    w[p + "input_layernorm.weight"] = testing::random_normal({c.d}, rng, 0.1f, 1.0f);
    w[p + "post_attention_layernorm.weight"] = testing::random_normal({c.d}, rng, 0.1f, 1.0f);
    w[p + "self_attn.q_proj.weight"] = testing::random_normal({c.heads * c.head_dim, c.d}, rng, 0.3f);
    w[p + "self_attn.k_proj.weight"] = testing::random_normal({c.kv_heads * c.head_dim, c.d}, rng, 0.3f);
    w[p + "self_attn.v_proj.weight"] = testing::random_normal({c.kv_heads * c.head_dim, c.d}, rng, 0.3f);
    w[p + "self_attn.o_proj.weight"] = testing::random_normal({c.d, c.heads * c.head_dim}, rng, 0.2f);
    auto add_mlp = [&](const std::string& prefix, int64_t width) {
      w[prefix + "gate_proj.weight"] = testing::random_normal({width, c.d}, rng, 0.3f);
      w[prefix + "up_proj.weight"] = testing::random_normal({width, c.d}, rng, 0.3f);
      w[prefix + "down_proj.weight"] = testing::random_normal({c.d, width}, rng, 0.2f);
    };
    if (L < c.first_dense) {
      add_mlp(p + "mlp.", c.dense_width);
      continue;
    }
    w[p + "mlp.gate.weight"] = testing::random_normal({c.experts, c.d}, rng, 0.5f);
    add_mlp(p + "mlp.shared_experts.", c.shared_width);
    for (int64_t e = 0; e < c.experts; ++e) add_mlp(p + "mlp.experts." + std::to_string(e) + ".", c.expert_width);
  }
  const nlohmann::json config = {
      {"model_type", "deepseek"}, {"vocab_size", c.vocab}, {"hidden_size", c.d}, {"intermediate_size", c.dense_width},
      {"moe_intermediate_size", c.expert_width}, {"num_hidden_layers", c.layers}, {"num_attention_heads", c.heads},
      {"num_key_value_heads", c.kv_heads}, {"n_routed_experts", c.experts}, {"num_experts_per_tok", c.top_k},
      {"n_shared_experts", c.shared_width / c.expert_width}, {"first_k_dense_replace", c.first_dense},
      {"moe_layer_freq", 1}, {"norm_topk_prob", false}, {"scoring_func", "softmax"},
      {"max_position_embeddings", 128}, {"rms_norm_eps", c.eps}, {"rope_theta", c.theta},
      {"rope_scaling", {{"type", "linear"}, {"factor", c.rope_linear_factor}}}, {"hidden_act", "silu"},
      {"tie_word_embeddings", false}};
  const auto dir = test::temp_dir("deepseek-moe");
  testing::write_model_dir(dir, w, config);

  backend::CpuBackend backend(backend::CpuOptions{.threads = 1});
  Model model = Model::open(dir, backend);
  EXPECT_FALSE(model.config().is_moe_layer(0));
  EXPECT_TRUE(model.config().is_moe_layer(1));
  EXPECT_EQ(model.config().shared_expert_intermediate_size, c.shared_width);

  std::uniform_int_distribution<int32_t> token(0, static_cast<int32_t>(c.vocab - 1));
  TokenBatch batch{2, 20, {}};
  for (int i = 0; i < 40; ++i) batch.ids.push_back(token(rng));
  const Tensor logits = forward_logits(model, batch);
  Tensor want({40, c.vocab});
  for (int64_t window = 0; window < 2; ++window) {
    const std::vector<int32_t> ids(batch.ids.begin() + window * 20, batch.ids.begin() + (window + 1) * 20);
    const Matrix ref = reference_logits(w, c, ids);
    for (int64_t t = 0; t < 20; ++t)
      for (int64_t v = 0; v < c.vocab; ++v) want.data[(window * 20 + t) * c.vocab + v] = float(ref[t][v]);
  }
  EXPECT_LE(max_error_over_std(logits, want), 1e-4);
}

}  // namespace
}  // namespace moqa::model
