#include <algorithm>
#include <cmath>

#include "backend/cpu/kernels.h"

namespace moqa::backend::cpu {

void rms_norm(WorkerPool& pool, const float* x, int64_t rows, int64_t cols, const float* weight, int64_t group,
              float eps, float* y) {
  const int64_t groups_per_row = cols / group;
  pool.parallel_for(rows, 16384 / std::max<int64_t>(cols, 1), [&](int64_t first, int64_t last) {
    for (int64_t r = first; r < last; ++r) {
      for (int64_t g = 0; g < groups_per_row; ++g) {
        const float* in = x + r * cols + g * group;
        float* o = y + r * cols + g * group;
        double squares = 0.0;
        for (int64_t c = 0; c < group; ++c) squares += static_cast<double>(in[c]) * in[c];
        const float inv = static_cast<float>(1.0 / std::sqrt(squares / static_cast<double>(group) + eps));
        for (int64_t c = 0; c < group; ++c) o[c] = weight[c] * (in[c] * inv);
      }
    }
  });
}

}  // namespace moqa::backend::cpu
