#include <algorithm>
#include <cmath>

#include "backend/cpu/kernels.h"

namespace moqa::backend::cpu {

void silu_mul(WorkerPool& pool, const float* gate, const float* up, int64_t count, float* out) {
  pool.parallel_for(count, 16384, [&](int64_t first, int64_t last) {
    for (int64_t i = first; i < last; ++i) {
      const float g = gate[i];
      out[i] = g / (1.0f + std::exp(-g)) * up[i];
    }
  });
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
