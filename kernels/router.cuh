#pragma once
// MoE router on the device: scores, group-limited top-k selection and combine weights for every token.
// Reference: backend::cpu::route (src/backend/cpu/router.cpp); same recipe, same tie-breaking (lower index).
#include <cuda_runtime.h>

#include <cstdint>

namespace moqa::cuda {

// The fields of backend::RouterSpec, restated without the C++20 headers.
struct RouterParams {
  bool softmax = true;  // false: sigmoid
  int top_k = 1;
  bool normalize = false;
  float scaling = 1.0f;
  bool apply_scaling = false;  // scaling != 1
  int n_group = 1;             // at most kMaxRouterGroups
  int topk_group = 1;
};
constexpr int kMaxRouterGroups = 64;

// logits [tokens, experts] -> scores [tokens, experts], chosen [tokens, top_k] (best first) and weights
// [tokens, top_k]. selection_bias is null or [experts].
void route(const float* logits, int64_t tokens, int64_t experts, const float* selection_bias, const RouterParams& spec,
           float* scores, int32_t* chosen, float* weights, cudaStream_t stream);

}  // namespace moqa::cuda
