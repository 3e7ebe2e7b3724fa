// Dense matmuls go to OpenBLAS; everything around them is plain loops.
#include <cblas.h>

#include "backend/cpu/kernels.h"

namespace moqa::backend::cpu {

void linear(const float* x, int64_t n, int64_t in, const float* w, int64_t out, const float* bias, float* y) {
  if (n == 0 || out == 0) return;
  if (in == 0) {
    for (int64_t r = 0; r < n; ++r)
      for (int64_t c = 0; c < out; ++c) y[r * out + c] = bias ? bias[c] : 0.0f;
    return;
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<blasint>(n), static_cast<blasint>(out),
              static_cast<blasint>(in), 1.0f, x, static_cast<blasint>(in), w, static_cast<blasint>(in), 0.0f, y,
              static_cast<blasint>(out));
  if (bias) {
    for (int64_t r = 0; r < n; ++r) {
      float* row = y + r * out;
      for (int64_t c = 0; c < out; ++c) row[c] += bias[c];
    }
  }
}

}  // namespace moqa::backend::cpu
