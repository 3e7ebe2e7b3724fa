#pragma once
// Causal (optionally sliding-window) grouped-query attention on the device; reference:
// backend::cpu::attention (src/backend/cpu/attention.cpp).
//
// Method (correct first, not yet tuned): for each (window, query head) pair, S = scale * Q Kᵀ with cuBLAS
// (float32, batched over pairs through pointer arrays, which expresses the query-head -> key/value-head
// mapping of GQA), a masked softmax kernel turns each row of S into probabilities (zero outside the
// visible keys), and O = P V with cuBLAS again. Pairs are processed in chunks whose score matrices fit in
// `scratch_bytes`. The masked half of S is computed and discarded: a fused (flash) kernel would skip it
// and never materialise S. TODO(measure on the device): time against a flash-style kernel.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "backend/shapes.h"

namespace moqa::cuda {

// q [windows*seq_len, heads*qk_dim], k [.., kv_heads*qk_dim], v [.., kv_heads*v_dim] -> out [.., heads*v_dim].
// `blas` must be bound to `stream`.
void attention(cublasHandle_t blas, const float* q, const float* k, const float* v,
               const backend::AttentionShape& shape, float* out, int64_t scratch_bytes, cudaStream_t stream);

}  // namespace moqa::cuda
