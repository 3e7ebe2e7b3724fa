#include <algorithm>
#include <cmath>

#include "backend/cpu/kernels.h"

namespace moqa::backend::cpu {

void nll(WorkerPool& pool, const float* logits, int64_t rows, int64_t cols, std::span<const int32_t> targets,
         float* out) {
  pool.parallel_for(rows, 1, [&](int64_t first, int64_t last) {
    for (int64_t r = first; r < last; ++r) {
      const float* row = logits + r * cols;
      const float max_logit = *std::max_element(row, row + cols);
      double sum = 0.0;
      for (int64_t c = 0; c < cols; ++c) sum += std::exp(row[c] - max_logit);  // float exp, double sum
      out[r] = static_cast<float>(std::log(sum) + max_logit - row[targets[static_cast<size_t>(r)]]);
    }
  });
}

}  // namespace moqa::backend::cpu
