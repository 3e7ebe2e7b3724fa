#pragma once
// Shared by the CUDA parity tests (tests/backend/cuda_*_test.cpp). Every GPU test starts with
// MOQA_REQUIRE_CUDA_DEVICE(), which skips it with a visible "skipped: no CUDA device" where none is visible
// (CI, the development VM); on a GPU machine the same ctest runs them.
//
// Method: fresh random inputs per test (fixed seeds, so failures reproduce), the CUDA backend created with
// poison_outputs (every new array is NaN-filled before the operation writes it), the result compared with
// the CPU reference function on the same inputs by ||got - want||_2 / ||want||_2 (computed in double).
// NaN or inf anywhere in the result fails (the error becomes inf). Bounds per dtype, stated where used:
//   float32 element-wise, norms, rope, gathers, losses    1e-6  (differences are 1-2 ulp of expf at most)
//   float32 matrix products (cuBLAS vs OpenBLAS order)    1e-5
//   bfloat16 weights, inputs drawn on the bfloat16 grid   1e-5  (operands exact; only the summation order)
//   bfloat16 weights, arbitrary float32 inputs            1e-2  (both operands rounded to 8 significant bits)
//   float64 statistics and Hessian sums                   1e-12 (exact products; the order of additions)
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <span>

#include "core/tensor.h"
#include "kernels/device_query.h"

#define MOQA_REQUIRE_CUDA_DEVICE()                                                    \
  do {                                                                                \
    if (::moqa::cuda::device_count() == 0) GTEST_SKIP() << "skipped: no CUDA device"; \
  } while (false)

namespace moqa::test {

inline Tensor random_tensor(Shape shape, uint32_t seed, float scale = 1.0f, float mean = 0.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(mean, scale);
  Tensor t(std::move(shape));
  for (float& v : t.data) v = normal(rng);
  return t;
}

// ||got - want|| / ||want|| over two equally long spans; inf when a value of `got` is not finite or the
// sizes differ, so that unwritten (poisoned) outputs always fail.
inline double relative_error(std::span<const float> got, std::span<const float> want) {
  if (got.size() != want.size()) return INFINITY;
  double diff = 0.0, norm = 0.0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (!std::isfinite(got[i])) return INFINITY;
    const double d = static_cast<double>(got[i]) - want[i];
    diff += d * d;
    norm += static_cast<double>(want[i]) * want[i];
  }
  return norm > 0.0 ? std::sqrt(diff / norm) : std::sqrt(diff);
}

inline double relative_error(std::span<const double> got, std::span<const double> want) {
  if (got.size() != want.size()) return INFINITY;
  long double diff = 0.0, norm = 0.0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (!std::isfinite(got[i])) return INFINITY;
    const long double d = static_cast<long double>(got[i]) - want[i];
    diff += d * d;
    norm += static_cast<long double>(want[i]) * want[i];
  }
  return static_cast<double>(norm > 0.0 ? std::sqrt(diff / norm) : std::sqrt(diff));
}

inline double relative_error(const Tensor& got, const Tensor& want) {
  if (got.shape != want.shape) return INFINITY;
  return relative_error(std::span<const float>(got.data), std::span<const float>(want.data));
}

// The nearest bfloat16 value (round to nearest even), as a float: test inputs drawn on the bfloat16 grid
// are stored exactly by a bfloat16 weight, so a product's only error left is its summation order.
inline float bfloat16_value(float v) {
  uint32_t bits = 0;
  std::memcpy(&bits, &v, sizeof bits);
  bits += 0x7FFFu + ((bits >> 16) & 1u);
  bits &= 0xFFFF0000u;
  float out = 0.0f;
  std::memcpy(&out, &bits, sizeof out);
  return out;
}

inline Tensor on_bfloat16_grid(Tensor t) {
  for (float& v : t.data) v = bfloat16_value(v);
  return t;
}

}  // namespace moqa::test
