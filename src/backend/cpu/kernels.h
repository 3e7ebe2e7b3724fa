#pragma once
// The CPU implementation of every backend operation, on plain host buffers (row-major float32). These
// are the reference semantics of backend.h: the CPU backend wraps them, and CUDA kernels are tested
// against them. Callers have validated every argument, indices included (backend/checks.h). Kernels taking
// a WorkerPool split rows or heads across its threads; the result does not depend on the thread count.
#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/worker_pool.h"

namespace moqa::backend::cpu {

// y[n, out] = x[n, in] · w[out, in]ᵀ (+ bias[out] when not null). Uses BLAS sgemm.
void linear(const float* x, int64_t n, int64_t in, const float* w, int64_t out, const float* bias, float* y);

void rms_norm(WorkerPool& pool, const float* x, int64_t rows, int64_t cols, const float* weight, int64_t group,
              float eps, float* y);

void rope(WorkerPool& pool, float* x, int64_t rows, int64_t cols, const float* cos, const float* sin,
          const RopeLayout& layout);

void attention(WorkerPool& pool, const float* q, const float* k, const float* v, const AttentionShape& shape,
               float* out);

// silu(g)·u: the SwiGLU activation of one element, as every kernel here computes it.
inline float silu_times(float g, float u) { return g / (1.0f + std::exp(-g)) * u; }

void silu_mul(WorkerPool& pool, const float* gate, const float* up, int64_t count, float* out);

// One SwiGLU MLP (backend.h SwigluJob) on the calling thread and OpenBLAS's: x [n, in], gate and up
// [ffn, in], down [out, ffn], biases null or of their rows' length. Writes activated [n, ffn] and y [n, out];
// scratch holds 2·n·ffn floats.
struct SwigluWeights {
  const float *gate = nullptr, *gate_bias = nullptr, *up = nullptr, *up_bias = nullptr, *down = nullptr,
              *down_bias = nullptr;
};
void swiglu(const float* x, int64_t n, int64_t in, int64_t ffn, int64_t out, const SwigluWeights& w, float* scratch,
            float* activated, float* y);

void add(float* dst, const float* src, int64_t count);
void scale_rows(float* x, int64_t rows, int64_t cols, const float* scales);
void sigmoid(float* x, int64_t count);
void clamp(float* x, int64_t count, float limit);
void copy_blocks(const float* src, int64_t src_cols, float* dst, int64_t dst_cols, int64_t rows,
                 const BlockCopy& blocks);

// out[i, :] = x[rows[i], :]; also the embedding lookup (x = the table, rows = the token ids).
void gather_rows(const float* x, int64_t cols, std::span<const int32_t> rows, float* out);
void scatter_add_rows(float* dst, int64_t cols, const float* src, std::span<const int32_t> rows,
                      std::span<const float> weights);

// `selection_bias` is null or [experts]; `scores` receives [tokens, experts].
Routing route(const float* logits, int64_t tokens, int64_t experts, const RouterSpec& spec,
              const float* selection_bias, float* scores);

void nll(WorkerPool& pool, const float* logits, int64_t rows, int64_t cols, std::span<const int32_t> targets,
         float* out);

}  // namespace moqa::backend::cpu
