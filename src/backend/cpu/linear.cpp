// Dense matmuls go to OpenBLAS; everything around them is plain loops.
#include <cblas.h>

#include <limits>

#include "backend/cpu/kernels.h"
#include "core/error.h"

namespace moqa::backend::cpu {
namespace {

// OpenBLAS takes dimensions as blasint (32-bit unless built with INTERFACE64).
blasint blas_dim(int64_t value, const char* what) {
  MOQA_CHECK(value <= std::numeric_limits<blasint>::max(), "linear: ", what, " = ", value,
             " exceeds OpenBLAS's integer range");
  return static_cast<blasint>(value);
}

}  // namespace

void linear(const float* x, int64_t n, int64_t in, const float* w, int64_t out, const float* bias, float* y) {
  if (n == 0 || out == 0) return;
  if (in == 0) {
    for (int64_t r = 0; r < n; ++r)
      for (int64_t c = 0; c < out; ++c) y[r * out + c] = bias ? bias[c] : 0.0f;
    return;
  }
  const blasint rows = blas_dim(n, "rows"), in_features = blas_dim(in, "in_features"),
                out_features = blas_dim(out, "out_features");
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, out_features, in_features, 1.0f, x, in_features, w,
              in_features, 0.0f, y, out_features);
  if (bias) {
    for (int64_t r = 0; r < n; ++r) {
      float* row = y + r * out;
      for (int64_t c = 0; c < out; ++c) row[c] += bias[c];
    }
  }
}

}  // namespace moqa::backend::cpu
