#include <algorithm>

#include "backend/cpu/kernels.h"

namespace moqa::backend::cpu {

void rope(WorkerPool& pool, float* x, int64_t rows, int64_t cols, const float* cos, const float* sin,
          const RopeLayout& layout) {
  const int64_t half = layout.rot_dim / 2;
  pool.parallel_for(rows, 16384 / std::max<int64_t>(cols, 1), [&](int64_t first, int64_t last) {
    for (int64_t r = first; r < last; ++r) {
      const int64_t position = r % layout.seq_len;
      const float* c = cos + position * half;
      const float* s = sin + position * half;
      for (int64_t h = 0; h < layout.heads; ++h) {
        float* head = x + r * cols + h * layout.head_stride + layout.offset;
        for (int64_t i = 0; i < half; ++i) {
          // Pair (a, b) rotates by the angle of frequency i.
          float& a = layout.interleaved ? head[2 * i] : head[i];
          float& b = layout.interleaved ? head[2 * i + 1] : head[i + half];
          const float a0 = a, b0 = b;
          a = a0 * c[i] - b0 * s[i];
          b = b0 * c[i] + a0 * s[i];
        }
      }
    }
  });
}

}  // namespace moqa::backend::cpu
