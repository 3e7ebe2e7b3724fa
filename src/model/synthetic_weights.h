#pragma once
// Deterministic random weights and token batches for benchmarks and tests of models that need no
// checkpoint on disk (e.g. a Mixtral-8x7B-shaped layer). Each tensor depends only on (seed, name), so any
// subset of a model can be generated in any order: matrices ~ N(0, 1/in_features), norm weights
// ~ 1 + N(0, 0.1²), other vectors ~ N(0, 0.1²).
#include <cstdint>
#include <string>

#include "io/hf_config.h"
#include "model/model.h"
#include "model/weight_source.h"

namespace moqa::model {

class SyntheticWeights final : public WeightSource {
 public:
  explicit SyntheticWeights(uint64_t seed = 0) : seed_(seed) {}
  bool contains(const std::string& name) const override;
  Tensor load(const std::string& name, const Shape& shape) const override;
  std::string describe() const override;

 private:
  uint64_t seed_;
};

struct MixtralShape {
  int64_t layers = 1;
  int64_t hidden = 4096;
  int64_t expert_ffn = 14336;
  int64_t experts = 8;
  int64_t top_k = 2;
  int64_t heads = 32;
  int64_t kv_heads = 8;
  int64_t vocab = 32000;
};

// A Mixtral ModelConfig of the given dimensions (theta 1e6, eps 1e-5, as Mixtral-8x7B).
ModelConfig mixtral_config(const MixtralShape& shape);

// `windows` x `seq_len` token ids in [0, vocab), each std::mt19937(seed)() % vocab in order.
TokenBatch random_token_batch(int64_t windows, int64_t seq_len, int64_t vocab, uint32_t seed);

}  // namespace moqa::model
