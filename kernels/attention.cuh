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

namespace moqa::cuda {

// The fields of backend::AttentionShape.
struct AttentionParams {
  int64_t windows = 0;
  int64_t seq_len = 0;
  int64_t heads = 0;
  int64_t kv_heads = 0;
  int64_t qk_dim = 0;
  int64_t v_dim = 0;
  float scale = 1.0f;
  int64_t window = 0;
};

// q [windows*seq_len, heads*qk_dim], k [.., kv_heads*qk_dim], v [.., kv_heads*v_dim] -> out [.., heads*v_dim].
// `blas` must be bound to `stream`.
void attention(cublasHandle_t blas, const float* q, const float* k, const float* v, const AttentionParams& shape,
               float* out, int64_t scratch_bytes, cudaStream_t stream);

}  // namespace moqa::cuda
