#include <algorithm>
#include <cmath>

#include "backend/cpu/kernels.h"

namespace moqa::backend::cpu {

void silu_mul(WorkerPool& pool, const float* gate, const float* up, int64_t count, float* out) {
  pool.parallel_for(count, 16384, [&](int64_t first, int64_t last) {
    for (int64_t i = first; i < last; ++i) out[i] = silu_times(gate[i], up[i]);
  });
}

void swiglu(const float* x, int64_t n, int64_t in, int64_t ffn, int64_t out, const SwigluWeights& w, float* scratch,
            float* activated, float* y) {
  float* gate = scratch;
  float* up = scratch + n * ffn;
  linear(x, n, in, w.gate, ffn, w.gate_bias, gate);
  linear(x, n, in, w.up, ffn, w.up_bias, up);
  for (int64_t i = 0; i < n * ffn; ++i) activated[i] = silu_times(gate[i], up[i]);
  linear(activated, n, ffn, w.down, out, w.down_bias, y);
}

void add(float* dst, const float* src, int64_t count) {
  for (int64_t i = 0; i < count; ++i) dst[i] += src[i];
}

void scale_rows(float* x, int64_t rows, int64_t cols, const float* scales) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) x[r * cols + c] *= scales[r];
}

void sigmoid(float* x, int64_t count) {
  for (int64_t i = 0; i < count; ++i) x[i] = 1.0f / (1.0f + std::exp(-x[i]));
}

void clamp(float* x, int64_t count, float limit) {
  for (int64_t i = 0; i < count; ++i) x[i] = std::clamp(x[i], -limit, limit);
}

}  // namespace moqa::backend::cpu
