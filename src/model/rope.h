#pragma once
// Rotary position embedding tables as transformers computes them (modeling_rope_utils): inverse
// frequencies for the default, linear, dynamic-NTK, yarn (incl. DeepSeek's mscale) and llama3 scalings,
// and the cos/sin tables for one window length. Host math; the model uploads the tables once per length.
#include <cstdint>
#include <vector>

#include "core/tensor.h"
#include "io/hf_config.h"

namespace moqa::model {

// Columns of each query/key head that rotate: head_dim, or qk_rope_head_dim for MLA.
int64_t rotary_dim(const ModelConfig& config);

// [rotary_dim/2] inverse frequencies for windows of `seq_len` tokens (only dynamic NTK depends on it:
// it rescales the base once seq_len exceeds the original context, as transformers' dynamic update does).
std::vector<float> rope_inverse_frequencies(const ModelConfig& config, int64_t seq_len);

// Factor multiplying cos and sin (yarn's attention factor; 1 otherwise).
double rope_attention_factor(const ModelConfig& config);

struct RopeTables {
  Tensor cos;  // [seq_len, rotary_dim/2]
  Tensor sin;
};
RopeTables rope_tables(const ModelConfig& config, int64_t seq_len);

// Softmax scale of attention: 1/sqrt(query-key head dim), times mscale² for DeepSeek-V3 with yarn.
float attention_scale(const ModelConfig& config);

}  // namespace moqa::model
