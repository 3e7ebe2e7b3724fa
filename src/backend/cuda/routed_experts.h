#pragma once
// All routed experts of one MoE layer on the CUDA backend with grouped GEMMs: the tokens are gathered in
// expert order once, gate and up run as one grouped GEMM each, silu·up, down as one grouped GEMM, and one
// scatter-add combines Σ_k w_k · expert_k(x_t) per token, in ascending expert order per token (the order of
// model::LocalExpertExecutor, so the float sums round alike). It needs no model type itself; a
// model::ExpertExecutor wrapping it is GroupedExpertExecutor in tests/backend/cuda_forward_test.cpp.
#include <span>

#include "backend/array.h"
#include "backend/cuda/cuda_backend.h"
#include "backend/routing.h"

namespace moqa::cuda {

// One SwiGLU expert: down(silu(gate(x)) * up(x)); gate/up [ffn, hidden], down [hidden, ffn], no biases.
// Arrays may be empty for experts that receive no tokens (not loaded on this process).
struct ExpertWeights {
  backend::Array gate, up, down;
};

// x [tokens, hidden]; routing over the same tokens; experts [n_experts]. Returns [tokens, hidden].
backend::Array run_routed_experts(backend::CudaBackend& backend, const backend::Array& x,
                                  const backend::Routing& routing, std::span<const ExpertWeights> experts);

}  // namespace moqa::cuda
