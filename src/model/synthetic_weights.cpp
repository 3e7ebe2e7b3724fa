#include "model/synthetic_weights.h"

#include <cmath>
#include <random>

#include "core/error.h"

namespace moqa::model {

namespace {
// FNV-1a: a hash that is the same on every platform, unlike std::hash.
uint64_t stable_hash(const std::string& text) {
  uint64_t h = 1469598103934665603ull;
  for (const unsigned char ch : text) h = (h ^ ch) * 1099511628211ull;
  return h;
}
}  // namespace

bool SyntheticWeights::contains(const std::string&) const { return true; }

Tensor SyntheticWeights::load(const std::string& name, const Shape& shape) const {
  std::mt19937_64 rng(seed_ ^ stable_hash(name));
  const bool is_norm = name.find("norm") != std::string::npos;
  const double stddev = shape.size() == 2 ? 1.0 / std::sqrt(static_cast<double>(shape[1])) : 0.1;
  std::normal_distribution<float> normal(is_norm ? 1.0f : 0.0f, static_cast<float>(stddev));
  Tensor t(shape);
  for (float& v : t.data) v = normal(rng);
  return t;
}

std::string SyntheticWeights::describe() const { return cat("synthetic weights (seed ", seed_, ")"); }

ModelConfig mixtral_config(const MixtralShape& s) {
  ModelConfig c;
  c.source = "synthetic mixtral";
  c.arch = Arch::mixtral;
  c.vocab_size = s.vocab;
  c.hidden_size = s.hidden;
  c.num_layers = s.layers;
  c.num_heads = s.heads;
  c.num_kv_heads = s.kv_heads;
  c.head_dim = s.hidden / s.heads;
  c.max_position_embeddings = 32768;
  c.rms_norm_eps = 1e-5;
  c.rope.theta = 1e6;
  c.layer_is_moe.assign(static_cast<size_t>(s.layers), true);
  c.expert_intermediate_size = s.expert_ffn;
  c.num_experts = s.experts;
  c.top_k = s.top_k;
  c.norm_topk_prob = true;
  return c;
}

TokenBatch random_token_batch(int64_t windows, int64_t seq_len, int64_t vocab, uint32_t seed) {
  MOQA_CHECK(windows >= 0 && seq_len > 0 && vocab > 0 && vocab <= int64_t{1} << 31, "random token batch: ", windows,
             " windows x ", seq_len, " tokens of a vocabulary of ", vocab);
  std::mt19937 rng(seed);
  TokenBatch batch{windows, seq_len, std::vector<int32_t>(static_cast<size_t>(windows * seq_len))};
  for (int32_t& id : batch.ids) id = static_cast<int32_t>(rng() % static_cast<uint32_t>(vocab));
  return batch;
}

}  // namespace moqa::model
